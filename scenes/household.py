"""Household objects: parametric families of compound bodies at real scale, addressable by id.

Each family draws its parameters from a generator seeded by the object id,
so, like the object library, these objects need no files. An object is a
body of several geoms (`ObjectPart`): MuJoCo primitives and convex meshes
built here (a bottle's shoulder is a frustum, an irregular object's core a
random convex hull). Sizes are in metres and masses in kg, as a kitchen
bin holds them: bottles and cans, cereal and tea boxes, fruit, mugs with
handles, flat things, and irregular objects wider than the hand's 8.5 cm
opening that can only be taken by a part (a bar, a flange).

Ids: `HOUSEHOLD_ID_BASE + 1000 * family + variant`, variant 0..VARIANTS-1.

Split. Every family has a size parameter `u` in [0, 1] that scales its
principal dimensions. Training draws `u` below `HELD_OUT_U`; the held-out
variants (every fourth, `variant % 4 == 3`) draw it above, so they are
larger on the whole than their family in training. Two families (`pear`,
`jug`) are held out whole: training never draws them. The test split of
both kinds forms the `unseen-shapes` suite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from scenes.object_def import ObjectDef, ObjectPart

HOUSEHOLD_ID_BASE = 20000  # household families: 20000 + 1000 * family + variant

VARIANTS = 100  # per family
HELD_OUT_U = 0.75  # training draws the size parameter below this, held-out variants above
_SEED = 20240917  # fixed forever: changing it changes every household object


@dataclass(frozen=True)
class Family:
    name: str
    make: Callable[[np.random.Generator, float], tuple[list[ObjectPart], float, bool]]  # parts, mass, upright
    held_out: bool = False  # the whole family is test-only


# -- geometry helpers --------------------------------------------------------------
def _axis_quat(axis) -> tuple[float, float, float, float]:
    """Quaternion turning +z onto `axis`."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    cross = np.cross([0.0, 0.0, 1.0], axis)
    sin, cos = np.linalg.norm(cross), axis[2]
    if sin < 1e-9:
        return (1.0, 0.0, 0.0, 0.0) if cos > 0 else (0.0, 1.0, 0.0, 0.0)
    angle = math.atan2(sin, cos)
    x, y, z = cross / sin * math.sin(angle / 2)
    return (math.cos(angle / 2), float(x), float(y), float(z))


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))


def _quat_matrix(quat) -> np.ndarray:
    w, x, y, z = quat
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _part(kind: str, size, pos=(0.0, 0.0, 0.0), quat=(1.0, 0.0, 0.0, 0.0), vertices=()) -> ObjectPart:
    size = tuple(float(v) for v in size) + (0.0,) * (3 - len(size))
    return ObjectPart(kind, size, tuple(float(v) for v in pos), tuple(float(v) for v in quat),
                      tuple(tuple(float(c) for c in v) for v in vertices))


def _capsule_between(a, b, radius: float) -> ObjectPart:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return _part("capsule", (radius, np.linalg.norm(b - a) / 2), (a + b) / 2, _axis_quat(b - a))


def _frustum(r0: float, r1: float, z0: float, z1: float, sides: int = 12) -> ObjectPart:
    """A convex mesh between a circle of radius r0 at z0 and one of r1 at z1 (a bottle's shoulder)."""
    angles = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    vertices = [(*(r * ring[i]), z) for r, z in ((r0, z0), (r1, z1)) for i in range(sides)]
    centre = (z0 + z1) / 2
    local = [(x, y, z - centre) for x, y, z in vertices]
    return _part("mesh", (max(r0, r1), max(r0, r1), abs(z1 - z0) / 2), (0.0, 0.0, centre), vertices=local)


def _local_extent(part: ObjectPart) -> np.ndarray:
    """Half-extents of a box holding the part, in the part's own frame."""
    r, h, c = part.size
    if part.kind == "sphere":
        return np.array([r, r, r])
    if part.kind == "cylinder":
        return np.array([r, r, h])
    if part.kind == "capsule":
        return np.array([r, r, h + r])
    if part.kind == "mesh":
        return np.abs(np.asarray(part.vertices)).max(axis=0)
    return np.array([r, h, c])  # box, ellipsoid


