"""A collector process beside the learner, in lockstep: the same config and seed give the same run.

Collector episode ``i`` starts at learner step ``i * every``: an explorer episode while the
learner is in its offline phase, else the CEM policy (with exploration noise) of the weights the
learner published at exactly that step. The learner takes episode ``i`` into its replay at step
``(i + lag) * every``, waiting for it if the collector is behind. Neither side ever reads what
happens to be on disk at the moment, so two runs of one config make the same batches, the same
updates and the same checkpoint, while the collector still runs on the other core.

    RUN/acting/step-NNNNNNNN.safetensors   weights published for the episode starting at that step
    RUN/offline/beside-NNNNNN.safetensors  the collector's explorer episodes (offline phase)
    RUN/online/collector-NNNNNN.safetensors  its on-policy episodes (finetuning)
    RUN/acting/collector-failed.txt        why the collector stopped, if it failed
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch

from policies.qtopt.learner import Learner
from policies.qtopt.qnet import build_qnet
from policies.qtopt.replay import EPISODE_SUFFIX, EpisodeReplay, OfflineStore, read_episode
from policies.runtime.files import atomic_write_bytes
from workbench.errors import UserError
from workbench.rollout.collect import COLLECTOR_SOURCE, episode_id, make_env, seeded_episode
from workbench.rollout.qtopt_policy import QTOptPolicy
from workbench.sim.scripted import ExplorerPolicy
from workbench.training.config import PipelineConfig, RunPaths

FAILED_NAME = "collector-failed.txt"
WAIT_LIMIT_S = 900.0  # the learner gives up on an episode that long overdue
POLL_S = 0.002


@dataclass(frozen=True)
class Lockstep:
    """When collector episode ``i`` starts, which policy acts in it, and when the learner takes it."""

    every: int  # learner steps per collector episode
    lag: int  # episodes the learner lets the collector run behind the step it acts at
    offline_steps: int
    total_steps: int

    @classmethod
    def of(cls, config: PipelineConfig) -> Lockstep | None:
        if not config.collector_every:
            return None
        return cls(config.collector_every, config.collector_lag, config.offline_steps,
                   config.offline_steps + config.finetune_steps)

    def start(self, index: int) -> int:
        return index * self.every

    def due(self, index: int) -> int:
        return (index + self.lag) * self.every

    def explores(self, index: int) -> bool:
        """The scripted explorer acts (offline phase); else the learner's CEM policy."""
        return self.start(index) < self.offline_steps

    def episodes(self) -> range:
        """The episodes the learner will take: those due before its last step."""
        return range(max(0, -(-(self.total_steps - self.lag * self.every) // self.every)))

    def name(self, index: int) -> str:
        return episode_id(index, "beside" if self.explores(index) else "collector")

    def starting_at(self, step: int) -> int | None:
        index, rest = divmod(step, self.every)
        return index if rest == 0 and index in self.episodes() else None

    def due_at(self, step: int) -> int | None:
        index, rest = divmod(step - self.lag * self.every, self.every)
        return index if rest == 0 and index in self.episodes() else None


def weights_path(paths: RunPaths, step: int) -> Path:
    return paths.root / "acting" / f"step-{step:08d}.safetensors"


# -- the learner's side ---------------------------------------------------------------------

def publish(paths: RunPaths, lockstep: Lockstep, learner: Learner, step: int) -> None:
    """At the start of a collector episode that acts with the learner's policy, write its weights."""
    index = lockstep.starting_at(step)
    if index is None or lockstep.explores(index) or weights_path(paths, step).exists():
        return
    state = {name: tensor.detach().contiguous() for name, tensor in learner.policy_net.state_dict().items()}
    atomic_write_bytes(weights_path(paths, step), safetensors.torch.save(state))


def take_due(paths: RunPaths, lockstep: Lockstep, step: int, offline: EpisodeReplay,
             online: EpisodeReplay) -> None:
    """At its due step, wait for the collector's episode and add it to the learner's replay."""
    index = lockstep.due_at(step)
    if index is None:
        return
    replay = offline if lockstep.explores(index) else online
    name = lockstep.name(index) + EPISODE_SUFFIX
    if name in replay.loaded:
        return  # a resumed run read it from disk already
    path = replay.store.directory / name
    waited = time.monotonic()
    while not path.exists():
        failed = paths.root / "acting" / FAILED_NAME
        if failed.exists():
            raise UserError(f"the collector beside the trainer failed: {failed.read_text()}")
        if time.monotonic() - waited > WAIT_LIMIT_S:
            raise UserError(f"{path}: the collector's episode {index} is {WAIT_LIMIT_S:.0f} s overdue; "
                            "is its process still running?")
        time.sleep(POLL_S)
    replay.add(read_episode(path), name, str(path))
    weights_path(paths, lockstep.start(index)).unlink(missing_ok=True)  # nobody acts with it again


# -- the collector's side --------------------------------------------------------------------

def collect_in_lockstep(run_dir: str | Path, config: PipelineConfig) -> dict:
    """Run every collector episode of ``config``'s schedule (skipping those already on disk)."""
    paths = RunPaths(run_dir)
    lockstep = Lockstep.of(config)
    try:
        return _collect(paths, config, lockstep)
    except BaseException:
        atomic_write_bytes(paths.root / "acting" / FAILED_NAME, traceback.format_exc().encode())
        raise


def _collect(paths: RunPaths, config: PipelineConfig, lockstep: Lockstep) -> dict:
    torch.set_num_threads(1)
    qcfg = config.qtopt
    # Explorer episodes (offline phase) under the profile, on-policy ones under finetuning's profile.
    looks = {True: config.profile, False: config.finetune_look}
    envs: dict[str, object] = {}
    qnet = build_qnet(qcfg.arch, qcfg.image_size, max_translation=qcfg.max_translation)
    acting = QTOptPolicy(qnet, qcfg.act_cem, qcfg.action_spec(), config.explore_epsilon, config.explore_noise)
    stores = {True: OfflineStore(paths.offline), False: OfflineStore(paths.online)}
    counts = {"explorer_episodes": 0, "qtopt_episodes": 0, "successes": 0}
    try:
        for index in lockstep.episodes():
            explores = lockstep.explores(index)
            store, name = stores[explores], lockstep.name(index)
            if (store.directory / f"{name}{EPISODE_SUFFIX}").exists():
                continue
            look = looks[explores]
            if look not in envs:
                envs[look] = make_env(config.scene, split="train", image_size=qcfg.image_size, profile=look)
            env = envs[look]
            if not explores:
                qnet.load_state_dict(_wait_for_weights(paths, lockstep.start(index)))
            episode = seeded_episode(env, ExplorerPolicy(env) if explores else acting, config.seed, COLLECTOR_SOURCE,
                                     index, name, "explorer" if explores else "qtopt",
                                     {"index": index, "learner_step": lockstep.start(index), "scene": config.scene,
                                      "profile": look, "split": "train"})
            store.add(episode)
            counts["explorer_episodes" if explores else "qtopt_episodes"] += 1
            counts["successes"] += episode.success
    finally:
        for env in envs.values():
            env.close()
    return counts


def _wait_for_weights(paths: RunPaths, step: int) -> dict[str, torch.Tensor]:
    path = weights_path(paths, step)
    while not path.exists():
        time.sleep(POLL_S)
    return safetensors.torch.load(path.read_bytes())
