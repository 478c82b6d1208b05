"""Lighting: which lights are on, where they are and point, their colours, shadows, the headlight.

Only the scene's own lights can be switched or moved in place (adding lights
would need a recompile), so the active count is capped by the scene.
"""

from __future__ import annotations

import math

import numpy as np

from randomizers.base import Randomizer, SceneTarget, integer, uniform, uniform3
from randomizers.config import LightingParams
from scenes.build import Scene


class LightingRandomizer(Randomizer):
    name = "lighting"
    fields = ("light_pos", "light_dir", "light_diffuse", "light_ambient", "light_specular",
              "light_castshadow", "light_active", "vis.headlight.diffuse")
    params: LightingParams

    def draw(self, rng: np.random.Generator, scene: Scene) -> dict:
        p = self.params
        names = list(scene.handles.lights)
        count = min(integer(rng, p.active_count), len(names))
        active = {names[i] for i in rng.choice(len(names), size=count, replace=False)}
        lights = {}
        for name in names:  # every light draws everything: the stream does not depend on `active`
            lights[name] = {
                "active": name in active,
                "pos_offset": uniform3(rng, p.position_offset),
                "dir_angle_deg": uniform(rng, p.direction_angle_deg),
                "dir_azimuth_deg": float(rng.uniform(0.0, 360.0)),
                "intensity": uniform(rng, p.intensity),
                "color_offset": uniform3(rng, p.color_offset),
                "ambient": uniform(rng, p.ambient),
                "specular": uniform(rng, p.specular),
                "castshadow": bool(rng.random() < p.shadow_prob),
            }
        return {"lights": lights, "headlight": uniform(rng, p.headlight)}

    def apply(self, sample: dict, target: SceneTarget) -> None:
        self.restore(target)
        m = target.model
        for name, light in sample["lights"].items():
            i = target.handles.lights[name]
            m.light_active[i] = light["active"]
            m.light_pos[i] += light["pos_offset"]
            m.light_dir[i] = tilt(m.light_dir[i], light["dir_angle_deg"], light["dir_azimuth_deg"])
            # One colour cast per light: added to the diffuse colour, and tinting ambient and specular alike.
            tint = np.asarray(light["color_offset"])
            m.light_diffuse[i] = np.maximum(m.light_diffuse[i] * light["intensity"] + tint, 0.0)
            m.light_ambient[i] = np.maximum(light["ambient"] * (1.0 + tint), 0.0)
            m.light_specular[i] = np.maximum(light["specular"] * (1.0 + tint), 0.0)
            m.light_castshadow[i] = light["castshadow"]
        m.vis.headlight.diffuse[:] = sample["headlight"]


def tilt(direction, angle_deg: float, azimuth_deg: float) -> list[float]:
    """`direction` turned by `angle_deg` towards the perpendicular picked by `azimuth_deg`.

    Plain floats: on 3-vectors numpy's per-call overhead is most of the cost.
    """
    norm = math.sqrt(sum(c * c for c in direction))
    d = [float(c) / norm for c in direction]
    helper = (1.0, 0.0, 0.0) if abs(d[0]) < 0.9 else (0.0, 1.0, 0.0)
    u = _cross(d, helper)
    norm_u = math.sqrt(sum(c * c for c in u))
    u = [c / norm_u for c in u]
    v = _cross(d, u)
    azimuth, angle = math.radians(azimuth_deg), math.radians(angle_deg)
    along, across = math.cos(angle), math.sin(angle)
    return [along * di + across * (math.cos(azimuth) * ui + math.sin(azimuth) * vi)
            for di, ui, vi in zip(d, u, v)]


def _cross(a, b) -> list[float]:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
