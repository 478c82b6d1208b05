"""A study's report: Optuna's plots as PNG (matplotlib backend), one self-contained HTML page, tables.

``<study dir>/report/`` (or ``--out``) gets:

- ``optimization_history*.png``, ``param_importances*.png`` (PED-ANOVA, Optuna's default),
  ``parallel_coordinate*.png``, per objective for multi-objective studies;
  ``pareto_front.png`` (multi-objective), ``intermediate_values.png`` (pruned studies);
- ``report.html``: every plot embedded as base64 PNG, the best trials, the failed and
  pruned trials with their reasons; no network access needed to view it;
- ``best_trials.md`` and ``trials.json``: the best trials (the Pareto front for several
  objectives) and every trial with its state, values, metrics, parameters and reason.

A plot that cannot be drawn yet (too few complete trials) is listed as skipped, with why.
"""

from __future__ import annotations

import base64
import html
import io
import json
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from policies.runtime.files import atomic_write_bytes
from studies.runner import FAIL_REASON, METRICS, state_counts
from studies.spec import Study
from studies.storage import open_storage

TOP = 10


def load_study(spec: Study) -> optuna.Study:
    storage = open_storage(spec.storage_url, f"{spec.source}: study.storage")
    return optuna.load_study(study_name=spec.name, storage=storage)


def trial_rows(study: optuna.Study, spec: Study) -> list[dict]:
    from studies.objectives import PRUNE_REASON

    rows = []
    for trial in study.get_trials(deepcopy=False):
        metrics = trial.user_attrs.get(METRICS)
        if metrics is None and trial.values is not None and trial.state == TrialState.COMPLETE:
            metrics = dict(zip(spec.metrics, trial.values))
        rows.append({
            "number": trial.number, "state": trial.state.name.lower(),
            "values": None if trial.values is None else list(trial.values),
            "metrics": metrics, "split": spec.base.eval.split, "params": trial.params,
            "reason": trial.user_attrs.get(FAIL_REASON) or trial.user_attrs.get(PRUNE_REASON),
            "seconds": trial.user_attrs.get("seconds"), "feasible": trial.user_attrs.get("feasible", True),
            "last_step": trial.last_step, "worker": trial.user_attrs.get("worker"),
            "directory": trial.user_attrs.get("directory"),
        })
    return rows


def best_trials(study: optuna.Study, spec: Study) -> list[optuna.trial.FrozenTrial]:
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.user_attrs.get("feasible", True)]
    if not spec.multi_objective:
        reverse = spec.directions[0] == "maximize"
        return sorted(complete, key=lambda t: t.value, reverse=reverse)[:TOP]
    front = pareto_front(complete, spec.directions)
    return sorted(front, key=lambda t: t.values[0], reverse=spec.directions[0] == "maximize")


def pareto_front(trials: list, directions: list[str]) -> list:
    from studies.early_stop import dominates

    return [t for t in trials if not any(dominates(list(o.values), list(t.values), directions) for o in trials)]


