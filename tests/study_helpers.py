"""Tiny studies for the tests: real pipeline code with small numbers (16 px, a few episodes and steps)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

IMAGE = 16


def tiny_run(run: Path) -> Path:
    """A trained run directory: 3 explorer episodes at 16x16, 4 learner steps."""
    from workbench.rollout.collect import collect
    from workbench.training.train import train

    collect(run / "offline", episodes=3, seed=0, image_size=IMAGE, progress=False)
    train(run, progress=False, overrides={
        "offline_steps": 4, "finetune_steps": 0, "checkpoint_every": 4, "log_every": 2,
        "qtopt": {"image_size": IMAGE, "batch_size": 8, "cem": {"iterations": 1, "samples": 16, "elites": 2},
                  "act_cem": {"iterations": 1, "samples": 16, "elites": 2}}})
    return run


def cem_study(path: Path, *, name: str, directory: Path, run: Path, trials: int, episodes: int = 2, rung: int = 1,
              storage: str | None = None, extra: str = "", search: str | None = None, heartbeat: float = 30.0) -> Path:
    storage_line = f'storage = "{storage}"\n' if storage else ""
    text = f"""
[study]
name = "{name}"
kind = "cem"
directory = "{directory}"
heartbeat_seconds = {heartbeat}
{storage_line}
[sampler]
name = "random"
seed = 0

[early_stop]
rule = "dominated"
startup_trials = 2

[[objectives]]
metric = "success"

[[objectives]]
metric = "latency_ms"

[budget]
trials = {trials}
minutes = 10
trial_minutes = 2

[base]
run = "{run}"

[base.eval]
episodes = {episodes}
rung_episodes = {rung}

[search]
{search or '''cem.samples = { low = 4, high = 24 }
cem.initial_std = { low = 0.1, high = 1.0, log = true }'''}
{extra}
"""
    path.write_text(text)
    return path


def pipeline_study(path: Path, *, name: str, directory: Path, trials: int, pruner: str, extra: str = "") -> Path:
    text = f"""
[study]
name = "{name}"
kind = "pipeline"
directory = "{directory}"

[sampler]
name = "random"
seed = 0

[pruner]
{pruner}

[[objectives]]
metric = "opc_auc"

[budget]
trials = {trials}
minutes = 10
trial_minutes = 3

[base]
profile = "default"

[base.collect]
episodes = 3

[base.train]
offline_steps = 4
finetune_steps = 0
checkpoint_every = 2
log_every = 2

[base.train.qtopt]
image_size = {IMAGE}
batch_size = 8

[base.train.qtopt.cem]
iterations = 1
samples = 8
elites = 2

[base.train.qtopt.act_cem]
iterations = 1
samples = 8
elites = 2

[base.eval]
episodes = 1
split = "tune"
labelled_episodes = 20  # the fewest a study accepts; the explorer succeeds in some of them

[search]
randomizers.lighting.intensity.high = {{ low = 1.0, high = 3.0, log = true }}
randomizers.image.enabled = {{ choices = [true, false] }}
{extra}
"""
    path.write_text(text)
    return path


def trial_states(db: Path, name: str) -> list[tuple[int, str]]:
    """(number, state) of every trial, read straight from the SQLite file (what a dashboard sees);
    empty while the file is still being created."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as connection:
            rows = connection.execute(
                "SELECT trials.number, trials.state FROM trials JOIN studies ON trials.study_id = studies.study_id "
                "WHERE studies.study_name = ? ORDER BY trials.number", (name,)).fetchall()
    except sqlite3.OperationalError:  # no tables yet
        return []
    return [(int(number), str(state)) for number, state in rows]
