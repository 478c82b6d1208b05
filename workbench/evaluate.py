"""Run a policy for N episodes and report its success rate with a 95% interval."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from workbench.env import GraspEnv


@dataclass(frozen=True)
class SuccessRate:
    successes: int
    episodes: int
    rate: float
    low: float  # 95% Wilson score interval
    high: float

    def to_dict(self) -> dict:
        return asdict(self)

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
                 desc: str = "episodes", outcomes: list[bool] | None = None) -> SuccessRate:
    """Episode i resets the env with seed + i and the policy with its own stream, so runs repeat.

    `outcomes`, when given, receives each episode's success in order: two policies run on the
    same seeds meet the same scenes, so their outcomes pair up (`paired_difference`).
    """
    successes = 0
    for index in tqdm(range(episodes), desc=desc, disable=not progress, leave=False):
        observation, info = env.reset(seed=seed + index)
        policy.reset(np.random.default_rng([seed, index, 1]))
        done = False
        while not done:
            observation, _, done, truncated, info = env.step(policy.act(observation))
            done = done or truncated
        successes += bool(info["success"])
        if outcomes is not None:
            outcomes.append(bool(info["success"]))
    return wilson_interval(successes, episodes)


def paired_difference(first: list[bool], second: list[bool], z: float = 1.959964) -> dict:
    """Success of `first` minus `second` on the same scenes, with a 95% normal interval on the
    per-scene differences, and the discordant scenes (only one of the two succeeded)."""
    if len(first) != len(second) or not first:
        raise ValueError(f"paired outcomes need equal, non-zero lengths, got {len(first)} and {len(second)}")
    differences = np.asarray(first, float) - np.asarray(second, float)
    mean = float(differences.mean())
    half = z * float(differences.std(ddof=1)) / math.sqrt(len(differences)) if len(differences) > 1 else math.inf
    return {"difference": mean, "low": mean - half, "high": mean + half,
            "first_only": int((differences > 0).sum()), "second_only": int((differences < 0).sum())}
