"""`workbench data export-sim`: simulated data written in the real-data format.

Unlabelled images are the first frames of scenes (objects settled, gripper raised)
and labelled episodes are a policy's grasps, both in one evaluation suite's
environment (``proxy-real`` by default), sensor effects included. Every metric that
reads real data can so be run end to end without a robot; the manifest says
``source: simulation`` and names the suite, so no report mistakes it for real data.

Seeds: image i resets with episode_seed(seed, IMAGE_SOURCE, i) and episode i with
episode_seed(seed, EPISODE_SOURCE, i); the policy draws from policy_rng(seed,
EPISODE_SOURCE, i). None of these streams is one a training collection uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from workbench.errors import UserError
from workbench.evaluation.realdata import LabelledEpisode, Manifest, write_real_data
from workbench.evaluation.suites import Suite, make_suite_env
from workbench.rollout.collect import episode_seed, policy_rng, run_episode

IMAGE_SOURCE, EPISODE_SOURCE = 30, 40


def export_sim(out: str | Path, suite: Suite, *, images: int, episodes: int, policy: str = "explorer",
               seed: int = 0, image_size: int | None = None, progress: bool = True) -> dict:
    """Render ``images`` frames and run ``episodes`` episodes of ``policy``; write them to ``out``."""
    from workbench.rollout.qtopt_policy import make_policy

    if images < 0 or episodes < 0 or images + episodes == 0:
        raise UserError(f"--images and --episodes must be >= 0 and not both 0, got {images} and {episodes}")
    if Path(out).exists():
        raise UserError(f"{out} already exists; choose a new --out (real-data directories are never overwritten)")
    env = make_suite_env(suite, image_size)
    try:
        frames = [env.reset(seed=episode_seed(seed, IMAGE_SOURCE, i))[0]["image"]
                  for i in tqdm(range(images), desc="images", disable=not progress, leave=False)]
        actor = make_policy(policy, env) if episodes else None
        low, high = env.action_space.low, env.action_space.high
        recorded = []
        for index in tqdm(range(episodes), desc=f"episodes ({policy})", disable=not progress, leave=False):
            episode = run_episode(env, actor, episode_seed(seed, EPISODE_SOURCE, index),
                                  policy_rng(seed, EPISODE_SOURCE, index), f"episode-{index:06d}", policy)
            recorded.append(LabelledEpisode(
                episode_id=episode.episode_id, success=bool(episode.success),
                images=episode.images[:-1], states=episode.states[:-1],
                actions=np.clip(episode.actions, low, high),  # what the env acted on
                final_image=episode.images[-1]))
        height, width = env.observation_space["image"].shape[:2]
        max_translation = float(f"{high[0]:.7g}")  # the float32 bound, as the scene wrote it
    finally:
        env.close()
    manifest = Manifest(
        source="simulation", image_width=int(width), image_height=int(height), max_translation=max_translation,
        description=(f"simulated with `workbench data export-sim` in suite {suite.name!r}: {suite.description}. "
                     "Not real data."),
        simulation={"suite": suite.to_dict(), "policy": policy, "seed": seed, "images": images,
                    "episodes": episodes})
    write_real_data(out, manifest, np.stack(frames) if frames else [], recorded)
    successes = sum(e.success for e in recorded)
    return {"out": str(out), "suite": suite.name, "images": images, "episodes": episodes,
            "successful_episodes": successes, "transitions": sum(e.steps for e in recorded)}
