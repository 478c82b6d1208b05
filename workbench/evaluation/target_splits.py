"""Target splits: the target domain as two disjoint parts, ``tune`` and ``test``.

A study (and any choice made before export: the profile, the CEM settings) sees only
``tune``; every reported figure of a final policy comes from ``test``, which no study
and no choice ever sees. In a simulated suite a split is a range of reset seeds (every
suite resets with the same seeds, so a split is the same scenes' draws in each suite):

- ``test``: seeds 1000 to 899_999, the seeds evaluations use: ``workbench eval --seed``
  (default 1000) and the main job (1000 + run seed + i, as ``EVAL_SEED`` there), and
  ``workbench bench learn``. Episode i of an evaluation starting at seed s resets with s + i.
- ``tune``: seeds 900_000 to 900_399, sized as a user with a robot would have target data:

  =====================  ==============================  ==========================================
  what                   seeds (offset into the split)   used by
  =====================  ==============================  ==========================================
  labelled episodes      the first 50 (0..49)            opc_auc, soft_opc (explorer episodes)
  unlabelled frames      the first 300 (0..299)          kid, domain_accuracy (first frames)
  success episodes       0..49                           a study's trials (``eval.episodes``)
  success episodes       50..149                         confirming a study's or CEM's choice
  =====================  ==============================  ==========================================

The two ranges are disjoint by construction (``TEST`` ends where ``TUNE`` starts);
``check_outside_tune`` refuses an evaluation whose seeds would reach into ``tune``.
A real-data directory has its own split, written into its manifest by ``workbench data
split`` (``workbench.evaluation.realdata``).
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import UserError

TUNE, TEST = "tune", "test"
SPLITS = (TUNE, TEST)

TUNE_FIRST_SEED, TUNE_SIZE = 900_000, 400
TEST_FIRST_SEED = 1000  # `workbench eval --seed`'s default and the main job's EVAL_SEED
TEST_SIZE = TUNE_FIRST_SEED - TEST_FIRST_SEED  # every seed from there up to the tune split

# What the tune split holds (offsets into its seeds).
TUNE_LABELLED = 50  # labelled target episodes
TUNE_FRAMES = 300  # unlabelled target frames
TRIAL_EPISODES = 50  # success episodes of a study's trials: offsets 0 .. 49
CONFIRM_OFFSET, CONFIRM_EPISODES = 50, 100  # re-measuring a choice on fresh episodes: offsets 50 .. 149
MIN_LABELLED = 20  # fewer labelled episodes cannot rank a Q-function (opc_auc)


class SplitError(UserError):
    """Seeds asked of a split that it does not hold."""


@dataclass(frozen=True)
class SeedSplit:
    """One split of one suite: reset seeds ``first_seed`` .. ``first_seed + size - 1``."""

    suite: str
    name: str
    first_seed: int
    size: int

    @property
    def stop(self) -> int:
        return self.first_seed + self.size

    def seeds(self, count: int, offset: int = 0) -> range:
        """``count`` reset seeds from ``offset`` into the split; SplitError past its end."""
        if count < 0 or offset < 0:
            raise SplitError(f"{self.name} split of {self.suite}: count {count} and offset {offset} must be >= 0")
        if offset + count > self.size:
            raise SplitError(f"{self.name} split of {self.suite} holds {self.size} seeds ({self.first_seed} to "
                             f"{self.stop - 1}); {count} seeds from offset {offset} reach past its end")
        return range(self.first_seed + offset, self.first_seed + offset + count)

    def holds(self, first_seed: int, count: int) -> bool:
        """Whether seeds ``first_seed`` .. ``first_seed + count - 1`` all lie in this split."""
        return self.first_seed <= first_seed and first_seed + count <= self.stop

    def to_dict(self) -> dict:
        return {"suite": self.suite, "split": self.name, "first_seed": self.first_seed, "size": self.size}


def suite_split(suite: str, split: str) -> SeedSplit:
    """The ``tune`` or ``test`` split of a suite (any suite: they share reset seeds)."""
    from workbench.evaluation.suites import get_suites

    if suite == "all":
        raise UserError("a split belongs to one suite, not all")
    get_suites(suite)  # UserError for an unknown suite
    if split == TUNE:
        return SeedSplit(suite, TUNE, TUNE_FIRST_SEED, TUNE_SIZE)
    if split == TEST:
        return SeedSplit(suite, TEST, TEST_FIRST_SEED, TEST_SIZE)
    raise UserError(f"unknown split {split!r}: expected {TUNE!r} or {TEST!r}")


def split_of(first_seed: int, count: int) -> str | None:
    """``test`` or ``tune`` when every seed of ``first_seed`` .. ``first_seed + count - 1`` lies in
    that split; None when they lie in neither (or in both)."""
    for name, first, size in ((TEST, TEST_FIRST_SEED, TEST_SIZE), (TUNE, TUNE_FIRST_SEED, TUNE_SIZE)):
        if first <= first_seed and first_seed + count <= first + size:
            return name
    return None


def check_outside_tune(first_seed: int, count: int, what: str) -> None:
    """UserError when reset seeds ``first_seed`` .. ``first_seed + count - 1`` (``what`` gives them, e.g.
    ``--seed 899990 --episodes 200``) reach into the tune split, which only studies may see."""
    last = first_seed + count - 1
    if first_seed < TUNE_FIRST_SEED + TUNE_SIZE and last >= TUNE_FIRST_SEED:
        raise UserError(f"{what}: reset seeds {first_seed} to {last} reach into the tune split (seeds "
                        f"{TUNE_FIRST_SEED} to {TUNE_FIRST_SEED + TUNE_SIZE - 1}), which only studies see; "
                        f"evaluate on the test split (seeds {TEST_FIRST_SEED} to {TUNE_FIRST_SEED - 1})")
