"""The base config of a study's trials, and one trial's config with its parameters applied.

``[base]`` in a study file::

    seed = 0
    scene = "bin_grasp"
    profile = "default"        # the randomization profile that `randomizers.*` parameters edit
    run = "runs/main"          # kind "cem": the trained run whose Q-network is evaluated
    [base.train]               # kind "pipeline": PipelineConfig values (workbench.training.train), not seed/scene/profile
    [base.cem]                 # CEM of the evaluated policy; unset fields: the run's (or the training) act_cem
    [base.collect]             # kind "pipeline": offline episodes per trial
    [base.eval]                # the evaluation: suite, split (always "tune"), episodes, target data

A dotted path names one value: ``randomizers.<profile path>`` (see ``workbench randomize
show``), ``train.<PipelineConfig path>``, ``cem.<field>``, ``collect.<field>``,
``eval.<field>``, or ``seed``/``scene``/``profile`` (the base profile, among built-in names or files).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from policies.runtime.cem import CEMConfig
from randomizers import Profile, ProfileError, get_path, load_profile
from randomizers.paths import flatten
from workbench.errors import UserError
from workbench.evaluation.target_splits import (
    MIN_LABELLED,
    TEST,
    TRIAL_EPISODES,
    TUNE,
    TUNE_FIRST_SEED,
    TUNE_FRAMES,
    TUNE_LABELLED,
    SeedSplit,
    suite_split,
)
from workbench.training.config import PipelineConfig, check_init_checkpoint

ROOTS = ("randomizers", "train", "cem", "collect", "eval", "seed", "scene", "profile")
PIPELINE_OWN = ("seed", "scene", "profile")  # set at the top of [base], not inside [base.train]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CollectConfig(Strict):
    episodes: int = Field(40, ge=1, description="offline explorer episodes per trial")
    policy: Literal["explorer", "oracle"] = "explorer"
    # rerender: record the trajectories once per study and re-render them under each trial's
    # profile (visual-only search spaces); collect: simulate every trial; auto: rerender when possible.
    reuse: Literal["auto", "rerender", "collect"] = "auto"


class EvalConfig(Strict):
    """What a trial is measured on: always the ``tune`` split of the target (its reset seeds in the suite,
    or the tune files of ``target_data``); the ``test`` split is for reports, never for a study."""

    suite: str = "proxy-real"
    split: str = Field(TUNE, description="the target split a study sees: always \"tune\"")
    target_data: str | None = Field(None, description="a `workbench data` directory with a tune split as the "
                                    "transfer target (default: the suite's frames and explorer episodes)")
    episodes: int = Field(20, ge=1, description="episodes of the final success evaluation (tune seeds 0..49)")
    rung_episodes: int = Field(5, ge=1, description="episodes per intermediate success evaluation")
    labelled_episodes: int = Field(24, ge=MIN_LABELLED, description="labelled target episodes for opc_auc and "
                                   "soft_opc (suite: the tune split's first ones; target_data: all of its tune split)")
    transfer_images: int = Field(32, ge=10, description="images per domain for kid and domain_accuracy")
    bootstrap: int = Field(200, ge=10, description="KID bootstrap replicates")

    @model_validator(mode="before")
    @classmethod
    def _no_seed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "seed" in data:
            raise ValueError("seed: removed: the target split gives the seeds (split = \"tune\": success episodes "
                             f"from reset seed {TUNE_FIRST_SEED}); delete eval.seed")
        return data

    @field_validator("split")
    @classmethod
    def _tune_only(cls, value: str) -> str:
        if value != TUNE:
            raise ValueError(f"a study sees only the {TUNE!r} split; {value!r} is not one it may read (the "
                             f"{TEST!r} split is reported by `workbench eval`, never seen by a study)")
        return value

    @field_validator("episodes")
    @classmethod
    def _episodes_in_split(cls, value: int) -> int:
        if value > TRIAL_EPISODES:
            raise ValueError(f"the tune split holds {TRIAL_EPISODES} success episodes for trials (reset seeds "
                             f"{TUNE_FIRST_SEED} to {TUNE_FIRST_SEED + TRIAL_EPISODES - 1}); ask for at most that")
        return value

    @field_validator("labelled_episodes")
    @classmethod
    def _labelled_in_split(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("target_data") is None and value > TUNE_LABELLED:
            raise ValueError(f"the tune split holds {TUNE_LABELLED} labelled episodes; ask for at most that")
        return value

    @field_validator("transfer_images")
    @classmethod
    def _frames_in_split(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("target_data") is None and value > TUNE_FRAMES:
            raise ValueError(f"the tune split holds {TUNE_FRAMES} unlabelled frames; ask for at most that")
        return value

    def tune_split(self) -> SeedSplit:
        """The tune split's reset seeds in the eval suite."""
        return suite_split(self.suite, self.split)


class CEMOverrides(Strict):
    iterations: int | None = None
    samples: int | None = None
    elites: int | None = None
    initial_std: float | None = None

    def merged(self, base: CEMConfig) -> CEMConfig:
        values = dataclasses.asdict(base) | {k: v for k, v in self.model_dump().items() if v is not None}
        return CEMConfig(**values)


