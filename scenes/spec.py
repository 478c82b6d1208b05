"""Scene specs: the typed, validated form of a scene TOML file.

A spec says what the scene holds (table, bin, objects, gripper, camera,
lights), how it renders and how its physics and task are set. Loading a bad
file raises `SpecError`, whose message names the file, the dotted field, the
offending value and the reason, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from policies.runtime.input_files import InputFileError, check_values, load_toml
from scenes.errors import SpecError
from scenes.grippers import gripper_opening
from scenes.household import family_of
from scenes.meshes import read_mesh
from scenes.objects import CUSTOM_ID_BASE, HOUSEHOLD_ID_BASE, LIBRARY_SIZE, drawable_count

BUILTIN_DIR = Path(__file__).parent / "builtin"

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Unit = Annotated[float, Field(ge=0, le=1)]
Vec3 = tuple[float, float, float]
Rgb = tuple[Unit, Unit, Unit]
MAX_OBJECT_SIZE = 0.2  # m: a larger custom mesh does not fit the bin (the gripper's opening is checked too)
MIN_OBJECT_SIZE = 0.005
MAX_SETTLE_TIME = 10.0  # s of physics per reset: more only makes a reset take minutes
MIN_TIMESTEP = 1e-4  # s: a smaller one makes a control step take minutes


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def strict_validate(model: type[BaseModel], data, source: str, context: dict | None = None):
    """``model`` from parsed file data with strict types: no string for a number or a boolean, no
    float for an integer (pydantic's JSON mode, where arrays still fill tuples). SpecError for a
    value JSON cannot hold (a TOML date, NaN, an integer past 64 bits); ValidationError otherwise."""
    try:
        check_values(data, source)
        text = json.dumps(data, allow_nan=False)
    except InputFileError as error:
        raise SpecError(str(error)) from None
    except (TypeError, ValueError) as error:  # a TOML date or time
        raise SpecError(f"{source}: a value of an unsupported type ({error})") from None
    return model.model_validate_json(text, strict=True, context=context)


class TableSpec(Strict):
    """The table the bin stands on."""

    half_size: tuple[Positive, Positive] = Field(
        (0.45, 0.45), description="half the table top's size along x and y, m")
    thickness: Positive = Field(0.02, description="table top thickness, m")
    height: NonNegative = Field(0.0, description="z of the table top in the world frame, m")


class BinSpec(Strict):
    """The bin the objects are dropped into, centred on the table."""

    inner_size: tuple[Positive, Positive] = Field(
        (0.30, 0.30), description="inside size along x and y, m; also bounds the gripper's workspace")
    wall_height: NonNegative = Field(0.06, description="wall height above the bin floor, m; 0 gives a flat tray")
    wall_thickness: Positive = Field(0.01, description="wall thickness, m")


class MeshObjectSpec(Strict):
    """A custom object from a mesh file: rendered as its triangles, colliding as their convex hull."""

    file: str = Field(description="`.stl` (binary or ASCII) or `.obj` file, relative to the scene TOML file "
                                  "(or absolute); stored as an absolute path once loaded")
    scale: Positive = Field(1.0, description="file units to metres: 0.001 for a file in millimetres")
    mass: Positive | None = Field(
        None, description="kg; unset: the volume of the convex hull times `objects.density`")
    split: Literal["train", "test", "both"] = Field(
        "both", description="the object split it joins: `both` means it is not held out")
    rgba: tuple[Unit, Unit, Unit, Unit] = Field((0.85, 0.85, 0.8, 1.0), description="base colour")

    @field_validator("file")
    @classmethod
    def _readable_mesh(cls, value: str, info: ValidationInfo) -> str:
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = Path((info.context or {}).get("base_dir", ".")) / path
        path = path.resolve()
        read_mesh(path)  # MeshError (a ValueError): unsupported suffix, missing file, unreadable
        return str(path)



def _scale_hint(longest: float) -> str:
    """Which scale makes a mesh whose longest side is ``longest`` file units fit."""
    if MIN_OBJECT_SIZE <= longest * 0.001 <= MAX_OBJECT_SIZE:
        return f"a file in millimetres needs scale = 0.001, making it {longest * 0.001:.3g} m"
    fit = 0.1 / longest
    return f"scale = {fit:.3g} makes its longest side 0.1 m"


class ObjectsSpec(Strict):
    """Which objects are dropped into the bin at each reset, and their physics."""

    count: Annotated[int, Field(ge=1, le=20)] = Field(6, description="objects per episode")
    split: Literal["train", "test"] = Field(
        "train", description="object split drawn from, unless the environment is given one "
                             "(library ids ending in 9 are the held-out `test` split)")
    ids: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        (), description="fixed object ids (library 0..1099, custom meshes 10000 + their index, household "
                        "objects 20000 + 1000 * family + variant); empty: `count` ids are drawn from the split")
    kinds: Literal["all", "primitive", "mesh", "custom"] = Field(
        "all", description="what is drawn: `primitive` (library ids 0..99), `mesh` (random convex hulls, "
                           "100..1099), `custom` (only `objects.meshes`), `all` (the library and the meshes)")
    household: Unit = Field(
        0.0, description="share of household objects (bottles, cans, boxes, fruit, mugs, flat and irregular "
                         "objects at real scale, ids 20000..) in each draw: each object is one with this "
                         "probability, the rest come from `kinds`; 1 draws household objects only")
    density: Positive = Field(1000.0, description="kg/m^3 (a 4 cm cube weighs 64 g)")
    friction: Positive = Field(1.0, description="sliding friction coefficient")
    drop_height: Positive = Field(
        0.06, description="height of the lowest layer of falling objects above the bin floor, m")
    settle_time: Annotated[float, Field(ge=0, le=MAX_SETTLE_TIME)] = Field(
        1.0, description="seconds of physics after the drop, before the first step")
    meshes: tuple[MeshObjectSpec, ...] = Field(
        (), description="custom objects from mesh files (`[[objects.meshes]]`); the i-th has id 10000 + i")


class GripperSpec(Strict):
    """The gripper: the built-in parallel jaw or the Kinova Jaco three-finger hand.

    `parallel_jaw`: a palm and two box fingers on slide joints, position-controlled,
    shaped by the fields below. `jaco`: the Jaco hand from dm_control's assets; its
    geometry and actuators come from that model, and of these fields it takes only
    `finger_friction`, `start_height` and `rgba`. Either way the hand's origin is the
    tool point between the fingertips, and the fingers close along the hand's y axis.
    """

    kind: Literal["parallel_jaw", "jaco"] = Field(
        "parallel_jaw", description="gripper model: `parallel_jaw` (built from the fields below) or "
                                    "`jaco` (the Kinova Jaco hand from dm_control)")
    max_opening: Annotated[float, Field(gt=0.02, le=0.2)] = Field(
        0.085, description="distance between the open fingers' inner faces, m")
    finger_force: Positive = Field(20.0, description="finger actuator force limit, N")
    finger_gain: Positive = Field(1000.0, description="finger position actuator stiffness kp, N/m")
    finger_length: Positive = Field(0.05, description="finger length from the palm to the fingertip, m")
    finger_width: Annotated[float, Field(gt=0, le=0.2)] = Field(
        0.04, description="finger extent across the closing direction (hand x), m")
    finger_thickness: Annotated[float, Field(gt=0, le=0.05)] = Field(
        0.012, description="finger extent along the closing direction (hand y), m")
    finger_friction: Positive = Field(2.0, description="sliding friction of the finger pads")
    palm_depth: Positive = Field(0.028, description="palm extent along hand x, m (its y extent spans the fingers)")
    palm_height: Positive = Field(0.016, description="palm thickness along hand z, m")
    start_height: Positive = Field(0.22, description="the tool point (between the fingertips) above the bin floor at reset, m")
    rgba: tuple[Unit, Unit, Unit, Unit] = Field((0.25, 0.25, 0.28, 1.0), description="gripper colour")

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> "GripperSpec":
        if self.kind == "parallel_jaw":
            return self
        # Defaults pass, so a spec dumped and validated again (run configs, manifests) stays valid.
        foreign = [name for name in PARALLEL_JAW_FIELDS
                   if getattr(self, name) != GripperSpec.model_fields[name].default]
        if foreign:
            raise ValueError(f"kind = {self.kind!r} takes its geometry and actuators from its own model; "
                             f"{', '.join(foreign)} only shape kind = 'parallel_jaw'")
        return self


PARALLEL_JAW_FIELDS = ("max_opening", "finger_force", "finger_gain", "finger_length", "finger_width",
                       "finger_thickness", "palm_depth", "palm_height")


class CameraSpec(Strict):
    """The camera the policy sees through (pinhole, no distortion).

    `mount = "world"` fixes it over the shoulder; `mount = "hand"` rides on the
    gripper (a wrist camera), with `pos` and `lookat` in the hand frame: origin
    at the fingertip centre, x forward, y the closing direction, z up.
    """

    mount: Literal["world", "hand"] = Field("world", description="what it is fixed to: the world or the gripper hand")
    pos: Vec3 = Field((0.0, -0.42, 0.46), description="position in the mount's frame, m")
    lookat: Vec3 = Field((0.0, 0.0, 0.07), description="point it looks at, in the mount's frame (image up is towards +z), m")
    fovy: Annotated[float, Field(gt=5, lt=170)] = Field(55.0, description="vertical field of view, degrees")
    width: Annotated[int, Field(ge=16, le=1024)] = Field(64, description="image width, pixels")
    height: Annotated[int, Field(ge=16, le=1024)] = Field(64, description="image height, pixels")


class LightSpec(Strict):
    """One light (`[[lights]]`); the lighting randomizer addresses it by name."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$", description="unique name")
    pos: Vec3 = Field((0.0, 0.0, 1.0), description="position, m")
    dir: Vec3 = Field((0.0, 0.0, -1.0), description="direction it shines in (not all zero)")
    diffuse: Rgb = Field((0.7, 0.7, 0.7), description="diffuse colour")
    ambient: Rgb = Field((0.1, 0.1, 0.1), description="ambient colour")
    specular: Rgb = Field((0.2, 0.2, 0.2), description="specular colour")
    castshadow: bool = Field(True, description="casts shadows (costly in software rendering; see `render.shadow_size`)")
    active: bool = Field(True, description="switched on")

    @field_validator("dir")
    @classmethod
    def _has_direction(cls, value: Vec3) -> Vec3:
        if not any(value):
            raise ValueError("a light direction must not be [0, 0, 0]")
        return value


