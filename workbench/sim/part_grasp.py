"""Where the oracle takes a compound object: the highest part the open hand reaches without a collision.

A household object may be wider than the hand's opening (a mug, an
irregular lump); it is taken by a part: a mug's wall at the rim, a handle, a
bottle's neck, a bar. Every geom of every object is a candidate: the hand
closes across its narrowest horizontal axis, its fingertips 3 cm below the
part's top (a bottle is held by its cap and neck, a mug by its rim) or,
where that collides (a handle over the mug's body), at the part's centre.
The candidate is kept when
the open fingers and the palm, as boxes, overlap no geom (objects and bin
walls) and the part fits between the fingers; the highest kept part wins,
as the oracle takes the highest object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CLEARANCE = 0.001  # m: boxes may touch by this much (resting contacts)
_FIT_MARGIN = 0.01  # m: the part must be this much narrower than the opening
_GRIP_DEPTH = 0.03  # m: a tall part is held by its top this deep


@dataclass(frozen=True)
class PartGrasp:
    object_index: int
    geom: int
    yaw: float
    depth: float  # fingertip height minus the part centre's height at the choice


def part_centre(model, data, geom: int) -> np.ndarray:
    rotation = data.geom_xmat[geom].reshape(3, 3)
    return data.geom_xpos[geom] + rotation @ model.geom_aabb[geom][:3]


def choose_part_grasp(env, grasp_yaw) -> PartGrasp | None:
    """The highest reachable part of any object, or None; `grasp_yaw(xmat, half)` picks the closing axis."""
    model, data = env.scene.model, env.data
    h, g = env.scene.handles, env.spec_scene.gripper
    obstacles = [(gid, _geom_box(model, data, gid)) for gid in _obstacle_geoms(h)]
    best, best_top = None, -np.inf
    for index, obj in enumerate(h.objects):
        for geom in obj.geoms:
            centre = part_centre(model, data, geom)
            rotation = data.geom_xmat[geom].reshape(3, 3)
            half = model.geom_aabb[geom][3:]
            top = centre[2] + np.abs(rotation[2]) @ half
            if top <= best_top or centre[2] > h.bin_floor_z + 0.25:
                continue
            if np.any(centre[:2] < env.task.low[:2]) or np.any(centre[:2] > env.task.high[:2]):
                continue
            grasp = _free_grasp(g, h.bin_floor_z, centre, top, grasp_yaw(rotation, half), rotation, half, obstacles)
            if grasp is not None:
                best, best_top = PartGrasp(index, int(geom), *grasp), top
    return best


def _free_grasp(g, floor_z, centre, top, yaw, rotation, half, obstacles) -> tuple[float, float] | None:
    """(yaw, depth) of a collision-free grasp of one part, or None.

    Across the narrowest axis first, else across the other (a mug's handle is
    taken from the side, not across into the mug); the deep grip first (what
    lies below a bottle's cap gives a firmer hold), else at the centre.
    """
    for turn in (0.0, np.pi / 2):
        closing = np.array([-np.sin(yaw + turn), np.cos(yaw + turn), 0.0])  # the hand's y axis
        if 2 * np.abs(closing @ rotation) @ half > g.max_opening - _FIT_MARGIN:
            continue
        for tip in sorted({max(floor_z + 0.004, z) for z in (min(top - _GRIP_DEPTH, centre[2]) - 0.005,
                                                              centre[2] - 0.005)}):
            boxes = _hand_boxes(g, np.array([centre[0], centre[1], tip]), yaw + turn)
            if not any(_overlap(box, other) for box in boxes for _, other in obstacles):
                return float(yaw + turn), float(tip - centre[2])
    return None


def _obstacle_geoms(handles) -> list[int]:
    return list(handles.surface_geoms["bin"]) + [gid for obj in handles.objects for gid in obj.geoms]


def _geom_box(model, data, geom: int):
    rotation = data.geom_xmat[geom].reshape(3, 3)
    return part_centre(model, data, geom), rotation, model.geom_aabb[geom][3:] - _CLEARANCE


def _hand_boxes(g, origin: np.ndarray, yaw: float):
    """The open fingers and the palm as (centre, rotation, half-extents), fingertips at `origin`."""
    c, s = np.cos(yaw), np.sin(yaw)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pad, half_open, length = g.finger_thickness / 2, g.max_opening / 2, g.finger_length
    boxes = [(origin + rotation @ [0.0, side * (half_open + pad), length / 2], rotation,
              np.array([g.finger_width / 2, pad, length / 2])) for side in (1.0, -1.0)]
    boxes.append((origin + rotation @ [0.0, 0.0, length + g.palm_height / 2], rotation,
                  np.array([g.palm_depth / 2, half_open + 2 * pad, g.palm_height / 2])))
    return boxes


def _overlap(a, b) -> bool:
    """Separating-axis test of two oriented boxes (centre, rotation with axes as columns, half-extents)."""
    (ca, ra, ha), (cb, rb, hb) = a, b
    axes = [ra[:, i] for i in range(3)] + [rb[:, i] for i in range(3)]
    axes += [np.cross(ra[:, i], rb[:, j]) for i in range(3) for j in range(3)]
    gap = cb - ca
    for axis in axes:
        norm = np.linalg.norm(axis)
        if norm < 1e-9:
            continue
        axis = axis / norm
        if abs(gap @ axis) > np.abs(axis @ ra) @ ha + np.abs(axis @ rb) @ hb:
            return False
    return True