class BaseConfig(Strict):
    seed: int = 0
    scene: str = "bin_grasp"
    profile: str = "default"
    run: str | None = None
    train: dict[str, Any] = Field(default_factory=dict)
    cem: CEMOverrides = CEMOverrides()
    collect: CollectConfig = CollectConfig()
    eval: EvalConfig = EvalConfig()


class ConfigError(ValueError):
    """A trial config that cannot be used; the message names the dotted path and the reason."""


@dataclass(frozen=True)
class ResolvedTrial:
    params: dict[str, Any]
    config: BaseConfig
    profile: Profile
    pipeline: PipelineConfig | None  # kind "pipeline"; its profile is set to the trial's profile file later
    cem_overrides: CEMOverrides

    def cem(self, base: CEMConfig) -> CEMConfig:
        try:
            return self.cem_overrides.merged(base)
        except ValueError as error:
            raise ConfigError(f"cem: {error}") from None


# -- validation messages ------------------------------------------------------------------

def validation_lines(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join([prefix] + [str(part) for part in item["loc"]]).strip(".") or "(top level)"
        reason = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" = {value!r}"
        lines.append(f"{where}{shown}: {reason}")
    return "; ".join(lines)


def load_base(data: dict, kind: str, source: str) -> tuple[BaseConfig, Profile]:
    """The validated base config and its profile; UserError naming ``base.<field>`` otherwise."""
    try:
        base = BaseConfig.model_validate(data)
    except ValidationError as error:
        raise UserError(f"{source}: {validation_lines(error, 'base')}") from None
    try:
        profile = load_profile(base.profile)
    except ProfileError as error:
        raise UserError(f"{source}: base.profile = {base.profile!r}: {error}") from None
    from scenes.spec import SpecError, load_scene

    try:
        load_scene(base.scene)
    except SpecError as error:
        raise UserError(f"{source}: base.scene = {base.scene!r}: {error}") from None
    from workbench.evaluation.suites import get_suites

    try:
        get_suites(base.eval.suite)
    except UserError as error:
        raise UserError(f"{source}: base.eval.suite: {error}") from None
    if base.eval.suite == "all":
        raise UserError(f"{source}: base.eval.suite = 'all': a study evaluates on one suite")
    own = [key for key in PIPELINE_OWN if key in base.train]
    if own:
        raise UserError(f"{source}: base.train.{own[0]}: set {own[0]} at the top of [base], not in [base.train]")
    if kind == "pipeline":
        try:
            pipeline = pipeline_config(base, "default")
        except ConfigError as error:
            raise UserError(f"{source}: {error}") from None
        check_init_checkpoint(pipeline, f"{source}: base.train")  # a warm start's file, before any trial
    else:
        if base.run is None:
            raise UserError(f"{source}: base.run: kind 'cem' evaluates a trained run; name its directory "
                            "(e.g. run = \"runs/main\")")
        if base.train:
            raise UserError(f"{source}: base.train: kind 'cem' trains nothing; remove [base.train]")
    return base, profile


# What a warm-started study (kind "pipeline" with base.run) may set in [base.train]: the rest is the warm start's.
WARM_TRAIN = ("finetune_steps", "checkpoint_every", "log_every")


def pipeline_config(base: BaseConfig, profile: str) -> PipelineConfig:
    """The trial's PipelineConfig. With ``base.run`` (a warm start) it is that run's config continued:
    finetuning ``train.finetune_steps`` steps collecting under the trial's profile (``finetune_profile``)."""
    if base.run is not None:
        from workbench.training.warm_start import warm_start_of

        extra = sorted(set(base.train) - set(WARM_TRAIN))
        if extra:
            raise ConfigError(f"base.train.{extra[0]}: a warm-started study (base.run) continues that run's config; "
                              f"[base.train] may set only {', '.join(WARM_TRAIN)}")
        try:
            warm, _ = warm_start_of(base.run)
        except UserError:  # not trained yet: checks use the defaults; the objective names it before any trial
            warm = PipelineConfig(scene=base.scene)
        if warm.scene != base.scene:
            raise ConfigError(f"base.scene = {base.scene!r}: the warm start {base.run!r} trained on {warm.scene!r}")
        data = {**warm.model_dump(mode="json"), **base.train, "seed": base.seed, "finetune_profile": profile}
    else:
        data = {**base.train, "seed": base.seed, "scene": base.scene, "profile": profile}
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(validation_lines(error, "base.train")) from None


# -- dotted paths ----------------------------------------------------------------------------

def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is Literal:
        values = typing.get_args(annotation)
        return type(values[0]) if values else annotation
    return annotation


def _fields(cls: Any) -> dict[str, Any] | None:
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return {name: info.annotation for name, info in cls.model_fields.items()}
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}
    return None


