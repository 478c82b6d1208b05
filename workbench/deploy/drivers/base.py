"""The robot interface drivers implement, in the style of LeRobot's ``Robot``.

A driver declares its features (name -> shape, dtype, unit, frame), then:

    robot.connect()                       # open the hardware or the simulator
    obs = robot.get_observation()         # dict matching observation_features
    sent = robot.send_action(action)      # returns the command actually sent (after the
                                          # driver's own clamping), never more than asked
    robot.disconnect()

Observations and actions carry the bundle runtime's units: metres and radians in the
workspace frame (see docs/hardware.md). ``send_action`` takes a ``RobotAction`` from the
runtime or a dict with ``translation`` (3,), ``rotation``, ``gripper`` (open|close|hold)
and ``terminate``; a ``stop`` action moves nothing and holds the gripper.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from policies.runtime.robot_action import GRIPPER_COMMANDS, RobotAction


class DeviceNotConnectedError(RuntimeError):
    pass


class DeviceAlreadyConnectedError(RuntimeError):
    pass


@dataclass(frozen=True)
class FeatureSpec:
    shape: tuple[int, ...]
    dtype: str
    unit: str
    frame: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Command:
    """One step's command in robot units, as a driver sends it."""

    translation: np.ndarray  # (3,) m, workspace frame
    rotation: float  # rad about +z
    gripper: str  # open | close | hold
    terminate: bool

    def to_dict(self) -> dict:
        return {"translation": self.translation.copy(), "rotation": self.rotation, "gripper": self.gripper,
                "terminate": self.terminate}


def as_command(action: RobotAction | Mapping) -> Command:
    """A RobotAction or an action dict as a checked Command (a stop moves nothing)."""
    if isinstance(action, RobotAction):
        if action.stop:
            return Command(np.zeros(3), 0.0, "hold", False)
        return Command(np.asarray(action.translation, np.float64).copy(), float(action.rotation), action.gripper,
                       bool(action.terminate))
    if not isinstance(action, Mapping):
        raise TypeError(f"an action is a RobotAction or a mapping, got {type(action).__name__}")
    if action.get("stop"):
        return Command(np.zeros(3), 0.0, "hold", False)
    translation = np.asarray(action["translation"], np.float64).reshape(-1)
    if translation.shape != (3,) or not np.all(np.isfinite(translation)):
        raise ValueError(f"translation must be 3 finite numbers (m), got {action['translation']!r}")
    rotation = float(action.get("rotation", 0.0))
    if not np.isfinite(rotation):
        raise ValueError(f"rotation must be finite (rad), got {rotation}")
    gripper = action.get("gripper", "hold")
    if gripper not in GRIPPER_COMMANDS:
        raise ValueError(f"gripper must be one of {GRIPPER_COMMANDS}, got {gripper!r}")
    return Command(translation, rotation, gripper, bool(action.get("terminate", False)))


_STATE_FEATURES = {
    "gripper_closed": FeatureSpec((), "float32", "1", None, "measured finger closure, 0 open .. 1 closed"),
    "height": FeatureSpec((), "float32", "m", "workspace", "fingertip centre above the bin floor"),
    "tool_position": FeatureSpec((3,), "float64", "m", "workspace", "commanded fingertip centre position"),
    "timestamp": FeatureSpec((), "float64", "s", None, "capture time of the image (time.monotonic)"),
}


def grasp_observation_features(height: int, width: int) -> dict[str, FeatureSpec]:
    """What a grasping driver observes; the camera frame is (height, width, 3) uint8 RGB."""
    image = FeatureSpec((height, width, 3), "uint8", "0..255 RGB", "camera", "camera frame, top row first")
    return {"image": image, **_STATE_FEATURES}


GRASP_ACTION_FEATURES = {
    "translation": FeatureSpec((3,), "float64", "m", "workspace", "tool move this control period"),
    "rotation": FeatureSpec((), "float64", "rad", "workspace", "yaw delta about +z this period"),
    "gripper": FeatureSpec((), "str", "open|close|hold", None, "gripper command"),
    "terminate": FeatureSpec((), "bool", "1", None, "end the episode after this step"),
}


class Robot(ABC):
    """LeRobot-style robot: declared features, connect, observe, act, disconnect."""

    name: str = "robot"

    @property
    @abstractmethod
    def observation_features(self) -> dict[str, FeatureSpec]: ...

    @property
    def action_features(self) -> dict[str, FeatureSpec]:
        return dict(GRASP_ACTION_FEATURES)

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def get_observation(self) -> dict: ...

    @abstractmethod
    def send_action(self, action: RobotAction | Mapping) -> dict: ...

    @abstractmethod
    def disconnect(self) -> None: ...

    def _require_connected(self) -> None:
        if not self.is_connected:
            raise DeviceNotConnectedError(f"{self.name} is not connected; call connect() first")

    def __enter__(self) -> Robot:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        if self.is_connected:
            self.disconnect()