def _corners(part: ObjectPart) -> np.ndarray:
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    return signs * _local_extent(part) @ _quat_matrix(part.quat).T + np.asarray(part.pos)


def _volume(part: ObjectPart) -> float:
    """Approximate volume, only to share an object's mass among its parts."""
    r, h, c = part.size
    if part.kind == "sphere":
        return 4 / 3 * math.pi * r ** 3
    if part.kind == "cylinder":
        return math.pi * r * r * 2 * h
    if part.kind == "capsule":
        return math.pi * r * r * 2 * h + 4 / 3 * math.pi * r ** 3
    if part.kind == "ellipsoid":
        return 4 / 3 * math.pi * r * h * c
    if part.kind == "mesh":
        return 0.6 * float(np.prod(2 * _local_extent(part)))  # a hull fills about this share of its box
    return 8 * r * h * c


def _lerp(low: float, high: float, u: float) -> float:
    return low + (high - low) * u


# -- families: each returns its parts (natural frame), its mass and whether it drops standing -----
def _bottle(rng: np.random.Generator, u: float):
    radius = _lerp(0.026, 0.036, u)
    body = _lerp(0.085, 0.125, u) * rng.uniform(0.9, 1.05)  # at most 21 cm in all: the hand starts 22 cm up
    shoulder, neck_radius = rng.uniform(0.02, 0.035), rng.uniform(0.011, 0.015)
    neck = rng.uniform(0.02, 0.03)
    parts = [_part("cylinder", (radius, body / 2), (0, 0, body / 2)),
             _frustum(radius, neck_radius, body, body + shoulder),
             _part("cylinder", (neck_radius, neck / 2), (0, 0, body + shoulder + neck / 2)),
             _part("cylinder", (neck_radius + 0.002, 0.007), (0, 0, body + shoulder + neck + 0.007))]
    fill = rng.uniform(250.0, 700.0)  # kg/m^3 of the body's volume: part full, or a light bottle
    return parts, fill * math.pi * radius ** 2 * body, bool(rng.random() < 0.4)


def _can(rng: np.random.Generator, u: float):
    radius, height = _lerp(0.026, 0.034, u), _lerp(0.07, 0.12, u) * rng.uniform(0.9, 1.05)
    parts = [_part("cylinder", (radius, height / 2), (0, 0, height / 2)),
             _part("cylinder", (radius * 0.9, 0.003), (0, 0, height + 0.003))]  # the rim's lip
    density = rng.uniform(700.0, 1050.0)
    return parts, density * math.pi * radius ** 2 * height, bool(rng.random() < 0.5)


def _cereal_box(rng: np.random.Generator, u: float):
    """A thin, wide, tall box (cereal aspect), dropped standing."""
    depth, width = rng.uniform(0.03, 0.05), _lerp(0.09, 0.14, u)
    height = _lerp(0.13, 0.19, u)
    return [_part("box", (depth / 2, width / 2, height / 2), (0, 0, height / 2))], \
        rng.uniform(150.0, 300.0) * depth * width * height, True


def _tea_box(rng: np.random.Generator, u: float):
    """A small box (tea aspect) at a random orientation: it ends up lying."""
    width, depth = _lerp(0.05, 0.07, u), rng.uniform(0.04, 0.065)
    length = _lerp(0.1, 0.16, u)
    return [_part("box", (width / 2, length / 2, depth / 2))], \
        rng.uniform(150.0, 400.0) * width * depth * length, False


def _fruit(rng: np.random.Generator, u: float):
    radius = _lerp(0.026, 0.037, u)
    stretch = rng.uniform(1.0, 1.35) if rng.random() < 0.4 else rng.uniform(0.9, 1.1)  # lemon or apple
    axes = (radius, radius * rng.uniform(0.92, 1.0), min(radius * stretch, 0.05))
    return [_part("ellipsoid", axes)], rng.uniform(800.0, 950.0) * 4 / 3 * math.pi * float(np.prod(axes)), False