def _walk_model(cls: Any, parts: list[str], root: str) -> Any:
    """The leaf type at ``parts`` below model ``cls``; ConfigError (the reason) for unknown parts."""
    for index, part in enumerate(parts):
        fields = _fields(cls)
        where = ".".join(([root] if root else []) + parts[:index]) or "the top level"
        if fields is None:
            raise ConfigError(f"unknown path: {where} is a value, not a table")
        if part not in fields:
            raise ConfigError(f"unknown path: no {part!r} in {where} (it has: {', '.join(sorted(fields))})")
        cls = _unwrap(fields[part])
    if _fields(cls) is not None:
        raise ConfigError(f"a table, not a value; search one of its fields: {', '.join(sorted(_fields(cls)))}")
    return cls if cls in (bool, int, float, str) else None


def value_type(path: str, kind: str, profile: Profile) -> type | None:
    """The type of the config value at ``path`` (None: unknown); ConfigError (the reason) when the
    path does not exist or cannot be searched."""
    root, _, rest = path.partition(".")
    if root == "run":
        raise ConfigError("the run is fixed for a study (one Q-network per study; make one study per run)")
    if root not in ROOTS:
        raise ConfigError(f"unknown path: no {root!r} at the top (searchable: {', '.join(ROOTS)})")
    if root == "randomizers":
        if not rest:
            raise ConfigError("name a profile value, e.g. randomizers.lighting.intensity.high")
        try:
            value = get_path(profile, rest, source="randomizers")
        except ProfileError as error:
            reason = str(error).removeprefix(f"randomizers: {rest}: ")
            raise ConfigError(f"{reason} (profile {profile.name!r})") from None
        if isinstance(value, dict):
            leaves = ", ".join(f"{path}.{leaf}" for leaf in flatten(value))
            raise ConfigError(f"a table, not a value; search its values ({leaves})")
        if isinstance(value, list):
            raise ConfigError("a list; lists cannot be searched (Optuna's choices are numbers, booleans, strings)")
        return type(value)
    if root == "train":
        if kind != "pipeline":
            raise ConfigError(f"kind {kind!r} trains nothing; train.* parameters need kind 'pipeline'")
        parts = rest.split(".") if rest else []
        if parts and parts[0] in PIPELINE_OWN:
            raise ConfigError(f"search {parts[0]} at the top level ({parts[0]}), not inside train")
        return _walk_model(PipelineConfig, parts, "train")
    if root == "collect" and kind != "pipeline":
        raise ConfigError(f"kind {kind!r} collects nothing; collect.* parameters need kind 'pipeline'")
    if root in ("scene", "profile") and kind != "pipeline":
        raise ConfigError(f"kind {kind!r} evaluates a trained run; its {root} cannot be searched")
    return _walk_model(BaseConfig, path.split("."), "")


# -- a trial's config ---------------------------------------------------------------------------

def _assign(data: dict, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{path}: {part} is not a table")
    node[leaf] = value


def resolve(base: BaseConfig, base_profile: Profile, params: dict[str, Any], kind: str,
            profile_name: str) -> ResolvedTrial:
    """The trial's config: base plus parameters; ConfigError naming the path and the reason."""
    data = base.model_dump(mode="python")
    profile_data = base_profile.model_dump(mode="json")
    profile_data["name"] = profile_name
    for path, value in params.items():
        root, _, rest = path.partition(".")
        if root == "randomizers":
            _assign(profile_data, rest, value)
        else:
            _assign(data, path, value)
    try:
        config = BaseConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(validation_lines(error, "")) from None
    if "profile" in params:  # a searched base profile: randomizers.* edit the chosen one
        try:
            chosen = load_profile(config.profile).model_dump(mode="json")
        except ProfileError as error:
            raise ConfigError(f"profile = {config.profile!r}: {error}") from None
        for path, value in params.items():
            if path.startswith("randomizers."):
                _assign(chosen, path.partition(".")[2], value)
        profile_data = {**chosen, "name": profile_name}
    from randomizers import parse_profile

    try:
        profile = parse_profile(profile_data, "randomizers")
    except ProfileError as error:
        raise ConfigError(str(error)) from None
    pipeline = pipeline_config(config, profile_name) if kind == "pipeline" else None
    return ResolvedTrial(params, config, profile, pipeline, config.cem)


def check_params(base: BaseConfig, base_profile: Profile, params, kind: str, source: str,
                 base_cem: CEMConfig | None) -> None:
    """Each parameter's extreme values (with the conditions that make it active) give a valid
    config; UserError naming the file, the path, the value and the reason otherwise. The CEM
    settings are checked when ``base_cem`` (the CEM they override) is known."""
    from studies.space import condition_values

    for param in params:
        for value in param.extremes():
            assignment = {**condition_values(param, params), param.path: value}
            try:
                trial = resolve(base, base_profile, assignment, kind, "check")
                cem = trial.pipeline.qtopt.act_cem if trial.pipeline is not None else base_cem
                if cem is not None:
                    trial.cem(cem)
            except ConfigError as error:
                raise UserError(f"{source}: search.{param.path} = {value!r} gives an invalid config: {error}") from None
