"""QT-Opt's distributed roles as plain classes, run as Ray actors by ``workbench.training.ray_backend``.

    Collector  --episodes-->  ReplayStore  --batches-->  Updater  --labelled batches-->  Learner
        ^                                                   ^                               |
        +------------- acting (Polyak) weights -------------+------ target weights ---------+

Each class is a thin wrapper around the local pipeline's own functions (``run_episode``,
``collection_episode``, ``EpisodeReplay``, ``augment``, ``BellmanUpdater.label``,
``Learner.train_step``), so the two backends make the same data from the same seeds.
Nothing here imports Ray at module level except through the handles it is given, so the
module imports without the ``[ray]`` extra.

Exactly-once episodes: an episode's file name and seeds follow from (seed, stream,
index) alone and the ReplayStore writes a name at most once (``add`` refuses a name
already on disk), so a collector that is killed and restarted re-collects only the
indices not yet stored, and a retried task never stores or counts an episode twice.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # remote workers: before anything imports mujoco's GL

OFFLINE, ONLINE = "offline", "online"


def _ray():
    import ray

    return ray


class ReplayStore:
    """The episode directories of a collection or a run, on the driver's machine.

    ``directories`` maps a kind (``offline``, ``online``) to a directory. With
    ``capacities`` (train), each kind is also an in-memory ``EpisodeReplay`` loaded from
    disk, and ``sample`` draws batches from them as the local trainer does.
    """

    def __init__(self, directories: dict[str, str], capacities: dict[str, int] | None = None,
                 offline_fraction: float = 0.5, n_step: int = 1, gamma: float = 1.0):
        from policies.qtopt.replay import EpisodeReplay, OfflineStore, ReplayMixer

        self.stores = {kind: OfflineStore(path) for kind, path in directories.items()}
        self.replays = {}
        if capacities is not None:
            self.replays = {kind: EpisodeReplay(self.stores[kind].directory, capacities[kind], n_step, gamma)
                            for kind in directories}
            for replay in self.replays.values():
                replay.refresh()
            self.mixer = ReplayMixer(self.replays.get(OFFLINE), self.replays.get(ONLINE), offline_fraction)
        self.info: dict[str, dict] = {}  # success and steps of the episodes this store wrote, by id
        self.written = {kind: 0 for kind in directories}
        self.refused = 0  # adds of an episode already on disk (a retried task): not stored again

    def _path(self, kind: str, name: str):
        from policies.qtopt.replay import EPISODE_SUFFIX

        return self.stores[kind].directory / f"{name}{EPISODE_SUFFIX}"

    def add(self, kind: str, episode) -> bool:
        """Store ``episode`` unless its id is already on disk; True when it was written now."""
        path = self._path(kind, episode.episode_id)
        if path.exists():
            self.refused += 1
            return False
        try:
            path = self.stores[kind].add(episode)
        except FileExistsError:
            self.refused += 1
            return False
        if kind in self.replays:
            self.replays[kind].add(episode, path.name, str(path))
        self.info[episode.episode_id] = {"success": bool(episode.success), "steps": int(episode.steps)}
        self.written[kind] += 1
        return True

    def missing(self, kind: str, names: list[str]) -> list[str]:
        return [name for name in names if not self._path(kind, name).exists()]

    def stored(self, kind: str, names: list[str]) -> dict[str, dict]:
        """Of ``names``, those on disk: {name: {"success": bool, "steps": int}}."""
        from policies.qtopt.replay import read_episode

        found = {}
        for name in names:
            path = self._path(kind, name)
            if name in self.info and path.exists():
                found[name] = self.info[name]
            elif path.exists():  # written by another process
                episode = read_episode(path)
                found[name] = {"success": bool(episode.success), "steps": int(episode.steps)}
        return found

    def refresh(self) -> int:
        """Load episodes other processes wrote into the directories since the last call."""
        return sum(replay.refresh() for replay in self.replays.values())

    def sample(self, batch_size: int, key: list[int]):
        import numpy as np

        return self.mixer.sample(batch_size, np.random.default_rng([*key, 0]))

    def counts(self) -> dict:
        import numpy as np

        counts = {"written": dict(self.written), "refused": self.refused,
                  "on_disk": {kind: len(store) for kind, store in self.stores.items()}}
        for kind, replay in self.replays.items():
            counts[kind] = {"episodes": replay.episodes, "successes": replay.successes, "transitions": len(replay),
                            "image_shape": list(replay.image_shape) if replay.image_shape else None,
                            "recent_success": float(np.mean(replay.recent_success)) if replay.recent_success
                            else None}
        return counts


class Collector:
    """Runs episodes and hands them to the ReplayStore: scripted ones for ``collect``, the learner's
    CEM policy with exploration noise for ``train``."""

    def __init__(self, replay: str, settings: dict, learner: str | None = None, online: dict | None = None):
        import torch

        from workbench.rollout.collect import CollectSettings, make_env
        from workbench.rollout.qtopt_policy import make_policy

        torch.set_num_threads(1)
        self.replay, self.learner, self.online = _actor(replay), _actor(learner), online
        self.settings = CollectSettings(**settings)
        self.env = make_env(self.settings.scene, split=self.settings.split, image_size=self.settings.image_size,
                            profile=self.settings.profile)
        self.scripted = make_policy(self.settings.policy, self.env) if self.settings.policy != "qtopt" else None
        self.policy, self.version = None, -1
        self.pid = _process()

    def ping(self) -> str:
        return self.pid

    def _store(self, kind: str, indices: list[int], prefix: str, make_episode) -> dict:
        from workbench.rollout.collect import episode_id

        ray = _ray()
        names = [episode_id(index, prefix) for index in indices]
        todo = set(ray.get(self.replay.missing.remote(kind, names)))
        ran = written = 0
        for index, name in zip(indices, names, strict=True):
            if name not in todo:
                continue  # stored already, by an earlier attempt of this task or another collector
            episode = make_episode(index)
            ran += 1
            written += ray.get(self.replay.add.remote(kind, episode))
        return {"pid": self.pid, "ran": ran, "written": written, "indices": list(indices)}

    def collect(self, indices: list[int]) -> dict:
        """Collection episodes ``indices`` (``workbench collect``'s names and seeds) into the store."""
        from workbench.rollout.collect import collection_episode

        return self._store(OFFLINE, indices, "episode",
                           lambda index: collection_episode(self.env, self.scripted, self.settings, index))

    def collect_online(self, indices: list[int]) -> dict:
        """On-policy episodes ``indices`` (the local trainer's ``train-NNNNNN`` names and seeds) with the
        learner's latest published weights."""
        from workbench.rollout.collect import ONLINE_SOURCE, episode_id, seeded_episode

        self._sync()
        info = {"scene": self.settings.scene, "profile": self.settings.profile, "split": self.settings.split}
        seed = self.settings.seed

        def episode(index):
            return seeded_episode(self.env, self.policy, seed, ONLINE_SOURCE, index, episode_id(index, "train"),
                                  "qtopt", {"index": index, "learner_step": self.version, **info})

        result = self._store(ONLINE, indices, "train", episode)
        return {**result, "learner_step": self.version}

    def _sync(self) -> None:
        """Take the learner's published acting weights when they are newer than ours."""
        from policies.qtopt.config import QTOptConfig
        from policies.qtopt.qnet import build_qnet
        from workbench.rollout.qtopt_policy import QTOptPolicy

        version, arrays = _ray().get(self.learner.weights_since.remote(self.version))
        if arrays is None:
            return
        if self.policy is None:
            qcfg = QTOptConfig.model_validate(self.online["qtopt"])
            qnet = build_qnet(qcfg.arch, qcfg.image_size, max_translation=qcfg.max_translation)
            self.policy = QTOptPolicy(qnet, qcfg.act_cem, qcfg.action_spec(), self.online["explore_epsilon"],
                                      self.online["explore_noise"])
        _load_state(self.policy.qnet, arrays)
        self.version = version


class Updater:
    """A Bellman updater: batches from the ReplayStore, shift-augmented and labelled with clipped double-Q
    targets from its own copy of the target networks, which the learner refreshes."""

    def __init__(self, replay: str | None, learner: str | None, qtopt: dict, batch_size: int, augment_shift: int):
        import numpy as np
        import torch

        from policies.qtopt.config import QTOptConfig
        from policies.qtopt.learner import Learner

        torch.set_num_threads(1)
        qcfg = QTOptConfig.model_validate(qtopt)
        self.replay, self.batch_size, self.shift = _actor(replay), batch_size, augment_shift
        # The local trainer's updater, on target networks of its own (their weights come from the learner).
        self.updater = Learner.from_config(qcfg, np.random.default_rng(0)).bellman_updater(qcfg)
        if learner is not None:  # a restarted updater starts from the learner's targets, not fresh weights
            self.updater.load_target_arrays(_ray().get(_actor(learner).target_arrays.remote()))
        self.pid = _process()

    def ping(self) -> str:
        return self.pid

    def set_targets(self, arrays: dict) -> None:
        self.updater.load_target_arrays(arrays)

    def label(self, key: list[int]):
        """The labelled batch of ``key`` (its sample and its augmentation and CEM noise depend on the key)."""
        import numpy as np

        from policies.qtopt.augment import augment

        batch = _owned(_ray().get(self.replay.sample.remote(self.batch_size, key)))
        rng = np.random.default_rng([*key, 1])
        return self.updater.label(augment(batch, self.shift, rng), rng)

    def label_random(self, batches: int, batch_size: int, image_size: int, seed: int) -> int:
        """Label ``batches`` random batches made here (``bench scale``); returns the labels made."""
        import numpy as np

        from policies.qtopt.batches import random_transitions

        rng = np.random.default_rng(seed)
        batch = random_transitions(batch_size, image_size, rng)
        for _ in range(batches):
            self.updater.label(batch, rng)
        return batches * batch_size


class LearnerActor:
    """The learner of a run directory: Q-network, Adam and target networks; it saves the checkpoint."""

    def __init__(self, run_dir: str, config_json: str, resume: bool):
        import numpy as np
        import torch

        from policies.qtopt.checkpoint import load_checkpoint
        from policies.qtopt.learner import Learner
        from workbench.training.config import INIT_STREAM, PipelineConfig, RunPaths

        torch.set_num_threads(1)
        self.paths = RunPaths(run_dir)
        self.config = PipelineConfig.model_validate_json(config_json)
        self.learner = Learner.from_config(self.config.qtopt, np.random.default_rng([self.config.seed, INIT_STREAM]))
        if resume and self.paths.checkpoint.exists():
            load_checkpoint(self.paths.checkpoint, self.learner)
        self.eval_env = None
        self.publish()

    def step_count(self) -> int:
        return self.learner.step_count

    def train_step(self, labelled) -> dict:
        metrics = self.learner.train_step(_owned(labelled))
        return {"step": metrics.step, "loss": metrics.loss, "mean_q": metrics.mean_q,
                "target_q": float(labelled.targets.mean())}

    def target_arrays(self) -> dict:
        return self.learner.targets.state_arrays()

    def publish(self) -> int:
        """Snapshot the acting network (the Polyak average) for the collectors (``weights_since``)."""
        state = self.learner.policy_net.state_dict()
        self.published = (self.learner.step_count, {k: v.detach().cpu().numpy().copy() for k, v in state.items()})
        return self.learner.step_count

    def weights_since(self, version: int) -> tuple[int, dict | None]:
        step, arrays = self.published
        return (step, arrays) if step > version else (version, None)

    def save(self) -> int:
        from policies.qtopt.checkpoint import save_checkpoint

        save_checkpoint(self.paths.checkpoint, self.learner, self.config.qtopt)
        return self.learner.step_count

    def evaluate(self, episodes: int) -> float:
        """Greedy success on train objects, as the local trainer's ``eval_every``."""
        from workbench.rollout.collect import make_env
        from workbench.rollout.evaluate import evaluate_greedy
        from workbench.rollout.qtopt_policy import QTOptPolicy

        config, qcfg = self.config, self.config.qtopt
        if self.eval_env is None:
            self.eval_env = make_env(config.scene, split="train", image_size=qcfg.image_size, profile=config.profile)
        greedy = QTOptPolicy(self.learner.policy_net, qcfg.act_cem, qcfg.action_spec())
        return evaluate_greedy(self.eval_env, greedy, episodes, config.seed)  # train_step sets train() again


def _owned(batch):
    """``batch`` (Transitions or LabelledBatch) with its own writable arrays: arrays from Ray's object
    store are read-only views, which torch warns about."""
    import dataclasses

    import numpy as np

    return dataclasses.replace(batch, **{f.name: np.array(getattr(batch, f.name))
                                         for f in dataclasses.fields(batch)
                                         if not getattr(batch, f.name).flags.writeable})


def _actor(name: str | None):
    """Another actor of this job by name (names, not handles, are passed to actors: Ray restarts an actor
    from its constructor arguments, and a name needs nothing kept alive in the object store)."""
    return _ray().get_actor(name) if name is not None else None


def _process() -> str:
    """This process, told apart from any other in the cluster (a restarted actor is a new process)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _load_state(net, arrays: dict) -> None:
    import numpy as np
    import torch

    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