def _mug_parts(rng: np.random.Generator, radius: float, height: float, segments: int = 10) -> list[ObjectPart]:
    """A cup: a floor disc and a wall of boxes round a circle (convex parts of a non-convex shell)."""
    wall = rng.uniform(0.006, 0.009)  # thick ceramic; thinner walls let a closing finger through
    parts = [_part("cylinder", (radius, 0.004), (0, 0, 0.004))]
    chord = 2 * radius * math.tan(math.pi / segments) * 1.02
    for k in range(segments):
        angle = 2 * math.pi * k / segments
        centre = (radius - wall / 2) * np.array([math.cos(angle), math.sin(angle)])
        parts.append(_part("box", (wall / 2, chord / 2, height / 2), (*centre, height / 2), _yaw_quat(angle)))
    return parts


def _handle(radius: float, bottom: float, top: float, reach: float, thickness: float) -> list[ObjectPart]:
    """A C-shaped handle on the +x side of a body of `radius`: two arms and a grip."""
    inner, outer = radius - 0.004, radius + reach
    return [_capsule_between((inner, 0, top), (outer, 0, top), thickness),
            _capsule_between((outer, 0, top), (outer, 0, bottom), thickness),
            _capsule_between((outer, 0, bottom), (inner, 0, bottom), thickness)]


def _mug(rng: np.random.Generator, u: float):
    radius, height = _lerp(0.036, 0.045, u), _lerp(0.08, 0.105, u)
    parts = _mug_parts(rng, radius, height)
    parts += _handle(radius, height * 0.25, height * 0.8, rng.uniform(0.022, 0.032), rng.uniform(0.005, 0.007))
    return parts, rng.uniform(0.22, 0.38) * _lerp(0.9, 1.1, u), bool(rng.random() < 0.6)


def _flat(rng: np.random.Generator, u: float):
    """A phone, a remote, a small book: flat, narrow enough across to take."""
    width, length = rng.uniform(0.045, 0.072), _lerp(0.11, 0.18, u)
    thickness = rng.uniform(0.012, 0.03)  # thinner lies too flat for fingertips above the floor
    return [_part("box", (width / 2, length / 2, thickness / 2))], \
        rng.uniform(500.0, 1100.0) * width * length * thickness, False


def _irregular(rng: np.random.Generator, u: float):
    """A lump wider than the hand's opening, with a bar or a flange: only the part can be taken."""
    half = np.array([_lerp(0.045, 0.058, u), _lerp(0.055, 0.07, u), rng.uniform(0.03, 0.045)])
    points = rng.uniform(-1.0, 1.0, size=(int(rng.integers(12, 24)), 3)) * half
    points[:6] = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]) * half  # full extent
    parts = [_part("mesh", half, vertices=points)]
    side = rng.choice([-1.0, 1.0])
    if rng.random() < 0.5:  # a square bar standing off the core, like a handle
        width, length = rng.uniform(0.014, 0.024), rng.uniform(0.04, 0.07)
        tilt = rng.uniform(-0.4, 0.4)  # about the vertical
        start = np.array([side * half[0] * 0.8, 0.0, rng.uniform(-0.3, 0.3) * half[2]])
        middle = start + length / 2 * np.array([side * math.cos(tilt), math.sin(tilt), 0.0])
        parts.append(_part("box", (length / 2, width / 2, width / 2), middle, _yaw_quat(side * tilt)))
    else:  # a thin flange out of one side
        thickness, reach, span = rng.uniform(0.006, 0.012), rng.uniform(0.03, 0.045), rng.uniform(0.04, 0.07)
        parts.append(_part("box", (reach / 2, span / 2, thickness / 2),
                           (side * (half[0] * 0.85 + reach / 2), 0.0, rng.uniform(-0.3, 0.3) * half[2])))
    mass = rng.uniform(250.0, 500.0) * float(np.prod(2 * half)) * 0.6
    return parts, mass, False


