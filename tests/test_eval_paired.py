"""Paired evaluation: per-episode outcomes, the paired difference and its interval, `eval --compare`."""

import json

import pytest

from workbench.cli import main
from workbench.rollout.evaluate import paired_difference


def outcomes(successes: list[int], seed: int = 1000) -> list[dict]:
    return [{"reset_seed": seed + i, "object_ids": [i, i + 1], "success": bool(s)} for i, s in enumerate(successes)]


def test_paired_difference_by_hand():
    a, b = outcomes([1, 1, 1, 0, 1, 0]), outcomes([0, 1, 0, 0, 1, 1])
    paired = paired_difference(a, b)
    # d = [1, 0, 1, 0, 0, -1]: mean 1/6, sd 0.7528, t(0.975, 5) = 2.5706, half = 0.7900
    assert paired.difference == pytest.approx(1 / 6)
    assert paired.low == pytest.approx(1 / 6 - 0.7900, abs=1e-3)
    assert paired.high == pytest.approx(1 / 6 + 0.7900, abs=1e-3)
    assert (paired.a_only, paired.b_only, paired.episodes) == (2, 1, 6)


def test_paired_difference_refuses_different_episodes():
    with pytest.raises(ValueError, match="not the same episode"):
        paired_difference(outcomes([1, 0]), outcomes([1, 0], seed=2000))
    with pytest.raises(ValueError, match="differ in number"):
        paired_difference(outcomes([1, 0]), outcomes([1]))


def test_eval_compare_runs_both_policies_on_the_same_episodes(capsys):
    assert main(["eval", "--compare", "oracle", "explorer", "--episodes", "6", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    oracle, explorer = record["per_episode"]["oracle"], record["per_episode"]["explorer"]
    assert [e["reset_seed"] for e in oracle] == [e["reset_seed"] for e in explorer] == list(range(1000, 1006))
    assert [e["object_ids"] for e in oracle] == [e["object_ids"] for e in explorer]
    expected = (record["oracle"]["successes"] - record["explorer"]["successes"]) / 6
    assert record["difference"]["difference"] == pytest.approx(expected)
    assert record["difference"]["low"] <= expected <= record["difference"]["high"]


def test_the_training_seed_interval_is_students_t_over_the_per_seed_differences():
    from workbench.rollout.evaluate import seed_level_difference

    three = seed_level_difference([0.10, 0.20, 0.30])
    half = 4.302653 * 0.1 / 3 ** 0.5  # t(0.975, 2 df) * sd / sqrt(n)
    assert three.difference == pytest.approx(0.2)
    assert (three.low, three.high) == pytest.approx((0.2 - half, 0.2 + half), abs=1e-6)
    assert "over 3 training seeds (+10.0, +20.0, +30.0)" in str(three)
    one = seed_level_difference([0.4])  # one training seed says nothing about the next
    assert (one.low, one.high) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="no training seeds"):
        seed_level_difference([])
