"""Target splits (minimal: the interface the main job uses; the full module comes with the splits work).

A simulated suite's target data is two disjoint ranges of reset seeds: ``tune`` (what a study
and any choice made before export may see) and ``test`` (every reported figure of a final policy).

- ``test``: seeds 1000 to 899_999 (``workbench eval --seed`` and the main job's ``EVAL_SEED``);
- ``tune``: seeds 900_000 to 900_399: a study's trials use offsets 0..49, confirming a choice
  (the study's profile, the acting CEM) offsets 50..149.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import UserError

TUNE, TEST = "tune", "test"
TUNE_FIRST_SEED, TUNE_SIZE = 900_000, 400
TEST_FIRST_SEED = 1000
TEST_SIZE = TUNE_FIRST_SEED - TEST_FIRST_SEED


@dataclass(frozen=True)
class SeedSplit:
    """One split of one suite: reset seeds ``first_seed`` .. ``first_seed + size - 1``."""

    suite: str
    name: str
    first_seed: int
    size: int

    def seeds(self, count: int, offset: int = 0) -> range:
        """``count`` reset seeds from ``offset`` into the split; UserError past its end."""
        if count < 0 or offset < 0 or offset + count > self.size:
            raise UserError(f"{self.name} split of {self.suite} holds {self.size} seeds ({self.first_seed} to "
                            f"{self.first_seed + self.size - 1}); {count} seeds from offset {offset} do not fit")
        return range(self.first_seed + offset, self.first_seed + offset + count)


def suite_split(suite: str, split: str) -> SeedSplit:
    """The ``tune`` or ``test`` split of a suite (every suite resets with the same seeds)."""
    from workbench.evaluation.suites import get_suites

    if suite == "all":
        raise UserError("a split belongs to one suite, not all")
    get_suites(suite)  # UserError for an unknown suite
    if split == TUNE:
        return SeedSplit(suite, TUNE, TUNE_FIRST_SEED, TUNE_SIZE)
    if split == TEST:
        return SeedSplit(suite, TEST, TEST_FIRST_SEED, TEST_SIZE)
    raise UserError(f"unknown split {split!r}: expected {TUNE!r} or {TEST!r}")
