"""Plain-array containers passed between replay, the Bellman updater and the learner.

Arrays only (no torch), so a batch can cross a process boundary as-is. Images stay
uint8 (N, H, W, 3) to keep memory at a quarter of float32.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from policies.runtime.spec import ACTION_DIM, STATE_DIM


def _check_array(name: str, array: np.ndarray, dtype: type, shape: tuple) -> None:
    """shape uses None for 'any size'; the first entry is the batch length."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {array.dtype.name}")
    wrong_size = any(want is not None and got != want for got, want in zip(array.shape, shape, strict=False))
    if array.ndim != len(shape) or wrong_size:
        pretty = tuple("*" if s is None else s for s in shape)
        raise ValueError(f"{name} must have shape {pretty}, got {array.shape}")


@dataclass(frozen=True)
class Transitions:
    """N transitions (s, a, r, s', done) as flat arrays.

    images (N, H, W, 3) uint8, states (N, 2) float32, actions (N, 8) float32,
    rewards (N,) float32, next_images (N, H, W, 3) uint8, next_states (N, 2) float32,
    dones (N,) uint8 (1: episode ended here, no bootstrap from s'), horizons (N,) uint8:
    how many steps s' lies ahead of s (n-step returns; ``rewards`` is then the discounted
    sum over those steps and the bootstrap is discounted by gamma ** horizon). None: 1.
    """

    images: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_images: np.ndarray
    next_states: np.ndarray
    dones: np.ndarray
    horizons: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.horizons is None:
            n = len(self.rewards) if isinstance(self.rewards, np.ndarray) else 0
            object.__setattr__(self, "horizons", np.ones(n, np.uint8))
        n = self.images.shape[0] if isinstance(self.images, np.ndarray) else None
        _check_array("images", self.images, np.uint8, (n, None, None, 3))
        h, w = self.images.shape[1:3]
        _check_array("states", self.states, np.float32, (n, STATE_DIM))
        _check_array("actions", self.actions, np.float32, (n, ACTION_DIM))
        _check_array("rewards", self.rewards, np.float32, (n,))
        _check_array("next_images", self.next_images, np.uint8, (n, h, w, 3))
        _check_array("next_states", self.next_states, np.float32, (n, STATE_DIM))
        _check_array("dones", self.dones, np.uint8, (n,))
        _check_array("horizons", self.horizons, np.uint8, (n,))
        if n and self.horizons.min() < 1:
            raise ValueError("horizons must be at least 1")

    def __len__(self) -> int:
        return self.images.shape[0]

    def take(self, indices: np.ndarray) -> Transitions:
        return Transitions(**{f.name: getattr(self, f.name)[indices] for f in fields(self)})

    @staticmethod
    def concatenate(parts: list[Transitions]) -> Transitions:
        if not parts:
            raise ValueError("cannot concatenate an empty list of transitions")
        return Transitions(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Transitions)})


@dataclass(frozen=True)
class LabelledBatch:
    """What the learner trains on: (s, a) and a Bellman target in [0, 1] per row."""

    images: np.ndarray  # (B, H, W, 3) uint8
    states: np.ndarray  # (B, 2) float32
    actions: np.ndarray  # (B, 8) float32
    targets: np.ndarray  # (B,) float32 in [0, 1]

    def __post_init__(self) -> None:
        n = self.images.shape[0] if isinstance(self.images, np.ndarray) else None
        _check_array("images", self.images, np.uint8, (n, None, None, 3))
        _check_array("states", self.states, np.float32, (n, STATE_DIM))
        _check_array("actions", self.actions, np.float32, (n, ACTION_DIM))
        _check_array("targets", self.targets, np.float32, (n,))
        if not np.all((self.targets >= 0.0) & (self.targets <= 1.0)):
            raise ValueError("targets must lie in [0, 1] for the log loss")

    def __len__(self) -> int:
        return self.images.shape[0]


def random_transitions(n: int, image_size: int, rng: np.random.Generator) -> Transitions:
    """Synthetic transitions of the right shapes, for benchmarks and tests of the learner."""
    return Transitions(
        images=rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8),
        states=rng.random((n, 2), dtype=np.float32),
        actions=rng.uniform(-0.05, 0.05, (n, 8)).astype(np.float32),
        rewards=np.full(n, -0.05, dtype=np.float32),
        next_images=rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8),
        next_states=rng.random((n, 2), dtype=np.float32),
        dones=np.zeros(n, dtype=np.uint8),
    )
