"""Scene specs: the typed, validated form of a scene TOML file.

A spec says what the scene holds (table, bin, objects, gripper, camera,
lights), how it renders and how its physics and task are set. Loading a bad
file raises `SpecError`, whose message names the file, the dotted field, the
offending value and the reason, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BUILTIN_DIR = Path(__file__).parent / "builtin"

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Unit = Annotated[float, Field(ge=0, le=1)]
Vec3 = tuple[float, float, float]
Rgb = tuple[Unit, Unit, Unit]


class SpecError(ValueError):
    """A spec file that cannot be used; the message is ready to show a user."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableSpec(Strict):
    half_size: tuple[Positive, Positive] = (0.45, 0.45)
    thickness: Positive = 0.02
    height: NonNegative = 0.0  # top surface z in world frame


class BinSpec(Strict):
    inner_size: tuple[Positive, Positive] = (0.30, 0.30)
    wall_height: NonNegative = 0.06  # 0 gives a flat tray
    wall_thickness: Positive = 0.01


class ObjectsSpec(Strict):
    count: Annotated[int, Field(ge=1, le=20)] = 6
    split: Literal["train", "test"] = "train"
    # Explicit library ids; when empty, `count` ids are drawn from the split.
    ids: tuple[Annotated[int, Field(ge=0)], ...] = ()
    # Object kinds to draw from: primitives, random convex meshes, or both.
    kinds: Literal["all", "primitive", "mesh"] = "all"
    density: Positive = 1000.0  # kg/m^3: a 4 cm cube weighs 64 g
    friction: Positive = 1.0
    drop_height: Positive = 0.06  # above the bin floor, lowest layer of falling objects
    settle_time: NonNegative = 1.0  # seconds of physics after dropping


class GripperSpec(Strict):
    kind: Literal["parallel_jaw"] = "parallel_jaw"
    max_opening: Annotated[float, Field(gt=0.02, le=0.2)] = 0.085
    finger_force: Positive = 20.0  # N, position actuator force limit
    finger_gain: Positive = 1000.0  # N/m, position actuator kp
    finger_length: Positive = 0.05
    start_height: Positive = 0.22  # fingertips above the bin floor at reset
    rgba: tuple[Unit, Unit, Unit, Unit] = (0.25, 0.25, 0.28, 1.0)


class CameraSpec(Strict):
    pos: Vec3 = (0.0, -0.42, 0.46)
    lookat: Vec3 = (0.0, 0.0, 0.07)
    fovy: Annotated[float, Field(gt=5, lt=170)] = 55.0
    width: Annotated[int, Field(ge=16, le=1024)] = 64
    height: Annotated[int, Field(ge=16, le=1024)] = 64


class LightSpec(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$")
    pos: Vec3 = (0.0, 0.0, 1.0)
    dir: Vec3 = (0.0, 0.0, -1.0)
    diffuse: Rgb = (0.7, 0.7, 0.7)
    ambient: Rgb = (0.1, 0.1, 0.1)
    specular: Rgb = (0.2, 0.2, 0.2)
    castshadow: bool = True
    active: bool = True


class RenderSpec(Strict):
    # Software rendering cost grows ~50x from no shadows to a 4096 map.
    shadow_size: Annotated[int, Field(ge=0, le=8192)] = 128
    headlight: Unit = 0.3
    texture_size: Annotated[int, Field(ge=8, le=512)] = 64
    # Spare textures the texture randomizer fills once per model and hands out to surfaces.
    texture_pool: Annotated[int, Field(ge=0, le=256)] = 32


class PhysicsSpec(Strict):
    timestep: Annotated[float, Field(gt=0, le=0.01)] = 0.002
    control_dt: Annotated[float, Field(gt=0, le=1.0)] = 0.1
    impratio: Positive = 10.0
    noslip_iterations: Annotated[int, Field(ge=0, le=50)] = 0  # >0 removes contact creep, at ~60% more physics time


class TaskSpec(Strict):
    lift_height: Positive = 0.08  # object centre above the bin floor
    max_steps: Annotated[int, Field(ge=1, le=200)] = 20
    step_penalty: NonNegative = 0.05
    max_translation: Annotated[float, Field(gt=0, le=0.2)] = 0.05  # metres per step
    max_rotation: Annotated[float, Field(gt=0, le=3.1416)] = 0.5  # radians per step


class SceneSpec(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    table: TableSpec = TableSpec()
    bin: BinSpec = BinSpec()
    objects: ObjectsSpec = ObjectsSpec()
    gripper: GripperSpec = GripperSpec()
    camera: CameraSpec = CameraSpec()
    lights: tuple[LightSpec, ...] = (
        LightSpec(name="key", pos=(0.3, -0.3, 1.0), dir=(-0.3, 0.3, -1.0)),
        LightSpec(name="fill", pos=(-0.4, 0.2, 0.9), dir=(0.4, -0.2, -1.0),
                  diffuse=(0.3, 0.3, 0.3), castshadow=False),
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
        return self


def format_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: `file: dotted.path = value: reason`."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(top level)"
        reason = item["msg"]
        if item["type"] == "extra_forbidden":
            reason = "unknown key"
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        lines.append(f"{source}: {path}{shown}: {reason}")
    return "\n".join(lines)


def read_toml(path: Path) -> dict:
    """Parse a TOML file, turning missing files and syntax errors into SpecError."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None


def parse_scene(data: dict, source: str = "<scene>") -> SceneSpec:
    from scenes.objects import LIBRARY_SIZE  # late import: objects imports nothing from here

    try:
        spec = SceneSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(source, exc)) from None
    for index, object_id in enumerate(spec.objects.ids):
        if object_id >= LIBRARY_SIZE:
            raise SpecError(
                f"{source}: objects.ids.{index} = {object_id}: unknown object id "
                f"(the library has ids 0..{LIBRARY_SIZE - 1})"
            )
    return spec


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
    return parse_scene(read_toml(path), str(path))