class RenderSpec(Strict):
    """Rendering quality and the texture pool."""

    shadow_size: Annotated[int, Field(ge=0, le=8192)] = Field(
        128, description="shadow map size, pixels; software rendering cost grows steeply with it (docs/benchmarks.md)")
    headlight: Unit = Field(0.3, description="diffuse intensity of MuJoCo's headlight")
    texture_size: Annotated[int, Field(ge=8, le=512)] = Field(64, description="side of every surface texture, pixels")
    texture_pool: Annotated[int, Field(ge=0, le=256)] = Field(
        32, description="spare textures the texture randomizer fills once per model and hands out to surfaces")


class PhysicsSpec(Strict):
    """Simulation settings."""

    timestep: Annotated[float, Field(ge=MIN_TIMESTEP, le=0.01)] = Field(0.002, description="physics timestep, s")
    control_dt: Annotated[float, Field(gt=0, le=1.0)] = Field(
        0.1, description="one control step (one action), s; at least `timestep`")
    impratio: Positive = Field(10.0, description="frictional-to-normal constraint impedance ratio (elliptic cones)")
    noslip_iterations: Annotated[int, Field(ge=0, le=50)] = Field(
        0, description="noslip solver iterations; > 0 removes contact creep, at ~60% more physics time")


class TaskSpec(Strict):
    """The grasping task: episode length, reward and action scale."""

    lift_height: Positive = Field(0.08, description="at the end the hand lifts to its start height; an object's "
                                                    "centre then this far above the bin floor, touching a finger, "
                                                    "is a success, m")
    max_steps: Annotated[int, Field(ge=1, le=200)] = Field(20, description="steps per episode at most")
    # The Bellman targets are clipped to [0, 1] (log loss): a penalty p zeroes every value
    # below p / gamma, which wipes out the early, grasp-choosing steps of a 10-step episode.
    step_penalty: NonNegative = Field(0.0, description="reward of a step that does not end in success is minus this")
    max_translation: Annotated[float, Field(gt=0, le=0.2)] = Field(
        0.05, description="largest gripper move per step and axis, m")
    max_rotation: Annotated[float, Field(gt=0, le=3.1416)] = Field(
        0.5, description="largest yaw change per step, rad")


