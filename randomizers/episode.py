"""A profile's randomizers at work in one environment: choose, draw, apply, record.

The environment calls, per episode: `choose_objects` (before the model is
built), `restore_physics` (before the task drops the objects, so they settle
under nominal physics), `start_episode` (after: draws every enabled
randomizer, applies the samples and returns them as the episode's record);
per step: `step` (draws and applies the per-step randomizers); per frame:
`augment` (the image randomizer on the rendered image).

Each randomizer draws from its own generator, seeded in a fixed order from
the caller's generator whatever is enabled, so changing one randomizer's
ranges never changes another's draws: a different visual sample leaves the
physics exactly as it was.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from pathlib import Path

import mujoco
import numpy as np

from randomizers.base import NominalModel, Randomizer, SceneTarget
from randomizers.camera import CameraRandomizer
from randomizers.config import Profile, load_profile
from randomizers.dynamics import DynamicsRandomizer
from randomizers.image import ImageRandomizer
from randomizers.lighting import LightingRandomizer
from randomizers.objects import ObjectRandomizer
from randomizers.scene_cache import SceneCache
from randomizers.texture import TextureRandomizer
from scenes.build import Scene
from scenes.objects import draw_object_ids
from scenes.spec import ObjectsSpec, SceneSpec

RANDOMIZER_TYPES = {
    "lighting": LightingRandomizer,
    "texture": TextureRandomizer,
    "object": ObjectRandomizer,
    "camera": CameraRandomizer,
    "dynamics": DynamicsRandomizer,
    "image": ImageRandomizer,
}
ORDER = tuple(RANDOMIZER_TYPES)  # the order of draws, of seeds and of the record
VISUAL = ("lighting", "texture", "camera", "image")  # what changes the image and nothing else
PHYSICAL = ("object", "dynamics")


def make_randomizers(profile: Profile) -> dict:
    """The enabled randomizers of a profile, by name, in ORDER."""
    return {name: kind(getattr(profile, name)) for name, kind in RANDOMIZER_TYPES.items()
            if getattr(profile, name).enabled}


# What fills the texture pool (randomizers.texture_pool): fixed for a model once filled.
POOL_PARAMS = ("kinds", "color", "cells", "stripes", "image_folder", "pool_seed")


def profile_change_problem(old: Profile, new: Profile) -> str | None:
    """Why ``Randomization.set_profile`` cannot move from ``old`` to ``new`` (None: it can)."""
    for name in RANDOMIZER_TYPES:
        if getattr(old, name).enabled != getattr(new, name).enabled:
            return f"{name}.enabled differs ({getattr(old, name).enabled} -> {getattr(new, name).enabled})"
    for field in POOL_PARAMS:
        if getattr(old.texture, field) != getattr(new.texture, field):
            return f"texture.{field} differs: it fills the texture pool, drawn once per model"
    return None


class Randomization:
    def __init__(self, profile: str | Path | Profile | None = None, cache_size: int = 8):
        self.profile = load_profile(profile)
        self.randomizers = make_randomizers(self.profile)
        self.scenes = SceneCache(cache_size)
        self._nominals: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> NominalModel
        # Spare MjData per model for mj_setConst (allocating one costs ~1 ms). Each pins its model,
        # so only as many as the cache holds are kept.
        self._scratch: OrderedDict[int, mujoco.MjData] = OrderedDict()
        self._image_sample: dict | None = None  # the image sample of the current frame

    def set_profile(self, profile: Profile) -> None:
        """Draw from ``profile`` from the next episode on, keeping the scene cache, nominal copies and texture
        pools (ADR changes ranges every episode: this took 0.9 ms, a new environment 80 ms). Only ranges may change: the
        same randomizers enabled (startup ran for those) and the same texture pool parameters (the pool was
        filled from them once per model); ValueError naming what differs otherwise."""
        problem = profile_change_problem(self.profile, profile)
        if problem:
            raise ValueError(f"cannot switch profile {self.profile.name!r} to {profile.name!r} in place: {problem}")
        # An unchanged randomizer is kept (building the image pipeline costs more than a draw).
        self.randomizers = {name: randomizer if randomizer.params == getattr(profile, name)
                            else RANDOMIZER_TYPES[name](getattr(profile, name))
                            for name, randomizer in self.randomizers.items()}
        self.profile = profile

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(name for name, r in self.randomizers.items() if r.frequency == "step")

    # -- structure: before the model exists ------------------------------------------
    def choose_objects(self, rng: np.random.Generator, split: str, objects: ObjectsSpec,
                       ids: tuple[int, ...] = ()) -> tuple[tuple[int, ...], tuple[float, ...] | None]:
        """Object ids and scales (None: unscaled): given ids as they are, else drawn.

        The object randomizer picks count, ids and scales on the train split only;
        otherwise `objects.count` ids come from the split, as without randomization.
        """
        if ids:
            return tuple(ids), None
        if "object" in self.randomizers and split == "train":
            return self.randomizers["object"].choose(rng, objects.kinds, objects.meshes, objects.household)
        return draw_object_ids(rng, objects.count, split, objects.kinds, objects.meshes, objects.household), None

    def build_scene(self, spec: SceneSpec, ids: tuple[int, ...], scales: tuple[float, ...] | None = None) -> Scene:
        """The compiled scene, from the cache when seen lately, with nominal physics (timestep included)."""
        scene = self.scenes.get(spec, ids, scales)
        if scene.model not in self._nominals:  # compiled just now: startup runs before any render context
            self.target(scene).nominal.pool_in_every_context = True
        self.restore_physics(scene)  # a cached model may still hold its last episode's dynamics
        return scene

    # -- samples: draw, apply ----------------------------------------------------------
    def target(self, scene: Scene, renderer=None) -> SceneTarget:
        """Where samples go; the nominal copy is taken the first time a model is seen."""
        nominal = self._nominals.get(scene.model)
        first_seen = nominal is None
        if first_seen:
            nominal = self._nominals[scene.model] = NominalModel(scene.model)
        target = SceneTarget(scene, nominal, renderer, lambda: self._scratch_data(scene.model))
        if first_seen:  # startup: one-off per model, e.g. the texture pool filled and uploaded
            for randomizer in self.randomizers.values():
                if isinstance(randomizer, Randomizer):  # the model randomizers; not the image one
                    randomizer.startup(target)
            target.flush()
        return target

    def _scratch_data(self, model: mujoco.MjModel) -> mujoco.MjData:
        key = id(model)
        data = self._scratch.pop(key, None)
        if data is None:  # while kept, the data holds its model alive: the id cannot be reused
            data = mujoco.MjData(model)
        self._scratch[key] = data
        while len(self._scratch) > self.scenes.size + 1:
            self._scratch.popitem(last=False)
        return data

    def draw(self, rng: np.random.Generator, scene: Scene, names=ORDER) -> dict:
        """Samples of the enabled randomizers among `names`, each from its own seeded stream."""
        seeds = rng.integers(0, 2**63, size=len(ORDER))
        return {name: self.randomizers[name].draw(np.random.default_rng(seed), scene)
                for name, seed in zip(ORDER, seeds) if name in names and name in self.randomizers}

    def apply(self, record: dict, scene: Scene, data: mujoco.MjData | None = None, renderer=None) -> None:
        """Apply a record's samples: model fields in place, then state changes."""
        target = self.target(scene, renderer)
        for name, sample in record.items():
            if name not in self.randomizers:
                raise ValueError(f"the record has a {name!r} sample but profile {self.profile.name!r} "
                                 f"does not enable {name!r}: apply records under the profile that drew them")
            if name == "image":
                self._image_sample = sample
            else:
                self.randomizers[name].apply(sample, target)
        target.flush()
        if data is not None:
            if "object" in record:
                self.randomizers["object"].apply_state(record["object"], scene, data)
            mujoco.mj_camlight(scene.model, data)  # camera and lights moved: refresh their world poses

    def restore_physics(self, scene: Scene, renderer=None) -> None:
        """Nominal masses, friction and dynamics again, e.g. before the task lets objects settle."""
        physical = [self.randomizers[name] for name in PHYSICAL if name in self.randomizers]
        if physical:
            target = self.target(scene, renderer)
            for randomizer in physical:
                randomizer.restore(target)

    # -- the environment's hooks ---------------------------------------------------------
    def start_episode(self, rng: np.random.Generator, scene: Scene, data: mujoco.MjData, renderer=None,
                      scales: tuple[float, ...] | None = None) -> dict:
        """Draw and apply every enabled randomizer; the record for info["randomization"]."""
        self._image_sample = None
        if not self.randomizers:
            return {}
        record = self.draw(rng, scene)
        self.apply(record, scene, data, renderer)
        if "object" in record:  # what was built, so the episode can be rebuilt
            record["object"] = {"ids": list(scene.object_ids), "scales": None if scales is None else list(scales),
                                **record["object"]}
        return record

    def step(self, rng: np.random.Generator, scene: Scene, data: mujoco.MjData, renderer=None) -> dict:
        """Draw and apply the per-step randomizers; their samples for this step's info."""
        names = self.step_names
        if not names:
            return {}
        record = self.draw(rng, scene, names)
        self.apply(record, scene, data, renderer)
        return record

    def augment(self, image: np.ndarray) -> np.ndarray:
        """The image randomizer on a rendered frame (the frame itself when it is off)."""
        if "image" not in self.randomizers or self._image_sample is None:
            return image
        augmented, applied = self.randomizers["image"].augment(image, self._image_sample)
        self._image_sample.setdefault("applied", applied)
        return augmented
