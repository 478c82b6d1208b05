"""A training run's typed config (``PipelineConfig``), its run directory's paths, and their validation."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policies.qtopt.config import QTOptConfig
from policies.runtime.input_files import InputFileError, load_json, load_toml
from scenes.spec import SpecError, load_scene, strict_validate
from workbench.errors import UserError
from workbench.rollout.collect import MANIFEST
from workbench.rollout.qtopt_policy import CHECKPOINT_NAME

# Seed streams of a run (with the run's seed): weights, the training loop, evaluation.
INIT_STREAM, TRAIN_STREAM = 100, 101  # EVAL_STREAM (102) is in workbench.rollout.evaluate


class PipelineConfig(BaseModel):
    """Everything a training run depends on; written to the run's config.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    scene: str = "bin_grasp"
    profile: str = "default"
    qtopt: QTOptConfig = QTOptConfig()
    offline_steps: int = Field(20_000, ge=0, description="gradient steps on the collected episodes alone")
    finetune_steps: int = Field(10_000, ge=0, description="gradient steps with on-policy collection")
    steps_per_episode: int = Field(4, ge=0, description="finetuning: gradient steps per on-policy episode this "
                                   "process collects (0: only other collector processes add episodes)")
    explore_epsilon: float = Field(0.1, ge=0, le=1, description="chance of a random move instead of CEM's")
    explore_noise: float = Field(0.2, ge=0, description="Gaussian translation noise, fraction of max move")
    augment_shift: int = Field(4, ge=0, description="random image shift in pixels (the paper's random crop)")
    offline_capacity: int = Field(200_000, gt=0, description="offline transitions kept in memory")
    checkpoint_every: int = Field(1000, gt=0)
    log_every: int = Field(100, gt=0)
    refresh_every: int = Field(250, gt=0, description="Ray backend: steps between scans for episodes collectors wrote")
    collector_every: int = Field(0, ge=0, description="learner steps per episode of the lockstep collector process "
                                 "beside the trainer (workbench.training.lockstep; 0: no such process)")
    collector_lag: int = Field(2, ge=1, description="the learner takes a lockstep collector's episode this many "
                               "episodes after the step its policy acted at")
    eval_every: int = Field(0, ge=0, description="steps between greedy evaluations on train objects (0: off)")
    eval_episodes: int = Field(20, gt=0)
    init_checkpoint: str | None = Field(None, description="a new run starts from this checkpoint's networks (online "
                                        "and both targets) at learner step 0 with a fresh Adam: warm-started "
                                        "study trials (a resumed run loads its own checkpoint instead)")
    finetune_profile: str | None = Field(None, description="the profile finetuning collects under (default: "
                                         "profile, which the offline phase's episodes keep); `workbench run` sets "
                                         "it to the profile its tune stage chose")

    @property
    def finetune_look(self) -> str:
        """The profile the on-policy episodes of finetuning are collected under."""
        return self.finetune_profile or self.profile


class RunPaths:
    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir)
        self.offline = self.root / "offline"
        self.online = self.root / "online"
        self.config = self.root / "config.json"
        self.checkpoint = self.root / CHECKPOINT_NAME
        self.history = self.root / "history.json"
        self.tensorboard = self.root / "tensorboard"
        self.curve = self.root / "learning_curve.png"


