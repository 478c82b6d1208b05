"""The grasping task on a built scene: reset, Cartesian gripper control, success.

The gripper is driven by moving its mocap target; the target moves in a
straight line over the control step (in a few chunks) so the weld never
yanks the hand. An episode's grasp is judged the way QT-Opt's robots judged
theirs: at the end the hand lifts straight up to its start height, fingers as
they were, and success means an object's centre is then at least
`lift_height` above the bin floor while a finger touches it. A held object
counts; one that was pushed, dropped or merely lies high in a pile does not.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from scenes.build import Scene
from scenes.household import stacked_drop_poses

_CHUNKS = 5  # mocap updates per control step: smooth enough, cheap in Python
_WORKSPACE_MARGIN = 0.02
_MAX_GRIPPER_HEIGHT = 0.32


class GraspTask:
    def __init__(self, scene: Scene):
        self.scene = scene
        spec = scene.spec
        h = scene.handles
        self.substeps = max(1, round(spec.physics.control_dt / scene.model.opt.timestep))
        chunk = max(1, self.substeps // _CHUNKS)
        self._chunks = [chunk] * (self.substeps // chunk) + ([self.substeps % chunk] if self.substeps % chunk else [])
        hx, hy = h.bin_half_size
        self.low = np.array([-hx + _WORKSPACE_MARGIN, -hy + _WORKSPACE_MARGIN, h.bin_floor_z])
        self.high = np.array([hx - _WORKSPACE_MARGIN, hy - _WORKSPACE_MARGIN, h.bin_floor_z + _MAX_GRIPPER_HEIGHT])
        self.target_pos = np.zeros(3)
        self.target_yaw = 0.0
        self.closed = False
        self._finger_geoms = h.gripper.finger_geoms

    # -- reset -------------------------------------------------------------
    def reset(self, data: mujoco.MjData, rng: np.random.Generator) -> None:
        """Gripper open at its start pose; objects dropped at random poses and settled."""
        model, h = self.scene.model, self.scene.handles
        mujoco.mj_resetData(model, data)
        self.target_yaw = 0.0
        self.closed = False
        # Park the gripper high while objects fall, so none lands on it.
        self.target_pos = np.array([0.0, 0.0, h.bin_floor_z + 1.0])
        self._set_hand_pose(data)
        spec = self.scene.spec.objects
        if any(obj.compound for obj in h.objects):  # household objects: boxes stacked, not spheres layered
            poses = stacked_drop_poses(rng, h.objects, h.bin_half_size, h.bin_floor_z, h.bin_floor_z + spec.drop_height)
        else:
            poses = [[x, y, z, *(quat / np.linalg.norm(quat))]
                     for (x, y, z) in self._drop_positions(rng) for quat in [rng.normal(size=4)]]
        for obj, pose in zip(h.objects, poses):
            data.qpos[obj.qpos_adr:obj.qpos_adr + 7] = pose
        data.qpos[list(h.gripper.finger_qpos)] = h.gripper.finger_open  # the Jaco's open stop is not at 0 rad
        data.ctrl[list(h.gripper.finger_actuators)] = h.gripper.finger_open
        settle_steps = int(round(spec.settle_time / model.opt.timestep))
        if settle_steps:
            mujoco.mj_step(model, data, nstep=settle_steps)
        self.target_pos = np.array([0.0, 0.0, h.bin_floor_z + self.scene.spec.gripper.start_height])
        self._set_hand_pose(data)
        data.qvel[:] = 0.0
        data.time = 0.0
        mujoco.mj_forward(model, data)

    def restore(self, data: mujoco.MjData, state: np.ndarray, spec: int) -> None:
        """Start from a state that `reset` left (`scenes.settled`): the same gripper, no settling."""
        h = self.scene.handles
        self.target_yaw = 0.0
        self.closed = False
        self.target_pos = np.array([0.0, 0.0, h.bin_floor_z + self.scene.spec.gripper.start_height])
        mujoco.mj_setState(self.scene.model, data, state, spec)

    def _drop_positions(self, rng: np.random.Generator) -> list[tuple[float, float, float]]:
        """Random non-overlapping drop points, in layers as low as possible.

        Low drops matter: a soft contact cannot stop an object falling from
        half a metre before it passes through the bin floor.
        """
        h = self.scene.handles
        hx, hy = h.bin_half_size
        base = h.bin_floor_z + self.scene.spec.objects.drop_height
        placed = np.empty((0, 4))  # x, y, z, radius of the objects placed so far
        for obj in h.objects:
            radius = obj.half_height * 1.8  # bounding radius of any orientation
            margin = min(radius, hx * 0.9, hy * 0.9)
            apart = radius + placed[:, 3]
            for attempt in range(200):
                layer = attempt // 25
                x, y = rng.uniform([-hx + margin, -hy + margin], [hx - margin, hy - margin])
                z = base + layer * 0.07
                # Clear of every placed object sideways or in height (numpy: one check, not one per object).
                if ((np.hypot(x - placed[:, 0], y - placed[:, 1]) > apart) | (np.abs(z - placed[:, 2]) > apart)).all():
                    break
            placed = np.vstack([placed, [float(x), float(y), float(z), radius]])
        return [(float(x), float(y), float(z)) for x, y, z, _ in placed]

    def _set_hand_pose(self, data: mujoco.MjData) -> None:
        g = self.scene.handles.gripper
        quat = _yaw_quat(self.target_yaw)
        data.mocap_pos[g.mocap] = self.target_pos
        data.mocap_quat[g.mocap] = quat
        adr = self.scene.model.jnt_qposadr[self.scene.model.body_jntadr[g.hand]]
        data.qpos[adr:adr + 3] = self.target_pos
        data.qpos[adr + 3:adr + 7] = quat

    # -- control -----------------------------------------------------------
    def apply(self, data: mujoco.MjData, translation: np.ndarray, yaw_delta: float, close: bool | None) -> None:
        """One control step: move the target, set the fingers, advance physics."""
        model, g = self.scene.model, self.scene.handles.gripper
        if close is not None:
            self.closed = close
        data.ctrl[list(g.finger_actuators)] = g.finger_open + g.finger_travel if self.closed else g.finger_open
        start = self.target_pos
        self.target_pos = np.clip(start + translation, self.low, self.high)
        self.target_yaw = math.remainder(self.target_yaw + yaw_delta, 2 * math.pi)
        data.mocap_quat[g.mocap] = _yaw_quat(self.target_yaw)
        done = 0
        for chunk in self._chunks:
            done += chunk
            data.mocap_pos[g.mocap] = start + (self.target_pos - start) * (done / self.substeps)
            mujoco.mj_step(model, data, nstep=chunk)
        # mj_step leaves positions and contacts one substep stale; bring them up to
        # date so the image, the success check and the saved state agree.
        mujoco.mj_forward(model, data)

    def lift_and_check(self, data: mujoco.MjData) -> int | None:
        """The end-of-episode grasp check: lift to the start height, then `held_object`."""
        spec = self.scene.spec
        top = self.scene.handles.bin_floor_z + spec.gripper.start_height
        while self.target_pos[2] < top - 1e-6:
            rise = min(spec.task.max_translation, top - self.target_pos[2])
            self.apply(data, np.array([0.0, 0.0, rise]), 0.0, None)
        return self.held_object(data)

    # -- observation and success ------------------------------------------
    def gripper_height(self, data: mujoco.MjData) -> float:
        return float(data.xpos[self.scene.handles.gripper.hand][2] - self.scene.handles.bin_floor_z)

    def finger_closure(self, data: mujoco.MjData) -> float:
        """Measured finger closure: 0 fully open .. 1 fully closed, as a real gripper reports it.

        The commanded bit alone cannot tell an empty closed hand from one holding an
        object; the width can (an object in hand stops the fingers short of 1).
        """
        g = self.scene.handles.gripper
        travel = float(np.mean(data.qpos[list(g.finger_qpos)])) - g.finger_open
        return float(np.clip(travel / g.finger_travel, 0.0, 1.0))

    def object_heights(self, data: mujoco.MjData) -> np.ndarray:
        h = self.scene.handles
        return np.array([data.xpos[o.body][2] - h.bin_floor_z for o in h.objects])

    def held_object(self, data: mujoco.MjData) -> int | None:
        """Index of an object lifted above the lift height and touched by a finger."""
        lift = self.scene.spec.task.lift_height
        heights = self.object_heights(data)
        if not (heights > lift).any():
            return None
        geom_to_object = {g: i for i, o in enumerate(self.scene.handles.objects) for g in o.geoms}
        for contact in data.contact[:data.ncon]:
            for mine, other in ((contact.geom1, contact.geom2), (contact.geom2, contact.geom1)):
                if mine in self._finger_geoms and other in geom_to_object and heights[geom_to_object[other]] > lift:
                    return geom_to_object[other]
        return None


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])
