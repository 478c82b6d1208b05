"""What a trial measures: success and CEM latency on the eval suite, domain gap and OPC.

Every measurement takes a Q-network and the CEM settings, and sees only the target's
``tune`` split (``workbench.evaluation.target_splits``): the success episodes reset with
the split's seeds (900000 + i), so every trial (and every checkpoint of a trial) faces the
same scenes. The target domain (the suite's frames and labelled explorer episodes at the
tune seeds, or the tune split of a ``workbench data`` directory) is the same for every
trial; a worker builds it once, and labelled episodes are kept on disk in the study directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policies.qtopt.replay import OfflineStore
from policies.runtime.cem import CEMConfig
from policies.runtime.spec import ActionSpec
from studies.metrics import DOMAIN, LATENCY, OPC, SUCCESS, MetricUndefined
from studies.trial_config import EvalConfig
from workbench.evaluation.target_splits import MIN_LABELLED
from workbench.rollout.evaluate import SuccessRate, run_episodes

TARGET_SOURCE = 60  # seed stream of the labelled target episodes' explorer noise (collect's sources are < 60)
TRANSFER_STREAM = 61


class TimedPolicy:
    """A policy whose every ``act`` is timed (seconds in ``times``)."""

    def __init__(self, policy):
        self.policy = policy
        self.times: list[float] = []

    def reset(self, rng: np.random.Generator) -> None:
        self.policy.reset(rng)

    def act(self, observation: dict) -> np.ndarray:
        start = time.perf_counter()
        action = self.policy.act(observation)
        self.times.append(time.perf_counter() - start)
        return action


@dataclass(frozen=True)
class Measured:
    values: dict[str, float]
    optimistic: dict[str, float]  # success: the upper end of its 95% interval; others: as measured
    details: dict


class TargetDomain:
    """The eval suite's environment, and the transfer target: frames and labelled episodes."""

    def __init__(self, eval_config: EvalConfig, image_size: int, cache_dir: Path):
        from workbench.evaluation.suites import get_suites

        self.config = eval_config
        self.image_size = image_size
        self.suite = get_suites(eval_config.suite)[0]
        self.split = eval_config.tune_split()  # the only seeds a study sees
        self.cache_dir = cache_dir
        self._env = None
        self._frames: np.ndarray | None = None
        self._labelled = None
        self._real = None

    def env(self):
        if self._env is None:
            from workbench.evaluation.suites import make_suite_env

            self._env = make_suite_env(self.suite, self.image_size)
        return self._env

    def _real_data(self):
        if self._real is None:
            from workbench.evaluation.realdata import RealDataError, load_real_data

            try:
                self._real = load_real_data(self.config.target_data, self.image_size, split=self.split.name)
            except RealDataError as error:
                from workbench.errors import UserError

                raise UserError(f"eval.target_data: {error}") from None
        return self._real

    def frames(self) -> np.ndarray:
        if self._frames is None:
            count = self.config.transfer_images
            if self.config.target_data:
                from workbench.evaluation.metrics.transfer import subsample, target_images

                images, _ = target_images(self._real_data())
                self._frames = subsample(images, count, np.random.default_rng([self.split.first_seed,
                                                                               TRANSFER_STREAM]))
            else:
                from workbench.evaluation.suites import reset_frames

                self._frames = reset_frames(self.suite, count, self.split.seeds(count).start, self.image_size)
        return self._frames

    def success_seed(self, episodes: int) -> int:
        """The first reset seed of a trial's ``episodes`` success episodes (episode i: that + i)."""
        return self.split.seeds(episodes).start

    def check(self, source: str, wanted: set[str]) -> None:
        """UserError (naming ``source``, the field and the reason) when the tune split cannot measure
        ``wanted``: target data without a tune split, too few images, too few labelled episodes, or
        labelled episodes that all succeeded or all failed (OPC cannot rank anything then)."""
        from workbench.errors import UserError

        config = self.config
        where = f"{source}: base.eval"
        if config.target_data:
            try:
                real = self._real_data()  # refused without a tune split
            except UserError as error:
                raise UserError(f"{source}: base.{error}") from None
        if config.target_data and wanted & set(DOMAIN):
            from workbench.evaluation.metrics.transfer import target_images

            try:
                images, _ = target_images(real)
            except UserError as error:
                raise UserError(f"{where}.target_data: the tune split: {error}") from None
            if len(images) < config.transfer_images:
                raise UserError(f"{where}.transfer_images = {config.transfer_images}: the tune split of "
                                f"{config.target_data} holds {len(images)} images; lower it or give the tune split "
                                "more (`workbench data split --force --tune-images N`)")
        if wanted & set(OPC):
            try:
                labelled = self.labelled()
            except MetricUndefined as error:
                raise UserError(f"{where}.target_data: {error}") from None
            success = labelled[4]
            field = "target_data" if config.target_data else "labelled_episodes"
            if len(success) < MIN_LABELLED:
                raise UserError(f"{where}.{field}: the tune split holds {len(success)} labelled episodes; opc_auc "
                                f"and soft_opc need at least {MIN_LABELLED}")
            if success.all() or not success.any():
                outcome = "succeeded" if success.all() else "failed"
                raise UserError(f"{where}.{field}: all {len(success)} labelled episodes of the tune split {outcome}; "
                                "opc_auc and soft_opc need successes and failures to rank")

    def labelled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(images, states, actions, episode index, success per episode) of labelled target episodes."""
        if self._labelled is None:
            if self.config.target_data:
                real = self._real_data()
                if not real.episodes:
                    raise MetricUndefined(f"{real.root} has no labelled episodes in its {self.split.name} split")
                self._labelled = real.transitions()
            else:
                self._labelled = self._suite_episodes()
        return self._labelled

    def _suite_episodes(self):
        """Explorer episodes in the suite at the tune split's first seeds (the same for every trial),
        cached on disk."""
        from workbench.rollout.collect import episode_id, run_episode
        from workbench.sim.scripted import ExplorerPolicy

        config = self.config
        seeds = self.split.seeds(config.labelled_episodes)
        folder = self.cache_dir / (f"target-{self.suite.name}-{self.image_size}px-{self.split.name}"
                                   f"{seeds.start}-n{len(seeds)}")
        store = OfflineStore(folder)
        present = {path.name for path in store.paths()}
        env = self.env()
        explorer = ExplorerPolicy(env)
        for index, seed in enumerate(seeds):
            name = episode_id(index)
            if f"{name}.safetensors" in present:
                continue
            episode = run_episode(env, explorer, seed, np.random.default_rng([seed, TARGET_SOURCE]), name,
                                  "explorer", {"suite": self.suite.name, "split": self.split.name})
            try:
                store.add(episode)
            except FileExistsError:
                pass  # another worker stored the same (seeded) episode meanwhile
        episodes = [episode for episode in store.episodes()][:config.labelled_episodes]
        return (np.concatenate([e.images[:-1] for e in episodes]), np.concatenate([e.states[:-1] for e in episodes]),
                np.concatenate([e.actions for e in episodes]),
                np.concatenate([np.full(e.steps, i) for i, e in enumerate(episodes)]),
                np.array([e.success for e in episodes], bool))

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None


def success_and_latency(env, qnet, cem: CEMConfig, spec: ActionSpec, episodes: int,
                        seed: int) -> tuple[SuccessRate, float]:
    """Greedy CEM policy success over ``episodes`` (episode i: ``run_episodes`` with seed ``seed + i``, so a
    rung of the first k episodes sees the same scenes), and its median action time in ms."""
    from workbench.rollout.evaluate import wilson_interval
    from workbench.rollout.qtopt_policy import QTOptPolicy

    timed = TimedPolicy(QTOptPolicy(qnet, cem, spec))
    successes = sum(run_episodes(env, timed, 1, seed + index, progress=False).successes for index in range(episodes))
    return wilson_interval(successes, episodes), float(np.median(timed.times) * 1000.0)


def domain_gap(qnet, sim_frames: np.ndarray, target_frames: np.ndarray, seed: int, bootstrap: int,
               wanted: set[str]) -> dict:
    from workbench.evaluation.metrics.domain_classifier import domain_classifier_accuracy
    from workbench.evaluation.metrics.features import encoder_features
    from workbench.evaluation.metrics.kid import kernel_inception_distance

    sim, target = encoder_features(qnet, sim_frames), encoder_features(qnet, target_frames)
    values = {}
    if "kid" in wanted:
        values["kid"] = kernel_inception_distance(sim, target, np.random.default_rng([seed, TRANSFER_STREAM, 0]),
                                                  bootstrap=bootstrap).kid
    if "domain_accuracy" in wanted:
        values["domain_accuracy"] = domain_classifier_accuracy(
            sim, target, np.random.default_rng([seed, TRANSFER_STREAM, 1])).accuracy
    return values


def opc(qnet, labelled, wanted: set[str]) -> dict:
    from workbench.evaluation.metrics.features import q_values
    from workbench.evaluation.metrics.opc import off_policy_classification

    images, states, actions, index, success = labelled
    result = off_policy_classification(q_values(qnet, images, states, actions), index, success)
    values = {}
    for name, value in (("opc_auc", result.auc), ("soft_opc", result.soft_opc)):
        if name in wanted:
            if value is None:
                raise MetricUndefined(f"{name} is undefined on the labelled target episodes: {result.note} "
                                      f"({result.successful_episodes}/{result.episodes} succeeded; raise "
                                      "eval.labelled_episodes)")
            values[name] = value
    return values


def measure(wanted: set[str], qnet, cem: CEMConfig, spec: ActionSpec, target: TargetDomain, episodes: int,
            sim_frames=None) -> Measured:
    """The wanted metrics of one Q-network; ``sim_frames()`` gives the training-domain frames."""
    values: dict[str, float] = {}
    optimistic: dict[str, float] = {}
    details: dict = {}
    config = target.config
    if wanted & {SUCCESS, LATENCY}:
        rate, latency = success_and_latency(target.env(), qnet, cem, spec, episodes, target.success_seed(episodes))
        values[SUCCESS], values[LATENCY] = rate.rate, latency
        optimistic[SUCCESS] = rate.high
        details["success"] = rate.to_dict()
    if wanted & set(DOMAIN):
        values.update(domain_gap(qnet, sim_frames(), target.frames(), target.split.first_seed, config.bootstrap,
                                 wanted))
    if wanted & set(OPC):
        values.update(opc(qnet, target.labelled(), wanted))
    for name, value in values.items():
        if not np.isfinite(value):
            raise MetricUndefined(f"{name} is not finite ({value})")
        optimistic.setdefault(name, value)
    keep = {name: float(values[name]) for name in values if name in wanted}
    return Measured(keep, {name: float(optimistic[name]) for name in keep}, details)
