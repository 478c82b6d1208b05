"""`workbench bench backends --seeds N`: the comparison of the two backends across seeds."""

import pytest

from workbench.bench_backends import compare_across_seeds, t_interval


def test_t_interval_matches_a_hand_computed_case():
    mean, low, high = t_interval([0.20, 0.30, 0.25])  # sd 0.05, t(0.975, 2) = 4.3027
    half = 4.302653 * 0.05 / 3**0.5
    assert (mean, low, high) == pytest.approx((0.25, 0.25 - half, 0.25 + half), abs=1e-6)


def test_backends_that_learn_alike_agree_within_the_interval():
    figures = compare_across_seeds([0.20, 0.30, 0.25], [0.22, 0.28, 0.30])
    assert figures["ray_mean_success"] == pytest.approx(0.8 / 3)
    assert figures["ray_minus_local"] == pytest.approx(0.05 / 3)
    assert figures["ray_within_local_ci95"] and figures["difference_ci95_holds_zero"]


def test_a_backend_that_learns_less_on_every_seed_is_caught():
    figures = compare_across_seeds([0.50, 0.52, 0.48], [0.20, 0.22, 0.18])
    assert not figures["ray_within_local_ci95"]
    assert figures["ray_minus_local_ci95_high"] < 0 and not figures["difference_ci95_holds_zero"]
