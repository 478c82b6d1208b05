"""The quick study (``studies/quick.toml``) inside a run directory, as ``workbench run`` runs it.

The study file is the shipped one with four values changed: its directory and SQLite
storage are ``<directory>`` and ``<directory>/study.db``, its trial count and minutes are
the caller's (scaled by ``workbench run --budget``), and its seeds are the run's. A rerun
joins the same study in its storage: completed trials are kept, an interrupted one is
marked failed, and the trial budget counts every finished trial.

Besides the study's own report (``<directory>/report/``) and best trial (``<directory>/best/``),
``summary.json`` holds what the run's HTML report draws: every trial's metrics and
parameters, the parameter importances and the axes of the Pareto front.
"""

from __future__ import annotations

import json
from pathlib import Path

import tomli_w

from policies.runtime.files import atomic_write_bytes
from studies.metrics import METRICS
from studies.spec import parse_study, read_study_text
from workbench.errors import UserError

QUICK_STUDY = Path(__file__).parent / "quick.toml"


def quick_study_spec(directory: Path, *, trials: int, minutes: float, seed: int):
    import tomllib

    data = tomllib.loads(read_study_text(QUICK_STUDY))
    data["study"].update(directory=str(directory), storage=f"sqlite:///{directory / 'study.db'}")
    data["budget"].update(trials=trials, minutes=minutes)
    data["sampler"]["seed"] = seed
    data["base"]["seed"] = seed
    return parse_study(tomli_w.dumps(data), f"{QUICK_STUDY} (in {directory})")


def run_quick_study(directory: str | Path, *, trials: int, minutes: float, seed: int) -> dict:
    """Run (or continue) the quick study in ``directory``; write its report, best trial and summary.json."""
    from studies.best import write_best
    from studies.report import load_study, trial_rows, write_report
    from studies.runner import run_study

    directory = Path(directory)
    spec = quick_study_spec(directory, trials=trials, minutes=minutes, seed=seed)
    run = run_study(spec, workers=1, fail_running=True)  # nobody else works on this storage
    report = write_report(spec, directory / "report")
    try:
        best = write_best(spec, directory / "best" / "profile.toml", force=True)
    except UserError as error:
        best = {"error": str(error)}
    study = load_study(spec)
    importances, note = parameter_importances(study)
    # Pareto axes: the objectives, or for one objective that objective and the first recorded metric.
    axes = spec.metrics if spec.multi_objective else spec.metrics + list(spec.file.study.record)[:1]
    summary = {
        "study": spec.name, "description": spec.file.study.description, "storage": spec.storage_url,
        "objectives": [{"metric": m, "direction": d} for m, d in zip(spec.metrics, spec.directions)],
        "pareto_axes": [{"metric": m, "direction": METRICS[m].direction} for m in axes],
        "budget": {"trials": trials, "minutes": minutes}, "states": run["states"], "seconds": run["seconds"],
        "trials": trial_rows(study, spec), "importances": importances, "importances_note": note,
        "best": best, "report": report["html"],
    }
    atomic_write_bytes(directory / "summary.json", json.dumps(summary, indent=2, default=str).encode())
    return {"trials": sum(run["states"].values()), "states": run["states"], "best_trial": best.get("trial"),
            "best_metrics": best.get("metrics"), "importances": importances}


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
