"""QT-Opt training of a run directory: an offline phase, then joint finetuning.

    runs/NAME/
      offline/                 explorer episodes (``workbench collect``), plus collect.json
      online/                  on-policy episodes collected while finetuning
      acting/                  weights published for a lockstep collector (workbench.training.lockstep)
      config.json              the resolved PipelineConfig, seed included
      checkpoint.safetensors   learner: online net, both targets, Adam (policies.qtopt.checkpoint)
      history.json             the logged points up to the checkpoint
      tensorboard/             SummaryWriter events
      learning_curve.png

The loop, top to bottom: sample a batch (ReplayMixer: offline episodes + online
buffer), shift-augment it, label it with the Bellman updater (CEM on the target
networks), take a learner step; while finetuning, every few steps run one
episode of the CEM policy with exploration noise and add it to disk and to the
online buffer. With a collector process beside it (``collector_every``), the
loop publishes weights and takes that process's episodes at fixed steps, so a
run is reproducible from its config and seed. Every write is atomic; episodes are on disk before they are
trained on, so a kill loses at most the steps since the last checkpoint, and
``--resume`` reloads the checkpoint and every episode on disk.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from policies.qtopt.augment import augment
from policies.qtopt.checkpoint import CheckpointError, load_checkpoint, load_networks, save_checkpoint
from policies.qtopt.learner import Learner
from policies.qtopt.replay import EpisodeReplay, ReplayFormatError, ReplayMixer
from policies.runtime.files import atomic_write_bytes
from workbench.errors import UserError
from workbench.rollout.collect import ONLINE_SOURCE, episode_id, make_env, seeded_episode
from workbench.rollout.evaluate import evaluate_greedy
from workbench.rollout.qtopt_policy import QTOptPolicy
from workbench.training.config import INIT_STREAM, TRAIN_STREAM, PipelineConfig, RunPaths, prepare_run
from workbench.training.lockstep import Lockstep, publish, take_due
from workbench.training.run_log import LossWindow, RunLog


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
    elif config.init_checkpoint is not None:  # a warm start: its networks, our step 0 and a fresh Adam
        try:
            load_networks(config.init_checkpoint, learner)
        except CheckpointError as error:
            raise UserError(f"init_checkpoint: {error}") from None
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
        atomic_write_bytes(paths.config, config.model_dump_json(indent=2).encode())
    log = RunLog(paths, learner.step_count, config.offline_steps)
    total_steps = config.offline_steps + config.finetune_steps
    rng = np.random.default_rng([config.seed, TRAIN_STREAM, learner.step_count])
    mixer = ReplayMixer(offline, online, qcfg.offline_fraction)
    updater = learner.bellman_updater(qcfg)
    lockstep = Lockstep.of(config)
    env = policy = eval_env = None
    next_online_index = _next_online_index(online)
    window = LossWindow()
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
                env = make_env(config.scene, split="train", image_size=qcfg.image_size, profile=config.finetune_look)
                policy = QTOptPolicy(learner.policy_net, qcfg.act_cem, qcfg.action_spec(),
                                     config.explore_epsilon, config.explore_noise)
            index = next_online_index
            next_online_index += 1
            name = episode_id(index, "train")
            episode = seeded_episode(env, policy, config.seed, ONLINE_SOURCE, index, name, "qtopt",
                                     {"index": index, "learner_step": step, "scene": config.scene,
                                      "profile": config.finetune_look, "split": "train"})
            path = online.store.add(episode)  # on disk first: a kill loses nothing collected
            online.add(episode, path.name, str(path))
        if lockstep is not None:  # the collector process beside this one acts with what we publish
            publish(paths, lockstep, learner, step)
            take_due(paths, lockstep, step, offline, online)

        # QT-Opt update: Bellman targets from the target networks, then one gradient step.
        batch = augment(mixer.sample(qcfg.batch_size, rng), config.augment_shift, rng)
        labelled = updater.label(batch, rng)
        metrics = learner.train_step(labelled)
        window.add(metrics.loss, metrics.mean_q, float(labelled.targets.mean()))
        bar.update()

        step = learner.step_count
        if step % config.log_every == 0:
            point = {**window.point(step, finetuning), "offline_episodes": offline.episodes,
                     "online_episodes": online.episodes,
                     "collect_success": float(np.mean(online.recent_success)) if online.recent_success else None}
            log.record(point)
            bar.set_postfix(loss=f"{point['loss']:.3f}", q=f"{point['mean_q']:.2f}")
        if config.eval_every and step % config.eval_every == 0:
            if eval_env is None:
                eval_env = make_env(config.scene, split="train", image_size=qcfg.image_size,
                                    profile=config.finetune_look)
            greedy = QTOptPolicy(learner.policy_net, qcfg.act_cem, qcfg.action_spec())
            log.record({"step": step, "eval_success": evaluate_greedy(eval_env, greedy, config.eval_episodes,
                                                                      config.seed)})
        # Also at the phase switch: collector processes wait for it to start acting on-policy.
        if step % config.checkpoint_every == 0 or step == config.offline_steps:
            _save(paths, learner, config, log)

    bar.close()
    _save(paths, learner, config, log)
    log.close()
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


def _save(paths: RunPaths, learner: Learner, config: PipelineConfig, log: RunLog) -> None:
    save_checkpoint(paths.checkpoint, learner, config.qtopt)
    log.flush()
