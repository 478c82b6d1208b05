"""``workbench train --backend ray``: the local trainer's loop with its roles as Ray actors.

Same run directory, config, ``--minutes``, ``--resume`` and summary as
``workbench.training.train.train``. Each learner step takes a batch that a Bellman updater actor
sampled from the ReplayStore actor, shift-augmented and labelled; the updaters work
``PREFETCH`` batches ahead of the learner, so labelling and learning overlap. Every
``sync_every`` steps the learner's target networks go to the updaters and its online
network to the collectors.

Budget of environment steps: with ``steps_per_episode`` > 0 the collectors run exactly
the on-policy episodes the local trainer would (the same ``train-NNNNNN`` names and
seeds, one per ``steps_per_episode`` finetuning steps) and the learner waits when it
gets more than one episode per collector ahead of them, so both backends train on the
same data budget at the same ratio of updates to data. With 0, collectors run freely
until the run ends.

Order of data: batch ``k`` is sampled, augmented and labelled from seeds of (seed, k),
and each updater receives its target weights at fixed points of its queue, so the
offline phase depends only on the seed and the number of updaters. On-policy episodes
arrive when collectors finish them, so finetuning is not repeatable step for step (the
episodes' scenes are: they follow from their indices).
"""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path

import numpy as np

from policies.runtime.files import atomic_write_bytes
from workbench.errors import UserError
from workbench.training.ray_backend import (
    COLLECTOR_CPUS,
    LEARNER_CPUS,
    UPDATER_CPUS,
    WorkPool,
    actor_classes,
    check_capacity,
    cluster,
    count_restarts,
    dead_actor_errors,
    here,
    named,
    restartable,
    wait_started,
)

PREFETCH = 2  # labelled batches each updater works ahead of the learner


