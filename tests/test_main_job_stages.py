"""The main job's stage runner: markers, skipping finished stages, continuing a killed one."""

import json

import pytest

from workbench.cli.main_job import Attempt, Plan, Stage, marker_path, run_stages, start_job
from workbench.errors import UserError


class Killed(BaseException):
    """Stands in for a kill in the middle of a stage (like KeyboardInterrupt, not an Exception)."""


def recording_stage(key: str, calls: list, kill_first: bool = False) -> Stage:
    def work(ctx):
        calls.append((key, round(ctx.spent_before, 3)))
        (ctx.run_dir / f"{key}.out").write_text("partial" if kill_first and len(calls_of(calls, key)) == 1 else "done")
        if kill_first and len(calls_of(calls, key)) == 1:
            raise Killed()
        return {"key": key}
    return Stage(key, f"stage {key}", 10.0, work)


def calls_of(calls: list, key: str) -> list:
    return [c for c in calls if c[0] == key]


def test_a_killed_job_reruns_only_the_unfinished_stages(tmp_path):
    calls, lines = [], []
    stages = [recording_stage("sheet", calls), recording_stage("train", calls, kill_first=True),
              recording_stage("report", calls)]

    with pytest.raises(Killed):
        run_stages(tmp_path, stages, seed=0, plan=Plan(), out=lines.append)
    assert [c[0] for c in calls] == ["sheet", "train"]
    assert marker_path(tmp_path, "sheet").is_file() and not marker_path(tmp_path, "train").exists()
    attempt = json.loads((tmp_path / "stages" / "train.attempt.json").read_text())
    assert attempt["attempts"] == 1 and attempt["spent_s"] >= 0

    records = run_stages(tmp_path, stages, seed=0, plan=Plan(), out=lines.append)
    assert [c[0] for c in calls] == ["sheet", "train", "train", "report"]  # sheet not redone
    assert calls[2][1] == pytest.approx(attempt["spent_s"], abs=1e-3)  # the train stage knows its spent time
    assert records["train"]["attempts"] == 2 and records["train"]["summary"] == {"key": "train"}
    assert not (tmp_path / "stages" / "train.attempt.json").exists()
    assert any("sheet: done before, skipped" in line for line in lines)
    assert any("[stage 2/3] stage train" in line and "est. left" in line for line in lines)

    run_stages(tmp_path, stages, seed=0, plan=Plan(), out=lines.append)
    assert len(calls) == 4  # everything cached


def test_the_marker_is_written_only_when_the_stage_returns(tmp_path):
    def failing(ctx):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_stages(tmp_path, [Stage("x", "x", 1.0, failing)], seed=0, plan=Plan(), out=lambda line: None)
    assert not marker_path(tmp_path, "x").exists()


def test_attempt_accumulates_time_across_attempts(tmp_path):
    with Attempt(tmp_path, "train") as first:
        pass
    second = Attempt(tmp_path, "train")
    assert second.attempts == 2 and second.before == pytest.approx(first.spent)


def test_budget_scales_time_and_episodes_with_floors():
    plan, doubled, tiny = Plan(), Plan().scaled(2.0), Plan().scaled(0.01)
    assert doubled.training.minutes == 2 * plan.training.minutes
    assert doubled.collect_minutes == 2 * plan.collect_minutes and doubled.eval_episodes == 2 * plan.eval_episodes
    assert tiny.eval_episodes >= 4 and tiny.tune_trials >= 2 and tiny.transfer_images >= 20
    assert doubled.tune_trials == 2 * plan.tune_trials and doubled.tune_steps == 2 * plan.tune_steps


def test_a_rerun_must_keep_the_seed_and_budget(tmp_path):
    start_job(tmp_path, seed=0, budget=1.0, plan=Plan())
    assert start_job(tmp_path, seed=0, budget=1.0, plan=Plan())["seed"] == 0
    with pytest.raises(UserError, match="--seed 0 --budget 1.0"):
        start_job(tmp_path, seed=1, budget=1.0, plan=Plan())


def test_a_directory_that_is_not_a_main_job_is_refused(tmp_path):
    (tmp_path / "checkpoint.safetensors").write_bytes(b"a training run of `workbench train`")
    with pytest.raises(UserError, match="no main_job.json"):
        start_job(tmp_path, seed=0, budget=1.0, plan=Plan())
