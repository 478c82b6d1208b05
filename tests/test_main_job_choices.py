"""The main job's choices before export: the stage order, the study's profile against default (paired),
the acting CEM, and the chosen profile reaching the finetune config."""

import json

import pytest
from bundle_helpers import make_run

from workbench.cli import main_job
from workbench.cli.main_job import CHOICE, CHOSEN_PROFILE, Plan, StageContext, build_stages
from workbench.evaluation.tune_choice import choose_cem, decide_profile
from workbench.rollout.evaluate import wilson_interval


def outcomes(successes: list[int], first_seed: int = 900050) -> list[dict]:
    return [{"reset_seed": first_seed + i, "object_ids": [i % 7, 3], "success": bool(s)}
            for i, s in enumerate(successes)]


def test_tune_precedes_finetune_and_the_choices_precede_evaluation_and_export():
    keys = [stage.key for stage in build_stages(Plan())]
    assert keys == ["scene-sheet", "randomization-sheet", "collect", "warm-start", "tune", "confirm", "finetune",
                    "choose-cem", "evaluate", "transfer", "export", "drive", "report"]


def test_the_job_is_planned_under_thirty_minutes_of_estimates_plus_their_known_margin():
    plan = Plan()
    offline, finetune = plan.training_steps()
    assert offline > 0 and finetune > offline  # the warm start is the smaller share
    total = sum(stage.estimate_s for stage in build_stages(plan))
    assert total < 34 * 60  # estimates run high (the old order: 30 estimated, 21 measured)
    tiny = Plan().scaled(0.01)
    assert tiny.tune_trials >= 2 and tiny.tune_labelled >= 24 and tiny.confirm_episodes >= 8
    big = Plan().scaled(100)
    assert big.tune_episodes == 50 and big.confirm_episodes + main_job.CONFIRM_OFFSET <= 400  # within the tune split


def test_the_tune_study_is_counted_in_trials_so_a_loaded_machine_runs_the_same_ones(tmp_path):
    from studies.in_run import tune_study_spec

    plan = Plan()
    ctx = StageContext(run_dir=tmp_path, seed=3, plan=plan, spent_before=0.0)
    budget = tune_study_spec(tmp_path / "study", main_job.tune_settings(ctx)).file.budget
    assert budget.trials == plan.tune_trials
    # No deadline a slow or busy machine could reach: neither for the study nor for one trial.
    assert budget.minutes >= 600 and budget.trial_minutes >= 600


def test_the_study_profile_is_chosen_only_when_it_beats_default_on_the_same_episodes():
    default = [1, 0, 0, 1, 0, 0, 1, 0, 0, 0] * 4
    better = [1, 1, 0, 1, 0, 0, 1, 1, 0, 0] * 4
    won = decide_profile(outcomes(better), outcomes(default))
    assert won["chosen"] == "study" and won["paired"]["difference"] == pytest.approx(0.2)
    assert won["paired"]["low"] <= 0.2 <= won["paired"]["high"]

    # A lead within noise (the interval includes zero) is not a win: default stays, and the job says why.
    slightly = decide_profile(outcomes([1, 1, 0, 1, 0, 0, 1, 0, 0, 0] + default[10:]), outcomes(default))
    assert slightly["paired"]["difference"] > 0 and slightly["paired"]["low"] <= 0
    assert slightly["chosen"] == "default" and "within noise" in slightly["reason"]

    tied = decide_profile(outcomes(default), outcomes(default))
    assert tied["chosen"] == "default" and "did not beat default" in tied["reason"]
    worse = decide_profile(outcomes([0] * 40), outcomes(default))
    assert worse["chosen"] == "default" and worse["paired"]["difference"] < 0

    with pytest.raises(ValueError, match="not the same episode"):
        decide_profile(outcomes(better, first_seed=900051), outcomes(default))


def measured(cem: tuple, successes: int, latency_ms: float) -> dict:
    iterations, samples, elites = cem
    return {"cem": {"iterations": iterations, "samples": samples, "elites": elites, "initial_std": 0.5},
            "success": wilson_interval(successes, 100).to_dict(), "latency_ms": latency_ms}


def test_cem_choice_is_the_fastest_within_the_best_interval_under_the_budget():
    results = [measured((1, 64, 6), 30, 1.0), measured((2, 64, 6), 41, 2.0), measured((2, 128, 8), 44, 3.5),
               measured((3, 256, 10), 60, 25.0)]
    choice = choose_cem(results, latency_budget_ms=20.0)
    # 3x256 is best but over budget; of the rest 2x128 is best, 2x64 lies in its interval, 1x64 does not.
    assert choice["best"] == "2x128x8" and choice["chosen"] == "2x64x6"
    assert [row["chosen"] for row in choice["rows"]] == [False, True, False, False]
    assert [row["under_budget"] for row in choice["rows"]] == [True, True, True, False]

    generous = choose_cem(results, latency_budget_ms=50.0)
    assert generous["best"] == "3x256x10" and generous["chosen"] == "3x256x10"  # nothing faster comes close

    nothing = choose_cem(results, latency_budget_ms=0.5)
    assert nothing["chosen"] == "1x64x6" and "no setting met the latency budget" in nothing["rule"]


@pytest.mark.parametrize("decision", ["study", "default"])
def test_the_chosen_profile_reaches_the_finetune_config(tmp_path, monkeypatch, decision):
    from workbench.training import pipeline

    run = make_run(tmp_path / "run", image_size=32)
    (run / CHOICE).write_text(json.dumps({"decision": decision}))
    (run / CHOSEN_PROFILE).write_text('name = "chosen"\n')
    calls = []
    monkeypatch.setattr(pipeline, "train_with_collector",
                        lambda run_dir, overrides, offline, finetune: calls.append(
                            json.loads((run_dir / "config.json").read_text())) or {"learner_step": 0})
    plan = Plan()
    summary = main_job.finetune_stage(StageContext(run, 0, plan, 0.0, out=lambda line: None))
    config = calls[0]
    assert config["finetune_steps"] == plan.training_steps()[1] == summary["finetune_steps"]
    if decision == "study":
        assert config["finetune_profile"] == str((run / CHOSEN_PROFILE).resolve())
    else:
        assert config["finetune_profile"] is None and config["profile"] == "none"  # make_run's profile, unchanged
