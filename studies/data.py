"""A trial's offline episodes: collected under its profile, or re-rendered from recorded trajectories.

When a study's parameters change only how episodes look (lighting, texture, camera,
image), what happens in an episode does not depend on them: the explorer acts on the
simulator's state, and each randomizer draws from its own stream, so the physics of
episode ``i`` is the same under every trial's profile. Such a study records the
trajectories once (``<study>/shared/trajectories-<key>/``: the explorer episodes under
the base profile, with their physics states and randomization records) and each trial
re-renders them under its own profile with fresh visual draws
(``randomizers.rerender``). Otherwise every trial collects its own episodes
(``workbench.rollout.collect``). Both write a normal offline directory that ``workbench train``
reads, ``collect.json`` included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

from policies.qtopt.replay import OfflineStore
from policies.runtime.files import atomic_write_bytes
from randomizers import Profile

RERENDER_STREAM = 70
PHYSICS_KEY, RECORDS_KEY = "physics_states", "randomization_records"


class _Recorder(gym.Wrapper):
    """Keeps the physics state and the randomization record of every reset and step."""

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        self.states, self.records = [info["physics_state"]], [info["randomization"]]
        return observation, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.states.append(info["physics_state"])
        self.records.append(info["randomization"])
        return observation, reward, terminated, truncated, info


def trajectory_key(scene: str, profile: Profile, seed: int, episodes: int, image_size: int, policy: str) -> str:
    blob = json.dumps({"scene": scene, "profile": profile.model_dump(mode="json") | {"name": ""}, "seed": seed,
                       "episodes": episodes, "image_size": image_size, "policy": policy}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def record_trajectories(folder: Path, *, scene: str, profile: Profile, seed: int, episodes: int, image_size: int,
                        policy: str) -> OfflineStore:
    """Explorer episodes 0..episodes-1 as ``workbench collect`` would draw them, plus physics; missing ones only."""
    from workbench.rollout.collect import OFFLINE_SOURCE, episode_id, make_env, seeded_episode
    from workbench.rollout.qtopt_policy import make_policy

    store = OfflineStore(folder)
    present = {path.name for path in store.paths()}
    todo = [i for i in range(episodes) if f"{episode_id(i)}.safetensors" not in present]
    if not todo:
        return store
    env = _Recorder(make_env(scene, split="train", image_size=image_size, profile=profile))
    actor = make_policy(policy, env)
    try:
        for index in todo:
            episode = seeded_episode(env, actor, seed, OFFLINE_SOURCE, index, episode_id(index), policy,
                                     {"index": index, "scene": scene, "split": "train"})
            info = {**episode.info, PHYSICS_KEY: [np.asarray(s, float).tolist() for s in env.states],
                    RECORDS_KEY: env.records}
            try:
                store.add(dataclasses.replace(episode, info=info))
            except FileExistsError:
                pass  # another worker recorded the same (seeded) episode meanwhile
    finally:
        env.close()
    return store


def scene_spec(scene: str, image_size: int):
    """The scene spec as GraspEnv renders it at ``image_size``."""
    from scenes.spec import load_scene

    spec = load_scene(scene)
    camera = spec.camera.model_copy(update={"width": image_size, "height": image_size})
    return spec.model_copy(update={"camera": camera})


def rerender(trajectories: OfflineStore, out: Path, profile: Profile, seed: int, scene: str, image_size: int) -> int:
    """Every trajectory re-rendered under ``profile`` (visual draws seeded per episode) into ``out``."""
    from randomizers import EpisodeRerenderer
    from randomizers.rerender import recorded_scales

    spec = scene_spec(scene, image_size)
    store = OfflineStore(out)
    present = {path.name for path in store.paths()}
    written = 0
    for path in trajectories.paths():
        if path.name in present:
            continue
        from policies.qtopt.replay import read_episode

        source = read_episode(path)
        states, records = source.info[PHYSICS_KEY], source.info[RECORDS_KEY]
        rerenderer = EpisodeRerenderer(spec, source.info["object_ids"], recorded_scales(records), profile)
        try:
            index = int(source.info.get("index", written))
            draws = rerenderer.draw_records(np.random.default_rng([seed, RERENDER_STREAM, index]), len(states))
            images, _ = rerenderer.render(states, draws)
        finally:
            rerenderer.close()
        info = {key: value for key, value in source.info.items() if key not in (PHYSICS_KEY, RECORDS_KEY)}
        info |= {"randomization": draws[0], "rerendered_from": str(path)}
        store.add(dataclasses.replace(source, images=np.stack(images), info=info))
        written += 1
    return written


def prepare_offline(out: Path, *, study_dir: Path, scene: str, base_profile: Profile, profile: Profile,
                    profile_path: Path, seed: int, episodes: int, image_size: int, policy: str,
                    rerender_ok: bool) -> dict:
    """Fill ``out`` (a run's offline/) for one trial; returns how, and how long it took."""
    from workbench.rollout.collect import MANIFEST, CollectSettings, collect

    start = time.monotonic()
    if not rerender_ok:
        result = collect(out, scene=scene, profile=str(profile_path), episodes=episodes, seed=seed,
                         image_size=image_size, policy=policy, progress=False)
        return {"offline": "collected", "episodes": result["requested"], "seconds": time.monotonic() - start}
    key = trajectory_key(scene, base_profile, seed, episodes, image_size, policy)
    folder = study_dir / "shared" / f"trajectories-{key}"
    trajectories = record_trajectories(folder, scene=scene, profile=base_profile, seed=seed, episodes=episodes,
                                       image_size=image_size, policy=policy)
    recorded = time.monotonic()
    rerender(trajectories, out, profile, seed, scene, image_size)
    settings = CollectSettings(scene=scene, profile=str(profile_path), split="train", policy=policy, seed=seed,
                               image_size=image_size)
    manifest = settings.to_json() | {"rerendered_from": str(folder)}
    atomic_write_bytes(out / MANIFEST, json.dumps(manifest, indent=2).encode())
    return {"offline": "rerendered", "episodes": episodes, "seconds": time.monotonic() - start,
            "record_seconds": recorded - start}
