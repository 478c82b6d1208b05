"""The chosen trial's randomization profile and CEM settings, as files ``train`` accepts.

``workbench study best NAME --out profile.toml`` writes:

- ``profile.toml``: the trial's randomization profile (the base profile with its
  ``randomizers.*`` values), when the study tunes randomization (kind ``pipeline``);
  ``workbench collect --profile profile.toml`` and ``train`` take it;
- ``profile.train.toml``: a ``workbench train --config`` file with ``profile`` pointing at
  it, the tuned ``train.*`` values, and the CEM settings the trial evaluated with as
  ``[qtopt.act_cem]`` (the acting CEM). For a CEM study (no profile), ``--out`` itself is this file.

Which trial: ``--trial N``; else the best complete trial (one objective) or, for
several objectives, the Pareto-optimal trial best in ``--objective`` (default: the
first objective), among the trials meeting every ``--require METRIC>=VALUE``.
"""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import tomli_w
from optuna.trial import TrialState

from policies.runtime.files import atomic_write_bytes
from studies.report import load_study, pareto_front
from studies.runner import FAIL_REASON, METRICS
from studies.spec import Study
from studies.trial_config import resolve
from workbench.errors import UserError

REQUIREMENT = re.compile(r"^\s*([A-Za-z_]+)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


def parse_requirement(text: str) -> tuple[str, str, float]:
    match = REQUIREMENT.match(text)
    if not match:
        raise UserError(f"--require {text!r}: expected METRIC>=VALUE or METRIC<=VALUE (e.g. success>=0.6)")
    metric, op, value = match.groups()
    try:
        return metric, op, float(value)
    except ValueError:
        raise UserError(f"--require {text!r}: {value!r} is not a number") from None


def _meets(trial, metric: str, op: str, bound: float) -> bool:
    value = (trial.user_attrs.get(METRICS) or {}).get(metric)
    if value is None:
        return False
    return {">=": value >= bound, "<=": value <= bound, ">": value > bound, "<": value < bound}[op]


def choose_trial(study: optuna.Study, spec: Study, trial_number: int | None = None, objective: str | None = None,
                 requirements: list[str] = ()) -> optuna.trial.FrozenTrial:
    trials = study.get_trials(deepcopy=False)
    if trial_number is not None:
        chosen = next((t for t in trials if t.number == trial_number), None)
        if chosen is None:
            raise UserError(f"study {spec.name!r} has no trial {trial_number} (it has {len(trials)})")
        if chosen.state != TrialState.COMPLETE:
            why = chosen.user_attrs.get(FAIL_REASON) or chosen.user_attrs.get("prune_reason") or ""
            raise UserError(f"trial {trial_number} is {chosen.state.name.lower()}, not complete"
                            + (f" ({why})" if why else "") + "; pick a complete trial")
        return chosen
    parsed = [parse_requirement(text) for text in requirements]
    known = set(spec.needed_metrics())
    for metric, _, _ in parsed:
        if metric not in known:
            raise UserError(f"--require: {metric!r} is not measured by this study (it measures: {', '.join(sorted(known))})")
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get("feasible", True)]
    candidates = [t for t in complete if all(_meets(t, *r) for r in parsed)]
    if not candidates:
        raise UserError(f"study {spec.name!r}: no complete trial" + (" meets " + " and ".join(requirements)
                                                                      if requirements else " yet"))
    if not spec.multi_objective:
        best = max if spec.directions[0] == "maximize" else min
        return best(candidates, key=lambda t: t.value)
    metric = objective or spec.metrics[0]
    if metric not in spec.metrics:
        raise UserError(f"--objective {metric!r}: not an objective of this study ({', '.join(spec.metrics)})")
    index = spec.metrics.index(metric)
    front = pareto_front(candidates, spec.directions)
    best = max if spec.directions[index] == "maximize" else min
    return best(front, key=lambda t: (t.values[index], -t.number))


def train_config(spec: Study, trial, profile_path: Path | None) -> dict:
    """The ``workbench train --config`` values the trial chose: profile, tuned train.* values, CEM."""
    data: dict = {}
    if profile_path is not None:
        data["profile"] = str(profile_path)
    for path, value in trial.params.items():
        if path.startswith("train."):
            node = data
            *parents, leaf = path.split(".")[1:]
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    cem = trial.user_attrs.get("cem")
    if cem:
        data.setdefault("qtopt", {})["act_cem"] = cem
    return data


def write_best(spec: Study, out: Path, trial_number: int | None = None, objective: str | None = None,
               requirements: list[str] = (), force: bool = False) -> dict:
    from randomizers import format_profile, load_profile
    from workbench.training.config import read_toml, validate_config

    study = load_study(spec)
    trial = choose_trial(study, spec, trial_number, objective, requirements)
    out = Path(out)
    if out.suffix != ".toml":
        raise UserError(f"--out {out}: expected a .toml file name")
    writes_profile = spec.kind == "pipeline" or any(p.startswith("randomizers.") for p in trial.params)
    config_path = out.with_name(f"{out.stem}.train.toml") if writes_profile else out
    targets = [out, config_path] if writes_profile else [config_path]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise UserError(f"{', '.join(existing)} already exist(s); pass --force to replace")
    metrics = trial.user_attrs.get(METRICS) or dict(zip(spec.metrics, trial.values))
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
    header = f"# Chosen by `workbench study best`: study {spec.name}, trial {trial.number} ({shown}).\n"
    if writes_profile:
        resolved = resolve(spec.base, spec.profile, trial.params, spec.kind, f"{spec.name}-trial-{trial.number}")
        atomic_write_bytes(out, (header + format_profile(resolved.profile)).encode())
        load_profile(out)  # it loads as a profile
    data = train_config(spec, trial, out if writes_profile else None)
    atomic_write_bytes(config_path, (header + tomli_w.dumps(data)).encode())
    validate_config(read_toml(config_path), str(config_path))  # it loads as a training config
    return {"study": spec.name, "trial": trial.number, "metrics": metrics, "params": trial.params,
            "files": [str(p) for p in targets], "train_config": data}