def _pear(rng: np.random.Generator, u: float):
    """Held out: a fruit of two ellipsoids and a stem (not one ellipsoid, as every training fruit)."""
    base = _lerp(0.028, 0.036, u)
    top = base * rng.uniform(0.6, 0.75)
    parts = [_part("ellipsoid", (base, base, base * 0.9), (0, 0, base * 0.9)),
             _part("ellipsoid", (top, top, top * 1.2), (0, 0, base * 1.7)),
             _capsule_between((0, 0, base * 1.7 + top * 1.1), (0.004, 0, base * 1.7 + top * 1.1 + 0.015), 0.0025)]
    return parts, rng.uniform(800.0, 950.0) * 4 / 3 * math.pi * (0.9 * base ** 3 + 1.2 * top ** 3), False


def _jug(rng: np.random.Generator, u: float):
    """Held out: a bottle with a side handle (a bottle and a mug's handle, never together in training)."""
    parts, mass, upright = _bottle(rng, u)
    radius, body = parts[0].size[0], parts[0].size[1] * 2
    parts += _handle(radius, body * 0.35, body * 0.85, rng.uniform(0.022, 0.03), rng.uniform(0.006, 0.008))
    return parts, mass + 0.03, upright


FAMILIES: tuple[Family, ...] = (
    Family("bottle", _bottle), Family("can", _can), Family("cereal_box", _cereal_box),
    Family("tea_box", _tea_box), Family("fruit", _fruit), Family("mug", _mug), Family("flat", _flat),
    Family("irregular", _irregular), Family("pear", _pear, held_out=True), Family("jug", _jug, held_out=True),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)


def household_id(family: str, variant: int) -> int:
    if family not in FAMILY_NAMES:
        raise KeyError(f"unknown household family {family!r}: expected one of {', '.join(FAMILY_NAMES)}")
    if not 0 <= variant < VARIANTS:
        raise KeyError(f"household variant {variant} out of range 0..{VARIANTS - 1}")
    return HOUSEHOLD_ID_BASE + 1000 * FAMILY_NAMES.index(family) + variant


def family_of(object_id: int) -> tuple[Family, int]:
    """The family and variant of a household id; KeyError for any other id."""
    family, variant = divmod(object_id - HOUSEHOLD_ID_BASE, 1000)
    if object_id < HOUSEHOLD_ID_BASE or family >= len(FAMILIES) or variant >= VARIANTS:
        raise KeyError(f"unknown object id {object_id}: household ids are {HOUSEHOLD_ID_BASE} + 1000 * family "
                       f"(0..{len(FAMILIES) - 1}) + variant (0..{VARIANTS - 1})")
    return FAMILIES[family], variant


def is_held_out(object_id: int) -> bool:
    """In the test split: a held-out family, or a variant drawing the held-out size band."""
    family, variant = family_of(object_id)
    return family.held_out or variant % 4 == 3


@lru_cache(maxsize=None)
def household_ids(split: str) -> tuple[int, ...]:
    every = (HOUSEHOLD_ID_BASE + 1000 * f + v for f in range(len(FAMILIES)) for v in range(VARIANTS))
    return tuple(i for i in every if is_held_out(i) == (split == "test"))


@lru_cache(maxsize=None)
def household_object(object_id: int) -> ObjectDef:
    """The object of a household id, its body frame centred on its bounding box."""
    family, _ = family_of(object_id)
    rng = np.random.default_rng([_SEED, object_id])
    band = (HELD_OUT_U, 1.0) if is_held_out(object_id) and not family.held_out else (0.0, HELD_OUT_U)
    u = float(rng.uniform(*band)) if not family.held_out else float(rng.uniform(0.0, 1.0))
    rgba = (*(float(c) for c in rng.uniform(0.15, 0.95, size=3)), 1.0)
    parts, mass, upright = family.make(rng, u)
    corners = np.concatenate([_corners(p) for p in parts])
    centre = (corners.max(axis=0) + corners.min(axis=0)) / 2
    volumes = np.array([_volume(p) for p in parts])
    shares = volumes / volumes.sum()
    parts = tuple(ObjectPart(p.kind, p.size, tuple(float(v) for v in np.asarray(p.pos) - centre), p.quat,
                             p.vertices, float(mass * share)) for p, share in zip(parts, shares))
    size = tuple(float(v) for v in (corners.max(axis=0) - corners.min(axis=0)) / 2)
    return ObjectDef(object_id, family.name, size, rgba, mass=float(mass), parts=parts, upright=upright)


