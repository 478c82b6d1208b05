"""Run a policy for N episodes and report its success rate with a 95% interval."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

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
                 desc: str = "episodes") -> SuccessRate:
    """Episode i resets the env with seed + i and the policy with its own stream, so runs repeat."""
    successes = 0
    for index in tqdm(range(episodes), desc=desc, disable=not progress, leave=False):
        observation, info = env.reset(seed=seed + index)
        policy.reset(np.random.default_rng([seed, index, 1]))
        done = False
        while not done:
            observation, _, done, truncated, info = env.step(policy.act(observation))
            done = done or truncated
        successes += bool(info["success"])
    return wilson_interval(successes, episodes)


def evaluate_greedy(env, policy, episodes: int, seed: int) -> float:
    """Success rate of a greedy policy on train objects, on the run's evaluation episodes."""
    successes = 0
    for index in range(episodes):
        episode = run_episode(env, policy, episode_seed(seed, EVAL_STREAM, index),
                              policy_rng(seed, EVAL_STREAM, index), "eval", "qtopt")
        successes += episode.success
    return successes / episodes
