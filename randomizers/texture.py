"""Texture and material: a new 2D texture and material finish per surface.

The scene gives the floor, table, bin, gripper and every object its own
material and texture. Each surface of the chosen groups gets a texture
(checker, gradient, noise or stripes in random colours, or a crop of a
photograph) written into `tex_data` in place and uploaded to the renderer,
and a random specular, shininess and reflectance.
"""

from __future__ import annotations

import numpy as np

from randomizers.base import Randomizer, SceneTarget, integer, uniform
from randomizers.config import TextureParams
from randomizers.patterns import texture_pixels
from randomizers.photos import PhotoSet, load_photos
from scenes.build import Scene


class TextureRandomizer(Randomizer):
    name = "texture"
    fields = ("mat_specular", "mat_shininess", "mat_reflectance")
    params: TextureParams

    def __init__(self, params: TextureParams):
        super().__init__(params)
        weights = np.array([params.kinds.get(kind, 0.0) for kind in sorted(params.kinds)], float)
        self._kinds = sorted(params.kinds)
        self._kind_probs = weights / weights.sum()

    def surfaces(self, scene: Scene) -> list[str]:
        """Texture keys of the chosen groups: the group names, and one key per object."""
        keys = []
        for group in self.params.groups:
            keys += [o.name for o in scene.handles.objects] if group == "objects" else [group]
        return keys

    def photos(self, scene: Scene) -> PhotoSet | None:
        if self.params.kinds.get("image", 0.0) <= 0:
            return None
        return load_photos(self.params.image_folder, texture_size(scene))

    def draw(self, rng: np.random.Generator, scene: Scene) -> dict:
        photos = self.photos(scene)
        return {key: self._draw_surface(rng, photos) for key in self.surfaces(scene)}

    def _draw_surface(self, rng: np.random.Generator, photos: PhotoSet | None) -> dict:
        p = self.params
        kind = self._kinds[int(rng.choice(len(self._kinds), p=self._kind_probs))]
        if kind == "image":
            texture = {"kind": "image", "image": photos.names[int(rng.integers(len(photos.names)))],
                       "crop": [float(v) for v in rng.random(2)], "rot90": int(rng.integers(4)),
                       "flip": bool(rng.random() < 0.5)}
        else:
            colors = [[float(c) for c in rng.uniform(p.color.low, p.color.high, size=3)] for _ in range(2)]
            texture = {"kind": kind, "colors": colors}
            if kind in ("checker", "noise"):
                texture["cells"] = integer(rng, p.cells)
            if kind == "stripes":
                texture["count"] = integer(rng, p.stripes)
            if kind in ("gradient", "stripes"):
                texture["angle_deg"] = float(rng.uniform(0.0, 360.0))
            if kind == "noise":
                texture["seed"] = int(rng.integers(2**31))
        return {"texture": texture, "specular": uniform(rng, p.specular),
                "shininess": uniform(rng, p.shininess), "reflectance": uniform(rng, p.reflectance)}

    def restore(self, target: SceneTarget) -> None:
        target.restore(self.fields)
        for texture_id in target.handles.textures.values():
            target.restore_texture(texture_id)  # only the ones this model has had rewritten

    def apply(self, sample: dict, target: SceneTarget) -> None:
        self.restore(target)
        m, h = target.model, target.handles
        size = texture_size(target.scene)
        photos = self.photos(target.scene)
        for key, surface in sample.items():
            target.write_texture(h.textures[key], texture_pixels(surface["texture"], size, photos))
            material = h.materials[key]
            m.mat_specular[material] = surface["specular"]
            m.mat_shininess[material] = surface["shininess"]
            m.mat_reflectance[material] = surface["reflectance"]


def texture_size(scene: Scene) -> int:
    """Side of the scene's (square) surface textures."""
    return int(scene.model.tex_width[next(iter(scene.handles.textures.values()))])
