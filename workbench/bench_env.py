"""Environment throughput against the raw MuJoCo floor of the same scene.

The floor for one control step is what no environment can avoid: `mj_step`
for the same simulated time plus one render from the scene's camera. The
environment adds action handling, the mocap interpolation, the observation
and `info`. Resets (new objects, settling) are timed apart: they are per
episode, not per step.
"""

from __future__ import annotations

import time

import mujoco
import numpy as np

from workbench.env import GraspEnv
from workbench.scripted import ExplorerPolicy

_FLOOR_STATE = mujoco.mjtState.mjSTATE_INTEGRATION | mujoco.mjtState.mjSTATE_WARMSTART


def add_arguments(parser) -> None:
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", default=None, metavar="SCENE",
                        help="also measure this scene in the same run (its figures prefixed compare_), "
                             "e.g. bin_grasp beside bin_grasp_jaco")


def run(args) -> dict:
    figures = measure(args.scene, args)
    if args.compare:
        other = measure(args.compare, args)
        figures.update({f"compare_{key}": value for key, value in other.items() if key != "image_size"})
        figures["env_steps_per_s_vs_compare"] = figures["env_steps_per_s"] / other["env_steps_per_s"]
    return figures


def measure(scene: str, args) -> dict:
    env = GraspEnv(scene, image_size=args.size)
    policy = ExplorerPolicy(env)
    env_seconds = reset_seconds = floor_seconds = 0.0
    steps = 0
    for episode in range(args.episodes):
        start = time.perf_counter()
        observation, _ = env.reset(seed=args.seed + episode)
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
        "reset_ms": 1e3 * reset_seconds / args.episodes,
        "steps_per_s_including_resets": steps / (env_seconds + reset_seconds),
    }


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
