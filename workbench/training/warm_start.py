"""One offline phase, shared; then finetunes from it, each under its own randomization profile.

QT-Opt's offline phase learns from explorer episodes only, so it does not depend on the
profile that finetuning will collect under. A run's offline phase (``train_warm_start``)
is therefore done once and each candidate profile finetunes from it (``finetune_from``):
the study's trials, the main job's final policy and every policy of ``bench tuning``
start from the same weights, replay and optimizer state, and differ only in the profile
their on-policy episodes are drawn under (and in how long they finetune).

Measured on this machine (seed-0 main job's policy, 50 proxy-real episodes): training the
warm start on 100 re-rendered episodes alone for 600 steps dropped its success from 16% to
0%; finetuning keeps the whole replay and the optimizer, as the final policy's training does.

A warm start is a run directory at its phase switch: config.json with ``finetune_steps`` 0 and its
checkpoint, or a run that finetuned since and kept the phase switch's checkpoint as
``warmstart.safetensors`` (``workbench run`` does). A finetune directory holds hard links to the
warm start's offline episodes (no copy of the data), a copy of that checkpoint (weights, Adam,
step) and its own config.json: the warm start's config with ``finetune_profile`` and
``finetune_steps`` set. It resumes like any run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from policies.runtime.files import atomic_write_bytes
from workbench.errors import UserError
from workbench.training.config import PipelineConfig, RunPaths, load_run_config
from workbench.training.pipeline import train_with_collector

WARM_START = "warmstart.safetensors"  # a run's checkpoint at its phase switch, kept when it finetunes on


def train_warm_start(run_dir: str | Path, overrides: dict, offline_steps: int) -> dict:
    """The offline phase of ``run_dir`` (offline/ collected before), with the lockstep explorer beside it."""
    return train_with_collector(run_dir, overrides, offline_steps, 0)


def finetune_from(warm_dir: str | Path, run_dir: str | Path, *, profile: str, finetune_steps: int) -> dict:
    """Finetune ``warm_dir``'s offline-phase policy in a new ``run_dir`` under ``profile`` (a built-in name or a
    profile file) for ``finetune_steps``, with a lockstep collector beside it; a rerun resumes."""
    paths = RunPaths(run_dir)
    if not paths.config.exists():
        warm, _ = warm_start_of(warm_dir)
        start_finetune(warm_dir, paths, warm.model_copy(update={"finetune_profile": profile,
                                                                "finetune_steps": finetune_steps}))
    return train_with_collector(paths.root, {}, 0, 0)


def warm_start_of(warm_dir: str | Path) -> tuple[PipelineConfig, Path]:
    """The warm start's config (at its phase switch) and checkpoint; UserError saying what is missing."""
    warm = RunPaths(warm_dir)
    if not warm.config.is_file():
        raise UserError(f"{warm.root}: no run there (no config.json); a warm start is a trained run's directory")
    config = load_run_config(warm)
    kept = warm.root / WARM_START
    if kept.is_file():
        return config.model_copy(update={"finetune_steps": 0, "finetune_profile": None}), kept
    if config.finetune_steps:
        raise UserError(f"{warm.root}: not a warm start: it finetunes for {config.finetune_steps} steps and kept no "
                        f"{WARM_START} of its phase switch")
    if not warm.checkpoint.is_file():
        raise UserError(f"{warm.root}: no {warm.checkpoint.name}: its offline phase has not run")
    return config, warm.checkpoint


def start_finetune(warm_dir: str | Path, paths: RunPaths, config: PipelineConfig) -> None:
    """Lay out ``paths`` as the warm start continued with ``config``: linked offline episodes, the warm
    start's checkpoint, ``config`` as its config.json."""
    _, checkpoint = warm_start_of(warm_dir)
    if paths.root.exists() and any(paths.root.iterdir()):
        raise UserError(f"{paths.root} is not empty and holds no config.json; choose another directory")
    link_tree(RunPaths(warm_dir).offline, paths.offline)
    shutil.copyfile(checkpoint, paths.checkpoint.with_suffix(".tmp"))
    os.replace(paths.checkpoint.with_suffix(".tmp"), paths.checkpoint)
    history = RunPaths(warm_dir).history
    if history.is_file():
        shutil.copyfile(history, paths.history)
    atomic_write_bytes(paths.config, config.model_dump_json(indent=2).encode())  # last: marks the run started


def link_tree(source: Path, target: Path) -> None:
    """Hard links of every file in ``source`` under ``target`` (copies where the filesystem cannot link)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if not path.is_file() or (target / path.name).exists():
            continue
        try:
            os.link(path, target / path.name)
        except OSError:
            shutil.copyfile(path, target / path.name)
