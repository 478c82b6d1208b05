"""Where the time of a learner update goes, phase by phase (`workbench bench train --profile`).

One update as `workbench train` takes it: sample a batch from replay (a ReplayMixer over
two in-memory buffers, as the offline and online replays hold episodes), shift-augment
it, label it (the Polyak target net encodes s', CEM searches its head, the lagged net
scores a*), then the learner step (forward and loss, backward, Adam, target update).
The episodes are random arrays of the replay format, short like the explorer's, so
some transitions end the episode and need no CEM, as in real data.
"""

from __future__ import annotations

import time

import numpy as np

from policies.qtopt.augment import augment
from policies.qtopt.config import QTOptConfig
from policies.qtopt.learner import Learner
from policies.qtopt.replay import Episode, OnlineBuffer, ReplayMixer
from policies.qtopt.stopwatch import Stopwatch

PHASES = ("sample", "augment", "label_encode", "label_cem", "label_lagged", "forward", "backward", "optimizer",
          "target_update")


def random_replay(config: QTOptConfig, episodes: int, steps: int, rng: np.random.Generator) -> OnlineBuffer:
    """A replay buffer of `episodes` random episodes of `steps` steps, cut as training cuts them."""
    size = config.image_size
    buffer = OnlineBuffer(episodes * steps, config.n_step, config.gamma)
    for index in range(episodes):
        success = bool(rng.random() < 0.3)
        buffer.add_episode(Episode(
            images=rng.integers(0, 256, (steps + 1, size, size, 3), dtype=np.uint8),
            states=rng.random((steps + 1, 2), dtype=np.float32),
            actions=rng.uniform(-1.0, 1.0, (steps, 8)).astype(np.float32) * np.float32(config.max_translation),
            rewards=np.r_[np.zeros(steps - 1), float(success)].astype(np.float32),
            dones=np.r_[np.zeros(steps - 1), 1].astype(np.uint8),
            episode_id=f"random-{index}", success=success))
    return buffer


def profile_updates(config: QTOptConfig, augment_shift: int, updates: int, rng: np.random.Generator,
                    warmup: int = 3, episodes: int = 100, steps: int = 8) -> dict:
    """Milliseconds per update of each phase over `updates` updates (after `warmup`), and the wall total.

    `other_ms` is the total less the phases: the loop's own overhead (label bookkeeping, metrics).
    """
    learner = Learner.from_config(config, rng)
    updater = learner.bellman_updater(config)
    mixer = ReplayMixer(random_replay(config, episodes, steps, rng), random_replay(config, episodes, steps, rng),
                        config.offline_fraction)
    watch = Stopwatch()
    for update in range(warmup + updates):
        if update == warmup:
            watch.seconds.clear()
            start = time.perf_counter()
        with watch("sample"):
            batch = mixer.sample(config.batch_size, rng)
        with watch("augment"):
            batch = augment(batch, augment_shift, rng)
        labelled = updater.label(batch, rng, watch)
        learner.train_step(labelled, watch)
    total_ms = (time.perf_counter() - start) * 1e3 / updates
    phases = {phase: watch.seconds.get(phase, 0.0) * 1e3 / updates for phase in PHASES}
    return {"total_ms": total_ms, "updates_per_s": 1e3 / total_ms, "phases_ms": phases,
            "other_ms": total_ms - sum(phases.values())}


def profile_figures(profile: dict, prefix: str = "profile") -> dict:
    """The profile as flat figures: ms per update and share of the total, per phase."""
    total = profile["total_ms"]
    figures = {f"{prefix}_total_ms": total, f"{prefix}_updates_per_s": profile["updates_per_s"]}
    for phase, ms in [*profile["phases_ms"].items(), ("other", profile["other_ms"])]:
        figures[f"{prefix}_{phase}_ms"] = ms
        figures[f"{prefix}_{phase}_pct"] = 100.0 * ms / total
    return figures
