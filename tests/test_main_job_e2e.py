"""The whole main job at a tiny plan, killed at the end of training and run again (slow: minutes)."""

import json

import pytest
from transfer_helpers import suite_cache  # noqa: F401 (a fixture)

from workbench.cli import main_job
from workbench.cli.main_job import Plan, TrainingPlan, marker_path, run_main_job

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("suite_cache")]

TINY = Plan(collect_minutes=0.15, training=TrainingPlan(0.4, 0.5, {"qtopt": {"image_size": 32, "batch_size": 16}}),
            study_trials=3, study_minutes=0.3, eval_episodes=2, transfer_images=20, transfer_episodes=4,
            drive_episodes=2, bootstrap=50, sheet_tiles=4)


class Killed(BaseException):
    pass


def test_killed_during_training_the_rerun_continues_and_finishes(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_train = main_job.train_stage

    def train_then_die(ctx):
        real_train(ctx)  # the checkpoint is on disk, the stage's marker is not
        raise Killed()

    monkeypatch.setattr(main_job, "train_stage", train_then_die)
    with pytest.raises(Killed):
        run_main_job(run, seed=0, budget=0.05, plan=TINY)
    done_before = {key: marker_path(run, key).stat().st_mtime_ns for key in ("scene-sheet", "randomization-sheet",
                                                                              "collect")}
    steps_before = json.loads((run / "history.json").read_text())[-1]["step"] if (run / "history.json").exists() else 0
    assert not marker_path(run, "train").exists() and (run / "checkpoint.safetensors").is_file()

    monkeypatch.setattr(main_job, "train_stage", real_train)
    lines = []
    records = run_main_job(run, seed=0, budget=0.05, plan=TINY, out=lines.append)
    assert {key: marker_path(run, key).stat().st_mtime_ns for key in done_before} == done_before  # not redone
    assert sum("done before, skipped" in line for line in lines) == 3
    assert records["train"]["attempts"] == 2 and records["train"]["summary"]["resumed"]
    assert records["train"]["summary"]["learner_step"] >= steps_before
    assert (run / "report.html").is_file() and (run / "bundle" / "manifest.json").is_file()
    page = (run / "report.html").read_text()
    assert "Held-out success (simulation suites pooled)" in page and "stage has not run" not in page
    # Trained against explorer on the same episodes: the paired difference, pooled and per suite.
    evaluated = records["evaluate"]["summary"]
    paired = evaluated["headline"]["paired"]
    assert paired["low"] <= paired["difference"] <= paired["high"]
    assert set(evaluated["paired_by_suite"]) >= set(evaluated["headline"]["suites"]) | {"pooled"}
    assert "trained - explorer" in page and "on the same episodes" in page
