"""Run a policy for N episodes and report its success rate with a 95% interval."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from workbench.rollout.collect import episode_seed, policy_rng, run_episode
from workbench.sim.env import GraspEnv

EVAL_STREAM = 102  # the seed stream of greedy evaluations during training (with the run's seed)


@dataclass(frozen=True)
class SuccessRate:
    successes: int
    episodes: int
    rate: float
    low: float  # 95% Wilson score interval
    high: float
    # Per episode: {"reset_seed", "object_ids", "success"}, so two policies can be compared pair by pair.
    outcomes: tuple[dict, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict:
        """The summary (the per-episode outcomes are written beside it: ``outcomes``)."""
        return {"successes": self.successes, "episodes": self.episodes, "rate": self.rate, "low": self.low,
                "high": self.high}

    def __str__(self) -> str:
        return (f"{self.rate:.1%} success ({self.successes}/{self.episodes}), "
                f"95% interval [{self.low:.1%}, {self.high:.1%}]")


def wilson_interval(successes: int, episodes: int, z: float = 1.959964) -> SuccessRate:
    """Wilson score interval: well behaved near 0% and 100%, unlike the normal one."""
    if episodes <= 0:
        raise ValueError("episodes must be positive")
    p = successes / episodes
    denom = 1 + z * z / episodes
    centre = (p + z * z / (2 * episodes)) / denom
    half = z * math.sqrt(p * (1 - p) / episodes + z * z / (4 * episodes * episodes)) / denom
    return SuccessRate(successes, episodes, p, max(0.0, centre - half), min(1.0, centre + half))


def run_episodes(env: GraspEnv, policy, episodes: int, seed: int, progress: bool = True,
                 desc: str = "episodes") -> SuccessRate:
    """Episode i resets the env with seed + i and the policy with its own stream, so runs repeat."""
    outcomes = []
    for index in tqdm(range(episodes), desc=desc, disable=not progress, leave=False):
        observation, info = env.reset(seed=seed + index)
        object_ids = [int(i) for i in info["object_ids"]]
        policy.reset(np.random.default_rng([seed, index, 1]))
        done = False
        while not done:
            observation, _, done, truncated, info = env.step(policy.act(observation))
            done = done or truncated
        outcomes.append({"reset_seed": seed + index, "object_ids": object_ids, "success": bool(info["success"])})
    rate = wilson_interval(sum(outcome["success"] for outcome in outcomes), episodes)
    return dataclasses.replace(rate, outcomes=tuple(outcomes))


@dataclass(frozen=True)
class PairedDifference:
    """Success of A minus success of B over the same episodes, with a 95% interval."""

    difference: float
    low: float
    high: float
    episodes: int
    a_only: int  # episodes A succeeded in and B failed
    b_only: int

    def to_dict(self) -> dict:
        return {"difference": self.difference, "low": self.low, "high": self.high, "episodes": self.episodes,
                "a_only": self.a_only, "b_only": self.b_only}

    def __str__(self) -> str:
        return (f"{self.difference * 100:+.1f} points, 95% interval [{self.low * 100:+.1f}, {self.high * 100:+.1f}] "
                f"over {self.episodes} paired episodes ({self.a_only} won by A only, {self.b_only} by B only)")


def mean_difference_interval(d: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of differences in [-1, 1]: Student's t 95% interval, clipped to [-1, 1]
    (one difference: the whole range)."""
    from scipy.stats import t as student_t  # scipy loads slowly: only comparisons pay

    n, mean = len(d), float(d.mean())
    half = float(student_t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    return mean, max(-1.0, mean - half), min(1.0, mean + half)


def paired_difference(a: Sequence[dict], b: Sequence[dict]) -> PairedDifference:
    """A - B over episodes that must be the same (reset seed and objects), pair by pair.

    The interval is Student's t on the per-episode differences (each -1, 0 or 1); pairing
    removes the scene-to-scene variance that two independent intervals would both carry.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired episodes differ in number: {len(a)} and {len(b)}")
    for x, y in zip(a, b):
        if (x["reset_seed"], list(x["object_ids"])) != (y["reset_seed"], list(y["object_ids"])):
            raise ValueError(f"episode with reset seed {x['reset_seed']} is not the same episode on both sides "
                             f"(objects {list(x['object_ids'])} and {list(y['object_ids'])})")
    d = np.array([float(x["success"]) - float(y["success"]) for x, y in zip(a, b)])
    return PairedDifference(*mean_difference_interval(d), len(d), int((d > 0).sum()), int((d < 0).sum()))


@dataclass(frozen=True)
class SeedLevelDifference:
    """A - B with the training seed as the unit: the mean of the per-seed paired differences and a
    Student's t interval over seeds.

    A paired interval over episodes holds both trained policies fixed: it says whether these two
    policies differ, not whether training under A beats training under B. Training moves more than
    that: three seed-0 trainings that differed only in the explorer episodes collected before
    training (960, 2880, 4800) scored 24.8%, 42.6% and 34.8% pooled (docs/benchmarks.md), not in the
    order of their data; 4800 against 2880 was -7.8 points [-13.6, -2.0] over the same 500 episodes.
    """

    difference: float
    low: float
    high: float
    per_seed: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"difference": self.difference, "low": self.low, "high": self.high, "seeds": len(self.per_seed),
                "per_seed": list(self.per_seed)}

    def __str__(self) -> str:
        seeds = ", ".join(f"{d * 100:+.1f}" for d in self.per_seed)
        return (f"{self.difference * 100:+.1f} points, 95% interval [{self.low * 100:+.1f}, {self.high * 100:+.1f}] "
                f"over {len(self.per_seed)} training seeds ({seeds})")


def seed_level_difference(per_seed: Sequence[float]) -> SeedLevelDifference:
    """The interval over training seeds of per-seed differences (one seed: unbounded, [-1, 1])."""
    if not per_seed:
        raise ValueError("no training seeds to compare")
    d = np.asarray(per_seed, dtype=float)
    return SeedLevelDifference(*mean_difference_interval(d), tuple(float(x) for x in d))


def evaluate_greedy(env, policy, episodes: int, seed: int) -> float:
    """Success rate of a greedy policy on train objects, on the run's evaluation episodes."""
    successes = 0
    for index in range(episodes):
        episode = run_episode(env, policy, episode_seed(seed, EVAL_STREAM, index),
                              policy_rng(seed, EVAL_STREAM, index), "eval", "qtopt")
        successes += episode.success
    return successes / episodes
