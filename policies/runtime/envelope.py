"""The robot's safety envelope: hard limits the driver side holds, which a bundle may only narrow.

A bundle's manifest states the limits its runtime enforces (workspace box, step and rotation
limits, control rate, watchdog age). Those come from whoever exported the bundle; the robot's
own limits come from its own configuration, a TOML file (``--envelope FILE``; default
``policies/runtime/robot_envelope.toml``, the simulated bench cell). ``check_bundle`` refuses a bundle
whose manifest asks for more than the envelope, naming the field. numpy-free, stdlib only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from policies.runtime.bundle import MANIFEST_NAME, Bundle, BundleError
from policies.runtime.input_files import InputFileError, load_toml
from policies.runtime.safety import SafetyLimits

DEFAULT_ENVELOPE_FILE = Path(__file__).with_name("robot_envelope.toml")
FIELDS = ("workspace_low_m", "workspace_high_m", "max_translation_m", "max_rotation_rad", "max_rate_hz",
          "max_observation_age_s")


class EnvelopeError(ValueError):
    """An envelope file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class RobotEnvelope:
    """The robot's hard limits: what the runtime enforces on each action, and the fastest control rate."""

    limits: SafetyLimits
    max_rate_hz: float
    source: str = "<envelope>"

    @classmethod
    def from_file(cls, path: str | os.PathLike = DEFAULT_ENVELOPE_FILE) -> RobotEnvelope:
        try:
            data = load_toml(path)
        except InputFileError as error:
            raise EnvelopeError(str(error)) from None
        return cls.from_mapping(data, str(path))

    @classmethod
    def from_mapping(cls, data: dict, source: str) -> RobotEnvelope:
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise EnvelopeError(f"{source}: {unknown[0]}: unknown key (expected {', '.join(FIELDS)})")
        values = {}
        for name in FIELDS:
            if name not in data:
                raise EnvelopeError(f"{source}: {name}: missing")
            value = data[name]
            if name.startswith("workspace"):
                if not (isinstance(value, list) and len(value) == 3 and all(_finite(v) for v in value)):
                    raise EnvelopeError(f"{source}: {name} = {value!r}: expected 3 finite numbers (m)")
                values[name] = tuple(float(v) for v in value)
            else:
                if not _finite(value) or value <= 0:
                    raise EnvelopeError(f"{source}: {name} = {value!r}: expected a positive finite number")
                values[name] = float(value)
        if not all(low < high for low, high in zip(values["workspace_low_m"], values["workspace_high_m"])):
            raise EnvelopeError(f"{source}: workspace_low_m {list(values['workspace_low_m'])} must be below "
                                f"workspace_high_m {list(values['workspace_high_m'])} on every axis")
        limits = SafetyLimits(values["workspace_low_m"], values["workspace_high_m"], values["max_translation_m"],
                              values["max_rotation_rad"], values["max_observation_age_s"])
        return cls(limits, values["max_rate_hz"], source)

    def violations(self, manifest: dict) -> list[str]:
        """One line per manifest field that asks for more than this envelope (the manifest is
        already type-checked by open_bundle)."""
        safety, action, control = manifest["safety"], manifest["action"], manifest["control"]
        found = []
        low, high = safety["workspace_low_m"], safety["workspace_high_m"]
        if any(m < e for m, e in zip(low, self.limits.workspace_low)):
            found.append(f"safety.workspace_low_m = {low}: below the robot's {list(self.limits.workspace_low)}")
        if any(m > e for m, e in zip(high, self.limits.workspace_high)):
            found.append(f"safety.workspace_high_m = {high}: above the robot's {list(self.limits.workspace_high)}")
        for dotted, value, limit in (
                ("safety.max_translation_m", safety["max_translation_m"], self.limits.max_translation),
                ("action.max_translation_m", action["max_translation_m"], self.limits.max_translation),
                ("safety.max_rotation_rad", safety["max_rotation_rad"], self.limits.max_rotation),
                ("action.max_rotation_rad", action["max_rotation_rad"], self.limits.max_rotation),
                ("control.rate_hz", control["rate_hz"], self.max_rate_hz),
                ("safety.max_observation_age_s", safety["max_observation_age_s"], self.limits.max_observation_age)):
            if value > limit:
                found.append(f"{dotted} = {value}: above the robot's {limit}")
        return found

    def check_bundle(self, bundle: Bundle) -> None:
        found = self.violations(bundle.manifest)
        if found:
            raise BundleError(bundle.path / MANIFEST_NAME,
                              f"field {'; field '.join(found)} (robot envelope {self.source}): a bundle may "
                              "only narrow the robot's limits")


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def default_envelope() -> RobotEnvelope:
    return RobotEnvelope.from_file(DEFAULT_ENVELOPE_FILE)
