"""Closed-loop runs of an exported bundle through a driver, and the comparison with training.

Episode ``i`` resets the simulator with ``seed + i`` and the policy's CEM stream with
``[seed, i, 1]``, exactly as ``workbench eval`` (workbench.rollout.evaluate.run_episodes) seeds
the torch policy, so the bundle and the run face the same scenes and, when the ONNX
network reproduces the torch one, draw the same CEM samples.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from pydantic import ValidationError
from tqdm import tqdm

from scenes.spec import SceneSpec, format_validation_error, load_scene
from workbench.errors import UserError
from workbench.rollout.evaluate import SuccessRate, wilson_interval


def bundle_scene(manifest: dict, scene: str | None, image_size: int) -> SceneSpec:
    """The scene the bundle trained in, or another one (any scene works) at the trained image size."""
    if scene is None:
        training = manifest.get("training")
        if not isinstance(training, dict) or not isinstance(training.get("scene_spec"), dict):
            raise UserError("manifest.json: field training.scene_spec is missing or not an object; pass --scene")
        try:
            return SceneSpec.model_validate(training["scene_spec"], strict=False)
        except ValidationError as error:
            raise UserError(format_validation_error("manifest.json: training.scene_spec", error)) from None
    spec = load_scene(scene)
    camera = spec.camera.model_copy(update={"width": image_size, "height": image_size})
    return spec.model_copy(update={"camera": camera})


def drive_episodes(robot, policy, episodes: int, seed: int, progress: bool = True, desc: str = "drive",
                   wall_clock: bool = True, record: list | None = None) -> dict:
    """Run ``episodes`` episodes of ``policy`` (reset(seed words), act(obs, now)) on a simulator driver.

    With ``wall_clock`` the watchdog measures each observation's real age, as on a robot; without
    it the policy acts at the observation's own timestamp, so a loaded machine cannot turn an
    action into a stop and runs repeat exactly (comparisons use this). ``record``, when given,
    receives each episode's list of 8-d policy actions.
    """
    successes = steps = stops = 0
    limited: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    latencies = []
    for index in tqdm(range(episodes), desc=desc, disable=not progress, leave=False):
        robot.reset_episode(seed + index)
        policy.reset([seed, index, 1])
        if record is not None:
            record.append([])
        while not robot.episode_over:
            observation = robot.get_observation()
            start = time.perf_counter()
            action = policy.act(observation, now=None if wall_clock else observation["timestamp"])
            latencies.append(time.perf_counter() - start)
            robot.send_action(action)
            if record is not None:
                record[-1].append(np.asarray(action.policy_action, np.float32))
            steps += 1
            limited.update(action.limited)
            if action.stop:
                stops += 1
                reasons[action.reason.split(":")[0]] += 1
        successes += robot.success
    result = wilson_interval(successes, episodes)
    return {**result.to_dict(), "steps": steps, "stops": stops, "stop_reasons": dict(reasons),
            "limited": dict(limited), "act_ms_p50": float(np.percentile(latencies, 50) * 1e3),
            "act_ms_p99": float(np.percentile(latencies, 99) * 1e3)}


def drive_bundle(bundle: str | Path, *, episodes: int, seed: int, split: str = "test", scene: str | None = None,
                 profile: str | None = None, camera_size: int | None = None, server: str | None = None,
                 progress: bool = True, wall_clock: bool = True, record: list | None = None,
                 envelope=None, require_signature: str | None = None) -> dict:
    """Drive a bundle (locally, or through a policy server at ``server``) in the simulator.

    ``envelope`` (a path to the robot's limits, default the bench cell's) and ``require_signature``
    (a public key file) are checked before anything moves (policies.runtime.admission)."""
    from policies.runtime.admission import ROBOT_DEFAULT
    from policies.runtime.bundle import BundleError
    from policies.runtime.envelope import EnvelopeError, RobotEnvelope
    from policies.runtime.policy import load_policy
    from workbench.deploy.drivers.sim import MujocoSimRobot

    try:
        limits = ROBOT_DEFAULT if envelope is None else RobotEnvelope.from_file(envelope)
        policy = load_policy(bundle, envelope=limits, require_signature=require_signature)
    except (BundleError, EnvelopeError) as error:
        raise UserError(str(error)) from None
    manifest = policy.bundle.manifest
    spec = bundle_scene(manifest, scene, policy.bundle.image.height)
    training = manifest.get("training") if isinstance(manifest.get("training"), dict) else {}
    profile = profile if profile is not None else training.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise UserError(f"manifest.json: field training.profile = {profile!r}: expected a profile name; pass --profile")
    if server is not None:
        from policies.runtime.client import PolicyClient

        policy = PolicyClient(server)
        policy.connect()
    robot = MujocoSimRobot(spec, split=split, profile=profile, camera_size=camera_size)
    robot.connect()
    try:
        figures = drive_episodes(robot, policy, episodes, seed, progress, desc=f"drive {Path(bundle).name}",
                                 wall_clock=wall_clock, record=record)
    finally:
        robot.disconnect()
        if server is not None:
            policy.close()
    return {"policy": str(bundle), "via": server or "local runtime", "scene": spec.name, "split": split,
            "profile": profile, "seed": seed, "camera_size": camera_size or spec.camera.width,
            "clock": "wall" if wall_clock else "observation timestamps", **figures}


def eval_run(run_dir: str | Path, spec: SceneSpec, *, episodes: int, seed: int, split: str, profile: str | None,
             progress: bool = True, record: list | None = None) -> dict:
    """``workbench eval --policy RUN`` on the given scene: the torch policy through GraspEnv.

    ``record``, when given, receives each episode's list of actions (run_episodes is unchanged:
    the policy is wrapped).
    """
    from workbench.rollout.evaluate import run_episodes
    from workbench.rollout.qtopt_policy import load_run_policy
    from workbench.sim.env import GraspEnv

    env = GraspEnv(spec, split=split, profile=profile)
    try:
        policy = load_run_policy(run_dir, env)
        if record is not None:
            policy = ActionRecorder(policy, record)
        result: SuccessRate = run_episodes(env, policy, episodes, seed, progress, desc=f"eval {run_dir}")
    finally:
        env.close()
    return {"policy": str(run_dir), "via": "torch (workbench eval)", "scene": spec.name, "split": split,
            "profile": profile, "seed": seed, **result.to_dict()}


class ActionRecorder:
    """Wraps a policy (reset(rng), act(observation)) and keeps each episode's actions."""

    def __init__(self, policy, episodes: list):
        self.policy, self.episodes = policy, episodes
        self.name = getattr(policy, "name", "policy")

    def reset(self, rng) -> None:
        self.episodes.append([])
        self.policy.reset(rng)

    def act(self, observation: dict) -> np.ndarray:
        action = self.policy.act(observation)
        self.episodes[-1].append(np.asarray(action, np.float32))
        return action