def _validation_message(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid config"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def validate_config(data: dict, source: str) -> PipelineConfig:
    """Strict types: a string is no number, a float no integer; NaN and infinity are refused."""
    try:
        return strict_validate(PipelineConfig, with_scene_action_scale(data, source), source)
    except SpecError as error:
        raise UserError(str(error)) from None
    except ValidationError as error:
        raise UserError(_validation_message(source, error)) from None


def read_toml(path: str | Path) -> dict:
    """A config TOML through the front door (policies.runtime.input_files)."""
    try:
        return load_toml(path)
    except InputFileError as error:
        raise UserError(f"{path}: cannot read config ({error.problem})") from None


def resolve_config(paths: RunPaths, overrides: dict, source: str) -> PipelineConfig:
    """Defaults < the collection's settings (scene, profile, image size) < ``overrides``."""
    data: dict = {}
    manifest_path = paths.offline / MANIFEST
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        data = {"scene": manifest["scene"], "profile": manifest["profile"],
                "qtopt": {"image_size": manifest["image_size"]}}
    for key, value in overrides.items():
        if key == "qtopt" and isinstance(value, dict):
            data["qtopt"] = {**data.get("qtopt", {}), **value}
        else:
            data[key] = value
    return validate_config(data, source)


def with_scene_action_scale(data: dict, source: str) -> dict:
    """``data`` with ``qtopt.max_translation`` taken from the scene's ``task.max_translation``.

    The scene is the one source of the action's scale: the environment, the learner's input
    scaling and the exported bundle then share one ActionSpec.
    """
    scene = data.get("scene", PipelineConfig.model_fields["scene"].default)
    try:
        scale = load_scene(scene).task.max_translation if isinstance(scene, str) else None
    except SpecError as error:
        raise UserError(str(error)) from None
    qtopt = data.get("qtopt", {})
    if scale is None or not isinstance(qtopt, dict):
        return data  # validation names the bad field
    given = qtopt.get("max_translation")
    if given is not None and given != scale:
        raise UserError(f"{source}: qtopt.max_translation = {given!r}: the scene {scene!r} moves at most "
                        f"{scale} m per step (task.max_translation); leave qtopt.max_translation unset")
    return {**data, "qtopt": {**qtopt, "max_translation": scale}}


def check_init_checkpoint(config: PipelineConfig, source: str) -> None:
    """UserError naming ``init_checkpoint`` when its file is missing, unreadable or for another network
    (architecture or image size) than ``config``'s."""
    if config.init_checkpoint is None:
        return
    from policies.qtopt.checkpoint import CheckpointError, read_checkpoint_info

    where = f"{source}: init_checkpoint = {config.init_checkpoint!r}"
    try:
        info = read_checkpoint_info(config.init_checkpoint)
    except CheckpointError as error:
        raise UserError(f"{where}: {error.problem}") from None
    qcfg = config.qtopt
    if (info.arch, info.image_size) != (qcfg.arch, qcfg.image_size):
        raise UserError(f"{where}: the checkpoint is a {info.arch!r} network on {info.image_size}x{info.image_size} "
                        f"images, the config's qtopt is {qcfg.arch!r} on {qcfg.image_size}x{qcfg.image_size}")


def load_run_config(paths: RunPaths) -> PipelineConfig:
    try:
        data = load_json(paths.config)
    except InputFileError as error:
        raise UserError(f"{paths.config}: unreadable run config ({error.problem})") from None
    if not isinstance(data, dict):
        raise UserError(f"{paths.config}: unreadable run config (not a JSON object)")
    return validate_config(data, str(paths.config))


def prepare_run(run_dir: str | Path, config_file: str | Path | None, resume: bool,
                overrides: dict | None = None) -> tuple[RunPaths, PipelineConfig]:
    """Validate the run directory and the config; writes nothing."""
    paths = RunPaths(run_dir)
    if resume:
        if not paths.config.exists():
            raise UserError(f"{paths.root}: nothing to resume (no config.json); start without --resume")
        config = load_run_config(paths)
        if config_file is not None:
            wanted = resolve_config(paths, read_toml(config_file), str(config_file))
            if wanted != config:
                raise UserError(f"--config {config_file} differs from {paths.config}; a resumed run keeps "
                                "its config (start a new run to change it)")
        return paths, config
    if paths.checkpoint.exists() or paths.config.exists():
        raise UserError(f"{paths.root} already holds a training run; pass --resume to continue it "
                        "or use another run directory")
    data = read_toml(config_file) if config_file is not None else {}
    data.update(overrides or {})
    source = str(config_file or "config")
    config = resolve_config(paths, data, source)
    check_init_checkpoint(config, source)
    return paths, config
