"""Scenes whose structure the object randomizer changed: scaled objects and a compile cache.

Object count, ids and scale change the model's arrays, so they go through
`MjSpec` and a compile. `build_scaled_scene` scales each library object's
geometry before the scene spec is built (mass follows through the density);
`SceneCache` keeps the last few compiled scenes by (scene spec, ids, scales).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from scenes.build import Scene, _collect_handles, _make_spec, build_scene
from scenes.objects import ObjectDef, scene_object
from scenes.spec import SceneSpec


def scaled_object(definition: ObjectDef, scale: float) -> ObjectDef:
    # A compound object's parts scale about its origin; their set masses follow the volume.
    parts = tuple(replace(p, size=tuple(v * scale for v in p.size), pos=tuple(v * scale for v in p.pos),
                          vertices=tuple(tuple(c * scale for c in vertex) for vertex in p.vertices),
                          mass=p.mass * scale ** 3) for p in definition.parts)
    return replace(definition, size=tuple(v * scale for v in definition.size),
                   vertices=tuple(tuple(c * scale for c in vertex) for vertex in definition.vertices),
                   parts=parts)


def build_scaled_scene(spec: SceneSpec, object_ids: tuple[int, ...], scales: tuple[float, ...]) -> Scene:
    """Like `scenes.build.build_scene`, with each object scaled uniformly by its factor."""
    if len(scales) != len(object_ids):
        raise ValueError(f"{len(object_ids)} object ids but {len(scales)} scales")
    objects = [scaled_object(scene_object(i, spec.objects.meshes), s) for i, s in zip(object_ids, scales)]
    model = _make_spec(spec, objects).compile()
    handles = _collect_handles(spec, model, object_ids)
    # The handles read clearances from the unscaled library; scale them too.
    scaled = tuple(replace(h, half_height=h.half_height * s) for h, s in zip(handles.objects, scales))
    return Scene(spec, tuple(object_ids), model, replace(handles, objects=scaled))


class SceneCache:
    """The last `size` compiled scenes, by (spec, ids, scales); scales None means unscaled."""

    def __init__(self, size: int = 8):
        self.size = size
        self._scenes: OrderedDict[tuple, Scene] = OrderedDict()

    def get(self, spec: SceneSpec, object_ids: tuple[int, ...], scales: tuple[float, ...] | None = None) -> Scene:
        key = (spec, tuple(object_ids), None if scales is None else tuple(scales))
        if key in self._scenes:
            self._scenes.move_to_end(key)
            return self._scenes[key]
        scene = build_scene(spec, key[1]) if scales is None else build_scaled_scene(spec, key[1], key[2])
        self._scenes[key] = scene
        if len(self._scenes) > self.size:
            self._scenes.popitem(last=False)
        return scene
