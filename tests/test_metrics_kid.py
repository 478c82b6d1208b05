"""KID: the unbiased estimator, its bootstrap interval, and the gap the policy's encoder sees."""

import numpy as np
import pytest
from transfer_helpers import suite_cache  # noqa: F401 (a fixture)

from policies.qtopt.qnet import build_qnet
from workbench.evaluation.metrics.features import encoder_features
from workbench.evaluation.metrics.kid import kernel_inception_distance, mmd2_unbiased, polynomial_kernel
from workbench.evaluation.metrics.transfer import training_domain_frames
from workbench.evaluation.suites import SUITES, reset_frames

pytestmark = pytest.mark.usefixtures("suite_cache")


def textbook_mmd2(a, b):
    """Binkowski et al.'s unbiased MMD^2, written out with explicit sums."""
    m, n = len(a), len(b)
    k_aa, k_bb, k_ab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    return ((k_aa.sum() - np.trace(k_aa)) / (m * (m - 1)) + (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
            - 2 * k_ab.mean())


def test_kernel_is_the_cubic_polynomial():
    a = np.array([[1.0, 2.0], [0.5, -1.0]])
    b = np.array([[3.0, 0.0]])
    np.testing.assert_allclose(polynomial_kernel(a, b)[:, 0], [(3 / 2 + 1) ** 3, (1.5 / 2 + 1) ** 3])


def test_estimate_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 7)), rng.normal(0.5, 1.2, size=(45, 7))
    assert mmd2_unbiased(a, b) == pytest.approx(textbook_mmd2(a, b), abs=1e-12)
    assert kernel_inception_distance(a, b, rng, bootstrap=10).kid == pytest.approx(textbook_mmd2(a, b), abs=1e-12)


def test_same_distribution_interval_contains_zero_and_shift_excludes_it():
    rng = np.random.default_rng(1)
    same = kernel_inception_distance(rng.normal(size=(120, 16)), rng.normal(size=(100, 16)), rng, bootstrap=500)
    assert same.low < 0 < same.high and not same.significant
    shifted = kernel_inception_distance(rng.normal(size=(120, 16)), rng.normal(0.4, 1, size=(100, 16)), rng,
                                        bootstrap=500)
    assert shifted.significant and shifted.kid > 0


def test_bootstrap_is_reproducible_from_the_generator():
    data = np.random.default_rng(2).normal(size=(40, 5))
    first = kernel_inception_distance(data[:20], data[20:], np.random.default_rng(9), bootstrap=50)
    second = kernel_inception_distance(data[:20], data[20:], np.random.default_rng(9), bootstrap=50)
    assert first == second


def test_rejects_bad_features():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(np.zeros((1, 3)), np.zeros((5, 3)), rng)
    with pytest.raises(ValueError, match="dimensions differ"):
        kernel_inception_distance(np.zeros((4, 3)), np.zeros((5, 2)), rng)


@pytest.fixture(scope="module")
def renders():
    """40 first frames each: two training-domain (`none`) sets, one proxy-real set; 32x32."""
    first = training_domain_frames("bin_grasp", "none", 40, seed=1, image_size=32)
    second = training_domain_frames("bin_grasp", "none", 40, seed=2, image_size=32)
    proxy = reset_frames(SUITES["proxy-real"], 40, seed=5000, image_size=32)
    return first, second, proxy


@pytest.mark.parametrize("arch", ["fast", "paper"])
def test_encoder_kid_none_vs_none_is_zero_and_none_vs_proxy_real_is_not(renders, arch):
    """Acceptance: KID on the Q-network's own encoder features (an untrained one here)."""
    first, second, proxy = renders
    assert not np.array_equal(first, second)  # different scenes, same distribution
    qnet = build_qnet(arch, 32, np.random.default_rng(0))
    features = [encoder_features(qnet, images) for images in (first, second, proxy)]
    same = kernel_inception_distance(features[0], features[1], np.random.default_rng(0), bootstrap=1000)
    assert same.low <= 0 <= same.high, same
    gap = kernel_inception_distance(features[0], features[2], np.random.default_rng(0), bootstrap=1000)
    assert gap.significant and gap.low > 0, gap
    assert gap.kid > 10 * abs(same.kid)


def test_encoder_features_drop_the_state():
    qnet = build_qnet("fast", 32, np.random.default_rng(0))
    images = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    assert encoder_features(qnet, images).shape == (3, 128)  # the 128-d image embedding, no state columns
