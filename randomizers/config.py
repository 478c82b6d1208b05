"""Randomization profiles: the typed, validated parameter sets of every randomizer.

A profile is a TOML file (`randomizers/profiles/<name>.toml` or any path) with
one table per randomizer. Each table says whether the randomizer is on, how
often it fires (`episode`, or `step` for those where that makes sense) and
its ranges (`{low, high}`), choices and probabilities. Everything left out
takes the defaults below; every randomizer is off unless a profile turns it on.

Loading a bad file raises `ProfileError` (a `scenes.spec.SpecError`), whose
message names the file, the dotted field and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from randomizers.photos import first_readable_image
from scenes.spec import SpecError, format_validation_error, read_toml, strict_validate

PROFILES_DIR = Path(__file__).parent / "profiles"

Probability = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
SURFACE_GROUPS = ("floor", "table", "bin", "objects", "gripper")
TEXTURE_KINDS = ("checker", "gradient", "noise", "stripes", "image")


class ProfileError(SpecError):
    """A profile that cannot be used; the message is ready to show a user."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# -- ranges ----------------------------------------------------------------------
class _Interval(Strict):
    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is greater than high ({self.high})")
        return self


class Range(_Interval):
    """A closed interval sampled uniformly; low == high fixes the value."""

    low: float
    high: float


class IntRange(_Interval):
    """Integers from low to high, both included."""

    low: int
    high: int


def within(low: float, high: float) -> AfterValidator:
    """A validator keeping both ends of a range inside [low, high]."""
    def check(value):
        if value.low < low or value.high > high:
            raise ValueError(f"must lie within [{low}, {high}], got [{value.low}, {value.high}]")
        return value
    return AfterValidator(check)


UnitRange = Annotated[Range, within(0.0, 1.0)]


# -- one parameter set per randomizer ------------------------------------------------
class RandomizerParams(Strict):
    enabled: bool = False
    frequency: Literal["episode"] = "episode"


class LightingParams(RandomizerParams):
    frequency: Literal["episode", "step"] = "episode"
    active_count: Annotated[IntRange, within(0, 8)] = IntRange(low=1, high=8)  # capped by the scene's lights
    position_offset: Annotated[Range, within(-1.0, 1.0)] = Range(low=-0.1, high=0.1)  # metres, each axis
    direction_angle_deg: Annotated[Range, within(0.0, 90.0)] = Range(low=0.0, high=20.0)  # tilt of the beam
    intensity: Annotated[Range, within(0.0, 5.0)] = Range(low=0.8, high=1.2)  # times the nominal diffuse
    # A colour cast per channel: added to the diffuse colour, tinting ambient and specular by (1 + offset).
    color_offset: Annotated[Range, within(-1.0, 1.0)] = Range(low=-0.1, high=0.1)
    ambient: UnitRange = Range(low=0.0, high=0.15)  # grey level before the tint
    specular: UnitRange = Range(low=0.0, high=0.3)
    headlight: UnitRange = Range(low=0.2, high=0.4)
    shadow_prob: Probability = 0.5  # each light casts shadows with this probability


class TextureParams(RandomizerParams):
    groups: tuple[Literal[SURFACE_GROUPS], ...] = SURFACE_GROUPS
    # Relative weights of the texture kinds; a weight of 0 turns a kind off.
    kinds: dict[Literal[TEXTURE_KINDS], NonNegative] = Field(default_factory=lambda: dict.fromkeys(TEXTURE_KINDS, 1.0))
    color: UnitRange = Range(low=0.0, high=1.0)  # each channel of a procedural texture's two colours
    cells: Annotated[IntRange, within(1, 64)] = IntRange(low=2, high=12)  # checker squares or noise cells per side
    stripes: Annotated[IntRange, within(1, 64)] = IntRange(low=2, high=10)
    # A folder of photographs; "" is the built-in set from scikit-image.
    image_folder: str = ""
    specular: UnitRange = Range(low=0.0, high=0.5)
    shininess: UnitRange = Range(low=0.0, high=0.5)
    reflectance: UnitRange = Range(low=0.0, high=0.0)
    # Per episode, a procedural texture's material colour: each channel multiplies its pool colours.
    tint: UnitRange = Range(low=0.7, high=1.0)
    # The textures are drawn once per model into the scene's texture pool, from this seed.
    pool_seed: Annotated[int, Field(ge=0)] = 0

    @field_validator("kinds")
    @classmethod
    def _some_kind(cls, kinds):
        if not any(weight > 0 for weight in kinds.values()):
            raise ValueError("at least one texture kind needs a positive weight")
        return kinds

    @field_validator("image_folder")
    @classmethod
    def _readable_folder(cls, folder: str, info: ValidationInfo) -> str:
        if not folder:
            return folder
        path = Path(folder).expanduser()
        if not path.is_absolute():  # relative to the profile file that names it
            path = Path((info.context or {}).get("base_dir", ".")) / path
        if not path.is_dir():
            raise ValueError(f"no such folder: {path}")
        if first_readable_image(path) is None:
            raise ValueError(f"no readable image in folder {path}")
        return str(path.resolve())


