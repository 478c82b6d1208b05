"""The domain classifier: 0.5 when the domains match, near 1 when they are separable."""

import numpy as np
import pytest

from workbench.evaluation.metrics.domain_classifier import domain_classifier_accuracy


def test_same_distribution_is_near_chance():
    rng = np.random.default_rng(0)
    result = domain_classifier_accuracy(rng.normal(size=(200, 8)), rng.normal(size=(300, 8)), rng)
    assert result.per_domain == 200 and result.folds == 5 and len(result.fold_accuracies) == 5
    assert result.low <= 0.5 <= result.high
    assert abs(result.accuracy - 0.5) < 0.1


def test_separable_domains_are_told_apart():
    rng = np.random.default_rng(1)
    result = domain_classifier_accuracy(rng.normal(size=(100, 8)), rng.normal(2.0, 1, size=(100, 8)), rng)
    assert result.accuracy > 0.95 and result.low > 0.5


def test_reproducible_and_checked():
    data = np.random.default_rng(2).normal(size=(60, 4))
    first = domain_classifier_accuracy(data[:30], data[30:] + 0.5, np.random.default_rng(3))
    second = domain_classifier_accuracy(data[:30], data[30:] + 0.5, np.random.default_rng(3))
    assert first == second
    with pytest.raises(ValueError, match="at least 5"):
        domain_classifier_accuracy(data[:3], data[3:], np.random.default_rng(0))
