"""Environment throughput against the raw MuJoCo floor of the same scene.

The floor for one control step is what no environment can avoid: `mj_step`
for the same simulated time plus one render from the scene's camera. The
environment adds action handling, the mocap interpolation, the observation
and `info`. Resets are timed apart: they are per episode, not per step. The
episodes reset as collection does (`workbench.rollout.collect.start_seed`: blocks of
`EPISODES_PER_START` share one settled start, see `scenes.settled`); the same
seeds are then reset fresh (objects dropped and settled every time), and the
ratios say what each kind of reset leaves of the steps/s without resets.

`--success-episodes N` also runs the oracle and the explorer on N seeds with
fresh and with reused starts: reused starts must not change what a policy
achieves, so the difference should sit within noise. Its 95% interval counts
the reused episodes as the independent draws they are worth (`effective_draws`).
"""

from __future__ import annotations

import math
import time

import mujoco
import numpy as np

from workbench.errors import UserError
from workbench.rollout.collect import EPISODES_PER_START, OFFLINE_SOURCE, start_seed
from workbench.rollout.evaluate import wilson_interval
from workbench.rollout.qtopt_policy import make_policy
from workbench.sim.env import GraspEnv
from workbench.sim.scripted import ExplorerPolicy

_FLOOR_STATE = mujoco.mjtState.mjSTATE_INTEGRATION | mujoco.mjtState.mjSTATE_WARMSTART


def add_arguments(parser) -> None:
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--episodes", type=int, default=3 * EPISODES_PER_START)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", default=None, metavar="SCENE",
                        help="also measure this scene in the same run (its figures prefixed compare_), "
                             "e.g. bin_grasp beside bin_grasp_jaco")
    parser.add_argument("--success-episodes", type=int, default=0,
                        help="also compare oracle and explorer success, fresh vs reused starts, on this many seeds")


def run(args) -> dict:
    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    if args.success_episodes < 0:
        raise UserError(f"--success-episodes must be at least 0, got {args.success_episodes}")
    figures = measure(args.scene, args)
    if args.compare:
        other = measure(args.compare, args)
        figures.update({f"compare_{key}": value for key, value in other.items() if key != "image_size"})
        figures["env_steps_per_s_vs_compare"] = figures["env_steps_per_s"] / other["env_steps_per_s"]
    if args.success_episodes:
        for name in ("oracle", "explorer"):
            figures.update(_success_difference(args, name))
    return figures


def measure(scene: str, args) -> dict:
    """Steps/s of one scene with rendering against the floor (mj_step + render), and reset costs."""
    env = GraspEnv(scene, image_size=args.size)
    policy = ExplorerPolicy(env)
    env_seconds = reset_seconds = floor_seconds = 0.0
    steps = 0
    for episode in range(args.episodes):
        start = time.perf_counter()
        observation, _ = env.reset(seed=args.seed + episode, options=_start(args.seed, episode))
        reset_seconds += time.perf_counter() - start
        policy.reset(np.random.default_rng(episode))
        states, done = [], False
        while not done:
            state = np.empty(mujoco.mj_stateSize(env.scene.model, _FLOOR_STATE))
            mujoco.mj_getState(env.scene.model, env.data, state, _FLOOR_STATE)
            states.append(state)
            action = policy.act(observation)  # outside the timed region: policy cost is not the env's
            start = time.perf_counter()
            observation, _, done, _, info = env.step(action)
            env_seconds += time.perf_counter() - start
            steps += 1
        floor_seconds += _floor(env, states)
    fresh_seconds = 0.0
    for episode in range(args.episodes):
        start = time.perf_counter()
        env.reset(seed=args.seed + episode)
        fresh_seconds += time.perf_counter() - start
    env.close()
    env_rate = steps / env_seconds
    floor_rate = steps / floor_seconds
    return {
        "scene": scene,
        "image_size": args.size,
        "control_steps": steps,
        "env_steps_per_s": env_rate,
        "floor_steps_per_s": floor_rate,
        "overhead_ratio": floor_rate / env_rate,
        "env_ms_per_step": 1e3 / env_rate,
        "floor_ms_per_step": 1e3 / floor_rate,
        "episodes_per_start": EPISODES_PER_START,
        "reset_ms": 1e3 * reset_seconds / args.episodes,
        "steps_per_s_including_resets": steps / (env_seconds + reset_seconds),
        "with_resets_ratio": env_seconds / (env_seconds + reset_seconds),
        "fresh_reset_ms": 1e3 * fresh_seconds / args.episodes,
        "fresh_steps_per_s_including_resets": steps / (env_seconds + fresh_seconds),
        "fresh_with_resets_ratio": env_seconds / (env_seconds + fresh_seconds),
    }