def _png(axes) -> bytes:
    import matplotlib.pyplot as plt

    figure = axes.flat[0].figure if hasattr(axes, "flat") else axes.figure
    figure.set_size_inches(max(figure.get_size_inches()[0], 8), max(figure.get_size_inches()[1], 5))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def make_plots(study: optuna.Study, spec: Study) -> tuple[dict[str, bytes], list[str]]:
    """PNG bytes by file name, and the plots skipped with why."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as ovm

    jobs: list[tuple[str, callable]] = []
    if spec.multi_objective:
        for index, metric in enumerate(spec.metrics):
            def target(t, i=index):
                return t.values[i]
            jobs += [(f"optimization_history_{metric}.png",
                      lambda m=metric, f=target: ovm.plot_optimization_history(study, target=f, target_name=m)),
                     (f"param_importances_{metric}.png",
                      lambda m=metric, f=target: ovm.plot_param_importances(study, target=f, target_name=m)),
                     (f"parallel_coordinate_{metric}.png",
                      lambda m=metric, f=target: ovm.plot_parallel_coordinate(study, target=f, target_name=m))]
        if len(spec.metrics) in (2, 3):
            jobs.append(("pareto_front.png", lambda: ovm.plot_pareto_front(study, target_names=spec.metrics)))
    else:
        metric = spec.metrics[0]
        jobs += [("optimization_history.png", lambda: ovm.plot_optimization_history(study, target_name=metric)),
                 ("param_importances.png", lambda: ovm.plot_param_importances(study)),
                 ("parallel_coordinate.png", lambda: ovm.plot_parallel_coordinate(study, target_name=metric))]
        if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
            jobs.append(("intermediate_values.png", lambda: ovm.plot_intermediate_values(study)))
    plots, skipped = {}, []
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    for name, draw in jobs:
        if complete < 2 and not name.startswith(("optimization_history", "intermediate")):
            skipped.append(f"{name}: needs 2 complete trials, has {complete}")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                plots[name] = _png(draw())
        except Exception as error:  # noqa: BLE001 - Optuna refuses (e.g. one value per parameter): say why, go on
            import matplotlib.pyplot as plt

            plt.close("all")
            skipped.append(f"{name}: {type(error).__name__}: {error}")
    return plots, skipped


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def best_table(spec: Study, trials: list) -> tuple[list[str], list[list[str]]]:
    params = sorted({name for t in trials for name in t.params})
    extra = sorted({m for t in trials for m in (t.user_attrs.get(METRICS) or {})} - set(spec.metrics))
    header = ["trial"] + [f"{m} ({d[:3]})" for m, d in zip(spec.metrics, spec.directions)] + extra + params
    rows = []
    for t in trials:
        metrics = t.user_attrs.get(METRICS) or {}
        rows.append([str(t.number)] + [_cell(v) for v in t.values] + [_cell(metrics.get(m, "")) for m in extra]
                    + [_cell(t.params.get(p, "-")) for p in params])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(spec: Study, out: Path | None = None) -> dict:
    study = load_study(spec)
    out = Path(out) if out is not None else spec.directory / "report"
    plots, skipped = make_plots(study, spec)
    for name, payload in plots.items():
        atomic_write_bytes(out / name, payload)
    rows = trial_rows(study, spec)
    atomic_write_bytes(out / "trials.json", json.dumps(rows, indent=2, default=str).encode())
    best = best_trials(study, spec)
    header, table = best_table(spec, best)
    title = "Pareto front" if spec.multi_objective else f"Best {min(TOP, len(best))} trials"
    counts = state_counts(study)
    out_name = "profile.toml" if spec.kind == "pipeline" else "cem-best.toml"
    pick = (f"workbench study best {spec.name} --trial N --out {out_name}" if spec.multi_objective
            else f"workbench study best {spec.name} --out {out_name}")
    markdown = (f"# Study {spec.name}: {title}\n\n" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                + "\n\n" + (markdown_table(header, table) if table else "No complete trial yet.\n")
                + f"\nPick one: `{pick}`\n")
    atomic_write_bytes(out / "best_trials.md", markdown.encode())
    atomic_write_bytes(out / "report.html", _html(spec, counts, plots, skipped, title, header, table, rows,
                                                  pick).encode())
    return {"study": spec.name, "out": str(out), "html": str(out / "report.html"), "table": str(out / "best_trials.md"),
            "plots": sorted(plots), "skipped": skipped, "states": counts, "best": [t.number for t in best]}


def _html(spec: Study, counts: dict, plots: dict, skipped: list, title: str, header, table, rows, pick) -> str:
    objectives = ", ".join(f"{m} ({d})" for m, d in zip(spec.metrics, spec.directions))
    parts = [f"<h1>Study {html.escape(spec.name)}</h1>",
             f"<p>{html.escape(spec.file.study.description)}</p>" if spec.file.study.description else "",
             f"<p>Kind {spec.kind}; objectives: {html.escape(objectives)}; trials: "
             + html.escape(", ".join(f"{n} {s}" for s, n in sorted(counts.items()))) + "</p>",
             f"<h2>{html.escape(title)}</h2>", html_table(header, table) if table else "<p>No complete trial yet.</p>",
             f"<p>Pick one: <code>{html.escape(pick)}</code></p>"]
    for name, payload in plots.items():
        data = base64.b64encode(payload).decode()
        parts.append(f"<h2>{html.escape(name[:-4].replace('_', ' '))}</h2><img alt=\"{html.escape(name)}\" "
                     f"src=\"data:image/png;base64,{data}\">")
    if skipped:
        parts.append("<h2>Plots not drawn</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in skipped) + "</ul>")
    stopped = [r for r in rows if r["state"] in ("fail", "pruned")]
    if stopped:
        parts.append("<h2>Failed and pruned trials</h2>" + html_table(
            ["trial", "state", "reason"], [[str(r["number"]), r["state"], r["reason"] or ""] for r in stopped]))
    style = ("body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Study {html.escape(spec.name)}</title>"
            f"<style>{style}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
