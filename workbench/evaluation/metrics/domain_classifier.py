"""Can a small classifier tell simulation from real? Held-out accuracy, 0.5 = it cannot.

Logistic regression on standardised features, scored by stratified k-fold
cross-validation: every sample is predicted once by a model that never saw it. The
two sets are first cut to equal size (a random subset of the larger, drawn from the
caller's Generator), so chance is exactly 0.5 and the accuracy is not inflated by
guessing the majority domain. The interval is Wilson's over the held-out predictions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench.rollout.evaluate import wilson_interval


@dataclass(frozen=True)
class DomainClassifierResult:
    accuracy: float  # held-out, over both domains
    low: float  # 95% Wilson interval
    high: float
    fold_accuracies: list[float]
    per_domain: int  # samples of each domain used
    folds: int

    def to_dict(self) -> dict:
        return asdict(self)


def domain_classifier_accuracy(sim: np.ndarray, real: np.ndarray, rng: np.random.Generator,
                               folds: int = 5, regularization: float = 1.0) -> DomainClassifierResult:
    """Cross-validated accuracy of logistic regression separating sim (label 0) from real (1)."""
    per_domain = min(len(sim), len(real))
    if per_domain < folds:
        raise ValueError(f"need at least {folds} samples of each domain for {folds}-fold cross-validation, "
                         f"got {len(sim)} sim and {len(real)} real")
    if sim.ndim != 2 or real.ndim != 2 or sim.shape[1] != real.shape[1]:
        raise ValueError(f"features must be (n, d) with equal d, got {sim.shape} and {real.shape}")
    sim = sim[rng.choice(len(sim), per_domain, replace=False)]
    real = real[rng.choice(len(real), per_domain, replace=False)]
    x = np.concatenate([sim, real]).astype(np.float64)
    y = np.r_[np.zeros(per_domain, int), np.ones(per_domain, int)]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(rng.integers(2**31 - 1)))
    correct = 0
    fold_accuracies = []
    for train, test in splitter.split(x, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=2000))
        model.fit(x[train], y[train])
        hits = int((model.predict(x[test]) == y[test]).sum())
        correct += hits
        fold_accuracies.append(hits / len(test))
    interval = wilson_interval(correct, len(y))
    return DomainClassifierResult(interval.rate, interval.low, interval.high, fold_accuracies, per_domain, folds)
