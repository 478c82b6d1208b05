"""Safety limits the runtime enforces on every action, and the stale-observation watchdog.

Limits (from the bundle's ``safety`` section; an integrator may tighten, never loosen):

- ``workspace_low``/``workspace_high`` (m, workspace frame): the box the tool may move in.
  The commanded tool position after the step stays inside it; a tool already outside it
  (beyond ``BOX_TOLERANCE``) gets a stop, not a move.
- ``max_translation`` (m per step, each axis) and ``max_rotation`` (rad per step about +z).
- ``max_observation_age`` (s): an observation older than this, one without a finite
  timestamp, or one not newer than the last gets a stop.

A stop means: no translation, no rotation, the gripper held as it is (opening could drop
what it holds), no terminate. numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BOX_TOLERANCE = 1e-6  # m: a tool this far outside the box (rounding) still counts as inside
FLOAT32_SLACK = 1e-6  # relative: float32 rounding of a bound is not worth reporting as a limit


@dataclass(frozen=True)
class SafetyLimits:
    workspace_low: tuple[float, float, float]
    workspace_high: tuple[float, float, float]
    max_translation: float
    max_rotation: float
    max_observation_age: float

    def __post_init__(self) -> None:
        low, high = np.asarray(self.workspace_low, float), np.asarray(self.workspace_high, float)
        if low.shape != (3,) or high.shape != (3,) or not np.all(np.isfinite(low)) or not np.all(np.isfinite(high)):
            raise ValueError(f"workspace bounds must be 3 finite numbers each, got {self.workspace_low!r}, "
                             f"{self.workspace_high!r}")
        if not np.all(low < high):
            raise ValueError(f"workspace_low {low.tolist()} must be below workspace_high {high.tolist()} on every axis")
        for name in ("max_translation", "max_rotation", "max_observation_age"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        object.__setattr__(self, "workspace_low", tuple(float(v) for v in low))
        object.__setattr__(self, "workspace_high", tuple(float(v) for v in high))

    def tightened(self, **changes: float | tuple[float, float, float]) -> SafetyLimits:
        """A copy with some limits made stricter; making any limit looser raises ValueError."""
        new = SafetyLimits(**{**self.__dict__, **changes})
        looser = []
        if any(n < o for n, o in zip(new.workspace_low, self.workspace_low)):
            looser.append("workspace_low")
        if any(n > o for n, o in zip(new.workspace_high, self.workspace_high)):
            looser.append("workspace_high")
        for name in ("max_translation", "max_rotation", "max_observation_age"):
            if getattr(new, name) > getattr(self, name):
                looser.append(name)
        if looser:
            raise ValueError(f"safety limits can only be tightened; {', '.join(looser)} would be looser "
                             "than the bundle's")
        return new

    def to_json(self) -> dict:
        return {"workspace_low_m": list(self.workspace_low), "workspace_high_m": list(self.workspace_high),
                "max_translation_m": self.max_translation, "max_rotation_rad": self.max_rotation,
                "max_observation_age_s": self.max_observation_age}


@dataclass(frozen=True)
class LimitedMotion:
    translation: np.ndarray  # (3,) float64, m
    rotation: float  # rad
    limited: tuple[str, ...]  # which limits changed the motion
    stop_reason: str | None  # set when the motion was refused outright


def limit_motion(translation, rotation: float, tool_position, limits: SafetyLimits) -> LimitedMotion:
    """Clamp one step's motion to the limits, given the current commanded tool position."""
    limited: list[str] = []
    position = np.asarray(tool_position, dtype=np.float64)
    if position.shape != (3,) or not np.all(np.isfinite(position)):
        return LimitedMotion(np.zeros(3), 0.0, (), f"tool position {position.tolist()} is not 3 finite numbers")
    low, high = np.asarray(limits.workspace_low), np.asarray(limits.workspace_high)
    if np.any(position < low - BOX_TOLERANCE) or np.any(position > high + BOX_TOLERANCE):
        return LimitedMotion(np.zeros(3), 0.0, (), f"tool position {np.round(position, 4).tolist()} m is outside "
                             f"the workspace box {list(limits.workspace_low)}..{list(limits.workspace_high)}")
    step = np.array(translation, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(step)):
        step = np.where(np.isfinite(step), step, 0.0)
        limited.append("non_finite_translation")
    if np.any(np.abs(step) > limits.max_translation):
        # float32 policy actions at the bound (0.05f > 0.05) are clipped too, but not reported.
        if np.any(np.abs(step) > limits.max_translation * (1 + FLOAT32_SLACK)):
            limited.append("max_translation")
        step = np.clip(step, -limits.max_translation, limits.max_translation)
    # From a start inside the box (within tolerance), the target is clipped into the box.
    target = position + step
    if np.any(target < low) or np.any(target > high):
        inside = np.clip(position, low, high)
        step = np.clip(np.clip(target, low, high) - inside, -limits.max_translation, limits.max_translation)
        limited.append("workspace")
    yaw = float(rotation)
    if not math.isfinite(yaw):
        yaw = 0.0
        limited.append("non_finite_rotation")
    if abs(yaw) > limits.max_rotation:
        yaw = math.copysign(limits.max_rotation, yaw)
        limited.append("max_rotation")
    return LimitedMotion(step, yaw, tuple(limited), None)


class Watchdog:
    """Refuses observations that are stale, undated, or not newer than the last one."""

    def __init__(self, max_age: float):
        self.max_age = max_age
        self.last_timestamp = -math.inf

    def reset(self) -> None:
        self.last_timestamp = -math.inf

    def check(self, timestamp, now: float) -> str | None:
        """None when the observation may be acted on, else the reason to stop."""
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float, np.floating, np.integer)):
            return f"observation timestamp {timestamp!r} is not a number"
        timestamp = float(timestamp)
        if not math.isfinite(timestamp) or not math.isfinite(now):
            return f"observation timestamp {timestamp!r} or clock {now!r} is not finite"
        age = now - timestamp
        if age > self.max_age:
            return f"observation is stale: {age * 1e3:.0f} ms old, the limit is {self.max_age * 1e3:.0f} ms"
        if age < -self.max_age:
            return f"observation timestamp is {-age * 1e3:.0f} ms in the future: clocks disagree"
        if timestamp <= self.last_timestamp:
            return (f"observation timestamp {timestamp:.6f} is not newer than the last one "
                    f"({self.last_timestamp:.6f}): repeated or out-of-order frame")
        self.last_timestamp = timestamp
        return None
