"""The object library: primitives and random convex meshes, addressable by id.

Ids 0..99 are primitives (box, sphere, cylinder, capsule, ellipsoid; 20 size
variants each). Ids 100..1099 are random convex objects, each the convex hull
of a random point cloud, like the 1000 random objects of the PyBullet grasping
benchmark. Every object is generated from its id alone, so the library needs
no files and is the same on every machine.

The held-out test split is fixed: ids whose last digit is 9 (10% of each
kind). Training code draws from `TRAIN_IDS` only.

A scene may add custom objects from mesh files (`[[objects.meshes]]`): the
i-th has id `CUSTOM_ID_BASE + i` in that scene, joins the draw for its split
and is resolved with `scene_object(id, meshes)`.

Household objects (bottles, cans, boxes, fruit, mugs, ...) are compound
bodies with ids from `HOUSEHOLD_ID_BASE`, generated in `scenes.household`;
a scene mixes them in with `objects.household` (the share of each draw).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from scenes.errors import SpecError
from scenes.household import HOUSEHOLD_ID_BASE, household_ids, household_object
from scenes.meshes import read_mesh
from scenes.object_def import ObjectDef

PRIMITIVE_KINDS = ("box", "sphere", "cylinder", "capsule", "ellipsoid")
NUM_PRIMITIVES = 100
NUM_MESHES = 1000
LIBRARY_SIZE = NUM_PRIMITIVES + NUM_MESHES
_LIBRARY_SEED = 20180627  # fixed forever: changing it changes every object
CUSTOM_ID_BASE = 10000  # a scene's custom meshes: 10000, 10001, ...


def is_test_id(object_id: int) -> bool:
    return object_id % 10 == 9


TEST_IDS = tuple(i for i in range(LIBRARY_SIZE) if is_test_id(i))
TRAIN_IDS = tuple(i for i in range(LIBRARY_SIZE) if not is_test_id(i))


@lru_cache(maxsize=None)
def get_object(object_id: int) -> ObjectDef:
    if not 0 <= object_id < LIBRARY_SIZE:
        raise KeyError(f"unknown object id {object_id} (the library has ids 0..{LIBRARY_SIZE - 1})")
    rng = np.random.default_rng([_LIBRARY_SEED, object_id])
    rgba = (*(float(c) for c in rng.uniform(0.15, 0.95, size=3)), 1.0)
    if object_id < NUM_PRIMITIVES:
        kind = PRIMITIVE_KINDS[object_id % len(PRIMITIVE_KINDS)]
        return ObjectDef(object_id, kind, _primitive_size(kind, rng), rgba)
    # Random convex object: points in a random box; MuJoCo takes their convex hull.
    half_extents = rng.uniform(0.012, 0.03, size=3)
    count = int(rng.integers(8, 25))
    points = rng.uniform(-1.0, 1.0, size=(count, 3)) * half_extents
    points -= points.mean(axis=0)
    vertices = tuple(tuple(float(v) for v in point) for point in points)
    size = tuple(float(v) for v in np.abs(points).max(axis=0))
    return ObjectDef(object_id, "mesh", size, rgba, vertices)


def _primitive_size(kind: str, rng: np.random.Generator) -> tuple[float, ...]:
    # Sizes keep at least one horizontal width below the gripper's opening.
    if kind == "box":
        return tuple(float(v) for v in rng.uniform(0.012, 0.03, size=3))
    if kind == "sphere":
        return (float(rng.uniform(0.016, 0.03)),)
    if kind in ("cylinder", "capsule"):
        return (float(rng.uniform(0.012, 0.026)), float(rng.uniform(0.015, 0.035)))
    if kind == "ellipsoid":
        return tuple(float(v) for v in rng.uniform(0.014, 0.03, size=3))
    raise ValueError(f"unknown primitive kind {kind!r}")


def split_ids(split: str, kinds: str = "all", meshes=()) -> tuple[int, ...]:
    """Ids of one split ('train' or 'test'), optionally of one kind family.

    `meshes` are a scene's custom meshes (`objects.meshes`); they join for kinds
    'all' and 'custom' when their split is this one or 'both'.
    """
    ids = {"train": TRAIN_IDS, "test": TEST_IDS}[split]
    if kinds == "primitive":
        ids = tuple(i for i in ids if i < NUM_PRIMITIVES)
    elif kinds == "mesh":
        ids = tuple(i for i in ids if i >= NUM_PRIMITIVES)
    elif kinds == "custom":
        ids = ()
    if kinds in ("all", "custom"):
        ids += tuple(CUSTOM_ID_BASE + i for i, mesh in enumerate(meshes) if mesh.split in (split, "both"))
    return ids


def draw_object_ids(rng: np.random.Generator, count: int, split: str, kinds: str = "all",
                    meshes=(), household: float = 0.0) -> tuple[int, ...]:
    """`count` distinct ids from a split, drawn with the caller's generator.

    `household` is the share of household objects: each of the `count` objects
    is one with that probability (1: all are), the rest come from `kinds`.
    """
    if household <= 0.0:
        return _draw(rng, count, split_ids(split, kinds, meshes), f"of kinds {kinds!r}", split)

    homes = count if household >= 1.0 else int(rng.binomial(count, household))
    ids = _draw(rng, count - homes, split_ids(split, kinds, meshes), f"of kinds {kinds!r}", split)
    return ids + _draw(rng, homes, household_ids(split), "household", split)


def drawable_count(split: str, kinds: str = "all", meshes=(), household: float = 0.0) -> int:
    """The most objects `draw_object_ids` can always draw with these settings."""
    pools = []
    if household < 1.0:
        pools.append(len(split_ids(split, kinds, meshes)))
    if household > 0.0:
        pools.append(len(household_ids(split)))
    return min(pools)


def _draw(rng: np.random.Generator, count: int, pool: tuple[int, ...], what: str, split: str) -> tuple[int, ...]:
    if count > len(pool):
        raise SpecError(f"cannot draw {count} objects: only {len(pool)} {what} are in the {split!r} split")
    return tuple(int(i) for i in rng.choice(pool, size=count, replace=False))


def scene_object(object_id: int, meshes=()) -> ObjectDef:
    """A library object, a household object, or a scene's custom mesh (`meshes`: the scene's `objects.meshes`)."""
    if object_id < CUSTOM_ID_BASE:
        return get_object(object_id)
    if object_id >= HOUSEHOLD_ID_BASE:

        return household_object(object_id)
    index = object_id - CUSTOM_ID_BASE
    if index >= len(meshes):
        raise KeyError(f"unknown object id {object_id}: the scene has {len(meshes)} custom meshes")
    return custom_object(object_id, meshes[index])


def custom_object(object_id: int, mesh) -> ObjectDef:
    """The object of one `[[objects.meshes]]` entry: its file's vertices scaled to metres, centred."""

    data = read_mesh(mesh.file)
    vertices = data.vertices * mesh.scale
    vertices -= (vertices.max(axis=0) + vertices.min(axis=0)) / 2
    return ObjectDef(
        object_id, "custom", tuple(float(v) for v in vertices.max(axis=0)), tuple(mesh.rgba),
        vertices=tuple(tuple(float(c) for c in vertex) for vertex in vertices),
        faces=tuple(tuple(int(i) for i in face) for face in data.faces), mass=mesh.mass,
    )