def trajectory_agreement(first: list, second: list) -> dict:
    """How closely two runs over the same episodes chose their actions, step by step."""
    same_length = sum(len(a) == len(b) for a, b in zip(first, second))
    differences = [float(np.max(np.abs(np.stack(a[:n]) - np.stack(b[:n]))))
                   for a, b in zip(first, second) if (n := min(len(a), len(b))) > 0]
    return {"episodes": len(first), "same_step_count": same_length,
            "identical_actions_episodes": sum(d == 0.0 for d in differences),
            "max_action_difference": max(differences, default=0.0),
            "median_action_difference": float(np.median(differences)) if differences else 0.0}


def compare_with_run(bundle: str | Path, run_dir: str | Path, *, episodes: int, seed: int, split: str = "test",
                     scene: str | None = None, profile: str | None = None, progress: bool = True,
                     envelope=None, require_signature: str | None = None) -> dict:
    """The bundle through the sim driver vs the run through ``workbench eval``, same scenes and seeds.

    The bundle acts at its observations' timestamps (no wall-clock watchdog stops): this compares
    the policies, not this machine's load.
    """
    bundle_actions: list = []
    run_actions: list = []
    driven = drive_bundle(bundle, episodes=episodes, seed=seed, split=split, scene=scene, profile=profile,
                          progress=progress, wall_clock=False, record=bundle_actions, envelope=envelope,
                          require_signature=require_signature)
    from policies.runtime.bundle import open_bundle

    bundle_info = open_bundle(bundle)
    spec = bundle_scene(bundle_info.manifest, scene, bundle_info.image.height)
    evaluated = eval_run(run_dir, spec, episodes=episodes, seed=seed, split=split, profile=driven["profile"],
                         progress=progress, record=run_actions)
    return {"bundle": driven, "run": evaluated, "agreement": trajectory_agreement(bundle_actions, run_actions),
            "difference": driven["rate"] - evaluated["rate"],
            "bundle_within_run_interval": evaluated["low"] <= driven["rate"] <= evaluated["high"],
            "run_within_bundle_interval": driven["low"] <= evaluated["rate"] <= driven["high"]}
