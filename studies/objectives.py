"""The two kinds of trial, and the bridge from their intermediate measurements to Optuna.

- ``pipeline``: the trial's randomization profile and training config are written to its
  directory; its offline episodes are collected (or re-rendered, ``studies.data``);
  ``workbench train`` runs in a child process (``studies.training``) and each checkpoint
  is measured as an intermediate value; the last checkpoint is measured in full.
- ``cem``: a trained run's Q-network (loaded once per worker) acts with the trial's CEM
  settings for ``eval.episodes`` episodes, in rungs of ``eval.rung_episodes``; each rung's
  running success and latency are the intermediate values.

The intermediate metrics are the single objective (with a pruner), or the objectives an
``[early_stop]`` rule needs; none are measured when nothing would stop a trial.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna

from policies.runtime.cem import CEMConfig
from policies.runtime.files import atomic_write_bytes
from studies.early_stop import INTERMEDIATE, stop_reason
from studies.measure import Measured, TargetDomain, TimedPolicy, measure
from studies.metrics import LATENCY, SUCCESS
from studies.spec import Study
from studies.trial_config import ResolvedTrial
from workbench.errors import UserError

PRUNE_REASON = "prune_reason"


@dataclass
class TrialContext:
    trial: optuna.Trial
    study: optuna.Study
    spec: Study
    directory: Path
    resolved: ResolvedTrial
    deadline: float  # time.monotonic() past which the trial fails


class Reporter:
    """Intermediate values to Optuna's pruner (one objective) or the early-stop rule (several)."""

    def __init__(self, context: TrialContext):
        self.context = context
        spec = context.spec
        if not spec.multi_objective:
            self.wanted = set() if spec.file.pruner.name == "none" else {spec.metrics[0]}
        elif spec.file.early_stop.rule == "dominated":
            self.wanted = set(spec.metrics)
        elif spec.file.early_stop.rule == "median":
            self.wanted = {spec.metrics[0]}
        else:
            self.wanted = set()
        self.history: dict[str, dict] = {}

    def report(self, step: int, measured: Measured) -> None:
        context, spec = self.context, self.context.spec
        trial = context.trial
        if str(step) in self.history:
            return  # the trainer saves twice at its last step (checkpoint and end)
        self.history[str(step)] = {"values": measured.values, "optimistic": measured.optimistic}
        if not spec.multi_objective:
            metric = spec.metrics[0]
            trial.report(measured.values[metric], step)
            if trial.should_prune():
                reason = (f"pruned by the {spec.file.pruner.name} pruner at step {step}: "
                          f"{metric} {measured.values[metric]:.4g}")
                trial.set_user_attr(PRUNE_REASON, reason)
                raise optuna.TrialPruned(reason)
            return
        trial.set_user_attr(INTERMEDIATE, self.history)
        rule = spec.file.early_stop
        reason = stop_reason(context.study, rule.rule, spec.metrics, spec.directions, rule.startup_trials,
                             rule.warmup_steps, step, measured.values, measured.optimistic)
        if reason:
            trial.set_user_attr(PRUNE_REASON, reason)
            raise optuna.TrialPruned(reason)


def _write_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2, default=str).encode())


class PipelineObjective:
    """Collect (or re-render), train, measure: one trial of a ``pipeline`` study."""

    def __init__(self, spec: Study):
        self.spec = spec
        self.targets: dict[str, TargetDomain] = {}
        if spec.base.run is not None:  # a warm-started study: its warm start must be there before any trial
            from workbench.training.warm_start import warm_start_of

            try:
                warm_start_of(spec.base.run)
            except UserError as error:
                raise UserError(f"{spec.source}: base.run = {spec.base.run!r}: {error}") from None

    def target(self, resolved: ResolvedTrial, image_size: int) -> TargetDomain:
        config = resolved.config.eval
        key = json.dumps([config.model_dump(mode="json"), image_size])
        if key not in self.targets:
            self.targets[key] = TargetDomain(config, image_size, self.spec.directory / "shared")
        return self.targets[key]

    def __call__(self, context: TrialContext) -> Measured:
        import tomli_w

        from policies.qtopt.checkpoint import CheckpointError, learner_from_checkpoint
        from randomizers import format_profile
        from studies.data import prepare_offline
        from studies.training import CHECKPOINT, Trainer, TrialFailure
        from workbench.evaluation.metrics.transfer import training_domain_frames

        spec, resolved, folder = self.spec, context.resolved, context.directory
        config = resolved.config
        profile_path = folder / "profile.toml"
        atomic_write_bytes(profile_path, format_profile(resolved.profile).encode())
        run_dir = folder / "run"
        if config.run is not None:  # warm-started: base.run's replay and weights, finetuned under the trial's profile
            from workbench.training.config import RunPaths
            from workbench.training.warm_start import start_finetune

            pipeline = resolved.pipeline.model_copy(update={"finetune_profile": str(profile_path.resolve())})
            train_path = None
            start_finetune(config.run, RunPaths(run_dir), pipeline)
            data = {"offline": "warm start", "warm_start": str(config.run), "finetune_steps": pipeline.finetune_steps}
        else:
            pipeline = resolved.pipeline.model_copy(update={"profile": str(profile_path)})
            train_path = folder / "train.toml"
            # TOML has no None: an unset optional value (init_checkpoint, finetune_profile) is left out.
            atomic_write_bytes(train_path, tomli_w.dumps(pipeline.model_dump(mode="json", exclude_none=True)).encode())
            data = prepare_offline(run_dir / "offline", study_dir=spec.directory, scene=config.scene,
                                   base_profile=spec.profile, profile=resolved.profile, profile_path=profile_path,
                                   seed=config.seed, episodes=config.collect.episodes,
                                   image_size=pipeline.qtopt.image_size, policy=config.collect.policy,
                                   rerender_ok=config.collect.reuse == "rerender" or (
                                       config.collect.reuse == "auto" and spec.visual_only()))
        qcfg = pipeline.qtopt
        cem = resolved.cem(qcfg.act_cem)
        _write_json(folder / "data.json", data)
        context.trial.set_user_attr("offline", data["offline"])
        target = self.target(resolved, qcfg.image_size)
        frames: list = []

        def sim_frames():
            if not frames:
                frames.append(training_domain_frames(config.scene, str(profile_path), config.eval.transfer_images,
                                                     config.seed, qcfg.image_size))
            return frames[0]

        reporter = Reporter(context)
        trainer = Trainer(run_dir, train_path, folder / "train.log", context.deadline)
        trainer.start()
        try:
            for copy in trainer.checkpoints():
                if not reporter.wanted:
                    continue
                try:
                    learner, info = learner_from_checkpoint(copy)
                except CheckpointError:
                    continue  # a checkpoint the trainer is still replacing: the next one will do
                measured = measure(reporter.wanted, learner.policy_net, cem, qcfg.action_spec(), target,
                                   config.eval.rung_episodes, sim_frames)
                reporter.report(info.learner_step, measured)
        finally:
            trainer.stop()
        try:
            learner, info = learner_from_checkpoint(run_dir / CHECKPOINT)
        except CheckpointError as error:
            raise TrialFailure(f"the trained checkpoint cannot be read: {error}") from None
        measured = measure(set(spec.needed_metrics()), learner.policy_net, cem, qcfg.action_spec(), target,
                           config.eval.episodes, sim_frames)
        return Measured(measured.values, measured.optimistic,
                        {**measured.details, "learner_step": info.learner_step, "cem": dataclasses.asdict(cem), **data})

    def close(self) -> None:
        for target in self.targets.values():
            target.close()


