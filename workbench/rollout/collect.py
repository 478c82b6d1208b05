"""Collecting grasp episodes into replay files (policies.qtopt.replay's format).

One file per episode, named by its index (``episode-000042.safetensors``), so a
killed collection resumes by skipping the indices already on disk and never
stores an episode twice. Episode ``i`` of a collection draws its scene and its
policy noise from Generators seeded by (seed, stream, i), so the data set is
the same however the indices are split across processes or restarts. The
objects and their settled drop are drawn per block of ``EPISODES_PER_START``
indices (``start_seed``) and reused, turned, within the block (see
``scenes.settled``): settling costs ~10x a reuse.

The directory also holds ``collect.json``, the settings it was collected with;
adding to it with other settings is refused rather than mixing two data sets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from policies.qtopt.replay import EPISODE_SUFFIX, Episode, OfflineStore
from policies.runtime.files import atomic_write_bytes
from workbench.errors import UserError
from workbench.sim.env import GraspEnv, observation_state

MANIFEST = "collect.json"

# Seed streams: the env's scene draw and the policy's noise never share a Generator,
# and offline (explorer), on-policy and evaluation episodes never share a scene.
ENV_STREAM, POLICY_STREAM, START_STREAM = 0, 1, 2
OFFLINE_SOURCE, ONLINE_SOURCE, COLLECTOR_SOURCE = 0, 10, 20
# Episodes whose indices agree in index // EPISODES_PER_START share a settled start (objects and
# their settled poses); each turns the pile about the bin's axis and draws its own randomization.
EPISODES_PER_START = 8


def episode_id(index: int, prefix: str = "episode") -> str:
    return f"{prefix}-{index:06d}"


def episode_seed(seed: int, source: int, index: int) -> int:
    """The env reset seed of episode ``index``: a 31-bit int derived from the run's seed."""
    return int(np.random.SeedSequence([seed, source + ENV_STREAM, index]).generate_state(1)[0] >> 1)


def start_seed(seed: int, source: int, index: int) -> int:
    """The settled-start seed of episode ``index`` (GraspEnv.reset's ``start_seed``): one per block of indices."""
    block = index // EPISODES_PER_START
    return int(np.random.SeedSequence([seed, source + START_STREAM, block]).generate_state(1)[0] >> 1)


def policy_rng(seed: int, source: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, source + POLICY_STREAM, index])


def make_env(scene: str, *, split: str, image_size: int | None = None, profile: str | None = None) -> GraspEnv:
    """GraspEnv under a randomization profile (None: the "none" profile)."""
    return GraspEnv(scene, split=split, image_size=image_size, profile=profile)


def run_episode(env: GraspEnv, policy, env_seed: int, rng: np.random.Generator, episode_name: str,
                policy_name: str, extra_info: dict | None = None, start: int | None = None) -> Episode:
    """One episode, recorded as (T+1) observations and T actions, rewards and dones.

    ``done`` is the env's ``terminated``: the gripper's terminate action or the step
    limit, after which the env scores the grasp; both end the task, so no bootstrap.
    A ``truncated`` end (none in GraspEnv today) would leave done 0. ``start``, when given, is the
    episode's ``start_seed``: its objects and settled poses come from there (see ``scenes.settled``).
    """
    observation, info = env.reset(seed=env_seed, options=None if start is None else {"start_seed": start})
    policy.reset(rng)
    images, states = [observation["image"]], [observation_state(observation)]
    actions, rewards, dones = [], [], []
    randomization = info.get("randomization")
    terminated = truncated = False
    while not (terminated or truncated):
        action = np.asarray(policy.act(observation), dtype=np.float32)
        observation, reward, terminated, truncated, info = env.step(action)
        images.append(observation["image"])
        states.append(observation_state(observation))
        actions.append(action)
        rewards.append(reward)
        dones.append(terminated)
    episode_info = {"object_ids": [int(i) for i in info["object_ids"]], "env_seed": int(env_seed),
                    "success": bool(info["success"]), "steps": len(actions), **(extra_info or {})}
    if start is not None:
        episode_info["start_seed"] = int(start)
    if randomization is not None:
        episode_info["randomization"] = randomization
    return Episode(
        images=np.stack(images),
        states=np.stack(states),
        actions=np.stack(actions),
        rewards=np.asarray(rewards, dtype=np.float32),
        dones=np.asarray(dones, dtype=np.uint8),
        episode_id=episode_name,
        success=bool(info["success"]),
        seed=int(env_seed),
        policy=policy_name,
        info=episode_info,
    )


