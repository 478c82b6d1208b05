"""The whole main job at a tiny plan, killed at the end of finetuning and run again (slow: minutes)."""

import json

import pytest
from transfer_helpers import suite_cache  # noqa: F401 (a fixture)

from workbench.cli import main_job
from workbench.cli.main_job import CEM_CHOICE, CHOICE, CHOSEN_PROFILE, Plan, TrainingPlan, marker_path, run_main_job

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("suite_cache")]

TINY = Plan(collect_minutes=0.15, training=TrainingPlan(0.4, 0.5, {"qtopt": {"image_size": 32, "batch_size": 16}}),
            tune_trials=2, tune_steps=20, tune_episodes=3, tune_labelled=24,
            confirm_episodes=4, cem_candidates=((1, 16, 2), (2, 32, 4)), eval_episodes=2, transfer_images=20,
            transfer_episodes=4, drive_episodes=2, bootstrap=50, sheet_tiles=4)


class Killed(BaseException):
    pass


def test_killed_during_finetuning_the_rerun_continues_and_finishes(tmp_path, monkeypatch):
    run = tmp_path / "run"
    real_finetune = main_job.finetune_stage

    def finetune_then_die(ctx):
        real_finetune(ctx)  # the checkpoint is on disk, the stage's marker is not
        raise Killed()

    monkeypatch.setattr(main_job, "finetune_stage", finetune_then_die)
    with pytest.raises(Killed):
        run_main_job(run, seed=0, budget=0.05, plan=TINY)
    done_before = {key: marker_path(run, key).stat().st_mtime_ns
                   for key in ("scene-sheet", "randomization-sheet", "collect", "warm-start", "tune", "confirm")}
    assert not marker_path(run, "finetune").exists() and (run / "checkpoint.safetensors").is_file()
    warm = json.loads(marker_path(run, "warm-start").read_text())["summary"]
    assert warm["config"]["finetune_steps"] == 0 and (run / "warmstart.safetensors").is_file()

    # The tune study's trials started from the warm start; the default profile's own values ran first.
    summary = json.loads((run / "study" / "summary.json").read_text())
    assert summary["default_trial"] == 0 and summary["eval"]["split"] == "tune"
    assert summary["states"].get("complete", 0) == TINY.tune_trials, [t["reason"] for t in summary["trials"]]
    trial = json.loads((run / "study" / "trials" / "00000" / "trial.json").read_text())
    assert trial["config"]["run"] == str(run.resolve())
    trial_run = json.loads((run / "study" / "trials" / "00000" / "run" / "config.json").read_text())
    assert trial_run["finetune_steps"] == TINY.tune_steps and trial_run["finetune_profile"].endswith("profile.toml")
    assert trial_run["offline_steps"] == warm["config"]["offline_steps"]  # it continued the warm start

    monkeypatch.setattr(main_job, "finetune_stage", real_finetune)
    lines = []
    records = run_main_job(run, seed=0, budget=0.05, plan=TINY, out=lines.append)
    assert {key: marker_path(run, key).stat().st_mtime_ns for key in done_before} == done_before  # not redone
    assert sum("done before, skipped" in line for line in lines) == len(done_before)
    assert records["finetune"]["attempts"] == 2 and records["finetune"]["summary"]["resumed"]
    assert records["finetune"]["summary"]["learner_step"] == sum(TINY.training_steps())

    # The choice reached training, and the bundle acts with the chosen CEM.
    choice = json.loads((run / CHOICE).read_text())
    config = json.loads((run / "config.json").read_text())
    assert config["finetune_profile"] == (str((run / CHOSEN_PROFILE).resolve()) if choice["decision"] == "study"
                                          else None)
    assert (run / CHOSEN_PROFILE).is_file() and choice["split"] == "tune" and choice["first_seed"] == 900050
    cem = json.loads((run / CEM_CHOICE).read_text())
    manifest = json.loads((run / "bundle" / "manifest.json").read_text())
    assert {k: manifest["cem"][k] for k in ("iterations", "samples", "elites", "initial_std")} == cem["cem"]
    assert manifest["cem"]["latency_budget_ms"] == TINY.latency_budget_ms and manifest["cem"]["measured_latency_ms"] > 0

    assert (run / "report.html").is_file()
    page = (run / "report.html").read_text()
    assert "Held-out success (simulation suites pooled)" in page and "stage has not run" not in page
    assert "Training profile:" in page and 'alt="objective history"' in page and "Acting CEM" in page
    # Trained against explorer on the same episodes: the paired difference, pooled and per suite.
    evaluated = records["evaluate"]["summary"]
    paired = evaluated["headline"]["paired"]
    assert paired["low"] <= paired["difference"] <= paired["high"]
    assert set(evaluated["paired_by_suite"]) >= set(evaluated["headline"]["suites"]) | {"pooled"}
    assert "trained - explorer" in page and "on the same episodes" in page
