"""QT-Opt's collectors beside the trainer, on two cores: the pieces `bench learn` and `workbench run` share.

- ``collect_explorer``: explorer episodes into RUN/offline/ from two processes until a deadline.
- ``train_with_collector``: ``workbench.training.train.train`` in this process (one core) for a time budget,
  the offline phase for a share of it (a step count set from a measured update rate), then joint
  finetuning; beside it one collector process (the other core) adds explorer episodes to offline/
  while the trainer is offline, then runs the latest checkpoint's CEM policy with exploration noise
  into online/ (QT-Opt's collectors -> replay -> trainer). A run directory that already holds a
  config.json is resumed from its checkpoint, with the config it started with.

Child processes are started fresh (``spawn``: no forked GL or torch state) and die with this one.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1


def set_parent_death_signal() -> None:
    """Get SIGKILL when the parent process dies (Linux; elsewhere nothing): a killed job leaves no
    collector behind writing into its run directory."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def spawn_pool(processes: int):
    """A pool of fresh interpreters that die with this process."""
    return multiprocessing.get_context("spawn").Pool(processes, initializer=set_parent_death_signal)


def collect_explorer(run_dir: str | Path, *, scene: str, profile: str, seed: int, image_size: int,
                     seconds: float, workers: int = 2) -> dict:
    """Explorer episodes into ``run_dir/offline`` from ``workers`` processes for ``seconds`` (at least
    one episode each); episodes already there are kept and skipped (``workbench.rollout.collect``)."""
    from workbench.rollout.collect import collect_worker

    kwargs = {"scene": scene, "profile": profile, "episodes": 10**6, "seed": seed, "image_size": image_size,
              "deadline": time.time() + seconds, "progress": False}
    with spawn_pool(workers) as pool:
        results = pool.starmap(collect_worker, [(str(Path(run_dir) / "offline"), kwargs, w, workers)
                                                for w in range(workers)])
        pool.close()
        pool.join()
    written = sum(r["written"] for r in results)
    return {"episodes": written, "successes": sum(r["successes"] for r in results),
            "explorer_success": sum(r["successes"] for r in results) / max(written, 1)}


def measure_update_rate(config, updates: int = 8) -> float:
    """QT-Opt updates (label + train) per second for this config, on random data."""
    import numpy as np

    from policies.qtopt.augment import augment
    from policies.qtopt.batches import random_transitions
    from policies.qtopt.learner import Learner

    rng = np.random.default_rng(0)
    learner = Learner.from_config(config.qtopt, rng)
    updater = learner.bellman_updater(config.qtopt)
    batch = random_transitions(config.qtopt.batch_size, config.qtopt.image_size, rng)
    learner.train_step(updater.label(batch, rng))  # warm-up
    start = time.perf_counter()
    for _ in range(updates):
        learner.train_step(updater.label(augment(batch, config.augment_shift, rng), rng))
    return updates / (time.perf_counter() - start)


def train_with_collector(run_dir: str | Path, overrides: dict, seconds: float, offline_share: float) -> dict:
    """Train ``run_dir`` for ``seconds`` with a collector process beside the trainer.

    A new run takes ``overrides`` (PipelineConfig values) with the offline/finetune switch set
    from a measured update rate; a run with a config.json resumes from its checkpoint and keeps
    its config. Returns train()'s summary plus ``measured_updates_per_s`` (None on resume),
    ``offline_steps`` and ``resumed``.
    """
    import torch

    from workbench.training.config import RunPaths, load_run_config, validate_config
    from workbench.training.train import train

    torch.set_num_threads(1)
    deadline = time.time() + seconds
    paths = RunPaths(run_dir)
    resumed = paths.config.exists()
    if resumed:
        config, config_values, rate = load_run_config(paths), None, None
    else:
        base = validate_config(overrides, "training overrides")
        rate = measure_update_rate(base)
        offline_steps = int(rate * max(deadline - time.time(), 0.0) * offline_share)
        config_values = {**overrides, "offline_steps": offline_steps, "finetune_steps": 10**7,
                         "steps_per_episode": 0, "checkpoint_every": min(base.checkpoint_every, 500)}
        config = validate_config(config_values, "training overrides")
    indices = [int(p.stem.split("-")[1]) for p in paths.offline.glob("episode-*.safetensors")]
    collector = multiprocessing.get_context("spawn").Process(target=collector_main, args=(str(paths.root), {
        "scene": config.scene, "profile": config.profile, "image_size": config.qtopt.image_size,
        "seed": config.seed, "offline_steps": config.offline_steps, "first_offline_index": 1 + max(indices, default=-1),
        "explore_epsilon": config.explore_epsilon, "explore_noise": config.explore_noise, "deadline": deadline}))
    collector.start()
    try:
        summary = train(paths.root, overrides=config_values, resume=resumed,
                        minutes=max(deadline - time.time(), 0.0) / 60, progress=False)
    finally:
        collector.join(timeout=30)
        if collector.is_alive():
            collector.terminate()
    return {**summary, "measured_updates_per_s": rate, "offline_steps": config.offline_steps, "resumed": resumed}


def collector_main(run_dir: str, kwargs: dict) -> None:
    """Process entry point of the collector beside the trainer."""
    from workbench.rollout.collect import collect_beside_trainer

    set_parent_death_signal()
    collect_beside_trainer(run_dir, **kwargs)
