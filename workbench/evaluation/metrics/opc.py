"""Off-policy classification (Irpan et al. 2019): does Q predict which episodes succeed?

Every transition (s_t, a_t) of a labelled episode is a sample; its label is the
episode's success. A Q-function that transfers ranks transitions of successful
episodes above those of failed ones:

- ROC AUC of Q at the taken actions against the label (0.5: no better than chance);
- SoftOPC = mean Q over transitions of successful episodes - mean Q over all transitions;
- a reliability curve: Q binned, against the success rate in each bin. QT-Opt's Q is a
  discounted return (success k steps ahead is worth gamma^k), not a probability of
  success, so even a perfect Q-function sits below the diagonal early in an episode;
  read the curve for its shape (rising or flat), not for distance to the diagonal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney U statistic, ties counted one half.

    AUC = P(score of a random positive > score of a random negative) + P(tie) / 2,
    computed from mid-ranks in O(n log n).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = _check_labels(scores, labels)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("ROC AUC needs both successful and failed episodes")
    ranks = _midranks(scores)
    u = ranks[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start index of each run of equal values, and each element's run.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    run_of = np.repeat(np.arange(len(starts)), ends - starts)
    ranks = np.empty(len(values))
    ranks[order] = run_rank[run_of]
    return ranks


def soft_opc(q: np.ndarray, labels: np.ndarray) -> float:
    """Mean Q over transitions of successful episodes minus mean Q over all transitions."""
    q = np.asarray(q, dtype=np.float64)
    labels = _check_labels(q, labels)
    if not labels.any():
        raise ValueError("SoftOPC needs at least one successful episode")
    return float(q[labels].mean() - q.mean())


@dataclass(frozen=True)
class ReliabilityCurve:
    edges: list[float]  # bins + 1 edges over [0, 1]
    mean_q: list[float | None]  # per bin; None where the bin is empty
    success_rate: list[float | None]
    count: list[int]
    expected_calibration_error: float  # count-weighted mean |success_rate - mean_q|

    def to_dict(self) -> dict:
        return asdict(self)


def reliability_curve(q: np.ndarray, labels: np.ndarray, bins: int = 10) -> ReliabilityCurve:
    """Q in equal-width bins over [0, 1]; each bin's mean Q against its observed success rate."""
    q = np.asarray(q, dtype=np.float64)
    labels = _check_labels(q, labels)
    if np.any((q < 0) | (q > 1)):
        raise ValueError("Q values must lie in [0, 1] (sigmoid of the logit)")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(q, edges[1:-1]), 0, bins - 1)
    mean_q, rate, count = [], [], []
    error = 0.0
    for b in range(bins):
        member = index == b
        n = int(member.sum())
        count.append(n)
        if n == 0:
            mean_q.append(None)
            rate.append(None)
            continue
        mean_q.append(float(q[member].mean()))
        rate.append(float(labels[member].mean()))
        error += n * abs(rate[-1] - mean_q[-1])
    return ReliabilityCurve(edges.tolist(), mean_q, rate, count, error / len(q))


@dataclass(frozen=True)
class OPCResult:
    transitions: int
    episodes: int
    successful_episodes: int
    auc: float | None  # None when every episode has the same label
    soft_opc: float | None  # None when no episode succeeded
    mean_q: float
    reliability: ReliabilityCurve
    note: str

    def to_dict(self) -> dict:
        return {**asdict(self), "reliability": self.reliability.to_dict()}


def off_policy_classification(q: np.ndarray, episode_index: np.ndarray, episode_success: np.ndarray,
                              bins: int = 10) -> OPCResult:
    """All OPC metrics from per-transition Q, each transition's episode, and per-episode labels."""
    q = np.asarray(q, dtype=np.float64)
    episode_index = np.asarray(episode_index)
    episode_success = np.asarray(episode_success, dtype=bool)
    if q.shape != episode_index.shape or q.ndim != 1:
        raise ValueError(f"q {q.shape} and episode_index {episode_index.shape} must be equal 1-d shapes")
    labels = episode_success[episode_index]
    successes = int(episode_success.sum())
    notes = []
    auc = opc = None
    if 0 < successes < len(episode_success):
        auc = roc_auc(q, labels)
    else:
        notes.append("AUC undefined: every episode has the same label")
    if successes:
        opc = soft_opc(q, labels)
    else:
        notes.append("SoftOPC undefined: no successful episode")
    return OPCResult(len(q), len(episode_success), successes, auc, opc, float(q.mean()),
                     reliability_curve(q, labels, bins), "; ".join(notes))


def _check_labels(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != scores.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} must be equal 1-d shapes")
    if labels.dtype != bool and not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be booleans or 0/1")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores have non-finite values")
    return labels.astype(bool)
