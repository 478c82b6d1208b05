"""Multi-objective early stopping rules, and telling abandoned trials from live ones."""

import time

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from studies.early_stop import INTERMEDIATE, dominates, stop_reason
from studies.processes import identity
from studies.runner import HEARTBEAT, WORKER, recover_stale, worker_seed

DIRECTIONS = ["maximize", "minimize"]
METRICS = ["success", "latency_ms"]


def study_with(*points, intermediate=None):
    study = optuna.create_study(directions=DIRECTIONS)
    for values in points:
        study.add_trial(create_trial(values=list(values), params={"x": 0.5},
                                     distributions={"x": FloatDistribution(0, 1)},
                                     user_attrs={INTERMEDIATE: intermediate or {}}))
    return study


def test_dominance():
    assert dominates([0.8, 2.0], [0.5, 3.0], DIRECTIONS)
    assert not dominates([0.8, 4.0], [0.5, 3.0], DIRECTIONS)  # slower: a trade-off, not better
    assert not dominates([0.5, 3.0], [0.5, 3.0], DIRECTIONS)  # equal is not dominating


def test_dominated_rule_uses_the_optimistic_point():
    study = study_with((0.9, 1.0), (0.4, 0.5))
    # measured 0.3 success, optimistic 0.6 (upper end of its interval), at 2 ms: trial 0 beats it
    reason = stop_reason(study, "dominated", METRICS, DIRECTIONS, 2, 0, 10, {"success": 0.3, "latency_ms": 2.0},
                         {"success": 0.6, "latency_ms": 2.0})
    assert reason.startswith("dominated at step 10: trial 0")
    # a faster trial is on the front, whatever its success so far
    assert stop_reason(study, "dominated", METRICS, DIRECTIONS, 2, 0, 10, {"success": 0.0, "latency_ms": 0.2},
                       {"success": 0.3, "latency_ms": 0.2}) is None
    # not before startup_trials complete trials, nor before warmup_steps
    assert stop_reason(study, "dominated", METRICS, DIRECTIONS, 3, 0, 10, {"success": 0.0, "latency_ms": 2.0},
                       {"success": 0.1, "latency_ms": 2.0}) is None
    assert stop_reason(study, "dominated", METRICS, DIRECTIONS, 2, 20, 10, {"success": 0.0, "latency_ms": 2.0},
                       {"success": 0.1, "latency_ms": 2.0}) is None


def test_median_rule_compares_at_the_same_step():
    study = optuna.create_study(directions=DIRECTIONS)
    for success in (0.2, 0.6, 0.8):
        study.add_trial(create_trial(values=[success, 1.0], params={}, distributions={},
                                     user_attrs={INTERMEDIATE: {"5": {"values": {"success": success}}}}))
    reason = stop_reason(study, "median", METRICS, DIRECTIONS, 2, 0, 5, {"success": 0.4}, {"success": 0.4})
    assert "below the median at step 5" in reason and "0.6" in reason
    assert stop_reason(study, "median", METRICS, DIRECTIONS, 2, 0, 5, {"success": 0.7}, {"success": 0.7}) is None
    assert stop_reason(study, "median", METRICS, DIRECTIONS, 2, 0, 6, {"success": 0.0}, {"success": 0.0}) is None


def test_abandoned_trials_are_failed_live_ones_kept():
    study = optuna.create_study()
    storage = study._storage  # the in-memory storage of this test study
    live, dead, silent, orphan = (study.ask() for _ in range(4))
    live.set_user_attr(WORKER, identity())
    live.set_user_attr(HEARTBEAT, time.time())
    dead.set_user_attr(WORKER, {**identity(), "pid": 2**22 + 17, "start": 1})
    silent.set_user_attr(WORKER, {"host": "elsewhere", "pid": 1, "start": None})
    silent.set_user_attr(HEARTBEAT, time.time() - 1000)
    logged = []
    marked = recover_stale(study, storage, 300.0, False, logged.append)
    assert sorted(marked) == [dead.number, silent.number]  # the orphan is younger than ORPHAN_SECONDS
    states = {t.number: t for t in study.trials}
    assert states[live.number].state == TrialState.RUNNING and states[orphan.number].state == TrialState.RUNNING
    assert states[dead.number].user_attrs["fail_reason"].startswith("interrupted: its worker")
    assert "no heartbeat" in states[silent.number].user_attrs["fail_reason"]
    assert recover_stale(study, storage, 300.0, True, logged.append) == [live.number, orphan.number]


def test_each_worker_samples_with_its_own_seed():
    seeds = {worker_seed(0, index) for index in range(4)}
    assert len(seeds) == 4 and worker_seed(0, 1) == worker_seed(0, 1) and worker_seed(None, 1) is None