def _start(seed: int, episode: int) -> dict:
    """Reset options of bench episode `episode`, as collection builds them."""
    return {"start_seed": start_seed(seed, OFFLINE_SOURCE, episode)}


def _success_difference(args, policy_name: str) -> dict:
    """Success of one policy on the same seeds with fresh and with reused starts, and the difference."""
    env = GraspEnv(args.scene, image_size=args.size)
    policy = make_policy(policy_name, env)
    outcomes = {}
    for mode in ("fresh", "reused"):
        outcomes[mode] = np.array([
            _success(env, policy, args.seed + episode, None if mode == "fresh" else _start(args.seed, episode),
                     np.random.default_rng([args.seed, episode, 1]))
            for episode in range(args.success_episodes)])
    env.close()
    effective = effective_draws(outcomes["reused"].astype(float), EPISODES_PER_START)
    fresh, reused = outcomes["fresh"].mean(), outcomes["reused"].mean()
    low, high = difference_interval(float(reused), effective, float(fresh), args.success_episodes)
    return {f"{policy_name}_episodes": args.success_episodes,
            f"{policy_name}_fresh_success": float(fresh),
            f"{policy_name}_reused_success": float(reused),
            f"{policy_name}_reused_effective_episodes": effective,
            f"{policy_name}_reused_minus_fresh": float(reused - fresh),
            f"{policy_name}_reused_minus_fresh_low": low,
            f"{policy_name}_reused_minus_fresh_high": high}


def effective_draws(outcomes: np.ndarray, block: int) -> float:
    """Independent draws that `outcomes` (consecutive blocks share a start) are worth.

    Episodes over the design effect 1 + (m - 1) * ICC, the intra-start correlation from a
    one-way analysis of variance by block (clipped to [0, 1]); with no spread at all there
    is nothing to estimate it from, and each start counts once.
    """
    groups = [outcomes[i:i + block] for i in range(0, len(outcomes), block)]
    n, k = len(outcomes), len(groups)
    if k < 2 or n == k:
        return float(k)
    size = n / k
    grand = outcomes.mean()
    between = sum(len(g) * (g.mean() - grand) ** 2 for g in groups) / (k - 1)
    within = sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / (n - k)
    if between + (size - 1) * within == 0:
        return float(k)
    icc = min(max((between - within) / (between + (size - 1) * within), 0.0), 1.0)
    return n / (1 + (size - 1) * icc)


def difference_interval(rate_a: float, n_a: float, rate_b: float, n_b: float) -> tuple[float, float]:
    """95% interval of rate_a - rate_b from two Wilson intervals (Newcombe's hybrid score method).

    The episodes of one start are not independent (a start the oracle cannot grasp fails at
    every turn), so the reused rate counts `effective_draws`, never more than the episodes.
    """
    a = wilson_interval(rate_a * n_a, n_a)  # fractional successes: an effective count
    b = wilson_interval(rate_b * n_b, n_b)
    difference = rate_a - rate_b
    return (difference - math.hypot(rate_a - a.low, b.high - rate_b),
            difference + math.hypot(a.high - rate_a, rate_b - b.low))


def _success(env: GraspEnv, policy, seed: int, options: dict | None, rng: np.random.Generator) -> bool:
    observation, info = env.reset(seed=seed, options=options)
    policy.reset(rng)
    done = False
    while not done:
        observation, _, done, _, info = env.step(policy.act(observation))
    return bool(info["success"])


def _floor(env: GraspEnv, states: list[np.ndarray]) -> float:
    """Seconds of raw mj_step (one control step of sim time) plus one render, from each
    state the environment stepped from, on the same model."""
    model, data = env.scene.model, mujoco.MjData(env.scene.model)
    seconds = 0.0
    for state in states:
        mujoco.mj_setState(model, data, state, _FLOOR_STATE)
        start = time.perf_counter()
        mujoco.mj_step(model, data, nstep=env.task.substeps)
        env.renderer.render(data)
        seconds += time.perf_counter() - start
    return seconds
