"""Choosing actions with a torch Q-network: encode each state once, then CEM over score().

Kept apart from cem.py so that module stays numpy-only for the exported runtime.
"""

from __future__ import annotations

import numpy as np
import torch

from policies.qtopt.qnet import QNetwork
from policies.runtime.cem import CEMConfig, CEMResult, ScoreFn, cem_maximize
from policies.runtime.spec import ActionSpec


def as_tensor(array: np.ndarray) -> torch.Tensor:
    """numpy -> torch without a copy where possible (uint8 images stay uint8)."""
    return torch.from_numpy(np.ascontiguousarray(array))


def features_score_fn(qnet: QNetwork, features: torch.Tensor, chunk_rows: int | None = None) -> ScoreFn:
    """A CEM scorer: (B, K, 8) numpy actions -> (B, K) numpy logits for fixed features."""
    chunk_rows = chunk_rows or qnet.score_chunk_rows

    def score(actions: np.ndarray) -> np.ndarray:
        states_per_pass = max(1, chunk_rows // actions.shape[1])
        with torch.no_grad():
            parts = [
                qnet.score(features[i : i + states_per_pass], as_tensor(actions[i : i + states_per_pass]))
                for i in range(0, actions.shape[0], states_per_pass)
            ]
        return torch.cat(parts).numpy()

    return score


def cem_select(
    qnet: QNetwork,
    images: np.ndarray,
    states: np.ndarray,
    config: CEMConfig,
    rng: np.random.Generator,
    spec: ActionSpec | None = None,
) -> CEMResult:
    """Best action (B, 8) and its logit (B,) for images (B, H, W, 3) and states (B, 2).

    The returned scores are logits; Q = sigmoid(score).
    """
    with torch.no_grad():
        features = qnet.encode(as_tensor(images), as_tensor(states.astype(np.float32, copy=False)))
    return cem_maximize(features_score_fn(qnet, features), images.shape[0], config, rng, spec)
