"""An ADR study file (``[study] kind = "adr"``), validated: every problem names the file, the field and why.

    [study]   name, kind = "adr", description, directory (default: runs/<name>)
    [adr]     episodes, boundary_fraction, buffer_size, t_low, t_high, save_every
    [[adr.params]] path (a {low, high} range of the base profile), delta, limits = [low, high],
              nominal (a number, or {low, high}; default: the base profile's range)
    [base]    seed, scene, profile, run (a trained run directory) or checkpoint (a checkpoint file),
              [base.cem] (the acting CEM: unset fields are the run's act_cem)

Nothing here loads the policy or opens a simulator: ``parse_adr_study`` only reads and checks.
The run (``studies.adr_run``) checks the checkpoint before its first episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from randomizers import Profile, ProfileError, get_path, load_profile
from randomizers.episode import POOL_PARAMS
from scenes.spec import SpecError, strict_validate
from studies.adr import AdrConfig, AdrParam, apply_ranges
from studies.trial_config import CEMOverrides, validation_lines
from workbench.errors import UserError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AdrStudySection(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["adr"]
    description: str = ""
    directory: str | None = None  # default: runs/<name>


class NominalRange(Strict):
    low: float
    high: float


class AdrParamSection(Strict):
    path: str = Field(description="a {low, high} range of the base profile, e.g. randomizers.lighting.intensity")
    delta: float = Field(gt=0, description="how far one update moves a boundary")
    limits: tuple[float, float] = Field(description="hard limits [low, high] widening never passes")
    nominal: float | NominalRange | None = Field(None, description="where the range starts and narrowing stops "
                                                 "(default: the base profile's range)")


class AdrSection(Strict):
    episodes: int = Field(ge=1, description="episodes in all (a resumed run continues to this many)")
    boundary_fraction: float = Field(0.5, gt=0, le=1, description="share of episodes pinning one boundary")
    buffer_size: int = Field(10, ge=1, description="boundary results judged together")
    t_low: float = Field(0.2, ge=0, le=1, description="mean success at or below this narrows the boundary")
    t_high: float = Field(0.5, ge=0, le=1, description="mean success at or above this widens the boundary")
    save_every: int = Field(10, ge=1, description="episodes between saves of adr.json and profile.toml")
    params: list[AdrParamSection] = Field(min_length=1)

    @model_validator(mode="after")
    def _thresholds(self):
        if not self.t_low < self.t_high:
            raise ValueError(f"t_low ({self.t_low}) must be below t_high ({self.t_high})")
        return self


class AdrBase(Strict):
    seed: int = 0
    scene: str = "bin_grasp"
    profile: str = "default"
    run: str | None = Field(None, description="a trained run directory (its checkpoint.safetensors)")
    checkpoint: str | None = Field(None, description="a checkpoint file instead of a run")
    cem: CEMOverrides = CEMOverrides()

    @model_validator(mode="after")
    def _one_policy(self):
        if (self.run is None) == (self.checkpoint is None):
            raise ValueError("give exactly one of run and checkpoint: the policy whose success moves the ranges")
        return self


class AdrFile(Strict):
    study: AdrStudySection
    adr: AdrSection
    base: AdrBase


@dataclass(frozen=True)
class AdrStudy:
    """A checked ADR study file, with its base profile and parameters."""

    source: str
    text: str
    file: AdrFile
    profile: Profile
    params: tuple[AdrParam, ...]

    kind = "adr"

    @property
    def name(self) -> str:
        return self.file.study.name

    @property
    def directory(self) -> Path:
        return Path(self.file.study.directory or Path("runs") / self.name)

    @property
    def config(self) -> AdrConfig:
        adr = self.file.adr
        return AdrConfig(adr.boundary_fraction, adr.buffer_size, adr.t_low, adr.t_high, adr.episodes)

    def identity(self) -> dict:
        """What a resumed run must agree on (the episode count may grow)."""
        data = self.file.model_dump(mode="json")
        adr = {key: value for key, value in data["adr"].items() if key not in ("episodes", "save_every")}
        return {"adr": adr, "base": data["base"], "name": self.name}


def parse_adr_study(data: dict, text: str, source: str) -> AdrStudy:
    try:
        file = strict_validate(AdrFile, data, source)
    except SpecError as error:
        raise UserError(str(error)) from None
    except ValidationError as error:
        raise UserError(f"{source}: {validation_lines(error, '')}") from None
    base = file.base
    try:
        profile = load_profile(base.profile)
    except ProfileError as error:
        raise UserError(f"{source}: base.profile = {base.profile!r}: {error}") from None
    from scenes.spec import load_scene

    try:
        load_scene(base.scene)
    except SpecError as error:
        raise UserError(f"{source}: base.scene = {base.scene!r}: {error}") from None
    params = tuple(_param(section, index, profile, source) for index, section in enumerate(file.adr.params))
    seen: set[str] = set()
    for index, param in enumerate(params):
        if param.path in seen:
            raise UserError(f"{source}: adr.params[{index}].path = {param.path!r}: appears twice")
        seen.add(param.path)
    return AdrStudy(source, text, file, profile, params)


def _param(section: AdrParamSection, index: int, profile: Profile, source: str) -> AdrParam:
    where = f"{source}: adr.params[{index}]"
    path = section.path
    if not path.startswith("randomizers."):
        raise UserError(f"{where}.path = {path!r}: ADR grows profile ranges; name one as randomizers.<path> "
                        "(e.g. randomizers.lighting.intensity)")
    rest = path.removeprefix("randomizers.")
    try:
        value = get_path(profile, rest, source="randomizers")
    except ProfileError as error:
        raise UserError(f"{where}.path = {path!r}: {str(error).removeprefix(f'randomizers: {rest}: ')} "
                        f"(profile {profile.name!r})") from None
    if not (isinstance(value, dict) and set(value) == {"low", "high"}):
        raise UserError(f"{where}.path = {path!r}: not a {{low, high}} range of the profile (it is {value!r})")
    if not all(isinstance(v, float) for v in value.values()):
        raise UserError(f"{where}.path = {path!r}: an integer range; ADR moves boundaries by real steps (delta), "
                        "so it grows real-valued ranges only")
    randomizer, _, field = rest.partition(".")
    if randomizer == "texture" and field in POOL_PARAMS:
        raise UserError(f"{where}.path = {path!r}: cannot change per episode: it fills the texture pool, drawn "
                        "once per model (ADR can grow the texture tint, specular, shininess and reflectance)")
    if not getattr(profile, randomizer).enabled:
        raise UserError(f"{where}.path = {path!r}: {randomizer} is not enabled in profile {profile.name!r}, "
                        "so its ranges change nothing")
    nominal = section.nominal
    if nominal is None:
        low, high = value["low"], value["high"]
    elif isinstance(nominal, NominalRange):
        low, high = nominal.low, nominal.high
    else:
        low = high = float(nominal)
    limit_low, limit_high = section.limits
    if not limit_low <= low <= high <= limit_high:
        what = "nominal" if nominal is not None else f"nominal (the profile's range [{low}, {high}])"
        raise UserError(f"{where}.limits = {list(section.limits)}: must hold the {what} "
                        f"(limits[0] <= nominal low <= nominal high <= limits[1])")
    param = AdrParam(path, section.delta, low, high, limit_low, limit_high)
    for ends in ((low, high), (limit_low, limit_high)):  # the profile takes every range ADR can reach
        try:
            apply_ranges(profile, (param,), [ends])
        except ProfileError as error:
            shown = str(error).removeprefix("randomizers: ")
            field = "limits" if ends == (limit_low, limit_high) else "nominal"
            raise UserError(f"{where}.{field} = {list(ends)}: the profile refuses it: {shown}") from None
    return param
