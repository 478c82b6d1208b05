"""Kernel inception distance (Binkowski et al. 2018), on any feature vectors.

KID is the squared maximum mean discrepancy (MMD^2) between two feature sets under
the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, d the feature dimension,
estimated without bias (self-pairs excluded). It is 0 in expectation when both sets
come from one distribution, so a finite-sample estimate can be slightly negative.

The interval is a percentile bootstrap: each replicate resamples both sets with
replacement (multinomial counts from the caller's Generator) and recomputes the
unbiased estimate with pairs of the same original sample left out, as the estimator
leaves out i = j; counting those pairs would bias every replicate upwards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class KIDResult:
    kid: float  # unbiased MMD^2 estimate
    low: float  # percentile bootstrap interval
    high: float
    confidence: float
    bootstrap: int  # replicates
    n_a: int
    n_b: int
    feature_dim: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0 from above: the two sets differ."""
        return self.low > 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3 for every row pair, in float64."""
    d = a.shape[1]
    return (a.astype(np.float64) @ b.astype(np.float64).T / d + 1.0) ** 3


def _weighted_mmd2(k_aa: np.ndarray, k_bb: np.ndarray, k_ab: np.ndarray,
                   counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
    """Unbiased MMD^2 for multisets given by counts (R, n), one value per row.

    Within a set, pairs of the same original sample are left out: the weight of pair
    (i, j) is c_i c_j for i != j, normalised by the sum of those weights. All counts 1
    gives the textbook estimator.
    """
    def within(kernel: np.ndarray, counts: np.ndarray) -> np.ndarray:
        total = ((counts @ kernel) * counts).sum(1)
        self_pairs = (counts**2) @ np.diag(kernel)
        weight = counts.sum(1) ** 2 - (counts**2).sum(1)
        return (total - self_pairs) / weight

    cross = ((counts_a @ k_ab) * counts_b).sum(1) / (counts_a.sum(1) * counts_b.sum(1))
    return within(k_aa, counts_a) + within(k_bb, counts_b) - 2.0 * cross


def mmd2_unbiased(a: np.ndarray, b: np.ndarray) -> float:
    """The unbiased MMD^2 estimate between feature sets a (m, d) and b (n, d)."""
    _check_features(a, b)
    ones_a, ones_b = np.ones((1, len(a))), np.ones((1, len(b)))
    value = _weighted_mmd2(polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b), ones_a, ones_b)
    return float(value[0])


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                              bootstrap: int = 1000, confidence: float = 0.95) -> KIDResult:
    """KID between feature sets a and b with a percentile bootstrap interval."""
    _check_features(a, b)
    if bootstrap < 1:
        raise ValueError(f"bootstrap must be at least 1, got {bootstrap}")
    k_aa, k_bb, k_ab = polynomial_kernel(a, a), polynomial_kernel(b, b), polynomial_kernel(a, b)
    m, n = len(a), len(b)
    estimate = _weighted_mmd2(k_aa, k_bb, k_ab, np.ones((1, m)), np.ones((1, n)))[0]
    counts_a = rng.multinomial(m, np.full(m, 1.0 / m), size=bootstrap).astype(np.float64)
    counts_b = rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap).astype(np.float64)
    # A replicate that drew one sample m times has no distinct pair; it cannot estimate anything.
    usable = ((counts_a > 0).sum(1) > 1) & ((counts_b > 0).sum(1) > 1)
    replicates = _weighted_mmd2(k_aa, k_bb, k_ab, counts_a[usable], counts_b[usable])
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return KIDResult(float(estimate), float(low), float(high), confidence, int(usable.sum()), m, n, a.shape[1])


def _check_features(a: np.ndarray, b: np.ndarray) -> None:
    for name, x in (("a", a), ("b", b)):
        if x.ndim != 2:
            raise ValueError(f"features {name} must be (n, d), got shape {x.shape}")
        if len(x) < 2:
            raise ValueError(f"features {name} need at least 2 samples for the unbiased estimate, got {len(x)}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"features {name} have non-finite values")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} and {b.shape[1]}")
