"""The randomizer contract, and the model a randomizer writes to.

A randomizer has two steps, kept apart so every draw can be logged and
replayed: `draw(rng, scene)` returns a plain JSON-able sample and touches
nothing; `apply(sample, target)` writes that sample into the compiled model
through the scene's named handles. `apply` first restores the nominal values
of the fields it owns, so samples never pile up across episodes. One-off
work per model (filling the texture pool) goes in `startup(target)`, called
the first time a model is seen.

`NominalModel` keeps copies of those fields, taken the first time a model is
seen; `SceneTarget` is what `apply` writes through: the model, its handles,
its nominal copy and the renderer that must receive changed textures.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import ClassVar

import mujoco
import numpy as np

from scenes.build import Scene, SceneHandles

# Every model field a randomizer may change in place; dotted names reach into sub-structs.
RANDOMIZED_FIELDS = (
    "light_pos", "light_dir", "light_diffuse", "light_ambient", "light_specular", "light_castshadow",
    "light_active", "vis.headlight.diffuse",
    "mat_specular", "mat_shininess", "mat_reflectance", "mat_rgba", "mat_texid",
    "cam_pos", "cam_quat", "cam_fovy",
    "body_mass", "body_inertia", "geom_friction",
    "actuator_gainprm", "actuator_biasprm", "actuator_forcerange", "dof_damping", "opt.timestep",
)


def _owner(model: mujoco.MjModel, field: str):
    *path, name = field.split(".")
    owner = model
    for part in path:
        owner = getattr(owner, part)
    return owner, name


def read_field(model: mujoco.MjModel, field: str):
    owner, name = _owner(model, field)
    return np.array(getattr(owner, name))


def write_field(model: mujoco.MjModel, field: str, value) -> None:
    owner, name = _owner(model, field)
    current = getattr(owner, name)
    if isinstance(current, np.ndarray):
        current[...] = value
    else:  # a scalar such as opt.timestep
        setattr(owner, name, type(current)(value))


class NominalModel:
    """The nominal values of the randomized fields of one model, and what is dirty.

    Holds copies only, never the model: it lives as long as its model does.
    """

    def __init__(self, model: mujoco.MjModel):
        self.values = {field: read_field(model, field) for field in RANDOMIZED_FIELDS}
        # Where each texture's pixels lie in tex_data, and their (height, width, channels).
        self.texture_layout = {
            t: (int(model.tex_adr[t]), (int(model.tex_height[t]), int(model.tex_width[t]), int(model.tex_nchannel[t])))
            for t in range(model.ntex)}
        # The texture pool: the seed it was filled from (None: not yet), whether it was filled before
        # any render context of the model was made (then every context holds it), else the renderers
        # it was uploaded to.
        self.pool_seed: int | None = None
        self.pool_in_every_context = False
        self.pool_renderers: weakref.WeakSet = weakref.WeakSet()
        self.constants_dirty = False  # mass changed: derived constants need mj_setConst


class SceneTarget:
    """Where a sample is applied: one scene's model, its nominal copy and its renderer."""

    def __init__(self, scene: Scene, nominal: NominalModel, renderer=None,
                 scratch: Callable[[], mujoco.MjData] | None = None):
        self.scene = scene
        self.model = scene.model
        self.handles: SceneHandles = scene.handles
        self.nominal = nominal
        self.renderer = renderer
        self._scratch = scratch  # gives a spare MjData of this model, for mj_setConst
        self._uploads: set[int] = set()

    def restore(self, fields) -> None:
        for field in fields:
            write_field(self.model, field, self.nominal.values[field])

    def nominal_value(self, field: str) -> np.ndarray:
        return self.nominal.values[field]

    # -- textures: rewritten in tex_data, then pushed to the renderer's GPU copy ----
    def texture_view(self, texture_id: int) -> np.ndarray:
        start, shape = self.nominal.texture_layout[texture_id]
        return self.model.tex_data[start:start + shape[0] * shape[1] * shape[2]].reshape(shape)

    def write_texture(self, texture_id: int, pixels: np.ndarray) -> None:
        view = self.texture_view(texture_id)
        view[:, :, :3] = pixels
        if view.shape[2] == 4:
            view[:, :, 3] = 255  # opaque
        self._uploads.add(texture_id)

    def upload(self, texture_ids) -> None:
        """Send these textures to the renderer at the next flush."""
        self._uploads.update(texture_ids)

    def flush(self) -> None:
        """Upload every texture changed since the last flush."""
        if self.renderer is not None:
            for texture_id in sorted(self._uploads):
                self.renderer.upload_texture(texture_id)
        self._uploads.clear()

    # -- mass: derived constants follow --------------------------------------------
    def update_constants(self) -> None:
        # mj_setConst overwrites the state of the data it is given: use a spare one.
        spare = self._scratch() if self._scratch is not None else mujoco.MjData(self.model)
        mujoco.mj_setConst(self.model, spare)


class Randomizer:
    """Base of the model randomizers: a name, the fields it owns, draw and apply."""

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params):
        self.params = params

    @property
    def frequency(self) -> str:
        return self.params.frequency

    def startup(self, target: SceneTarget) -> None:
        """One-off work the first time a model is seen (the texture pool); nothing by default."""

    def draw(self, rng: np.random.Generator, scene: Scene) -> dict:
        raise NotImplementedError

    def apply(self, sample: dict, target: SceneTarget) -> None:
        raise NotImplementedError

    def restore(self, target: SceneTarget) -> None:
        target.restore(self.fields)


# -- draws as plain Python values ------------------------------------------------------
def uniform(rng: np.random.Generator, interval) -> float:
    return float(rng.uniform(interval.low, interval.high))


def uniform3(rng: np.random.Generator, interval) -> list[float]:
    return [float(v) for v in rng.uniform(interval.low, interval.high, size=3)]


def integer(rng: np.random.Generator, interval) -> int:
    return int(rng.integers(interval.low, interval.high + 1))
