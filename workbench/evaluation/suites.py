"""Named evaluation suites: held-out simulation splits, each a scene, a profile and a split.

Every suite evaluates on the held-out test objects (library ids ending in 9, no
household objects even where the scene's training draw mixes them in; for
``unseen-shapes``, the held-out household objects only), so
`unseen-objects` is the baseline and each other suite adds one shift on top of it.
All suites reset with the same seeds, so they see the same object draws: a
difference between two suites is the effect of their shift, not of the objects.

- ``unseen-objects``: held-out objects in the scene's canonical look (profile ``none``).
- ``unseen-textures``: every surface wears a photograph no training profile uses
  (see ``workbench.evaluation.suite_assets``).
- ``unseen-lighting``: a warm, low, grazing key light from the far side, a dim blue
  fill and a dim headlight (light positions and directions outside the ranges the
  training profiles draw from), with small per-episode jitter around them.
- ``shifted-camera``: the camera moved 5 cm sideways, 4 cm back and 4 cm down in
  the frame it is mounted in (the world, or the hand for a wrist camera) and
  re-aimed (`wide` moves it at most 3 cm per axis).
- ``unseen-shapes``: household objects at real scale that training never draws:
  the held-out families (a pear of two lobes and a stem, a bottle with a handle)
  and the held-out size band of every other family (bottles, cans, cereal and tea
  boxes, fruit, mugs, flat and irregular objects; see ``scenes.household``),
  four in the bin (they fill it as eight library objects do), in the canonical look.
- ``proxy-real``: a target domain no training profile samples from: held-out
  photographs, a wider field of view, a moved camera and camera-sensor effects
  (blur, vignetting, white balance, exposure, noise, JPEG). It is a stand-in for
  real data, not real data: it measures robustness to one made-up shift.

A suite is data (``Suite``); ``make_suite_env`` turns it into a GraspEnv.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scenes.spec import LightSpec, SceneSpec, load_scene
from workbench.errors import UserError
from workbench.sim.sensor_effects import SensorEffects, SensorEffectsWrapper

SUITE_PROFILE_DIR = Path(__file__).parent / "suite_profiles"
PROXY_REAL = "proxy-real"
STAND_IN_NOTE = ("proxy-real is a simulated stand-in for real data (held-out photographs, another field of "
                 "view and synthetic sensor effects), not real data; success on it is not a measured real success.")
Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class CameraShift:
    """Move the camera (and where it looks) by offsets in metres in its mount's frame; optionally set its fovy."""

    position_offset: Vec3 = (0.0, 0.0, 0.0)
    lookat_offset: Vec3 = (0.0, 0.0, 0.0)
    fovy: float | None = None


@dataclass(frozen=True)
class LightingChange:
    """Replace the scene's lights (same names, so profiles still address them) and headlight."""

    lights: tuple[LightSpec, ...]
    headlight: float | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    scene: str = "bin_grasp"
    profile: str = "none"  # a randomizers profile name, or a file name in workbench/evaluation/suite_profiles/
    split: str = "test"
    camera: CameraShift | None = None
    lighting: LightingChange | None = None
    sensor: SensorEffects | None = None
    household: float = 0.0  # `objects.household`: 0 keeps the library's held-out objects, 1 household ones only
    object_count: int | None = None  # the scene's `objects.count`
    stand_in: bool = False  # a simulated target domain standing in for real data

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "scene": self.scene, "profile": self.profile,
                "split": self.split, "camera_shift": None if self.camera is None else asdict(self.camera),
                "lighting_changed": self.lighting is not None,
                "sensor_effects": None if self.sensor is None else self.sensor.to_dict(),
                "household": self.household, "object_count": self.object_count,
                "stand_in": self.stand_in}


_UNSEEN_LIGHTS = LightingChange(
    lights=(
        LightSpec(name="key", pos=(-0.55, 0.45, 0.35), dir=(0.55, -0.45, -0.30),
                  diffuse=(1.0, 0.55, 0.25), ambient=(0.05, 0.04, 0.03), castshadow=True),
        LightSpec(name="fill", pos=(0.5, -0.1, 0.6), dir=(-0.5, 0.1, -0.6),
                  diffuse=(0.15, 0.2, 0.35), ambient=(0.0, 0.0, 0.0), castshadow=False),
    ),
    headlight=0.1,
)