def train_ray(run_dir: str | Path, config_file: str | Path | None = None, resume: bool = False,
              minutes: float | None = None, progress: bool = True, overrides: dict | None = None, *,
              address: str | None = None, num_cpus: int | None = None, collectors: int = 1, updaters: int = 1,
              sync_every: int = 10, tag: str | None = None) -> dict:
    from tqdm import tqdm

    from policies.qtopt.checkpoint import CheckpointError, load_checkpoint
    from policies.qtopt.learner import Learner
    from workbench.rollout.collect import CollectSettings
    from workbench.training.config import INIT_STREAM, TRAIN_STREAM, prepare_run
    from workbench.training.run_log import LossWindow, RunLog

    started = time.monotonic()
    deadline = started + minutes * 60 if minutes is not None else math.inf
    if collectors < 0 or updaters < 1 or sync_every < 1:
        raise UserError("--collectors must be at least 0, --updaters and --sync-every at least 1")
    paths, config = prepare_run(run_dir, config_file, resume, overrides)
    qcfg = config.qtopt
    for field in ("init_checkpoint", "finetune_profile"):
        if getattr(config, field) is not None:
            raise UserError(f"{field} = {getattr(config, field)!r}: the Ray backend does not take it (its learner "
                            "starts fresh and its collectors act under profile); train without --backend ray")
    if resume and paths.checkpoint.exists():  # checked here, where the error can be a clear message
        try:
            load_checkpoint(paths.checkpoint, Learner.from_config(qcfg, np.random.default_rng([config.seed,
                                                                                                 INIT_STREAM])))
        except CheckpointError as error:
            raise UserError(f"cannot resume: {error}") from None

    with cluster(address, num_cpus) as ray:
        check_capacity(ray, collectors * COLLECTOR_CPUS + updaters * UPDATER_CPUS + LEARNER_CPUS,
                       f"{collectors} collector(s), {updaters} updater(s) and the learner")
        classes = actor_classes(ray)
        tag = tag or f"{time.time_ns()}"
        store_name, learner_name = named("replay", 0, tag), named("learner", 0, tag)
        store = classes["ReplayStore"].options(**here(ray), num_cpus=0, name=store_name).remote(
            {"offline": str(paths.offline), "online": str(paths.online)},
            {"offline": config.offline_capacity, "online": qcfg.online_capacity}, qcfg.offline_fraction,
            qcfg.n_step, qcfg.gamma)
        first = _check_replay(ray, store, paths, qcfg.image_size)

        paths.root.mkdir(parents=True, exist_ok=True)
        if not paths.config.exists():
            atomic_write_bytes(paths.config, config.model_dump_json(indent=2).encode())
        # The learner lives and dies with the driver's machine: no restarts (resume from its checkpoint).
        learner = classes["LearnerActor"].options(**here(ray), num_cpus=LEARNER_CPUS, name=learner_name).remote(
            str(paths.root), config.model_dump_json(), resume)
        qtopt = qcfg.model_dump(mode="json")
        updater_actors = [classes["Updater"].options(**restartable(UPDATER_CPUS), name=named("updater", i, tag))
                          .remote(store_name, learner_name, qtopt, qcfg.batch_size, config.augment_shift)
                          for i in range(updaters)]
        settings = CollectSettings(scene=config.scene, profile=config.profile, split="train", policy="qtopt",
                                   seed=config.seed, image_size=qcfg.image_size).to_json()
        online_settings = {"qtopt": qtopt, "explore_epsilon": config.explore_epsilon,
                           "explore_noise": config.explore_noise}
        collector_actors = [classes["Collector"].options(**restartable(COLLECTOR_CPUS),
                                                         name=named("collector", i, tag))
                            .remote(store_name, settings, learner_name, online_settings) for i in range(collectors)]

        step = ray.get(learner.step_count.remote())
        wait_started(ray, updater_actors)
        first_processes = wait_started(ray, collector_actors)
        total_steps = config.offline_steps + config.finetune_steps
        log = RunLog(paths, step, config.offline_steps)
        labels = Labels(ray, updater_actors, [config.seed, TRAIN_STREAM], step, learner)
        online = OnPolicy(ray, collector_actors, config, first, step, total_steps)
        window = LossWindow()
        stop_reason = "steps"
        bar = tqdm(total=total_steps, initial=step, desc=f"train {paths.root} (ray)", disable=not progress,
                   unit="step", smoothing=0.05)
        while step < total_steps:
            if time.monotonic() >= deadline:
                stop_reason = "time"
                break
            finetuning = step >= config.offline_steps
            if finetuning:
                online.feed(step)
            if step % config.refresh_every == 0 and step > 0:
                store.refresh.remote()
            point = labels.train_step()
            step = point["step"]
            window.add(point["loss"], point["mean_q"], point["target_q"])
            bar.update()

            if step % config.log_every == 0:
                counts = ray.get(store.counts.remote())
                logged = {**window.point(step, finetuning), "offline_episodes": counts["offline"]["episodes"],
                          "online_episodes": counts["online"]["episodes"],
                          "collect_success": counts["online"]["recent_success"]}
                log.record(logged)
                bar.set_postfix(loss=f"{logged['loss']:.3f}", q=f"{logged['mean_q']:.2f}")
            if step % sync_every == 0 or step == config.offline_steps:
                labels.sync()
            if config.eval_every and step % config.eval_every == 0:
                log.record({"step": step, "eval_success": ray.get(learner.evaluate.remote(config.eval_episodes))})
            if step % config.checkpoint_every == 0 or step == config.offline_steps:
                _save(ray, learner, log)
        bar.close()
        _save(ray, learner, log)
        log.close()
        collected = online.finish()
        counts = ray.get(store.counts.remote())
        stored = ray.get(store.stored.remote("online", [f"train-{i:06d}" for i in collected]))
        restarts = count_restarts(ray, collector_actors, online.pool.results if online.pool else [],
                                  first_processes)
        for actor in [*collector_actors, *updater_actors, learner, store]:
            ray.kill(actor, no_restart=True)
    offline_counts, online_counts = counts["offline"], counts["online"]
    return {"run": str(paths.root), "learner_step": step, "stopped_by": stop_reason,
            "offline_episodes": offline_counts["episodes"], "online_episodes": online_counts["episodes"],
            "online_success_rate": online_counts["successes"] / online_counts["episodes"]
            if online_counts["episodes"] else None,
            "seconds": time.monotonic() - started, "backend": "ray", "collectors": collectors, "updaters": updaters,
            "online_collected": len(collected), "online_stored": len(stored),
            "online_env_steps": sum(item["steps"] for item in stored.values()),
            "online_written": counts["written"]["online"], "collector_restarts": restarts,
            "refused_duplicates": counts["refused"]}


