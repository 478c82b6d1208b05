"""Texture and material: a texture from the pool and a material finish per surface.

The scene gives the floor, table, bin, gripper and every object its own
material, and compiles a pool of spare textures that `texture_pool` fills
once per model (see there). Per episode each surface of the chosen groups
draws a kind (by the profile's weights), a pool slot of that kind, a colour
tint for procedural textures (photographs stay as they are) and a random
specular, shininess and reflectance. Applying points the material's RGB
texture at the slot and sets its fields in place: no pixels are made or
uploaded per episode.
"""

from __future__ import annotations

import mujoco
import numpy as np

from randomizers.base import Randomizer, SceneTarget
from randomizers.config import TextureParams
from randomizers.texture_pool import ensure_pool, slot_kinds
from scenes.build import Scene

RGB = int(mujoco.mjtTextureRole.mjTEXROLE_RGB)


class TextureRandomizer(Randomizer):
    name = "texture"
    fields = ("mat_specular", "mat_shininess", "mat_reflectance", "mat_rgba", "mat_texid")
    params: TextureParams

    def __init__(self, params: TextureParams):
        super().__init__(params)
        self._kinds = sorted(kind for kind, weight in params.kinds.items() if weight > 0)
        weights = np.array([params.kinds[kind] for kind in self._kinds], float)
        self._kind_probs = weights / weights.sum()

    def surfaces(self, scene: Scene) -> list[str]:
        """Texture keys of the chosen groups: the group names, and one key per object."""
        keys = []
        for group in self.params.groups:
            keys += [o.name for o in scene.handles.objects] if group == "objects" else [group]
        return keys

    def slots(self, scene: Scene) -> list[list[int]]:
        """Pool slots of each enabled kind, in the order of `self._kinds`."""
        kinds = slot_kinds(self.params, len(scene.handles.pool_textures))
        return [[slot for slot, k in enumerate(kinds) if k == kind] for kind in self._kinds]

    def draw(self, rng: np.random.Generator, scene: Scene) -> dict:
        p, keys, slots = self.params, self.surfaces(scene), self.slots(scene)
        n = len(keys)
        kinds = rng.choice(len(self._kinds), size=n, p=self._kind_probs)
        picks = rng.integers(0, np.array([len(s) for s in slots])[kinds])  # a slot within each kind
        tints = rng.uniform(p.tint.low, p.tint.high, (n, 3)).tolist()
        finish = {field: rng.uniform(getattr(p, field).low, getattr(p, field).high, n).tolist()
                  for field in ("specular", "shininess", "reflectance")}
        surfaces = {}
        for i, key in enumerate(keys):
            kind = self._kinds[kinds[i]]
            tint = [1.0, 1.0, 1.0] if kind == "image" else tints[i]  # photographs keep their colours
            surfaces[key] = {"kind": kind, "slot": slots[kinds[i]][picks[i]], "rgba": tint + [1.0],
                             **{field: values[i] for field, values in finish.items()}}
        return {"pool_seed": p.pool_seed, "surfaces": surfaces}

    def startup(self, target: SceneTarget) -> None:
        """Fill the model's texture pool (once per model) from the profile's pool seed."""
        ensure_pool(target, self.params, self.params.pool_seed)

    def apply(self, sample: dict, target: SceneTarget) -> None:
        self.restore(target)
        ensure_pool(target, self.params, sample["pool_seed"])  # a no-op unless the record used another seed
        m, h = target.model, target.handles
        for key, surface in sample["surfaces"].items():
            material = h.materials[key]
            m.mat_texid[material, RGB] = h.pool_textures[surface["slot"]]
            m.mat_rgba[material] = surface["rgba"]
            m.mat_specular[material] = surface["specular"]
            m.mat_shininess[material] = surface["shininess"]
            m.mat_reflectance[material] = surface["reflectance"]