class CEMObjective:
    """The trial's CEM settings on a trained run's Q-network: one trial of a ``cem`` study."""

    def __init__(self, spec: Study):
        from policies.qtopt.checkpoint import CheckpointError, learner_from_checkpoint
        from workbench.rollout.qtopt_policy import CHECKPOINT_NAME

        self.spec = spec
        run = Path(spec.base.run)
        path = run / CHECKPOINT_NAME
        if not path.is_file():
            raise UserError(f"{spec.source}: base.run = {spec.base.run!r}: no {CHECKPOINT_NAME} there (train it "
                            "first: workbench train --run ...)")
        try:
            learner, info = learner_from_checkpoint(path)
        except CheckpointError as error:
            raise UserError(f"{spec.source}: base.run: {error}") from None
        self.qnet, self.info = learner.policy_net.eval(), info
        self.base_cem: CEMConfig = info.config.act_cem
        self.action_spec = info.config.action_spec()
        self.image_size = int(info.image_size)
        self.targets: dict[str, TargetDomain] = {}

    def __call__(self, context: TrialContext) -> Measured:
        from workbench.rollout.evaluate import wilson_interval

        resolved = context.resolved
        config = resolved.config.eval
        cem = resolved.cem(self.base_cem)
        key = json.dumps(config.model_dump(mode="json"))
        if key not in self.targets:
            self.targets[key] = TargetDomain(config, self.image_size, self.spec.directory / "shared")
        target = self.targets[key]
        reporter = Reporter(context)
        wanted = set(self.spec.needed_metrics())
        if not reporter.wanted:
            measured = measure(wanted, self.qnet, cem, self.action_spec, target, config.episodes)
            return Measured(measured.values, measured.optimistic, {**measured.details, "cem": dataclasses.asdict(cem)})
        from workbench.rollout.evaluate import run_episodes
        from workbench.rollout.qtopt_policy import QTOptPolicy

        timed = TimedPolicy(QTOptPolicy(self.qnet, cem, self.action_spec))
        env = target.env()
        first_seed = target.success_seed(config.episodes)  # the tune split's: a study never sees test
        successes = done = 0
        while done < config.episodes:
            count = min(config.rung_episodes, config.episodes - done)
            for index in range(done, done + count):
                successes += run_episodes(env, timed, 1, first_seed + index, progress=False).successes
            done += count
            if time.monotonic() > context.deadline:
                from studies.training import TrialFailure

                raise TrialFailure("timed out: evaluation ran past budget.trial_minutes")
            rate = wilson_interval(successes, done)
            values = {SUCCESS: rate.rate, LATENCY: float(np.median(timed.times) * 1000.0)}
            optimistic = {SUCCESS: rate.high, LATENCY: values[LATENCY]}
            if done < config.episodes:
                reporter.report(done, Measured({k: values[k] for k in reporter.wanted},
                                               {k: optimistic[k] for k in reporter.wanted}, {}))
        values = {k: values[k] for k in wanted}
        return Measured(values, {k: optimistic[k] for k in wanted},
                        {"success": rate.to_dict(), "cem": dataclasses.asdict(cem)})

    def close(self) -> None:
        for target in self.targets.values():
            target.close()


def make_objective(spec: Study):
    return PipelineObjective(spec) if spec.kind == "pipeline" else CEMObjective(spec)