class ObjectParams(RandomizerParams):
    # Count, ids and scale apply on the train split only: test episodes keep held-out objects.
    count: Annotated[IntRange, within(1, 20)] = IntRange(low=6, high=10)
    scale: Annotated[Range, within(0.5, 1.5)] = Range(low=1.0, high=1.0)  # needs a recompile unless 1
    mass_scale: Annotated[Range, within(0.1, 10.0)] = Range(low=0.8, high=1.25)
    friction_scale: Annotated[Range, within(0.1, 3.0)] = Range(low=0.9, high=1.1)
    # Re-drop the objects at drawn poses (costs one more settle per episode).
    poses: bool = False
    spread: Annotated[Range, within(0.05, 1.0)] = Range(low=0.6, high=1.0)  # share of the bin the drops may use
    drop_height: Annotated[Range, within(0.0, 0.3)] = Range(low=0.04, high=0.08)  # metres above the bin floor


class CameraParams(RandomizerParams):
    frequency: Literal["episode", "step"] = "episode"
    position_offset: Annotated[Range, within(-0.2, 0.2)] = Range(low=-0.01, high=0.01)  # metres, each axis
    rotation_deg: Annotated[Range, within(-30.0, 30.0)] = Range(low=-3.0, high=3.0)  # about each camera axis
    fovy_offset_deg: Annotated[Range, within(-30.0, 30.0)] = Range(low=-3.0, high=3.0)


class DynamicsParams(RandomizerParams):
    finger_force_scale: Annotated[Range, within(0.25, 4.0)] = Range(low=0.9, high=1.1)
    finger_gain_scale: Annotated[Range, within(0.25, 4.0)] = Range(low=0.9, high=1.1)
    damping_scale: Annotated[Range, within(0.1, 10.0)] = Range(low=0.9, high=1.1)
    # Beyond +-20% the soft contacts tuned for 2 ms steps stop being safe.
    timestep_scale: Annotated[Range, within(0.8, 1.2)] = Range(low=1.0, high=1.0)


class ColorJitterParams(Strict):
    p: Probability = 0.8
    brightness: Annotated[Range, within(0.01, 5.0)] = Range(low=0.8, high=1.2)
    contrast: Annotated[Range, within(0.01, 5.0)] = Range(low=0.8, high=1.2)
    saturation: Annotated[Range, within(0.01, 5.0)] = Range(low=0.8, high=1.2)
    hue: Annotated[Range, within(-0.5, 0.5)] = Range(low=-0.03, high=0.03)


class NoiseParams(Strict):
    p: Probability = 0.5
    std: UnitRange = Range(low=0.01, high=0.04)  # of the full intensity scale


class BlurParams(Strict):
    p: Probability = 0.2
    kernel: Annotated[IntRange, within(3, 31)] = IntRange(low=3, high=5)
    sigma: Annotated[Range, within(0.01, 10.0)] = Range(low=0.1, high=1.0)

    @field_validator("kernel")
    @classmethod
    def _odd(cls, kernel):
        if kernel.low % 2 == 0 or kernel.high % 2 == 0:
            raise ValueError(f"kernel sizes must be odd, got {kernel.low}..{kernel.high}")
        return kernel


class JpegParams(Strict):
    p: Probability = 0.2
    quality: Annotated[IntRange, within(1, 100)] = IntRange(low=50, high=95)


class ShadowParams(Strict):
    p: Probability = 0.1
    count: Annotated[IntRange, within(1, 5)] = IntRange(low=1, high=2)
    intensity: UnitRange = Range(low=0.3, high=0.6)  # how dark a shadow is


class ImageParams(RandomizerParams):
    frequency: Literal["episode", "step"] = "episode"
    color_jitter: ColorJitterParams = ColorJitterParams()
    noise: NoiseParams = NoiseParams()
    blur: BlurParams = BlurParams()
    jpeg: JpegParams = JpegParams()
    shadow: ShadowParams = ShadowParams()


class Profile(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    lighting: LightingParams = LightingParams()
    texture: TextureParams = TextureParams()
    object: ObjectParams = ObjectParams()
    camera: CameraParams = CameraParams()
    dynamics: DynamicsParams = DynamicsParams()
    image: ImageParams = ImageParams()


# -- loading -------------------------------------------------------------------------
def parse_profile(data: dict, source: str = "<profile>", base_dir: Path | None = None) -> Profile:
    """Validate a profile's data; `base_dir` resolves a relative `texture.image_folder`."""
    try:
        return strict_validate(Profile, data, source, context={"base_dir": str(base_dir or Path.cwd())})
    except ValidationError as exc:
        raise ProfileError(format_validation_error(source, exc)) from None
    except SpecError as exc:  # NaN, infinity, a huge integer, a value JSON cannot hold
        raise ProfileError(str(exc)) from None


def builtin_profiles() -> list[str]:
    return sorted(path.stem for path in PROFILES_DIR.glob("*.toml"))


def profile_path(name_or_path: str | Path) -> Path:
    """The file of a built-in profile name (`wide`) or a TOML path."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        return path
    candidate = PROFILES_DIR / f"{name_or_path}.toml"
    if not candidate.exists():
        raise ProfileError(
            f"unknown profile {str(name_or_path)!r}: not a .toml path and not a built-in "
            f"profile (built-in: {', '.join(builtin_profiles())})"
        )
    return candidate


def load_profile(name_or_path: str | Path | Profile | None = None) -> Profile:
    """A built-in profile by name, any profile TOML by path, or a Profile as is; None is `none`."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    path = profile_path("none" if name_or_path is None else name_or_path)
    try:
        data = read_toml(path)
    except SpecError as exc:
        raise ProfileError(str(exc)) from None
    return parse_profile(data, str(path), base_dir=path.parent)