SUITES: dict[str, Suite] = {suite.name: suite for suite in (
    Suite("unseen-objects", "held-out test objects in the scene's canonical look"),
    Suite("unseen-textures", "held-out photographs on every surface (never used by a training profile)",
          profile="unseen_textures.toml"),
    Suite("unseen-lighting", "a warm, low key light from the far side, dim blue fill and headlight",
          profile="unseen_lighting.toml", lighting=_UNSEEN_LIGHTS),
    Suite("shifted-camera", "the camera moved 5 cm sideways, 4 cm back and 4 cm down, re-aimed",
          camera=CameraShift(position_offset=(0.05, -0.04, -0.04))),
    Suite("unseen-shapes", "held-out household objects at real scale: held-out families (pear, jug) and the "
          "held-out size band of bottles, cans, boxes, fruit, mugs, flat and irregular objects",
          household=1.0, object_count=4),
    Suite(PROXY_REAL, "stand-in target domain: held-out photographs, 50 degree field of view, moved camera, "
          "sensor blur, vignetting, white balance, exposure, noise and JPEG",
          profile="proxy_real.toml",
          camera=CameraShift(position_offset=(-0.04, 0.04, 0.03), lookat_offset=(0.0, 0.01, 0.0), fovy=50.0),
          sensor=SensorEffects(blur_sigma=(0.4, 0.9), vignetting=(0.25, 0.45), white_balance=(0.85, 1.15),
                               exposure=(0.8, 1.1), noise_std=(3.0, 7.0), jpeg_quality=(40, 75)),
          stand_in=True),
)}


def get_suites(name: str) -> list[Suite]:
    """One suite by name, or every suite for ``all``."""
    if name == "all":
        return list(SUITES.values())
    if name not in SUITES:
        raise UserError(f"unknown suite {name!r}: expected one of {', '.join(SUITES)} or all")
    return [SUITES[name]]


def suite_scene(suite: Suite, image_size: int | None = None) -> SceneSpec:
    """The suite's scene spec: its base scene with the camera and lighting changes applied."""
    spec = load_scene(suite.scene)
    camera = spec.camera
    if suite.camera is not None:
        shift = suite.camera
        camera = camera.model_copy(update={
            "pos": tuple(np.add(camera.pos, shift.position_offset).tolist()),
            "lookat": tuple(np.add(camera.lookat, shift.lookat_offset).tolist()),
            "fovy": shift.fovy if shift.fovy is not None else camera.fovy})
    if image_size is not None:
        camera = camera.model_copy(update={"width": image_size, "height": image_size})
    objects = spec.objects.model_copy(update={
        "household": suite.household, "count": spec.objects.count if suite.object_count is None else suite.object_count})
    update = {"camera": camera, "objects": objects}
    if suite.lighting is not None:
        update["lights"] = suite.lighting.lights
        if suite.lighting.headlight is not None:
            update["render"] = spec.render.model_copy(update={"headlight": suite.lighting.headlight})
    # Validate the edited spec as a whole, as a file would be.
    return SceneSpec.model_validate(spec.model_copy(update=update).model_dump())


def suite_profile(suite: Suite) -> str:
    """What GraspEnv's ``profile=`` gets: a built-in name, or the prepared suite profile's path."""
    if not suite.profile.endswith(".toml"):
        return suite.profile
    from workbench.evaluation.suite_assets import prepared_suite_profile

    return str(prepared_suite_profile(SUITE_PROFILE_DIR / suite.profile))


def make_suite_env(suite: Suite, image_size: int | None = None, rng: np.random.Generator | None = None):
    """A GraspEnv for the suite; with sensor effects, wrapped so the policy sees them.

    ``rng`` seeds the sensor draws of episodes reset without a seed (None: a Generator
    seeded 0, so those repeat too); a seeded reset reseeds them from its seed.
    """
    from workbench.sim.env import GraspEnv

    env = GraspEnv(suite_scene(suite, image_size), split=suite.split, profile=suite_profile(suite))
    if suite.sensor is not None:
        env = SensorEffectsWrapper(env, suite.sensor, rng if rng is not None else np.random.default_rng(0))
    return env


def reset_frames(suite: Suite, count: int, seed: int, image_size: int | None = None) -> np.ndarray:
    """The first observation image of episodes seeded seed, seed+1, ... (what the evaluation's
    episodes start from), as (count, H, W, 3) uint8."""
    env = make_suite_env(suite, image_size)
    try:
        return np.stack([env.reset(seed=seed + i)[0]["image"] for i in range(count)])
    finally:
        env.close()
