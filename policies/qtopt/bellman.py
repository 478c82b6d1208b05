"""The Bellman updater: transitions in, labelled batches out.

In the paper, Bellman updaters are separate jobs between the replay buffers and the
trainers. This class keeps that shape: it holds its own target networks, takes plain
arrays and returns plain arrays, and receives fresh target weights as named arrays
(``load_target_arrays``), so it can later run in another process unchanged.
"""

from __future__ import annotations

import numpy as np

from policies.qtopt.batches import LabelledBatch, Transitions
from policies.qtopt.stopwatch import NO_STOPWATCH, Stopwatch
from policies.qtopt.targets import TargetNetworks, clipped_bellman_targets
from policies.runtime.cem import CEMConfig
from policies.runtime.spec import ActionSpec


class BellmanUpdater:
    def __init__(
        self,
        targets: TargetNetworks,
        gamma: float = 0.9,
        cem: CEMConfig | None = None,
        spec: ActionSpec | None = None,
    ):
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.targets = targets
        self.gamma = gamma
        self.cem = cem if cem is not None else CEMConfig()
        self.spec = spec if spec is not None else ActionSpec()

    def compute_targets(
        self,
        rewards: np.ndarray,
        next_images: np.ndarray,
        next_states: np.ndarray,
        dones: np.ndarray,
        rng: np.random.Generator,
        horizons: np.ndarray | None = None,
        watch: Stopwatch = NO_STOPWATCH,
    ) -> np.ndarray:
        """Clipped double-Q targets (B,) float32 in [0, 1].

        Terminal transitions need no next-state value, so CEM runs only on the others.
        """
        next_values = np.zeros(len(rewards), dtype=np.float32)
        live = np.flatnonzero(dones == 0)
        if live.size:
            next_values[live] = self.targets.next_state_values(
                next_images[live], next_states[live], self.cem, rng, self.spec, watch
            )
        return clipped_bellman_targets(rewards, dones, next_values, self.gamma, horizons)

    def label(self, batch: Transitions, rng: np.random.Generator, watch: Stopwatch = NO_STOPWATCH) -> LabelledBatch:
        targets = self.compute_targets(batch.rewards, batch.next_images, batch.next_states, batch.dones, rng,
                                       batch.horizons, watch)
        return LabelledBatch(images=batch.images, states=batch.states, actions=batch.actions, targets=targets)

    def load_target_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Take new target weights, as produced by ``TargetNetworks.state_arrays()``."""
        self.targets.load_state_arrays(arrays)
