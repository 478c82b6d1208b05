"""The scene-derived sections of a bundle's manifest: observation, action, control, safety.

Everything a robot integrator needs to reproduce the simulated setup is computed from the
scene spec the run trained on: the camera's intrinsics and extrinsics (from the
compiled MuJoCo model, so they are what was rendered), the workspace box the task clips
the gripper to, the per-step limits and the control rate.

Frames: the workspace frame is the scene's world frame: origin at the centre of the table
top (the bin is centred on it), z up. A camera is posed in the frame it is mounted in: the
workspace for a fixed (`mount = "world"`) camera, the hand frame for a wrist camera.
Lengths in metres, angles in radians unless a field says degrees.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from scenes.build import build_scene
from scenes.spec import SceneSpec
from scenes.task import GraspTask

CAMERA_NAME = "camera"
WORKSPACE_FRAME = ("workspace: the scene's world frame; origin at the centre of the table top, under the "
                   "bin's centre; +z up; metres")
HAND_FRAME = ("hand: the gripper's tool frame, moving and yawing with it; origin at the centre between the "
              "fingertips; +x forward, +y the fingers' closing direction, +z up along the wrist; metres")
PROBE_OBJECT = 0  # any library object: the geometry read here does not depend on the objects


def scene_geometry(spec: SceneSpec) -> dict:
    """Camera pose and intrinsics, workspace box and bin floor height, from the compiled scene."""
    scene = build_scene(spec, (PROBE_OBJECT,))
    model, handles = scene.model, scene.handles
    task = GraspTask(scene)
    camera = handles.camera
    pos = model.cam_pos[camera].astype(float)
    quat = model.cam_quat[camera].astype(float)
    rotation = np.zeros(9)
    mujoco.mju_quat2Mat(rotation, quat)
    frame_from_mujoco_camera = rotation.reshape(3, 3)  # in the frame the camera is mounted in
    # OpenCV camera axes: x right, y down, z forward; MuJoCo's: x right, y up, looking along -z.
    frame_from_opencv = frame_from_mujoco_camera @ np.diag([1.0, -1.0, -1.0])
    fovy = float(model.cam_fovy[camera])
    width, height = spec.camera.width, spec.camera.height
    focal = (height / 2) / math.tan(math.radians(fovy) / 2)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    transform = np.eye(4)
    transform[:3, :3], transform[:3, 3] = frame_from_opencv, pos
    return {
        "camera": {
            "name": CAMERA_NAME,
            "mount": spec.camera.mount,
            "model": "pinhole, no distortion; square pixels",
            "fovy_deg": fovy,
            "width": width,
            "height": height,
            "intrinsics": {
                "fx": focal, "fy": focal, "cx": cx, "cy": cy,
                "matrix": [[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]],
                "convention": "OpenCV: pixel (0, 0) is the centre of the top-left pixel; fy = (height / 2) / "
                              "tan(fovy / 2); the optical axis passes through the image centre",
            },
            "extrinsics": {
                "frame": "workspace" if spec.camera.mount == "world" else "hand",
                "frame_definition": WORKSPACE_FRAME if spec.camera.mount == "world" else HAND_FRAME,
                "pos_m": pos.tolist(),
                "lookat_m": list(spec.camera.lookat),
                "quat_wxyz": quat.tolist(),
                "quat_convention": "MuJoCo camera: looks along its -z axis, +y up in the image, +x right",
                "frame_from_camera_opencv": transform.tolist(),
                "frame_from_camera_opencv_convention": "4x4 pose of the OpenCV camera (x right, y down, "
                                                       "z forward) in the frame named by `frame`",
                "horizontal_fov_deg": math.degrees(2 * math.atan(width / 2 / focal)),
            },
        },
        "workspace_low_m": task.low.tolist(),
        "workspace_high_m": task.high.tolist(),
        "bin_floor_z_m": float(handles.bin_floor_z),
        "bin_inner_size_m": list(spec.bin.inner_size),
    }


def observation_section(spec: SceneSpec, geometry: dict) -> dict:
    cam = spec.camera
    return {
        "image": {
            "camera": CAMERA_NAME,
            "height": cam.height,
            "width": cam.width,
            "channels": 3,
            "channel_order": "RGB",
            "dtype": "uint8",
            "layout": "HWC (channel last), top row first",
            "value_range": [0, 255],
            "crop": "default: the largest centred box with the trained aspect ratio; an integrator may "
                    "pass a calibrated box (top, left, height, width) that sees what the sim camera sees",
            "resize": "area averaging down to the trained size, rounded half up; a crop already at the "
                      "trained size is used as is; smaller frames are refused",
            "normalization": "none outside the network: the ONNX graph takes uint8 and divides by 255",
        },
        "state": [
            {"index": 0, "name": "gripper_closed", "unit": "1", "dtype": "float32",
             "meaning": "measured finger closure: 0.0 fully open .. 1.0 fully closed (an object in hand stops it short of 1)"},
            {"index": 1, "name": "height", "unit": "m", "dtype": "float32", "frame": "workspace",
             "meaning": "fingertip centre height above the bin floor: tool z - bin_floor_z_m"},
        ],
        "tool_position": {"unit": "m", "shape": [3], "frame": "workspace",
                          "meaning": "commanded tool (fingertip centre) position, for the workspace limit"},
        "timestamp": {"unit": "s", "meaning": "capture time of the image, on the clock the runtime reads"},
        "bin_floor_z_m": geometry["bin_floor_z_m"],
        "bin_inner_size_m": geometry["bin_inner_size_m"],
        "camera": geometry["camera"],
    }


def action_section(spec: SceneSpec) -> dict:
    t, r = spec.task.max_translation, spec.task.max_rotation
    dims = [
        {"index": 0, "name": "dx", "unit": "m", "low": -t, "high": t, "scale": 1.0},
        {"index": 1, "name": "dy", "unit": "m", "low": -t, "high": t, "scale": 1.0},
        {"index": 2, "name": "dz", "unit": "m", "low": -t, "high": t, "scale": 1.0},
        {"index": 3, "name": "sin", "unit": "1", "low": -1.0, "high": 1.0},
        {"index": 4, "name": "cos", "unit": "1", "low": -1.0, "high": 1.0},
        {"index": 5, "name": "close", "unit": "1", "low": 0.0, "high": 1.0},
        {"index": 6, "name": "open", "unit": "1", "low": 0.0, "high": 1.0},
        {"index": 7, "name": "terminate", "unit": "1", "low": 0.0, "high": 1.0},
    ]
    return {
        "frame": "workspace",
        "frame_definition": WORKSPACE_FRAME,
        "dims": dims,
        "max_translation_m": t,
        "max_rotation_rad": r,
        "binary_threshold": 0.5,
        "translation": "dims 0..2 are the tool's move this step in the workspace frame, metres, unscaled",
        "rotation": "yaw delta about workspace +z, radians: atan2(sin, cos) / pi * max_rotation_rad",
        "gripper": {"close_index": 5, "open_index": 6,
                    "rule": "close if close > 0.5 and close >= open; open if open > 0.5 and open > close; "
                            "otherwise hold the current state",
                    "close_means": "fingers driven shut with a force limit (parallel jaw)",
                    "open_means": "fingers driven fully open"},
        "terminate": {"index": 7,
                      "rule": "terminate > 0.5 ends the episode after this step's move; the hand then lifts to "
                              "its start height and the grasp is judged (an object held above the lift height "
                              "counts as success)"},
        "robot_command": "the runtime returns translation (m), rotation (rad), gripper (open|close|hold), "
                         "terminate and stop, already clamped to the safety limits",
    }


def control_section(spec: SceneSpec) -> dict:
    dt = spec.physics.control_dt
    return {"rate_hz": 1.0 / dt, "period_s": dt, "max_steps": spec.task.max_steps,
            "meaning": "one action per period; the simulator moves the tool target in a straight line over "
                       "the period; an episode ends on terminate or after max_steps actions"}


def safety_section(spec: SceneSpec, geometry: dict, max_observation_age: float | None = None) -> dict:
    dt = spec.physics.control_dt
    return {
        "workspace_low_m": geometry["workspace_low_m"],
        "workspace_high_m": geometry["workspace_high_m"],
        "max_translation_m": spec.task.max_translation,
        "max_rotation_rad": spec.task.max_rotation,
        "max_observation_age_s": max_observation_age if max_observation_age is not None else 2 * dt,
        "stop": "no translation, no rotation, gripper held as it is, no terminate",
        "meaning": "the runtime clamps every action to these limits and stops on stale observations; "
                   "an integrator may tighten them, never loosen them",
    }
