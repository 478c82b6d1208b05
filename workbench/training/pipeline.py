"""QT-Opt's collectors beside the trainer, on two cores: the pieces `bench learn` and `workbench run` share.

- ``collect_explorer``: a fixed number of explorer episodes into RUN/offline/ from two processes.
- ``train_with_collector``: ``workbench.training.train.train`` in this process (one core) for fixed
  step counts, beside it one lockstep collector process (the other core, workbench.training.lockstep).
  A run directory that already holds a config.json is resumed from its checkpoint, with the config
  it started with.
- ``planned_steps``, ``planned_explorer_episodes``: time budgets as counts, at nominal rates.

Child processes are started fresh (``spawn``: no forked GL or torch state) and die with this one.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1

# Budgets in seconds become counts at these rates (measured on this kind of machine, 2 cores):
# a run is then fixed by its config and seed, and only its wall time depends on the machine.
# Learner updates of batch 32, one core, a lockstep collector beside it: 20/s measured at batch 64,
# times the 1.75 that halving the batch gained in `bench train --profile` (README).
NOMINAL_UPDATES_PER_S = 35.0
NOMINAL_EXPLORER_EPISODES_PER_S = 16.0  # two explorer processes
COLLECTOR_EVERY = 8  # learner steps per collector episode: 256 batch rows, as 4 steps of 64 were


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
                     episodes: int, workers: int = 2) -> dict:
    """Explorer episodes 0..``episodes``-1 into ``run_dir/offline`` from ``workers`` processes; episodes
    already there are kept and skipped (``workbench.rollout.collect``)."""
    from workbench.rollout.collect import collect_worker

    kwargs = {"scene": scene, "profile": profile, "episodes": episodes, "seed": seed, "image_size": image_size,
              "progress": False}
    with spawn_pool(workers) as pool:
        results = pool.starmap(collect_worker, [(str(Path(run_dir) / "offline"), kwargs, w, workers)
                                                for w in range(workers)])
        pool.close()
        pool.join()
    written = sum(r["written"] for r in results)
    return {"episodes": written, "successes": sum(r["successes"] for r in results),
            "explorer_success": sum(r["successes"] for r in results) / max(written, 1)}


def planned_steps(seconds: float, offline_share: float) -> tuple[int, int]:
    """(offline_steps, finetune_steps) for a training budget, at the nominal update rate: a step
    count, not a deadline, so the run is the same on any machine (only its wall time differs)."""
    total = int(seconds * NOMINAL_UPDATES_PER_S)
    offline = int(total * offline_share)
    return offline, total - offline


def planned_explorer_episodes(seconds: float) -> int:
    """Explorer episodes for a collection budget, at the nominal rate of two processes."""
    return max(2, int(seconds * NOMINAL_EXPLORER_EPISODES_PER_S))


def train_with_collector(run_dir: str | Path, overrides: dict, offline_steps: int, finetune_steps: int) -> dict:
    """Train ``run_dir`` in this process (one core) with a lockstep collector process beside it (the
    other core): explorer episodes while the learner is offline, then its CEM policy with exploration
    noise (QT-Opt's collectors -> replay -> trainer, reproducible from config and seed).

    A new run takes ``overrides`` (PipelineConfig values) and the step counts; a run with a
    config.json resumes from its checkpoint and keeps its config. Returns train()'s summary plus
    ``offline_steps`` and ``resumed``.
    """
    import torch

    from workbench.training.config import RunPaths, load_run_config, validate_config
    from workbench.training.train import train

    torch.set_num_threads(1)
    paths = RunPaths(run_dir)
    resumed = paths.config.exists()
    if resumed:
        config, config_values = load_run_config(paths), None
    else:
        config_values = {"collector_every": COLLECTOR_EVERY, **overrides, "offline_steps": offline_steps,
                         "finetune_steps": finetune_steps, "steps_per_episode": 0}
        config = validate_config(config_values, "training overrides")
    # A run configured without the collector (a plain `workbench train` warm start) collects in-process.
    collector = None
    if config.collector_every:
        collector = multiprocessing.get_context("spawn").Process(
            target=collector_main, args=(str(paths.root), config.model_dump(mode="json")))
        collector.start()
    try:
        # No deadline: the steps are the plan, so a machine more than three times slower than nominal
        # (four main jobs on two cores) takes longer and still trains the same network. A deadline
        # here once ended such warm starts at 10714 and 11002 of 11760 steps, silently.
        summary = train(paths.root, overrides=config_values, resume=resumed, progress=False)
    finally:
        if collector is not None:
            collector.join(timeout=30)
            if collector.is_alive():
                collector.terminate()
    return {**summary, "offline_steps": config.offline_steps, "resumed": resumed}


def collector_main(run_dir: str, config: dict) -> None:
    """Process entry point of the lockstep collector beside the trainer."""
    from workbench.training.config import PipelineConfig
    from workbench.training.lockstep import collect_in_lockstep

    set_parent_death_signal()
    collect_in_lockstep(run_dir, PipelineConfig.model_validate(config))
