"""A study file (TOML), validated: every problem names the file, the dotted field, the value and why.

    [study]       name, kind ("pipeline", "cem" or "adr"), storage (URL), directory, description
    [sampler]     name, seed, options
    [pruner]      name, options (single-objective studies)
    [early_stop]  rule ("none", "median", "dominated"), startup_trials, warmup_steps (multi-objective)
    [[objectives]] metric, direction
    [[constraints]] metric, max or min
    [budget]      trials, minutes, trial_minutes, max_failed
    [base]        the trial config (studies.trial_config)
    [search]      the search space (studies.space)

Kind "adr" (automatic domain randomization, no Optuna) has its own sections: ``studies.adr_spec``.

Nothing here opens the storage or runs anything: ``load_study_file`` only reads and checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from policies.runtime.input_files import InputFileError, parse_toml_text, read_text
from randomizers import Profile
from scenes.spec import SpecError, strict_validate
from studies.adr_spec import AdrStudy, parse_adr_study
from studies.factories import make_pruner, make_sampler
from studies.metrics import METRICS
from studies.space import Param, flatten_search, order_params, parse_param
from studies.storage import default_url
from studies.trial_config import BaseConfig, ConfigError, check_params, load_base, validation_lines, value_type
from workbench.errors import UserError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StudySection(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["pipeline", "cem", "adr"]  # "adr": studies.adr_spec validates the file
    description: str = ""
    record: list[str] = Field(default_factory=list, description="more metrics to measure and keep per trial")
    storage: str | None = None  # default: sqlite:///<directory>/study.db
    directory: str | None = None  # default: runs/<name>
    heartbeat_seconds: float = Field(30.0, gt=0, description="how often a worker marks its running trial alive")
    stale_after_seconds: float = Field(300.0, gt=0, description="a running trial without a heartbeat for "
                                       "this long is marked failed")


class SamplerSection(Strict):
    name: str = "tpe"
    seed: int | None = 0
    options: dict[str, Any] = Field(default_factory=dict)


class PrunerSection(Strict):
    name: str = "none"
    options: dict[str, Any] = Field(default_factory=dict)


class EarlyStopSection(Strict):
    rule: Literal["none", "median", "dominated"] = "none"
    startup_trials: int = Field(2, ge=1, description="completed trials needed before any trial is stopped")
    warmup_steps: int = Field(0, ge=0, description="no stopping before this step")


class ObjectiveSection(Strict):
    metric: str
    direction: Literal["maximize", "minimize"] | None = None


class ConstraintSection(Strict):
    metric: str
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _one_bound(self):
        if (self.max is None) == (self.min is None):
            raise ValueError("give exactly one of max and min")
        return self


class BudgetSection(Strict):
    trials: int = Field(ge=1, description="trials to finish (complete or pruned); failed ones do not count")
    minutes: float = Field(60.0, gt=0, description="no trial starts after this many minutes of one invocation")
    trial_minutes: float = Field(30.0, gt=0, description="a trial running longer is stopped and marked failed")
    max_failed: int | None = Field(None, ge=1, description="stop once this many trials failed (default: trials)")


class StudyFile(Strict):
    study: StudySection
    sampler: SamplerSection = SamplerSection()
    pruner: PrunerSection = PrunerSection()
    early_stop: EarlyStopSection = EarlyStopSection()
    objectives: list[ObjectiveSection] = Field(min_length=1)
    constraints: list[ConstraintSection] = Field(default_factory=list)
    budget: BudgetSection
    base: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, Any] = Field(min_length=1)
    # Trials to run first, by parameter values (e.g. the base profile's own ranges, or a known
    # good setting): Optuna's enqueue_trial, when the study is created.
    enqueue: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Study:
    """A checked study file, with its base config, profile and search space."""

    source: str
    text: str
    file: StudyFile
    base: BaseConfig
    profile: Profile
    params: list[Param]
    storage_url: str

    @property
    def name(self) -> str:
        return self.file.study.name

    @property
    def kind(self) -> str:
        return self.file.study.kind

    @property
    def directory(self) -> Path:
        return Path(self.file.study.directory or Path("runs") / self.name)

    @property
    def metrics(self) -> list[str]:
        return [o.metric for o in self.file.objectives]

    @property
    def directions(self) -> list[str]:
        return [o.direction or METRICS[o.metric].direction for o in self.file.objectives]

    @property
    def multi_objective(self) -> bool:
        return len(self.file.objectives) > 1

    def enqueued(self) -> list[dict[str, Any]]:
        from randomizers.paths import flatten

        return [flatten(table) for table in self.file.enqueue]

    @property
    def max_failed(self) -> int:
        return self.file.budget.max_failed or self.file.budget.trials

    def needed_metrics(self) -> list[str]:
        names = self.metrics + [c.metric for c in self.file.constraints] + list(self.file.study.record)
        return list(dict.fromkeys(names))

    def identity(self) -> dict:
        """What makes two study files the same study (a worker joining must agree on it)."""
        data = self.file.model_dump(mode="json")
        return {key: data[key] for key in ("objectives", "constraints", "base", "search")} | {
            "kind": self.kind, "name": self.name}

    def visual_only(self) -> bool:
        """True when the parameters change only how episodes look, not what happens in them."""
        from randomizers import VISUAL

        for param in self.params:
            root, _, rest = param.path.partition(".")
            if root == "randomizers" and rest.split(".")[0] not in VISUAL:
                return False
            if root in ("seed", "scene", "profile", "collect"):
                return False
        return True


def read_study_text(path: str | Path) -> str:
    """The study file's text through the front door: a directory, a FIFO or non-UTF-8 text is refused."""
    try:
        return read_text(path)
    except InputFileError as error:
        raise UserError(f"{path}: cannot read study file ({error.problem})") from None


