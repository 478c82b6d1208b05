"""The cross-entropy method (CEM) over QT-Opt actions, batched over many states.

Per state, a Gaussian (mean, std per dim) over the continuous dims 0..4 and a Bernoulli
(probability per dim) over the binary dims 5..7. Each iteration samples ``samples``
actions per state, scores them, keeps the ``elites`` best and refits the distribution
to them. The answer is the best-scoring sample seen in any iteration, not the final
mean, so the returned action always has a score that was actually computed. Samples are
scored and returned as ``ActionSpec.close_in_place`` sends them (a closing action does
not translate), so acting and the Bellman targets search the same set of actions.

This module needs only numpy: the scorer is any callable, and all sampling noise comes
from the caller's numpy Generator in a fixed order, so a torch-free runtime (numpy +
onnxruntime) calling ``cem_maximize`` with an equally seeded Generator and the same
scores reproduces the same action. Draw order per iteration:
``rng.standard_normal((B, K, 5))`` then ``rng.random((B, K, 3))``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from policies.runtime.spec import ACTION_DIM, ActionSpec

ScoreFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CEMConfig:
    """CEM settings; defaults are the paper's 2 iterations, 64 samples, 6 elites.

    ``initial_std`` is relative to each continuous dim's half range (high - low) / 2, so
    one number suits translations of centimetres and sin/cos in [-1, 1] alike. The
    initial mean is the centre of the bounds and the initial Bernoulli probability 0.5.
    """

    iterations: int = 2
    samples: int = 64
    elites: int = 6
    initial_std: float = 0.5

    def __post_init__(self) -> None:
        for name in ("iterations", "samples", "elites"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.elites > self.samples:
            raise ValueError(f"elites ({self.elites}) must not exceed samples ({self.samples})")
        std = self.initial_std
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not np.isfinite(std) or std <= 0:
            raise ValueError(f"initial_std must be a positive finite number, got {std!r}")


@dataclass(frozen=True)
class CEMResult:
    actions: np.ndarray  # (B, 8) float32: best sample per state
    scores: np.ndarray  # (B,) float32: its score


def cem_maximize(
    score_fn: ScoreFn,
    batch: int,
    config: CEMConfig,
    rng: np.random.Generator,
    spec: ActionSpec | None = None,
) -> CEMResult:
    """Maximise ``score_fn(actions (B, K, 8)) -> scores (B, K)`` independently for B states."""
    spec = spec if spec is not None else ActionSpec()
    cont = np.asarray(spec.continuous_dims)
    binary = np.asarray(spec.binary_dims)
    low = spec.low[cont].astype(np.float64)
    high = spec.high[cont].astype(np.float64)
    samples, elites = config.samples, config.elites

    mean = np.broadcast_to((low + high) / 2, (batch, cont.size)).copy()
    std = np.broadcast_to(config.initial_std * (high - low) / 2, (batch, cont.size)).copy()
    prob = np.full((batch, binary.size), 0.5)
    best_actions = np.zeros((batch, ACTION_DIM), dtype=np.float32)
    best_scores = np.full(batch, -np.inf, dtype=np.float32)
    rows = np.arange(batch)

    for _ in range(config.iterations):
        noise = rng.standard_normal((batch, samples, cont.size))
        coins = rng.random((batch, samples, binary.size))
        actions = np.empty((batch, samples, ACTION_DIM), dtype=np.float32)
        actions[:, :, cont] = np.clip(mean[:, None, :] + std[:, None, :] * noise, low, high)
        actions[:, :, binary] = coins < prob[:, None, :]

        # Scored and answered as sent (closing actions hold still); the distribution is refit
        # to the samples as drawn, so the search over translations goes on unchanged.
        sent = spec.close_in_place(actions)
        scores = np.asarray(score_fn(sent), dtype=np.float32)
        if scores.shape != (batch, samples):
            raise ValueError(f"score_fn returned shape {scores.shape}, expected {(batch, samples)}")
        if not np.all(np.isfinite(scores)):
            raise ValueError("score_fn returned non-finite scores")

        # Stable sort on the negated score: ties go to the earlier sample, deterministically.
        order = np.argsort(-scores, axis=1, kind="stable")
        top = order[:, 0]
        improved = scores[rows, top] > best_scores
        best_actions[improved] = sent[rows[improved], top[improved]]
        best_scores[improved] = scores[rows[improved], top[improved]]

        elite = np.take_along_axis(actions, order[:, :elites, None], axis=1).astype(np.float64)
        mean = elite[:, :, cont].mean(axis=1)
        std = elite[:, :, cont].std(axis=1)
        prob = elite[:, :, binary].mean(axis=1)

    return CEMResult(actions=best_actions, scores=best_scores)