class SceneSpec(Strict):
    """A grasping scene: the top level of a scene TOML file."""

    name: str = Field(min_length=1, description="scene name")
    description: str = Field("", description="one line for `workbench scene list`")
    table: TableSpec = TableSpec()
    bin: BinSpec = BinSpec()
    objects: ObjectsSpec = ObjectsSpec()
    gripper: GripperSpec = GripperSpec()
    camera: CameraSpec = CameraSpec()
    lights: tuple[LightSpec, ...] = Field(
        (
            LightSpec(name="key", pos=(0.3, -0.3, 1.0), dir=(-0.3, 0.3, -1.0)),
            LightSpec(name="fill", pos=(-0.4, 0.2, 0.9), dir=(0.4, -0.2, -1.0),
                      diffuse=(0.3, 0.3, 0.3), castshadow=False),
        ),
        description="the lights (`[[lights]]`); default: a shadow-casting key light and a fill light",
    )
    render: RenderSpec = RenderSpec()
    physics: PhysicsSpec = PhysicsSpec()
    task: TaskSpec = TaskSpec()

    @model_validator(mode="after")
    def _consistent(self) -> "SceneSpec":
        names = [light.name for light in self.lights]
        if len(set(names)) != len(names):
            raise ValueError(f"light names must be unique, got {names}")
        if self.physics.control_dt < self.physics.timestep:
            raise ValueError("physics.control_dt must be at least physics.timestep")
        if self.objects.ids and len(self.objects.ids) != self.objects.count:
            raise ValueError(
                f"objects.ids lists {len(self.objects.ids)} ids but objects.count is {self.objects.count}"
            )
        if self.objects.kinds == "custom" and not self.objects.meshes:
            raise ValueError("objects.kinds = 'custom' needs at least one [[objects.meshes]]")
        return self


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: `file: dotted.path = value: reason`."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(top level)"
        reason = item["msg"]
        if item["type"] == "extra_forbidden":
            reason = "unknown key"
        elif item["type"] == "value_error":  # our own validators' messages, without pydantic's prefix
            reason = str(item["ctx"]["error"])
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        lines.append(f"{source}: {path}{shown}: {reason}")
    return "\n".join(lines)