def load_study_file(path: str | Path, storage: str | None = None) -> Study | AdrStudy:
    return parse_study(read_study_text(path), str(path), storage)


def parse_study(text: str, source: str, storage: str | None = None) -> Study | AdrStudy:
    """The checked study; ``storage`` overrides the file's storage URL."""
    try:
        data = parse_toml_text(text, source)  # NaN, infinity, huge integers and deep nesting refused
    except InputFileError as error:
        raise UserError(str(error)) from None
    if isinstance(data.get("study"), dict) and data["study"].get("kind") == "adr":
        return parse_adr_study(data, text, source)
    try:
        file = strict_validate(StudyFile, data, source)
    except SpecError as error:
        raise UserError(str(error)) from None
    except ValidationError as error:
        raise UserError(f"{source}: {validation_lines(error, '')}") from None
    kind = file.study.kind
    count = len(file.objectives)
    _check_metrics(file, kind, source)
    make_sampler(file.sampler.name, file.sampler.options, file.sampler.seed, count, source)
    make_pruner(file.pruner.name, file.pruner.options, count, source)
    if count == 1 and file.early_stop.rule != "none":
        raise UserError(f"{source}: early_stop.rule = {file.early_stop.rule!r}: a single-objective study stops "
                        "weak trials with [pruner]; early_stop is for multi-objective studies")
    base, profile = load_base(file.base, kind, source)
    params = []
    for path, table in flatten_search(file.search, source):
        try:
            kind_of_value = value_type(path, kind, profile)
        except ConfigError as error:
            raise UserError(f"{source}: search.{path}: {error}") from None
        params.append(parse_param(path, table, source, kind_of_value))
    params = order_params(params, source)
    base_cem = None
    if kind == "pipeline":
        from studies.trial_config import pipeline_config

        base_cem = pipeline_config(base, "check").qtopt.act_cem
    check_params(base, profile, params, kind, source, base_cem)
    _check_enqueued(file, params, source)
    directory = Path(file.study.directory or Path("runs") / file.study.name)
    url = storage or file.study.storage or default_url(directory)
    study = Study(source, text, file, base, profile, params, url)
    if kind == "pipeline" and base.collect.reuse == "rerender" and not study.visual_only():
        changing = [p.path for p in params if not p.path.startswith(("randomizers.lighting", "randomizers.texture",
                                                                      "randomizers.camera", "randomizers.image",
                                                                      "train.", "cem.", "eval."))]
        raise UserError(f"{source}: base.collect.reuse = 'rerender': re-rendering keeps the recorded physics, but "
                        f"{changing[0]} changes what happens in an episode; use 'auto' or 'collect'")
    return study


def _check_metrics(file: StudyFile, kind: str, source: str) -> None:
    seen = set()
    for index, objective in enumerate(file.objectives):
        where = f"{source}: objectives[{index}]"
        metric = METRICS.get(objective.metric)
        if metric is None:
            raise UserError(f"{where}.metric = {objective.metric!r}: unknown metric "
                            f"(expected one of {', '.join(METRICS)})")
        if kind not in metric.kinds:
            raise UserError(f"{where}.metric = {objective.metric!r}: a {kind!r} study cannot measure it "
                            f"(it measures: {', '.join(m for m, d in METRICS.items() if kind in d.kinds)})")
        if objective.direction is not None and objective.direction != metric.direction:
            raise UserError(f"{where}.direction = {objective.direction!r}: {objective.metric} is better when "
                            f"{'higher' if metric.direction == 'maximize' else 'lower'}; its direction is "
                            f"{metric.direction!r}")
        if objective.metric in seen:
            raise UserError(f"{where}.metric = {objective.metric!r}: appears twice")
        seen.add(objective.metric)
    for index, name in enumerate(file.study.record):
        metric = METRICS.get(name)
        if metric is None or kind not in metric.kinds:
            raise UserError(f"{source}: study.record[{index}] = {name!r}: not a metric a {kind!r} study measures "
                            f"({', '.join(m for m, d in METRICS.items() if kind in d.kinds)})")
    for index, constraint in enumerate(file.constraints):
        metric = METRICS.get(constraint.metric)
        if metric is None or kind not in metric.kinds:
            raise UserError(f"{source}: constraints[{index}].metric = {constraint.metric!r}: not a metric a "
                            f"{kind!r} study measures ({', '.join(m for m, d in METRICS.items() if kind in d.kinds)})")


def _check_enqueued(file: StudyFile, params: list[Param], source: str) -> None:
    """Enqueued trials name searched parameters, with values the parameter can take."""
    from randomizers.paths import flatten
    from studies.space import _member

    by_path = {p.path: p for p in params}
    for index, table in enumerate(file.enqueue):
        for path, value in flatten(table).items():
            where = f"{source}: enqueue[{index}].{path} = {value!r}"
            param = by_path.get(path)
            if param is None:
                raise UserError(f"{where}: not a searched parameter")
            if param.kind == "categorical":
                if not _member(value, param.choices):
                    raise UserError(f"{where}: not one of its choices {list(param.choices)}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not param.low <= value <= param.high:
                raise UserError(f"{where}: outside its range [{param.low}, {param.high}]")
