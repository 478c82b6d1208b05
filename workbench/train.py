"""QT-Opt training of a run directory: an offline phase, then joint finetuning.

    runs/NAME/
      offline/                 explorer episodes (``workbench collect``), plus collect.json
      online/                  on-policy episodes collected while finetuning
      config.json              the resolved PipelineConfig, seed included
      checkpoint.safetensors   learner: online net, both targets, Adam (policies.checkpoint)
      history.json             the logged points up to the checkpoint
      tensorboard/             SummaryWriter events
      learning_curve.png

The loop, top to bottom: sample a batch (ReplayMixer: offline episodes + online
buffer), shift-augment it, label it with the Bellman updater (CEM on the target
networks), take a learner step; while finetuning, every few steps run one
episode of the CEM policy with exploration noise and add it to disk and to the
online buffer. Every write is atomic; episodes are on disk before they are
trained on, so a kill loses at most the steps since the last checkpoint, and
``--resume`` reloads the checkpoint and every episode on disk.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections import deque
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tqdm import tqdm

from policies.batches import Transitions
from policies.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from policies.config import QTOptConfig
from policies.learner import Learner
from policies.replay import (
    OfflineStore,
    OnlineBuffer,
    ReplayFormatError,
    ReplayMixer,
    read_episode,
)
from workbench.collect import (
    MANIFEST,
    ONLINE_SOURCE,
    episode_id,
    episode_seed,
    make_env,
    policy_rng,
    run_episode,
    start_seed,
)
from workbench.errors import UserError
from workbench.files import write_bytes_atomic
from workbench.qtopt_policy import CHECKPOINT_NAME, QTOptPolicy

# Seed streams of a run (with the run's seed): weights, the training loop, evaluation.
INIT_STREAM, TRAIN_STREAM, EVAL_STREAM = 100, 101, 102


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
    refresh_every: int = Field(250, gt=0, description="steps between scans for episodes other processes wrote")
    eval_every: int = Field(0, ge=0, description="steps between greedy evaluations on train objects (0: off)")
    eval_episodes: int = Field(20, gt=0)


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


# -- config ------------------------------------------------------------------

def _validation_message(source: str, error: ValidationError) -> str:
    lines = [f"{source}: invalid config"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {where}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def validate_config(data: dict, source: str) -> PipelineConfig:
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise UserError(_validation_message(source, error)) from None


def read_toml(path: str | Path) -> dict:
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except OSError as error:
        raise UserError(f"{path}: cannot read config ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML ({error})") from None


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


def load_run_config(paths: RunPaths) -> PipelineConfig:
    try:
        data = json.loads(paths.config.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{paths.config}: unreadable run config ({error})") from None
    return validate_config(data, str(paths.config))


# -- replay from disk ----------------------------------------------------------

class EpisodeReplay:
    """A directory of episodes as a transition source that grows as episodes appear.

    Holds the newest ``capacity`` transitions (a policies.replay.OnlineBuffer); ``refresh``
    reads episodes other processes (collectors) wrote since the last call.
    """

    def __init__(self, directory: Path, capacity: int, n_step: int = 1, gamma: float = 1.0):
        self.store = OfflineStore(directory)
        self.buffer = OnlineBuffer(capacity, n_step, gamma)
        self.loaded: set[str] = set()
        self.episodes = self.successes = 0
        self.recent_success: deque[bool] = deque(maxlen=50)  # of the last episodes added, whoever collected them
        self.image_shape: tuple | None = None

    def refresh(self) -> int:
        new = [path for path in self.store.paths() if path.name not in self.loaded]
        for path in new:
            episode = read_episode(path)
            self.add(episode, path.name, str(path))
        return len(new)

    def add(self, episode, name: str, where: str) -> None:
        shape = episode.images.shape[1:]
        if self.image_shape is not None and shape != self.image_shape:
            raise ReplayFormatError(where, f"images are {shape}, earlier episodes are {self.image_shape}")
        self.image_shape = shape
        self.buffer.add_episode(episode)
        self.loaded.add(name)
        self.episodes += 1
        self.successes += episode.success
        self.recent_success.append(episode.success)

    def __len__(self) -> int:
        return len(self.buffer)

    def take(self, indices: np.ndarray) -> Transitions:
        return self.buffer.take(indices)


# -- augmentation ----------------------------------------------------------------

def random_shift(images: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """Pad by repeating the border, then crop back at a random offset per image (DrQ's shift)."""
    if pad == 0:
        return images
    size_h, size_w = images.shape[1:3]
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    offsets = rng.integers(0, 2 * pad + 1, size=(len(images), 2))
    return np.stack([padded[i, y:y + size_h, x:x + size_w] for i, (y, x) in enumerate(offsets)])


def augment(batch: Transitions, pad: int, rng: np.random.Generator) -> Transitions:
    if pad == 0:
        return batch
    return Transitions(images=random_shift(batch.images, pad, rng), states=batch.states, actions=batch.actions,
                       rewards=batch.rewards, next_images=random_shift(batch.next_images, pad, rng),
                       next_states=batch.next_states, dones=batch.dones, horizons=batch.horizons)


# -- logging -----------------------------------------------------------------------

def read_history(paths: RunPaths, up_to_step: int) -> list[dict]:
    if not paths.history.exists():
        return []
    try:
        points = json.loads(paths.history.read_text())
    except (OSError, json.JSONDecodeError):
        return []  # the history is a log, not state: a damaged one restarts empty
    return [p for p in points if isinstance(p, dict) and p.get("step", math.inf) <= up_to_step]


def plot_learning_curve(history: list[dict], offline_steps: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    def series(key):
        points = [(p["step"], p[key]) for p in history if p.get(key) is not None]
        return ([s for s, _ in points], [v for _, v in points])

    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    axes[0].plot(*series("loss"), label="log loss")
    axes[0].set_ylabel("loss")
    axes[1].plot(*series("mean_q"), label="mean Q(s, a)")
    axes[1].plot(*series("target_q"), label="mean Bellman target")
    axes[1].set_ylabel("Q")
    axes[2].plot(*series("collect_success"), label="on-policy episodes (last 50, with noise)")
    axes[2].plot(*series("eval_success"), "o-", label="greedy eval, train objects")
    axes[2].set_ylabel("success")
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("learner step")
    for ax in axes:
        if offline_steps:
            ax.axvline(offline_steps, color="grey", linestyle=":", linewidth=1)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle("QT-Opt training (dotted: offline -> finetuning)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def check_action_scale(env, qcfg: QTOptConfig) -> None:
    if not np.isclose(float(env.action_space.high[0]), qcfg.max_translation):
        raise UserError(f"qtopt.max_translation is {qcfg.max_translation} but the scene moves at most "
                        f"{float(env.action_space.high[0])} per step; set them equal")


def evaluate_greedy(env, policy: QTOptPolicy, episodes: int, seed: int) -> float:
    successes = 0
    for index in range(episodes):
        episode = run_episode(env, policy, episode_seed(seed, EVAL_STREAM, index),
                              policy_rng(seed, EVAL_STREAM, index), "eval", "qtopt")
        successes += episode.success
    return successes / episodes


# -- the run -------------------------------------------------------------------------

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
    return paths, resolve_config(paths, data, str(config_file or "config"))


def train(run_dir: str | Path, config_file: str | Path | None = None, resume: bool = False,
          minutes: float | None = None, progress: bool = True, overrides: dict | None = None) -> dict:
    started = time.monotonic()
    deadline = started + minutes * 60 if minutes is not None else math.inf
    torch.set_num_threads(1)  # small nets on a loaded 2-core machine: one thread is fastest
    paths, config = prepare_run(run_dir, config_file, resume, overrides)
    qcfg = config.qtopt

    # Every input is read and checked before anything is written.
    learner = Learner.from_config(qcfg, np.random.default_rng([config.seed, INIT_STREAM]))
    if resume and paths.checkpoint.exists():
        try:
            load_checkpoint(paths.checkpoint, learner)
        except CheckpointError as error:
            raise UserError(f"cannot resume: {error}") from None
    offline = EpisodeReplay(paths.offline, config.offline_capacity, qcfg.n_step, qcfg.gamma)
    online = EpisodeReplay(paths.online, qcfg.online_capacity, qcfg.n_step, qcfg.gamma)
    try:
        offline.refresh()
        online.refresh()
    except ReplayFormatError as error:
        raise UserError(f"bad episode file: {error}") from None
    if len(offline) == 0 and len(online) == 0:
        raise UserError(f"{paths.offline}: no episodes; run `workbench collect --out {paths.offline}` first")
    expected_image = (qcfg.image_size, qcfg.image_size, 3)
    for replay in (offline, online):
        if replay.image_shape not in (None, expected_image):
            raise UserError(f"{replay.store.directory}: episodes have images {replay.image_shape}, "
                            f"the config's qtopt.image_size is {qcfg.image_size}")

    paths.root.mkdir(parents=True, exist_ok=True)
    if not paths.config.exists():
        write_bytes_atomic(paths.config, config.model_dump_json(indent=2).encode())
    history = read_history(paths, learner.step_count)
    writer = _summary_writer(paths)
    total_steps = config.offline_steps + config.finetune_steps
    rng = np.random.default_rng([config.seed, TRAIN_STREAM, learner.step_count])
    mixer = ReplayMixer(offline, online, qcfg.offline_fraction)
    updater = learner.bellman_updater(qcfg)
    env = policy = eval_env = None
    next_online_index = _next_online_index(online)
    window_start, window_steps = time.monotonic(), 0
    losses, mean_qs, target_qs = [], [], []
    stop_reason = "steps"
    bar = tqdm(total=total_steps, initial=learner.step_count, desc=f"train {paths.root}", disable=not progress,
               unit="step", smoothing=0.05)

    while learner.step_count < total_steps:
        if time.monotonic() >= deadline:
            stop_reason = "time"
            break
        step = learner.step_count  # steps taken so far
        finetuning = step >= config.offline_steps

        # Joint finetuning: the current Q-function, with exploration noise, collects more data.
        if finetuning and config.steps_per_episode and step % config.steps_per_episode == 0:
            if env is None:
                env = make_env(config.scene, split="train", image_size=qcfg.image_size, profile=config.profile)
                check_action_scale(env, qcfg)
                policy = QTOptPolicy(learner.policy_net, qcfg.act_cem, qcfg.action_spec(),
                                     config.explore_epsilon, config.explore_noise)
            index = next_online_index
            next_online_index += 1
            name = episode_id(index, "train")
            episode = run_episode(env, policy, episode_seed(config.seed, ONLINE_SOURCE, index),
                                  policy_rng(config.seed, ONLINE_SOURCE, index), name, "qtopt",
                                  {"index": index, "learner_step": step, "scene": config.scene,
                                   "profile": config.profile, "split": "train"},
                                  start_seed(config.seed, ONLINE_SOURCE, index))
            path = online.store.add(episode)  # on disk first: a kill loses nothing collected
            online.add(episode, path.name, str(path))
        if step % config.refresh_every == 0 and step > 0:
            offline.refresh()
            online.refresh()

        # QT-Opt update: Bellman targets from the target networks, then one gradient step.
        batch = augment(mixer.sample(qcfg.batch_size, rng), config.augment_shift, rng)
        labelled = updater.label(batch, rng)
        metrics = learner.train_step(labelled)
        losses.append(metrics.loss)
        mean_qs.append(metrics.mean_q)
        target_qs.append(float(labelled.targets.mean()))
        window_steps += 1
        bar.update()

        step = learner.step_count
        if step % config.log_every == 0:
            rate = window_steps / (time.monotonic() - window_start)
            point = {"step": step, "phase": "finetune" if finetuning else "offline",
                     "loss": float(np.mean(losses)), "mean_q": float(np.mean(mean_qs)),
                     "target_q": float(np.mean(target_qs)), "steps_per_s": rate,
                     "offline_episodes": offline.episodes, "online_episodes": online.episodes,
                     "collect_success": float(np.mean(online.recent_success)) if online.recent_success else None}
            history.append(point)
            _log_scalars(writer, point)
            bar.set_postfix(loss=f"{point['loss']:.3f}", q=f"{point['mean_q']:.2f}")
            losses, mean_qs, target_qs = [], [], []
            window_start, window_steps = time.monotonic(), 0
        if config.eval_every and step % config.eval_every == 0:
            if eval_env is None:
                eval_env = make_env(config.scene, split="train", image_size=qcfg.image_size, profile=config.profile)
            greedy = QTOptPolicy(learner.policy_net, qcfg.act_cem, qcfg.action_spec())
            point = {"step": step, "eval_success": evaluate_greedy(eval_env, greedy, config.eval_episodes,
                                                                   config.seed)}
            history.append(point)
            _log_scalars(writer, point)
        # Also at the phase switch: collector processes wait for it to start acting on-policy.
        if step % config.checkpoint_every == 0 or step == config.offline_steps:
            _save(paths, learner, config, history, writer)

    bar.close()
    _save(paths, learner, config, history, writer)
    writer.close()
    for opened in (env, eval_env):
        if opened is not None:
            opened.close()
    return {"run": str(paths.root), "learner_step": learner.step_count, "stopped_by": stop_reason,
            "offline_episodes": offline.episodes, "online_episodes": online.episodes,
            "online_success_rate": online.successes / online.episodes if online.episodes else None,
            "seconds": time.monotonic() - started}


def _next_online_index(online: EpisodeReplay) -> int:
    """One past the highest 'train-NNNNNN' index on disk (so a resumed run never reuses one)."""
    indices = [int(name.split("-")[1].split(".")[0]) for name in online.loaded if name.startswith("train-")]
    return max(indices, default=-1) + 1


def _summary_writer(paths: RunPaths):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(paths.tensorboard))


def _log_scalars(writer, point: dict) -> None:
    step = point["step"]
    names = {"loss": "train/loss", "mean_q": "train/mean_q", "target_q": "train/target_q",
             "steps_per_s": "train/steps_per_s", "collect_success": "collect/success_last50",
             "online_episodes": "collect/online_episodes", "offline_episodes": "collect/offline_episodes",
             "eval_success": "eval/success_train_objects"}
    for key, tag in names.items():
        if point.get(key) is not None:
            writer.add_scalar(tag, point[key], step)


def _save(paths: RunPaths, learner: Learner, config: PipelineConfig, history: list[dict], writer) -> None:
    save_checkpoint(paths.checkpoint, learner, config.qtopt)
    write_bytes_atomic(paths.history, json.dumps(history).encode())
    writer.flush()
    plot_learning_curve(history, config.offline_steps, paths.curve)