def read_toml(path: Path) -> dict:
    """Parse a TOML file through the front door (policies.runtime.input_files): a missing file, a
    directory, a FIFO, non-UTF-8 text, a syntax error, NaN or a huge integer is a SpecError."""
    try:
        return load_toml(path)
    except InputFileError as exc:
        raise SpecError(str(exc)) from None


def parse_scene(data: dict, source: str = "<scene>", base_dir: str | Path | None = None) -> SceneSpec:
    """Validate a scene's data; relative mesh files are looked up in `base_dir` (default: here)."""
    try:
        spec = strict_validate(SceneSpec, data, source, context={"base_dir": str(base_dir or ".")})
    except ValidationError as exc:
        raise SpecError(format_validation_error(source, exc)) from None
    objects = spec.objects
    custom = f"; custom meshes have ids {CUSTOM_ID_BASE}..{CUSTOM_ID_BASE + len(objects.meshes) - 1}" \
        if objects.meshes else ""
    for index, object_id in enumerate(objects.ids):
        if object_id >= HOUSEHOLD_ID_BASE:
            try:
                family_of(object_id)
            except KeyError as exc:
                raise SpecError(f"{source}: objects.ids.{index} = {object_id}: {exc.args[0]}") from None
        elif LIBRARY_SIZE <= object_id and not 0 <= object_id - CUSTOM_ID_BASE < len(objects.meshes):
            raise SpecError(
                f"{source}: objects.ids.{index} = {object_id}: unknown object id "
                f"(the library has ids 0..{LIBRARY_SIZE - 1}{custom})"
            )
    for index, mesh in enumerate(objects.meshes):
        problem = mesh_fit_problem(mesh, spec.gripper)
        if problem:
            raise SpecError(f"{source}: objects.meshes.{index}: {problem}")
    available = drawable_count(objects.split, objects.kinds, objects.meshes, objects.household)
    if not objects.ids and objects.kinds == "custom" and objects.count > available > 0:
        # As the docs say: with only custom meshes, the count is capped at the meshes in the split.
        spec = spec.model_copy(update={"objects": objects.model_copy(update={"count": available})})
        objects = spec.objects
    if not objects.ids and objects.count > available:
        what = f"of kinds {objects.kinds!r}" + (f" and household share {objects.household}" if objects.household else "")
        raise SpecError(f"{source}: objects.count = {objects.count}: only {available} objects {what} "
                        f"are in the {objects.split!r} split")
    return spec


