"""Early stopping for multi-objective studies, where Optuna's pruners do not apply.

A multi-objective trial records its intermediate measurements in the user attribute
``intermediate`` (``{step: {"values": {...}, "optimistic": {...}}}``) and one rule of
``[early_stop]`` decides whether to stop it, once ``startup_trials`` trials are complete
and the step is at least ``warmup_steps``:

- ``dominated``: stop when a complete (feasible) trial dominates the trial's optimistic
  point: success at the upper end of its 95% interval, the other metrics as measured.
  With CEM settings (no training) this is a sound bound for success; during training it
  is a heuristic: a trial still learning can improve past it.
- ``median``: stop when the first objective is worse than the median of the complete
  trials' intermediate values at the same step (MedianPruner's rule on one objective).

A stopped trial is told PRUNED, with the rule's reason in its ``prune_reason`` attribute.
"""

from __future__ import annotations

import statistics

import optuna
from optuna.trial import TrialState

INTERMEDIATE = "intermediate"
FEASIBLE = "feasible"


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get(FEASIBLE, True)]


def _better_or_equal(a: float, b: float, direction: str) -> bool:
    return a >= b if direction == "maximize" else a <= b


def dominates(a: list[float], b: list[float], directions: list[str]) -> bool:
    return all(_better_or_equal(x, y, d) for x, y, d in zip(a, b, directions)) and any(
        x != y for x, y in zip(a, b))


def stop_reason(study: optuna.Study, rule: str, metrics: list[str], directions: list[str], startup: int,
                warmup: int, step: int, values: dict, optimistic: dict) -> str | None:
    if rule == "none" or step < warmup:
        return None
    complete = _complete(study)
    if len(complete) < startup:
        return None
    if rule == "dominated":
        point = [optimistic[m] for m in metrics]
        for other in complete:
            if dominates(list(other.values), point, directions):
                shown = ", ".join(f"{m} {v:.4g}" for m, v in zip(metrics, other.values))
                mine = ", ".join(f"{m} {v:.4g}" for m, v in zip(metrics, point))
                return (f"dominated at step {step}: trial {other.number} ({shown}) beats this trial's optimistic "
                        f"point ({mine})")
        return None
    metric, direction = metrics[0], directions[0]
    others = [t.user_attrs.get(INTERMEDIATE, {}).get(str(step), {}).get("values", {}).get(metric)
              for t in complete]
    others = [v for v in others if v is not None]
    if len(others) < startup:
        return None
    median = statistics.median(others)
    value = values[metric]
    worse = value < median if direction == "maximize" else value > median
    if worse:
        return (f"below the median at step {step}: {metric} {value:.4g} is worse than the median {median:.4g} "
                f"of {len(others)} complete trials")
    return None
