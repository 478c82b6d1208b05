"""A MuJoCo "robot": GraspEnv behind the driver interface, for hardware-in-the-loop dry runs.

The bundle's runtime drives it exactly as it would drive an arm: it sees camera frames,
the gripper state, the height and the commanded tool position, and sends commands in
metres and radians. The driver clamps commands to the simulated arm's own limits (the
scene's per-step maximum) and converts them to GraspEnv's 8-d action.

Beyond the robot interface, a simulator can restart and judge episodes:
``reset_episode(seed)``, ``episode_over`` and ``success`` (ground truth, for evaluation).
``camera_size`` renders frames larger than the trained size, so the runtime's resize is
exercised as with a real camera.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from policies.runtime.robot_action import ActionMapping, RobotAction
from scenes.spec import SceneSpec
from workbench.deploy.drivers.base import (
    DeviceAlreadyConnectedError,
    FeatureSpec,
    Robot,
    as_command,
    grasp_observation_features,
)


class MujocoSimRobot(Robot):
    name = "mujoco_sim"

    def __init__(self, scene: str | Path | SceneSpec = "bin_grasp", *, split: str = "test", profile: str | None = None,
                 camera_size: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.scene, self.split, self.profile = scene, split, profile
        self.camera_size = camera_size
        self.clock = clock
        self.env = None
        self.mapping: ActionMapping | None = None
        self._observation: dict | None = None
        self._timestamp = 0.0
        self.episode_over = True
        self.success = False
        self.steps = 0

    # -- the robot interface -------------------------------------------------------
    @property
    def observation_features(self) -> dict[str, FeatureSpec]:
        self._require_connected()
        height, width = self.env.observation_space["image"].shape[:2]
        return grasp_observation_features(height, width)

    @property
    def is_connected(self) -> bool:
        return self.env is not None

    def connect(self) -> None:
        from workbench.sim.env import GraspEnv

        if self.env is not None:
            raise DeviceAlreadyConnectedError(f"{self.name} is already connected")
        self.env = GraspEnv(self.scene, split=self.split, image_size=self.camera_size, profile=self.profile)
        task = self.env.spec_scene.task
        self.mapping = ActionMapping(task.max_translation, task.max_rotation)

    def reset_episode(self, seed: int | None = None) -> None:
        """New objects and a fresh start pose (what a person or a reset routine does on a real cell)."""
        self._require_connected()
        self._observation, _ = self.env.reset(seed=seed)
        self._timestamp = self.clock()
        self.episode_over, self.success, self.steps = False, False, 0

    def get_observation(self) -> dict:
        self._require_connected()
        if self._observation is None:
            raise RuntimeError("no episode yet: call reset_episode() first")
        obs = self._observation
        return {"image": obs["image"], "gripper_closed": float(obs["gripper_closed"][0]),
                "height": float(obs["height"][0]), "tool_position": self.env.unwrapped.task.target_pos.copy(),
                "timestamp": self._timestamp}

    def send_action(self, action: RobotAction | Mapping) -> dict:
        self._require_connected()
        if self.episode_over:
            raise RuntimeError("the episode is over: call reset_episode() before sending more actions")
        command = as_command(action)
        limit = self.mapping.max_translation
        translation = np.clip(command.translation, -limit, limit)
        rotation = float(np.clip(command.rotation, -self.mapping.max_rotation, self.mapping.max_rotation))
        policy_action = self.mapping.to_policy(translation, rotation, command.gripper, command.terminate)
        self._observation, _, terminated, truncated, info = self.env.step(policy_action)
        self._timestamp = self.clock()
        self.steps += 1
        self.episode_over = bool(terminated or truncated)
        self.success = bool(info["success"])
        return {"translation": translation, "rotation": rotation, "gripper": command.gripper,
                "terminate": command.terminate}

    def disconnect(self) -> None:
        self._require_connected()
        self.env.close()
        self.env = None
        self._observation = None
