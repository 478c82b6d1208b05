"""Paired success differences: two policies' outcomes on the same evaluation scenes."""

import math

import pytest

from workbench.evaluate import paired_difference


def test_the_paired_difference_counts_discordant_scenes_and_brackets_the_mean():
    first = [True, True, False, True, False, True, True, False]
    second = [False, True, False, False, True, False, True, False]
    paired = paired_difference(first, second)
    assert paired["difference"] == pytest.approx(5 / 8 - 3 / 8)
    assert (paired["first_only"], paired["second_only"]) == (3, 1)
    # differences +1 x3, -1 x1, 0 x4: sample sd sqrt((3 * 0.75^2 + 0.25^2 * 4 + 1.25^2) / 7)
    sd = math.sqrt((3 * 0.75 ** 2 + 4 * 0.25 ** 2 + 1.25 ** 2) / 7)
    assert paired["high"] - paired["difference"] == pytest.approx(1.959964 * sd / math.sqrt(8))
    assert paired["low"] < paired["difference"] < paired["high"]


def test_identical_outcomes_differ_by_nothing_and_bad_lengths_are_refused():
    same = [True, False, True]
    assert paired_difference(same, same) == {"difference": 0.0, "low": 0.0, "high": 0.0,
                                             "first_only": 0, "second_only": 0}
    with pytest.raises(ValueError, match="equal, non-zero lengths"):
        paired_difference([True], [True, False])
    with pytest.raises(ValueError, match="equal, non-zero lengths"):
        paired_difference([], [])
