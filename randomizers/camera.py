"""Camera: position and orientation jitter around the nominal pose, and the field of view."""

from __future__ import annotations

import mujoco
import numpy as np

from randomizers.base import Randomizer, SceneTarget, uniform, uniform3
from randomizers.config import CameraParams
from scenes.build import Scene

_MIN_FOVY, _MAX_FOVY = 5.0, 170.0


class CameraRandomizer(Randomizer):
    name = "camera"
    fields = ("cam_pos", "cam_quat", "cam_fovy")
    params: CameraParams

    def draw(self, rng: np.random.Generator, scene: Scene) -> dict:
        p = self.params
        return {
            "pos_offset": uniform3(rng, p.position_offset),
            "rotation_deg": uniform3(rng, p.rotation_deg),  # about the camera's own x, y, z axes
            "fovy_offset_deg": uniform(rng, p.fovy_offset_deg),
        }

    def apply(self, sample: dict, target: SceneTarget) -> None:
        self.restore(target)
        m, camera = target.model, target.handles.camera
        m.cam_pos[camera] += sample["pos_offset"]
        m.cam_quat[camera] = rotated(m.cam_quat[camera], sample["rotation_deg"])
        m.cam_fovy[camera] = np.clip(m.cam_fovy[camera] + sample["fovy_offset_deg"], _MIN_FOVY, _MAX_FOVY)


def rotated(quat: np.ndarray, angles_deg) -> np.ndarray:
    """`quat` followed by rotations about its local x, then y, then z axis."""
    result = np.array(quat, float)
    for axis, angle in zip(np.eye(3), np.radians(angles_deg)):
        step = np.zeros(4)
        mujoco.mju_axisAngle2Quat(step, axis, angle)
        mujoco.mju_mulQuat(result, result.copy(), step)
    return result
