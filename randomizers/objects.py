"""Objects: which and how many (train split only), their scale, mass, friction and drop poses.

Count, ids and scale change the model's structure, so they are chosen before
the scene is built (`choose`) and the environment compiles, or takes from its
cache, the matching model. Mass (with the inertia scaled alike, so density
changes, not shape) and friction change in place (`apply`); the drop poses
change the state (`apply_state`): the objects are dropped again and settle.
"""

from __future__ import annotations

import mujoco
import numpy as np

from randomizers.base import Randomizer, SceneTarget, integer, uniform
from randomizers.config import ObjectParams
from scenes.build import Scene
from scenes.household import stacked_drop_poses
from scenes.objects import draw_object_ids, drawable_count

_LAYER_HEIGHT = 0.07  # as the task drops its objects: in layers, as low as possible
_TRIES_PER_LAYER = 25
_LAYERS = 8
_PARK_HEIGHT = 1.0  # the gripper waits this far up while objects fall


class ObjectRandomizer(Randomizer):
    name = "object"
    fields = ("body_mass", "body_inertia", "geom_friction")
    params: ObjectParams

    def choose(self, rng: np.random.Generator, kinds: str,
               meshes=(), household: float = 0.0) -> tuple[tuple[int, ...], tuple[float, ...] | None]:
        """Count, ids (train split only; `meshes`: the scene's custom meshes; `household`: the share
        of household objects) and scales.

        Scales are None when all 1 (no recompile).
        """
        count = min(integer(rng, self.params.count), drawable_count("train", kinds, meshes, household))  # few custom meshes
        ids = draw_object_ids(rng, count, "train", kinds, meshes, household)
        scales = tuple(uniform(rng, self.params.scale) for _ in ids)
        return ids, None if all(s == 1.0 for s in scales) else scales

    def draw(self, rng: np.random.Generator, scene: Scene) -> dict:
        p, count = self.params, len(scene.handles.objects)
        sample = {
            "mass_scale": [uniform(rng, p.mass_scale) for _ in range(count)],
            "friction_scale": [uniform(rng, p.friction_scale) for _ in range(count)],
        }
        if p.poses:
            sample["poses"] = self._draw_poses(rng, scene)
        return sample

    def _draw_poses(self, rng: np.random.Generator, scene: Scene) -> dict:
        """Non-overlapping drop poses: random points in the allowed share of the bin, in layers."""
        h = scene.handles
        spread, drop_height = uniform(rng, self.params.spread), uniform(rng, self.params.drop_height)
        hx, hy = h.bin_half_size
        if any(obj.compound for obj in h.objects):  # household objects: boxes stacked, not spheres layered
            poses = stacked_drop_poses(rng, h.objects, h.bin_half_size, h.bin_floor_z,
                                       h.bin_floor_z + drop_height, spread)
            return {"spread": spread, "drop_height": drop_height, "objects": poses}
        tries = _LAYERS * _TRIES_PER_LAYER
        heights = h.bin_floor_z + drop_height + np.arange(tries) // _TRIES_PER_LAYER * _LAYER_HEIGHT
        placed = np.empty((0, 4))  # x, y, z, radius of the objects placed so far
        poses = []
        for obj in h.objects:
            radius = obj.half_height * 1.8  # bounding radius in any orientation
            reach = np.array([hx - min(radius, hx * 0.9), hy - min(radius, hy * 0.9)]) * spread
            # All tries at once, lowest layer first; the first that clears every placed object wins.
            xy = rng.uniform(-reach, reach, size=(tries, 2))
            apart = radius + placed[:, 3]
            clear = ((np.hypot(xy[:, None, 0] - placed[:, 0], xy[:, None, 1] - placed[:, 1]) > apart)
                     | (np.abs(heights[:, None] - placed[:, 2]) > apart)).all(axis=1)
            pick = int(np.argmax(clear)) if clear.any() else tries - 1
            x, y, z = float(xy[pick, 0]), float(xy[pick, 1]), float(heights[pick])
            placed = np.vstack([placed, [x, y, z, radius]])
            quat = rng.normal(size=4)
            poses.append([x, y, z, *(float(q) for q in quat / np.linalg.norm(quat))])
        return {"spread": spread, "drop_height": drop_height, "objects": poses}

    def apply(self, sample: dict, target: SceneTarget) -> None:
        target.restore(self.fields)
        m = target.model
        for obj, mass_scale, friction_scale in zip(target.handles.objects, sample["mass_scale"],
                                                   sample["friction_scale"]):
            m.body_mass[obj.body] *= mass_scale
            m.body_inertia[obj.body] *= mass_scale
            m.geom_friction[list(obj.geoms), 0] *= friction_scale
        target.update_constants()  # subtree masses and inverse weights follow the new masses
        target.nominal.constants_dirty = True

    def restore(self, target: SceneTarget) -> None:
        target.restore(self.fields)
        if target.nominal.constants_dirty:
            target.update_constants()
            target.nominal.constants_dirty = False

    def apply_state(self, sample: dict, scene: Scene, data: mujoco.MjData) -> None:
        """Drop the objects again at the sampled poses and let them settle, the gripper parked high."""
        if "poses" not in sample:
            return
        m, h = scene.model, scene.handles
        g = h.gripper
        hand_adr = int(m.jnt_qposadr[m.body_jntadr[g.hand]])
        mocap_pos = data.mocap_pos[g.mocap].copy()
        hand_pose = data.qpos[hand_adr:hand_adr + 7].copy()
        data.mocap_pos[g.mocap, 2] += _PARK_HEIGHT
        data.qpos[hand_adr + 2] += _PARK_HEIGHT
        for obj, pose in zip(h.objects, sample["poses"]["objects"]):
            data.qpos[obj.qpos_adr:obj.qpos_adr + 7] = pose
        data.qvel[:] = 0.0
        mujoco.mj_step(m, data, nstep=round(scene.spec.objects.settle_time / m.opt.timestep))
        data.mocap_pos[g.mocap] = mocap_pos
        data.qpos[hand_adr:hand_adr + 7] = hand_pose
        data.qvel[:] = 0.0
        data.time = 0.0
        mujoco.mj_forward(m, data)
