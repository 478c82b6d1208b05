"""The texture pool: textures drawn once per model, that surfaces borrow per episode.

The scene compiles `render.texture_pool` spare textures (`pool_00`, ...). The
first time a model is seen they are filled from the profile: slots go round
the enabled kinds in turn, and each slot's texture (checker, gradient, noise
or stripes in random colours, or a crop of a photograph) is drawn from a
generator seeded with the pool seed, written into `tex_data` and uploaded to
the renderer once. The pool is a pure function of the texture parameters,
the seed and the scene's pool and texture sizes, so a record that names its
pool seed and slots gives the same pixels again.
"""

from __future__ import annotations

import numpy as np

from randomizers.base import SceneTarget, integer
from randomizers.config import TextureParams
from randomizers.patterns import texture_pixels
from randomizers.photos import PhotoSet, load_photos


def slot_kinds(params: TextureParams, count: int) -> tuple[str, ...]:
    """The kind of each pool slot: the kinds with a positive weight, in turn."""
    kinds = sorted(kind for kind, weight in params.kinds.items() if weight > 0)
    if count < len(kinds):
        raise ValueError(f"the scene's texture pool has {count} textures but the profile enables "
                         f"{len(kinds)} texture kinds: set render.texture_pool to at least {len(kinds)}")
    return tuple(kinds[slot % len(kinds)] for slot in range(count))


def draw_texture(rng: np.random.Generator, kind: str, params: TextureParams, photos: PhotoSet | None) -> dict:
    """One texture description of `kind`, as `patterns.texture_pixels` reads it."""
    if kind == "image":
        return {"kind": "image", "image": photos.names[int(rng.integers(len(photos.names)))],
                "crop": [float(v) for v in rng.random(2)], "rot90": int(rng.integers(4)),
                "flip": bool(rng.random() < 0.5)}
    colors = [[float(c) for c in rng.uniform(params.color.low, params.color.high, size=3)] for _ in range(2)]
    texture = {"kind": kind, "colors": colors}
    if kind in ("checker", "noise"):
        texture["cells"] = integer(rng, params.cells)
    if kind == "stripes":
        texture["count"] = integer(rng, params.stripes)
    if kind in ("gradient", "stripes"):
        texture["angle_deg"] = float(rng.uniform(0.0, 360.0))
    if kind == "noise":
        texture["seed"] = int(rng.integers(2**31))
    return texture


def pool_photos(params: TextureParams, size: int) -> PhotoSet | None:
    return load_photos(params.image_folder, size) if params.kinds.get("image", 0.0) > 0 else None


def draw_pool(params: TextureParams, seed: int, count: int, size: int) -> list[dict]:
    """The pool's texture descriptions, slot by slot."""
    rng = np.random.default_rng(seed)
    photos = pool_photos(params, size)
    return [draw_texture(rng, kind, params, photos) for kind in slot_kinds(params, count)]


def ensure_pool(target: SceneTarget, params: TextureParams, seed: int) -> None:
    """Fill the model's pool from `seed` unless it already holds it; upload it to a renderer that lacks it."""
    nominal, pool = target.nominal, target.handles.pool_textures
    if nominal.pool_seed != seed:
        size = texture_size(target)
        photos = pool_photos(params, size)
        for texture_id, texture in zip(pool, draw_pool(params, seed, len(pool), size)):
            target.write_texture(texture_id, texture_pixels(texture, size, photos))
        nominal.pool_seed = seed
        nominal.pool_in_every_context = False  # contexts made before now hold stale copies
        nominal.pool_renderers.clear()
    # A render context made after the fill holds the pool; one made before needs it sent once.
    if (target.renderer is not None and not nominal.pool_in_every_context
            and target.renderer not in nominal.pool_renderers):
        target.upload(pool)
        nominal.pool_renderers.add(target.renderer)


def texture_size(target: SceneTarget) -> int:
    """Side of the scene's (square) textures."""
    return int(target.model.tex_width[target.handles.pool_textures[0]])