def _check_replay(ray, store, paths, image_size: int) -> int:
    """The local trainer's checks of the episodes on disk; returns the next free ``train-`` index."""
    from policies.qtopt.replay import ReplayFormatError

    try:
        counts = ray.get(store.counts.remote())
    except dead_actor_errors(ray) as error:  # the store failed to load the directories
        cause = getattr(error, "cause", None) or error
        if isinstance(cause, ReplayFormatError) or "ReplayFormatError" in str(error):
            raise UserError(f"bad episode file: {str(cause).strip().splitlines()[-1]}") from None
        raise
    if counts["offline"]["episodes"] == 0 and counts["online"]["episodes"] == 0:
        raise UserError(f"{paths.offline}: no episodes; run `workbench collect --out {paths.offline}` first")
    for kind, directory in (("offline", paths.offline), ("online", paths.online)):
        shape = counts[kind]["image_shape"]
        if shape not in (None, [image_size, image_size, 3]):
            raise UserError(f"{directory}: episodes have images {tuple(shape)}, the config's qtopt.image_size "
                            f"is {image_size}")
    indices = [int(p.stem.split("-")[1]) for p in paths.online.glob("train-*.safetensors")]
    return max(indices, default=-1) + 1


class Labels:
    """Learner steps on labelled batches from the updaters, kept ``PREFETCH`` per updater ahead."""

    def __init__(self, ray, updaters: list, key: list[int], first_step: int, learner):
        self.ray, self.updaters, self.key, self.learner = ray, list(updaters), key, learner
        self.next_key = first_step
        self.queue: deque = deque()
        for _ in range(PREFETCH * len(self.updaters)):
            self._submit()

    def _submit(self, key: int | None = None, front: bool = False) -> None:
        if key is None:
            key, self.next_key = self.next_key, self.next_key + 1
        updater = self.updaters[key % len(self.updaters)]
        item = (key, updater, updater.label.remote([*self.key, key]))
        self.queue.appendleft(item) if front else self.queue.append(item)

    def train_step(self) -> dict:
        """One learner step on the next batch; a batch whose updater died for good is labelled again by
        another updater (the learner never saw it: a step with a failed argument does not run)."""
        key, updater, ref = self.queue.popleft()
        self._submit()
        try:
            return self.ray.get(self.learner.train_step.remote(ref))
        except dead_actor_errors(self.ray) as error:
            if getattr(error, "actor_id", None) == self.learner._actor_id.hex():
                raise UserError(f"the learner died ({error}); continue from its last checkpoint with "
                                "--resume") from None
            if updater in self.updaters:
                self.updaters.remove(updater)
            if not self.updaters:
                raise UserError(f"every Bellman updater died (last: {error}); continue with --resume") from None
            self._submit(key, front=True)
            return self.train_step()

    def sync(self) -> None:
        """The learner's targets to every updater (after the labels already asked of it), its online
        network to the collectors."""
        targets = self.learner.target_arrays.remote()
        for updater in self.updaters:
            updater.set_targets.remote(targets)
        self.learner.publish.remote()


class OnPolicy:
    """On-policy collection during finetuning, on the local trainer's schedule (see the module doc)."""

    def __init__(self, ray, collectors: list, config, first_index: int, start_step: int, total_steps: int):
        self.ray, self.config = ray, config
        self.pool = WorkPool(ray, collectors, lambda actor, part: actor.collect_online.remote(part)) \
            if collectors else None
        self.lag = len(collectors)
        self.first_index = self.next_index = first_index
        spe = config.steps_per_episode
        self.first_step = -(-max(config.offline_steps, start_step) // spe) * spe if spe else 0
        self.budget = self.allowed(total_steps - 1) if spe else math.inf
        self.done: list[int] = []

    def allowed(self, step: int) -> int:
        """On-policy episodes the local trainer has collected before its learner step ``step``."""
        spe = self.config.steps_per_episode
        if not spe:
            return 0
        return max(0, (step - self.first_step) // spe + 1)

    def _finished(self, results: list[dict]) -> None:
        self.done.extend(index for result in results for index in result["indices"])

    def feed(self, step: int) -> None:
        if self.pool is None:
            return
        self._finished(self.pool.reap(timeout=0))
        wanted = self.allowed(step) if self.config.steps_per_episode else math.inf
        ahead = min(wanted + self.lag, self.budget)  # collectors may work this far ahead of the schedule
        while self.pool.idle and self.next_index - self.first_index < ahead:
            self.pool.add([self.next_index])
            self.next_index += 1
        while self.config.steps_per_episode and len(self.done) < wanted - self.lag and self.pool.busy():
            self._finished(self.pool.reap())  # the learner is too far ahead of the collectors: wait

    def finish(self) -> list[int]:
        """Wait for the episodes being collected; returns the indices collected in this run."""
        if self.pool is not None:
            self.pool.queue.clear()
            while self.pool.pending:
                self._finished(self.pool.reap())
        return sorted(self.done)


def _save(ray, learner, log) -> None:
    ray.get(learner.save.remote())
    log.flush()