@dataclass(frozen=True)
class CollectSettings:
    """What makes two collections the same data set (written to collect.json)."""

    scene: str
    profile: str
    split: str
    policy: str
    seed: int
    image_size: int

    def to_json(self) -> dict:
        return asdict(self)


def check_manifest(directory: Path, settings: CollectSettings) -> None:
    """Refuse to add to a directory collected with other settings."""
    path = directory / MANIFEST
    if not path.exists():
        return
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: unreadable collection manifest ({error})") from None
    mine = settings.to_json()
    different = {k: (stored.get(k), v) for k, v in mine.items() if stored.get(k) != v}
    if different:
        details = ", ".join(f"{k}: {old!r} on disk, {new!r} now" for k, (old, new) in different.items())
        raise UserError(f"{directory} was collected with other settings ({details}); "
                        "use the same settings to resume or another --out")


def missing_indices(store: OfflineStore, indices: Iterable[int], prefix: str = "episode") -> list[int]:
    present = {p.name for p in store.paths()}
    return [i for i in indices if f"{episode_id(i, prefix)}{EPISODE_SUFFIX}" not in present]


def open_collection(out: Path, *, scene: str, profile: str, split: str, policy: str, seed: int,
                    image_size: int | None) -> tuple[GraspEnv, CollectSettings]:
    """The environment of a collection into ``out`` and its settings, after checking ``out``'s manifest
    and (re)writing it."""
    env = make_env(scene, split=split, image_size=image_size, profile=profile)
    settings = CollectSettings(scene=scene, profile=profile, split=split, policy=policy, seed=seed,
                               image_size=int(env.observation_space["image"].shape[0]))
    try:
        check_manifest(out, settings)
    except UserError:
        env.close()
        raise
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / MANIFEST, json.dumps(settings.to_json(), indent=2).encode())
    return env, settings


def seeded_episode(env: GraspEnv, policy, seed: int, source: int, index: int, name: str, policy_name: str,
                   info: dict | None = None) -> Episode:
    """Episode ``index`` of stream ``source``: its scene, noise and settled start follow from (seed, source,
    index) alone, whoever collects it and whenever."""
    return run_episode(env, policy, episode_seed(seed, source, index), policy_rng(seed, source, index), name,
                       policy_name, info, start_seed(seed, source, index))


def collection_episode(env: GraspEnv, policy, settings: CollectSettings, index: int) -> Episode:
    """Episode ``index`` of a collection: its scene and noise depend only on (settings.seed, index)."""
    return seeded_episode(env, policy, settings.seed, OFFLINE_SOURCE, index, episode_id(index), settings.policy,
                          {"index": index, "scene": settings.scene, "profile": settings.profile,
                           "split": settings.split})


def collect(out: str | Path, *, scene: str = "bin_grasp", profile: str = "default", episodes: int,
            seed: int = 0, split: str = "train", policy: str = "explorer", image_size: int | None = None,
            indices: Iterable[int] | None = None, progress: bool = True) -> dict:
    """Collect episodes 0..episodes-1 (or the given ``indices``) that are not yet in ``out``.

    Returns counts: requested, skipped (already there), written, and the success rate of the
    episodes written now.
    """
    from workbench.rollout.qtopt_policy import make_policy

    if episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {episodes}")
    out = Path(out)
    env, settings = open_collection(out, scene=scene, profile=profile, split=split, policy=policy, seed=seed,
                                    image_size=image_size)
    store = OfflineStore(out)
    wanted = list(range(episodes)) if indices is None else list(indices)
    todo = missing_indices(store, wanted)
    actor = make_policy(policy, env)
    successes = written = 0
    bar = tqdm(total=len(wanted), initial=len(wanted) - len(todo), desc=f"collect {out}",
               disable=not progress, unit="ep")
    for index in todo:
        episode = collection_episode(env, actor, settings, index)
        store.add(episode)
        successes += episode.success
        written += 1
        bar.update()
        bar.set_postfix(success=f"{successes / written:.0%}")
    bar.close()
    env.close()
    return {"requested": len(wanted), "skipped": len(wanted) - len(todo), "written": written,
            "successes": successes, "success_rate": successes / written if written else None}


def collect_worker(out: str, kwargs: dict, worker: int, workers: int) -> dict:
    """Process entry point: collect the blocks of indices (i // EPISODES_PER_START) % workers == worker,
    so each worker reuses the settled starts it makes."""
    import torch

    torch.set_num_threads(1)
    kwargs = {"progress": worker == 0, **kwargs}
    mine = [i for i in range(kwargs["episodes"]) if (i // EPISODES_PER_START) % workers == worker]
    return collect(out, indices=mine, **kwargs)