def mesh_fit_problem(mesh: MeshObjectSpec, gripper: GripperSpec) -> str | None:
    """Why a custom mesh, at its scale, cannot be grasped by `gripper`, with a scale that fits; None if it fits.

    It fits when its largest extent lies within [MIN_OBJECT_SIZE, MAX_OBJECT_SIZE] (the bin)
    and its narrowest extent within the gripper's opening (the fingers close across it).
    """
    raw = read_mesh(mesh.file).extents  # in the file's units
    opening = gripper_opening(gripper)
    extents = raw * mesh.scale
    size = " x ".join(f"{v:.3g}" for v in extents)
    if extents.max() > MAX_OBJECT_SIZE:
        reason = f"larger than {MAX_OBJECT_SIZE} m"
    elif extents.min() > opening:
        reason = (f"its narrowest extent {extents.min():.3g} m is wider than the {gripper.kind} "
                  f"gripper's opening, {opening:.3g} m")
    elif extents.max() < MIN_OBJECT_SIZE:
        return f"scale = {mesh.scale}: the mesh is {size} m, smaller than {MIN_OBJECT_SIZE} m"
    else:
        return None
    return f"scale = {mesh.scale}: the mesh is {size} m, {reason} ({_scale_hint(raw, opening)})"


def _scale_hint(raw_extents, opening: float) -> str:
    """A scale that makes a mesh fit: millimetres' 0.001 if that fits, else the largest that does."""
    millimetres = raw_extents * 0.001
    if MIN_OBJECT_SIZE <= millimetres.max() <= MAX_OBJECT_SIZE and millimetres.min() <= opening:
        return "a file in millimetres needs scale = 0.001"
    largest = min(MAX_OBJECT_SIZE / raw_extents.max(), opening / raw_extents.min())
    # Two significant digits, rounded down so that it still fits (the opening is over 2 cm,
    # so this scale leaves the largest extent well above MIN_OBJECT_SIZE).
    digits = 1 - math.floor(math.log10(largest))
    rounded = math.floor(largest * 10 ** digits * (1 + 1e-9)) / 10 ** digits
    return f"scale = {rounded:g} fits it"


def builtin_scenes() -> list[str]:
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.toml"))


def load_scene(name_or_path: str | Path) -> SceneSpec:
    """Load a built-in scene by name (`bin_grasp`) or any scene TOML by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        candidate = BUILTIN_DIR / f"{name_or_path}.toml"
        if not candidate.exists():
            raise SpecError(
                f"unknown scene {str(name_or_path)!r}: not a .toml path and not a built-in "
                f"scene (built-in: {', '.join(builtin_scenes())})"
            )
        path = candidate
    return parse_scene(read_toml(path), str(path), path.parent)
