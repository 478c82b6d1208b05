"""Off-policy classification: ROC AUC, SoftOPC and the reliability curve."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from policies.qtopt.qnet import build_qnet
from workbench.evaluation.metrics.features import q_values
from workbench.evaluation.metrics.opc import off_policy_classification, reliability_curve, roc_auc, soft_opc


def test_auc_hand_computed():
    # Positives 0.35, 0.8; negatives 0.1, 0.4: pairs won 0.35>0.1, 0.8>0.1, 0.8>0.4; lost 0.35<0.4.
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    # A tie between a positive and a negative counts one half.
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5
    assert roc_auc(np.array([0.2, 0.9]), np.array([False, True])) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_scikit_learn_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(500) < 0.3
    continuous = rng.random(500) + 0.3 * labels
    tied = np.round(continuous * 4) / 4  # many ties
    for scores in (continuous, tied):
        assert abs(roc_auc(scores, labels) - roc_auc_score(labels, scores)) < 1e-9


def test_random_q_gives_about_one_half():
    rng = np.random.default_rng(0)
    q, labels = rng.random(20_000), rng.random(20_000) < 0.4
    assert abs(roc_auc(q, labels) - 0.5) < 0.02


def test_q_function_on_labelled_episodes_matches_reference():
    """Acceptance: AUC of a Q-network's values at the taken actions, against scikit-learn."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    qnet = build_qnet("fast", 16, rng)
    steps = rng.integers(3, 8, size=12)
    episode_index = np.repeat(np.arange(12), steps)
    success = np.arange(12) % 3 == 0
    n = len(episode_index)
    images = rng.integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8)
    states = np.c_[rng.integers(0, 2, n), rng.uniform(0, 0.25, n)].astype(np.float32)
    actions = rng.uniform(-1, 1, size=(n, 8)).astype(np.float32)
    q = q_values(qnet, images, states, actions)
    with torch.no_grad():
        direct = torch.sigmoid(qnet(torch.from_numpy(images), torch.from_numpy(states),
                                    torch.from_numpy(actions))).double().numpy()
    np.testing.assert_allclose(q, direct, atol=1e-7)
    result = off_policy_classification(q, episode_index, success)
    labels = success[episode_index]
    assert abs(result.auc - roc_auc_score(labels, q)) < 1e-9
    assert result.soft_opc == pytest.approx(q[labels].mean() - q.mean(), abs=1e-12)
    assert result.transitions == n and result.episodes == 12 and result.successful_episodes == 4


def test_soft_opc_hand_computed():
    q = np.array([0.9, 0.7, 0.2, 0.2])
    labels = np.array([1, 1, 0, 0])
    assert soft_opc(q, labels) == pytest.approx(0.8 - 0.5)


def test_reliability_curve_bins_and_calibration_error():
    q = np.array([0.05, 0.05, 0.95, 0.95, 0.55])
    labels = np.array([0, 0, 1, 0, 1])
    curve = reliability_curve(q, labels, bins=10)
    assert curve.count == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert curve.mean_q[0] == pytest.approx(0.05) and curve.success_rate[0] == 0.0
    assert curve.mean_q[1] is None and curve.success_rate[9] == 0.5
    expected = (2 * 0.05 + 1 * 0.45 + 2 * 0.45) / 5
    assert curve.expected_calibration_error == pytest.approx(expected)
    assert reliability_curve(np.array([1.0]), np.array([1])).count[-1] == 1  # q = 1 falls in the last bin


def test_undefined_metrics_are_none_with_a_note():
    result = off_policy_classification(np.array([0.2, 0.4, 0.6]), np.array([0, 0, 1]), np.array([False, False]))
    assert result.auc is None and result.soft_opc is None and "same label" in result.note
    with pytest.raises(ValueError, match="both"):
        roc_auc(np.array([0.1, 0.2]), np.array([1, 1]))
