"""Environment throughput against the raw MuJoCo floor of the same scene.

The floor for one control step is what no environment can avoid: `mj_step`
for the same simulated time plus one render from the shoulder camera. The
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


def add_arguments(parser) -> None:
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> dict:
    env = GraspEnv(args.scene, image_size=args.size)
    policy = ExplorerPolicy(env)
    # Record the actions first so the timed loop measures the environment only.
    env_seconds = reset_seconds = 0.0
    steps = 0
    states = []
    for episode in range(args.episodes):
        start = time.perf_counter()
        observation, _ = env.reset(seed=args.seed + episode)
        reset_seconds += time.perf_counter() - start
        policy.reset(np.random.default_rng(episode))
        done = False
        while not done:
            action = policy.act(observation)
            start = time.perf_counter()
            observation, _, done, _, info = env.step(action)
            env_seconds += time.perf_counter() - start
            steps += 1
            states.append(info["physics_state"])

    model, data = env.scene.model, mujoco.MjData(env.scene.model)
    substeps = env.task.substeps
    floor_seconds = 0.0
    for state in states[: max(1, len(states))]:
        mujoco.mj_setState(model, data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
        start = time.perf_counter()
        mujoco.mj_step(model, data, nstep=substeps)
        env.renderer.render(data)
        floor_seconds += time.perf_counter() - start
    env.close()
    env_rate = steps / env_seconds
    floor_rate = len(states) / floor_seconds
    return {
        "scene": args.scene,
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