# -- dropping compound objects -------------------------------------------------------
_DROP_GAP = 0.005  # m between a dropped object's box and what it lands on


def stacked_drop_poses(rng: np.random.Generator, objects, bin_half_size, floor_z: float, base_z: float,
                       spread: float = 1.0, tries: int = 25) -> list[list[float]]:
    """Drop poses (x, y, z, quaternion) for a bin holding compound objects.

    The library's layered drops clear each object's bounding sphere, far too
    wide for a 20 cm bottle, and a random orientation stacks such objects
    high enough to bounce out of the bin. Here each object is turned to a
    resting pose (`_resting_quat`) and its box lands on the floor or on the
    boxes below it at the lowest of `tries` random points. `objects` are the
    scene's `ObjectHandle`s; no object's centre is lower than `base_z`
    unless its box would then reach the floor, so small ones fall as before.
    """
    hx, hy = bin_half_size
    placed = np.empty((0, 6))  # centre x, y, z and half-extents of the boxes placed so far
    poses = []
    for obj in objects:
        quat = _resting_quat(rng, obj)
        half = np.abs(_quat_matrix(quat)) @ np.asarray(obj.extents)
        reach = np.maximum([hx - half[0], hy - half[1]], 0.0) * spread
        xy = rng.uniform(-reach, reach, size=(tries, 2))
        z = np.full(tries, max(min(base_z, floor_z + half[2] + _DROP_GAP + 0.05), floor_z + half[2] + _DROP_GAP))
        if len(placed):
            overlap = ((np.abs(xy[:, None, 0] - placed[:, 0]) < half[0] + placed[:, 3])
                       & (np.abs(xy[:, None, 1] - placed[:, 1]) < half[1] + placed[:, 4]))
            on_top = placed[:, 2] + placed[:, 5] + half[2] + _DROP_GAP
            z = np.maximum(z, np.where(overlap, on_top, -np.inf).max(axis=1))
        pick = int(np.argmin(z))
        placed = np.vstack([placed, [*xy[pick], z[pick], *half]])
        poses.append([float(xy[pick, 0]), float(xy[pick, 1]), float(z[pick]), *(float(q) for q in quat)])
    return poses


def _resting_quat(rng: np.random.Generator, obj) -> np.ndarray:
    """A random yaw over a pose the object rests in: standing if upright, else lying on a broad side.

    Mostly the body axis of its smallest extent points up, otherwise that of
    its middle one (a box on its edge, a bottle on its side either way), with
    either end up.
    """
    order = np.argsort(obj.extents)
    up = order[0] if rng.random() < 0.7 or obj.upright else order[1]
    flip = rng.random() < 0.5
    yaw = rng.uniform(-math.pi, math.pi)
    if obj.upright:
        up, flip = 2, False
    # Turn body axis `up` onto +z (a quarter turn about another axis, or a half turn to flip), then yaw.
    tilt = {0: (math.cos(math.pi / 4), 0.0, -math.sin(math.pi / 4), 0.0),
            1: (math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0),
            2: (1.0, 0.0, 0.0, 0.0)}[int(up)]
    if flip:
        tilt = _quat_product((0.0, 1.0, 0.0, 0.0), tilt)
    return np.array(_quat_product(_yaw_quat(yaw), tilt))


def _quat_product(a, b) -> tuple[float, float, float, float]:
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return (w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2)
