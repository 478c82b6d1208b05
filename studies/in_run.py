"""The tune study (``studies/tune.toml``) inside a run directory, as ``workbench run`` runs it.

The study file is the shipped one with the run's values: its directory and SQLite storage are
``<directory>`` and ``<directory>/study.db``; its trial count and minutes, learner steps,
episodes are the caller's (scaled by ``workbench run --budget``); its seeds are the run's; and
its trials continue the run's warm start (``base.run``: the offline phase's replay, weights and
optimizer), each finetuning ``steps`` learner steps with a lockstep collector under its profile. A rerun joins the same study in its storage: completed
trials are kept, an interrupted one is marked failed, and the trial budget counts every finished
trial.

Besides the study's own report (``<directory>/report/``) and best trial (``<directory>/best/``),
``summary.json`` holds what the run's HTML report and the confirm stage read: every trial's
metrics, parameters and directory, which trial ran the base profile's own values
(``default_trial``), the parameter importances and the axes of the Pareto front.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from policies.runtime.files import atomic_write_bytes
from studies.metrics import METRICS
from studies.spec import Study, parse_study, read_study_text
from workbench.errors import UserError

TUNE_STUDY = Path(__file__).parent / "tune.toml"
UNTIMED_GUARD_MINUTES = 600.0


@dataclass(frozen=True)
class TuneSettings:
    """What ``workbench run`` changes in ``studies/tune.toml``."""

    trials: int
    minutes: float | None  # no trial starts after this; None: exactly ``trials`` trials, however long they take
    seed: int
    warm_start: Path  # the run directory every trial continues (at its phase switch)
    steps: int  # finetuning learner steps per trial
    eval_episodes: int  # success episodes per trial (the tune split's first ones)
    labelled_episodes: int  # labelled target episodes (opc_auc)


def warm_study_spec(study_file: Path, directory: Path, settings: TuneSettings) -> Study:
    """``study_file`` (a warm-started pipeline study: tune.toml, bayrn.toml) with the caller's values."""
    import tomllib

    data = tomllib.loads(read_study_text(study_file))
    data["study"].update(directory=str(directory), storage=f"sqlite:///{directory / 'study.db'}")
    data["budget"]["trials"] = settings.trials
    if settings.minutes is None:
        # Counted, not timed, so a loaded machine runs the same trials as an idle one; the guard
        # only ends a study whose trials hang.
        data["budget"].update(minutes=UNTIMED_GUARD_MINUTES, trial_minutes=UNTIMED_GUARD_MINUTES)
    else:
        data["budget"]["minutes"] = settings.minutes
    data["sampler"]["seed"] = settings.seed
    data["base"].update(seed=settings.seed, run=str(Path(settings.warm_start).resolve()))
    data["base"]["eval"].update(episodes=settings.eval_episodes, labelled_episodes=settings.labelled_episodes)
    data["base"]["train"] = {**data["base"].get("train", {}), "finetune_steps": settings.steps,
                             "checkpoint_every": settings.steps}  # measured once, at its end
    return parse_study(tomli_w.dumps(data), f"{study_file} (in {directory})")


def tune_study_spec(directory: Path, settings: TuneSettings) -> Study:
    return warm_study_spec(TUNE_STUDY, directory, settings)


def run_tune_study(directory: str | Path, settings: TuneSettings, study_file: Path = TUNE_STUDY) -> dict:
    """Run (or continue) the tune study in ``directory``; write its report, best trial and summary.json."""
    from studies.runner import run_study

    directory = Path(directory)
    spec = warm_study_spec(study_file, directory, settings)
    run = run_study(spec, workers=1, fail_running=True)  # nobody else works on this storage
    summary = write_summary(spec, directory, run, {"trials": settings.trials, "minutes": settings.minutes})
    return {"trials": sum(run["states"].values()), "states": run["states"], "best_trial": summary["best"].get("trial"),
            "best_metrics": summary["best"].get("metrics"), "default_trial": summary["default_trial"],
            "importances": summary["importances"]}


def write_summary(spec: Study, directory: Path, run: dict, budget: dict) -> dict:
    """The study's report, best trial and ``summary.json`` (what report.html draws)."""
    from studies.best import write_best
    from studies.report import load_study, trial_rows, write_report

    report = write_report(spec, directory / "report")
    try:
        best = write_best(spec, directory / "best" / "profile.toml", force=True)
    except UserError as error:
        best = {"error": str(error)}
    study = load_study(spec)
    importances, note = parameter_importances(study)
    trials = trial_rows(study, spec)
    # Pareto axes: the objectives, or for one objective that objective and the first recorded metric.
    axes = spec.metrics if spec.multi_objective else spec.metrics + list(spec.file.study.record)[:1]
    summary = {
        "study": spec.name, "description": spec.file.study.description, "storage": spec.storage_url,
        "objectives": [{"metric": m, "direction": d} for m, d in zip(spec.metrics, spec.directions)],
        "pareto_axes": [{"metric": m, "direction": METRICS[m].direction} for m in axes],
        "budget": budget, "states": run["states"], "seconds": run["seconds"],
        "eval": spec.base.eval.model_dump(mode="json"), "trials": trials,
        "default_trial": default_trial(spec, trials), "importances": importances, "importances_note": note,
        "best": best, "report": report["html"],
    }
    atomic_write_bytes(directory / "summary.json", json.dumps(summary, indent=2, default=str).encode())
    return summary


def default_trial(spec: Study, trials: list[dict]) -> int | None:
    """The first trial that ran the first enqueued parameters (the base profile's own values), if any."""
    enqueued = spec.enqueued()
    if not enqueued:
        return None
    wanted = enqueued[0]
    for trial in trials:
        if trial["params"] and all(trial["params"].get(k) == v for k, v in wanted.items()):
            return trial["number"]
    return None


def parameter_importances(study) -> tuple[dict | None, str]:
    """Optuna's parameter importances (PED-ANOVA by default) of the first objective, or None and why."""
    import warnings

    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return None, f"needs 2 complete trials, has {len(complete)}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = optuna.importance.get_param_importances(study, target=lambda t: t.values[0])
    except Exception as error:  # noqa: BLE001 - Optuna refuses (e.g. one value per parameter): say why
        return None, f"{type(error).__name__}: {error}"
    return {name: float(value) for name, value in values.items()}, "PED-ANOVA (Optuna's default)"
