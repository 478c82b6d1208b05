"""The policy's 8-d action <-> a command in the robot's units.

Policy action (policies.runtime.spec): [dx, dy, dz, sin, cos, close, open, terminate].
Robot command (``RobotAction``):

- ``translation`` (3,) metres, workspace frame: move the tool by this much this step.
- ``rotation`` radians about the workspace +z axis: yaw delta this step,
  ``atan2(sin, cos) / pi * max_rotation`` (so the full circle of (sin, cos) maps onto
  [-max_rotation, +max_rotation]).
- ``gripper``: "close" when close > 0.5 and close >= open, "open" when open > 0.5 and
  open > close, else "hold" (keep the current state).
- ``terminate``: terminate > 0.5: the policy ends the episode (the grasp is judged now).
- ``stop``: the runtime refused to move (stale observation, bad Q-values, tool outside
  the workspace); ``reason`` says why. A stop never opens the gripper or terminates.

numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from policies.runtime.spec import ACTION_DIM, BINARY_THRESHOLD, CLOSE_INDEX, OPEN_INDEX, TERMINATE_INDEX

GRIPPER_COMMANDS = ("open", "close", "hold")


@dataclass(frozen=True)
class RobotAction:
    translation: np.ndarray  # (3,) float64, m
    rotation: float  # rad about +z
    gripper: str  # open | close | hold
    terminate: bool
    stop: bool = False
    reason: str | None = None
    limited: tuple[str, ...] = ()
    q_value: float = float("nan")  # sigmoid of the chosen action's logit
    policy_action: np.ndarray = field(default_factory=lambda: np.zeros(ACTION_DIM, np.float32))

    @classmethod
    def stopped(cls, reason: str) -> RobotAction:
        return cls(np.zeros(3), 0.0, "hold", False, stop=True, reason=reason)

    def to_dict(self) -> dict:
        """Plain JSON/msgpack-able values (lists and floats)."""
        return {"translation": [float(v) for v in self.translation], "rotation": float(self.rotation),
                "gripper": self.gripper, "terminate": bool(self.terminate), "stop": bool(self.stop),
                "reason": self.reason, "limited": list(self.limited), "q_value": float(self.q_value),
                "policy_action": [float(v) for v in self.policy_action]}

    @classmethod
    def from_dict(cls, data: dict) -> RobotAction:
        translation = np.asarray(data["translation"], dtype=np.float64)
        if translation.shape != (3,):
            raise ValueError(f"translation must have 3 values, got {translation.shape}")
        if data["gripper"] not in GRIPPER_COMMANDS:
            raise ValueError(f"gripper must be one of {GRIPPER_COMMANDS}, got {data['gripper']!r}")
        return cls(translation, float(data["rotation"]), data["gripper"], bool(data["terminate"]),
                   bool(data.get("stop", False)), data.get("reason"), tuple(data.get("limited", ())),
                   float(data.get("q_value", float("nan"))),
                   np.asarray(data.get("policy_action", np.zeros(ACTION_DIM)), dtype=np.float32))


@dataclass(frozen=True)
class ActionMapping:
    """Scaling between policy units and robot units (``max_rotation``: rad per step)."""

    max_translation: float
    max_rotation: float
    threshold: float = BINARY_THRESHOLD

    def to_robot(self, action: np.ndarray) -> tuple[np.ndarray, float, str, bool]:
        a = np.asarray(action, dtype=np.float64).reshape(ACTION_DIM)
        translation = a[:3].copy()
        rotation = math.atan2(a[3], a[4]) / math.pi * self.max_rotation if np.isfinite(a[3:5]).all() else 0.0
        close, open_ = a[CLOSE_INDEX], a[OPEN_INDEX]
        gripper = "hold"
        if max(close, open_) > self.threshold:
            gripper = "close" if close >= open_ else "open"
        return translation, rotation, gripper, bool(a[TERMINATE_INDEX] > self.threshold)

    def to_policy(self, translation, rotation: float, gripper: str, terminate: bool) -> np.ndarray:
        """The 8-d action a simulator built on policies.runtime.spec takes for this command."""
        if gripper not in GRIPPER_COMMANDS:
            raise ValueError(f"gripper must be one of {GRIPPER_COMMANDS}, got {gripper!r}")
        angle = float(np.clip(rotation / self.max_rotation, -1.0, 1.0)) * math.pi
        return np.array([*np.asarray(translation, dtype=np.float64).reshape(3), math.sin(angle), math.cos(angle),
                         float(gripper == "close"), float(gripper == "open"), float(terminate)], dtype=np.float32)
