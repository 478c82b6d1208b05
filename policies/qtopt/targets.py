"""Target networks and the clipped double-Q Bellman target.

QT-Opt keeps two target copies of the online Q-network: one Polyak averaged and one
lagged copy refreshed every N learner steps. For a transition (s, a, r, s', done):

    a* = CEM argmax over a' of Q_polyak(s', a')
    y  = clip(r + gamma * (1 - done) * min(Q_polyak(s', a*), Q_lagged(s', a*)), 0, 1)

The min of two differently lagged estimates damps the overestimation that maximising
over a noisy Q causes. The clip is there because the learner's log (cross-entropy) loss
needs targets that are probabilities: with reward 1 at success and a small negative
penalty per step, r + gamma * Q can dip below 0 (e.g. a penalty step before a Q of
about 0), and a label outside [0, 1] would make the loss unbounded below.

Defaults: the paper averages with 0.9999 and lags by thousands of steps, tuned for
millions of steps on many GPUs. A CPU run here takes tens of thousands of steps, so
tau = 0.005 (a time constant of about 200 steps) and a lagged copy every 500 steps.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from policies.qtopt.action_selection import as_tensor, features_score_fn
from policies.qtopt.qnet import QNetwork
from policies.qtopt.stopwatch import NO_STOPWATCH, Stopwatch
from policies.runtime.cem import CEMConfig, cem_maximize
from policies.runtime.spec import ActionSpec

DEFAULT_POLYAK_TAU = 0.005
DEFAULT_LAGGED_PERIOD = 500


def clipped_bellman_targets(
    rewards: np.ndarray, dones: np.ndarray, next_values: np.ndarray, gamma: float,
    horizons: np.ndarray | None = None,
) -> np.ndarray:
    """r + gamma ** horizon * (1 - done) * V(s'), clipped to [0, 1]; float32 (B,).

    ``horizons`` (default 1) is how many steps s' lies ahead, for n-step transitions.
    """
    not_done = 1.0 - dones.astype(np.float32)
    discount = np.float32(gamma) if horizons is None else np.float32(gamma) ** horizons.astype(np.float32)
    targets = rewards.astype(np.float32) + discount * not_done * next_values.astype(np.float32)
    return np.clip(targets, 0.0, 1.0).astype(np.float32)


def _frozen_copy(net: QNetwork) -> QNetwork:
    target = copy.deepcopy(net)
    target.requires_grad_(False)
    return target


class TargetNetworks:
    """A Polyak-averaged and a lagged copy of an online Q-network."""

    def __init__(
        self,
        online: QNetwork,
        polyak_tau: float = DEFAULT_POLYAK_TAU,
        lagged_period: int = DEFAULT_LAGGED_PERIOD,
    ):
        if not 0.0 < polyak_tau <= 1.0:
            raise ValueError(f"polyak_tau must be in (0, 1], got {polyak_tau!r}")
        if not isinstance(lagged_period, int) or lagged_period <= 0:
            raise ValueError(f"lagged_period must be a positive integer, got {lagged_period!r}")
        self.polyak_tau = polyak_tau
        self.lagged_period = lagged_period
        self.polyak = _frozen_copy(online)
        self.lagged = _frozen_copy(online)

    @torch.no_grad()
    def polyak_update(self, online: nn.Module) -> None:
        """target <- target + tau * (online - target), for every parameter."""
        # strict=True: a network of another shape raises instead of half-updating.
        for target_param, online_param in zip(self.polyak.parameters(), online.parameters(), strict=True):
            target_param.lerp_(online_param, self.polyak_tau)
        for target_buffer, online_buffer in zip(self.polyak.buffers(), online.buffers(), strict=True):
            target_buffer.copy_(online_buffer)

    @torch.no_grad()
    def refresh_lagged(self, online: nn.Module) -> None:
        self.lagged.load_state_dict(online.state_dict())

    def update(self, online: nn.Module, learner_step: int) -> None:
        """Called after learner step number ``learner_step`` (1, 2, ...)."""
        self.polyak_update(online)
        if learner_step % self.lagged_period == 0:
            self.refresh_lagged(online)

    @torch.no_grad()
    def next_state_values(
        self,
        next_images: np.ndarray,
        next_states: np.ndarray,
        cem: CEMConfig,
        rng: np.random.Generator,
        spec: ActionSpec | None = None,
        watch: Stopwatch = NO_STOPWATCH,
    ) -> np.ndarray:
        """min(Q_polyak(s', a*), Q_lagged(s', a*)) with a* from CEM on the Polyak net; (B,) in [0, 1]."""
        if next_images.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        images = as_tensor(next_images)
        states = as_tensor(next_states.astype(np.float32, copy=False))
        with watch("label_encode"):
            polyak_features = self.polyak.encode(images, states)
        with watch("label_cem"):
            best = cem_maximize(features_score_fn(self.polyak, polyak_features), len(next_images), cem, rng, spec)
        # CEM's best score is already the Polyak logit at a*; only the lagged net needs a pass.
        with watch("label_lagged"):
            lagged_logits = self.lagged(images, states, as_tensor(best.actions))
        polyak_q = torch.sigmoid(torch.from_numpy(best.scores))
        lagged_q = torch.sigmoid(lagged_logits)
        return torch.minimum(polyak_q, lagged_q).numpy().astype(np.float32)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Both target nets' weights as named numpy arrays (for another process or a checkpoint)."""
        arrays = {f"polyak.{k}": v.detach().cpu().numpy() for k, v in self.polyak.state_dict().items()}
        arrays.update({f"lagged.{k}": v.detach().cpu().numpy() for k, v in self.lagged.state_dict().items()})
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for prefix, net in (("polyak.", self.polyak), ("lagged.", self.lagged)):
            state = {k[len(prefix) :]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith(prefix)}
            net.load_state_dict(state)
