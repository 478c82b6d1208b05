"""Running a study: the ask/tell loop of a worker, the budget, failures, and recovery after a kill.

One worker asks Optuna for a trial, suggests its parameters (define-by-run), runs it
(``studies.objectives``) and tells the result: COMPLETE with the objective values,
PRUNED (pruner or early stop, with ``prune_reason``) or FAIL (with ``fail_reason``: an
invalid config, a training error, divergence, a time-out, an exception). Then the next,
until the budget is spent: ``budget.trials`` finished (complete or pruned) trials,
``budget.max_failed`` failures, or ``budget.minutes`` since this invocation started.

Several workers share one storage and one budget: ``--workers N`` starts N worker
processes here, and another machine joins with the same command and storage URL. A
trial being run is marked with its worker (host, pid) and a heartbeat; a running trial
whose worker on this host is gone, or whose heartbeat is older than
``study.stale_after_seconds``, is marked failed (reason ``interrupted``) by the next
worker to start, so ``resume`` after a kill loses no completed trial and leaves no
trial hanging.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import zlib
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from policies.runtime.files import atomic_write_bytes
from studies.processes import child_env, identity, process_alive
from studies.space import suggest
from studies.spec import Study, parse_study
from studies.storage import open_storage, shown
from studies.trial_config import ConfigError, resolve
from workbench.errors import UserError

STUDY_FILE_ATTR = "workbench.study_file"  # the study file's text, so any machine can resume from the storage
IDENTITY_ATTR = "workbench.identity"
WORKER, HEARTBEAT, FAIL_REASON, METRICS, DIRECTORY = "worker", "heartbeat", "fail_reason", "metrics", "directory"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
IDENTITY_WAIT_SECONDS = 10.0  # a joining worker waits this long for the creating worker's identity attribute


def _log(prefix: str):
    def log(message: str) -> None:
        print(f"[{prefix}] {message}", flush=True)
    return log


# -- the study in its storage ----------------------------------------------------------------

def create_or_join(spec: Study, storage, must_exist: bool = False) -> optuna.Study:
    """The study in ``storage``: created from ``spec``, or an existing one that agrees with it."""
    names = {summary.study_name for summary in storage.get_all_studies()}
    if spec.name not in names and must_exist:
        raise UserError(f"nothing to resume: {shown(spec.storage_url)} holds no study {spec.name!r} "
                        f"(it holds: {', '.join(sorted(names)) or 'none'}); start it with `workbench study run`")
    try:
        study = optuna.create_study(study_name=spec.name, storage=storage, directions=spec.directions)
        created = True
    except optuna.exceptions.DuplicatedStudyError:  # it exists, or another worker created it just now
        study = optuna.load_study(study_name=spec.name, storage=storage)
        created = False
    wanted = [optuna.study.StudyDirection.MAXIMIZE if d == "maximize" else optuna.study.StudyDirection.MINIMIZE
              for d in spec.directions]
    if list(study.directions) != wanted:
        raise UserError(f"{spec.source}: study {spec.name!r} in {shown(spec.storage_url)} has directions "
                        f"{[d.name.lower() for d in study.directions]}, the file {spec.directions}; "
                        "use another study name")
    stored = study.user_attrs.get(IDENTITY_ATTR) if created else _identity_of(study)
    mine = json.loads(json.dumps(spec.identity()))
    if stored is None:  # only the worker that created the study enqueues (or one that joined a bare study)
        study.set_user_attr(IDENTITY_ATTR, mine)
        study.set_user_attr(STUDY_FILE_ATTR, spec.text)
        for params in spec.enqueued():
            study.enqueue_trial(params)
    elif stored != mine:
        differs = sorted(key for key in set(stored) | set(mine) if stored.get(key) != mine.get(key))
        raise UserError(f"{spec.source}: study {spec.name!r} in {shown(spec.storage_url)} was created from another "
                        f"study file (they differ in: {', '.join(differs)}); use another study name, or the "
                        "same file to join or resume it")
    return study


def _identity_of(study: optuna.Study, wait: float = IDENTITY_WAIT_SECONDS) -> dict | None:
    """The study's identity; a study created by another worker a moment ago gets it within ms, so wait
    up to ``wait`` seconds for it before taking the study as one made outside `workbench study`."""
    deadline = time.monotonic() + wait
    while True:
        stored = study.user_attrs.get(IDENTITY_ATTR)
        if stored is not None or time.monotonic() >= deadline:
            return stored
        time.sleep(0.2)


def check_study_directory(spec: Study) -> None:
    """UserError when ``spec.directory`` holds another study (a study.json of another name): checked
    before anything is opened or written, so that study stays as it was."""
    record_path = spec.directory / "study.json"
    if not record_path.exists():
        return
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{spec.source}: study.directory {spec.directory} holds an unreadable study.json "
                        f"({error}); nothing was written. Choose another study.directory") from None
    if not isinstance(record, dict) or record.get("name") != spec.name:
        other = record.get("name") if isinstance(record, dict) else None
        raise UserError(f"{spec.source}: study.directory = {str(spec.directory)!r} holds another study "
                        f"({other!r} in {shown(str(record.get('storage')) if isinstance(record, dict) else '?')}); "
                        "nothing was written. Choose another study.directory")


def write_study_directory(spec: Study) -> None:
    """``<directory>/study.toml`` (the file's text) and ``study.json`` (where its storage is)."""
    directory = spec.directory
    atomic_write_bytes(directory / "study.toml", spec.text.encode())
    record = {"name": spec.name, "kind": spec.kind, "storage": spec.storage_url, "source": spec.source}
    atomic_write_bytes(directory / "study.json", json.dumps(record, indent=2).encode())


def state_counts(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    return counts


def mark_failed(study: optuna.Study, storage, number: int, reason: str) -> bool:
    """Mark a running trial failed with ``reason``; False when it finished meanwhile."""
    try:
        study_id = storage.get_study_id_from_name(study.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
        storage.set_trial_user_attr(trial_id, FAIL_REASON, reason)
    except Exception:  # noqa: BLE001 - finished meanwhile (another worker recovered it): nothing to do
        return False
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    return True


ORPHAN_SECONDS = 5.0  # a worker claims its trial (user attribute `worker`) within ms of asking for it


def recover_stale(study: optuna.Study, storage, stale_after: float, fail_all: bool, log,
                  wait_for_orphans: bool = False) -> list[int]:
    """Mark failed every running trial whose worker is gone; returns their numbers.

    A trial is abandoned when its worker on this host has ended, when its heartbeat is older
    than ``stale_after``, or when no worker ever claimed it (killed between asking for the
    trial and marking it) for ``ORPHAN_SECONDS``; ``wait_for_orphans`` waits that long for
    such a young trial instead of leaving it running.
    """
    host, marked = socket.gethostname(), []
    while True:
        now, young = time.time(), []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = trial.user_attrs.get(WORKER) or {}
            who = f"worker {worker.get('pid')} on {worker.get('host')}"
            started = trial.datetime_start.timestamp() if trial.datetime_start is not None else now
            beat = trial.user_attrs.get(HEARTBEAT, started)
            reason = None
            if fail_all:
                reason = f"interrupted: still running when `resume --fail-running` started ({who})"
            elif not worker:
                if now - started > ORPHAN_SECONDS:
                    reason = "interrupted: its worker died right after asking for it (no worker ever claimed it)"
                else:
                    young.append(trial.number)
            elif worker.get("host") == host and not process_alive(worker.get("pid"), worker.get("start")):
                reason = f"interrupted: its {who} ended while it ran (killed or crashed)"
            elif now - beat > stale_after:
                reason = (f"interrupted: no heartbeat from its {who} for {now - beat:.0f} s "
                          f"(study.stale_after_seconds = {stale_after:.0f})")
            if reason and mark_failed(study, storage, trial.number, reason):
                marked.append(trial.number)
                log(f"trial {trial.number} marked failed: {reason}")
        if not (young and wait_for_orphans):
            return marked
        time.sleep(ORPHAN_SECONDS / 5)


# -- one worker ----------------------------------------------------------------------------------

class Heartbeat:
    """Marks a running trial alive every ``interval`` seconds (user attribute ``heartbeat``)."""

    def __init__(self, trial: optuna.Trial, interval: float):
        self.trial, self.interval = trial, interval
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self):
        self.trial.set_user_attr(HEARTBEAT, time.time())
        self.thread.start()
        return self

    def _beat(self) -> None:
        while not self.done.wait(self.interval):
            try:
                self.trial.set_user_attr(HEARTBEAT, time.time())
            except Exception:  # noqa: BLE001
                return  # the trial finished, or the storage is gone: the main thread will say

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


def worker_seed(seed: int | None, index: int) -> int | None:
    """Worker ``index`` on this host samples with its own seed (so two workers never propose the same
    random start-up points); None stays None."""
    if seed is None:
        return None
    host = zlib.crc32(socket.gethostname().encode())
    return int(np.random.SeedSequence([seed, index, host]).generate_state(1)[0])


def budget_stop(study: optuna.Study, spec: Study, deadline: float) -> str | None:
    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in FINISHED for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    failed = sum(t.state == TrialState.FAIL for t in trials)
    budget = spec.file.budget.trials
    if finished >= budget:
        return f"budget reached: {finished} of {budget} trials finished"
    if finished + running >= budget:
        return f"budget taken: {finished} finished and {running} running elsewhere, of {budget}"
    if failed >= spec.max_failed:
        return f"stopped: {failed} trials failed (budget.max_failed = {spec.max_failed})"
    if time.monotonic() >= deadline:
        return "time budget reached (budget.minutes)"
    return None


def run_trial(study: optuna.Study, spec: Study, objective, log) -> TrialState:
    from studies.measure import Measured
    from studies.metrics import MetricUndefined
    from studies.objectives import PRUNE_REASON, TrialContext
    from studies.training import TrialFailure

    trial = study.ask()
    number = trial.number
    folder = spec.directory / "trials" / f"{number:05d}"
    trial.set_user_attr(WORKER, identity())
    trial.set_user_attr(DIRECTORY, str(folder))
    started = time.monotonic()
    reason = None
    with Heartbeat(trial, spec.file.study.heartbeat_seconds):
        try:
            params = suggest(trial, spec.params)
            resolved = resolve(spec.base, spec.profile, params, spec.kind, f"{spec.name}-trial-{number}")
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(folder / "trial.json", json.dumps(
                {"study": spec.name, "number": number, "split": resolved.config.eval.split, "params": params,
                 "config": resolved.config.model_dump(mode="json")}, indent=2).encode())
            deadline = started + spec.file.budget.trial_minutes * 60
            measured: Measured = objective(TrialContext(trial, study, spec, folder, resolved, deadline))
            feasible = True
            for constraint in spec.file.constraints:
                value = measured.values[constraint.metric]
                excess = value - constraint.max if constraint.max is not None else constraint.min - value
                trial.set_constraint(constraint.metric, excess)
                feasible = feasible and excess <= 0
            trial.set_user_attr(METRICS, measured.values)
            if "cem" in measured.details:
                trial.set_user_attr("cem", measured.details["cem"])
            trial.set_user_attr("feasible", feasible)
            trial.set_user_attr("seconds", round(time.monotonic() - started, 1))
            atomic_write_bytes(folder / "result.json", json.dumps(
                {"number": number, "state": "complete", "split": resolved.config.eval.split,
                 "metrics": measured.values, "details": measured.details},
                indent=2, default=str).encode())
        except optuna.TrialPruned as pruned:
            reason = str(pruned)
            state = TrialState.PRUNED
        except KeyboardInterrupt:
            trial.set_user_attr(FAIL_REASON, "interrupted by the user (Ctrl-C)")
            study.tell(trial, state=TrialState.FAIL)
            raise
        except ConfigError as error:  # parameters valid alone but not together (e.g. CEM elites > samples)
            reason, state = f"invalid trial config: {error}", TrialState.FAIL
        except (TrialFailure, MetricUndefined, UserError) as error:
            reason, state = str(error), TrialState.FAIL
        except Exception as error:  # noqa: BLE001 - a bug or a library error: recorded, the study goes on
            reason, state = f"{type(error).__name__}: {error}", TrialState.FAIL
            if folder.exists():
                atomic_write_bytes(folder / "error.txt", traceback.format_exc().encode())
        else:
            state = TrialState.COMPLETE
    seconds = time.monotonic() - started
    if state == TrialState.COMPLETE:
        study.tell(trial, [measured.values[m] for m in spec.metrics])
        shown_values = ", ".join(f"{k} {v:.4g}" for k, v in measured.values.items())
        log(f"trial {number} complete in {seconds:.0f} s: {shown_values}")
    elif state == TrialState.PRUNED:
        trial.set_user_attr(PRUNE_REASON, reason)
        trial.set_user_attr("seconds", round(seconds, 1))
        study.tell(trial, state=TrialState.PRUNED)
        log(f"trial {number} pruned after {seconds:.0f} s: {reason}")
    else:
        trial.set_user_attr(FAIL_REASON, reason)
        trial.set_user_attr("seconds", round(seconds, 1))
        study.tell(trial, state=TrialState.FAIL)
        log(f"trial {number} failed after {seconds:.0f} s: {reason}")
    return state


def work(spec: Study, index: int, deadline: float, fail_running: bool = False) -> dict:
    """One worker's loop on the study's storage, until the budget is spent."""
    import torch

    torch.set_num_threads(1)  # small nets on a loaded machine; the trainer sets its own
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    log = _log(f"{spec.name} w{index} pid {os.getpid()}")
    from studies.factories import make_pruner, make_sampler
    from studies.objectives import make_objective

    storage = open_storage(spec.storage_url, f"{spec.source}: study.storage")
    count = len(spec.metrics)
    sampler = make_sampler(spec.file.sampler.name, spec.file.sampler.options,
                           worker_seed(spec.file.sampler.seed, index), count, spec.source)
    pruner = make_pruner(spec.file.pruner.name, spec.file.pruner.options, count, spec.source)
    study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
    objective = make_objective(spec)
    states: dict[str, int] = {}
    try:
        recover_stale(study, storage, spec.file.study.stale_after_seconds, fail_running, log, wait_for_orphans=True)
        while True:
            recover_stale(study, storage, spec.file.study.stale_after_seconds, False, log)
            stop = budget_stop(study, spec, deadline)
            if stop:
                log(stop)
                break
            try:
                state = run_trial(study, spec, objective, log)
            except optuna.exceptions.UpdateFinishedTrialError as error:
                log(f"a trial was finished by another worker meanwhile (marked failed as abandoned?): {error}")
                continue
            states[state.name.lower()] = states.get(state.name.lower(), 0) + 1
    finally:
        objective.close()
    return {"worker": index, "trials": states}


# -- a whole invocation ----------------------------------------------------------------------------

def preflight(spec: Study) -> None:
    """Checks that need more than the file, before any trial: the run of a CEM study and its CEM, and
    that the target's tune split can measure what the study needs."""
    if spec.kind == "cem":
        from studies.objectives import CEMObjective
        from studies.trial_config import check_params

        objective = CEMObjective(spec)  # UserError when the run is missing or unreadable
        check_params(spec.base, spec.profile, spec.params, spec.kind, spec.source, objective.base_cem)
        try:
            spec.base.cem.merged(objective.base_cem)
        except ValueError as error:
            raise UserError(f"{spec.source}: base.cem with the CEM of {spec.base.run}: {error}") from None
        image_size = objective.image_size
        objective.close()
    else:
        from studies.trial_config import pipeline_config

        image_size = pipeline_config(spec.base, "check").qtopt.image_size
    check_target(spec, image_size)


def check_target(spec: Study, image_size: int) -> None:
    """The base config's tune split (target data read, labelled episodes made and cached in the study
    directory, as the trials will) can measure the study's metrics; UserError naming the file, the
    field and the reason otherwise."""
    from studies.measure import TargetDomain

    target = TargetDomain(spec.base.eval, image_size, spec.directory / "shared")
    try:
        target.check(spec.source, set(spec.needed_metrics()))
    finally:
        target.close()


def run_study(spec: Study, workers: int = 1, minutes: float | None = None, must_exist: bool = False,
              fail_running: bool = False) -> dict:
    """Open the storage, create or join the study, and work on it with ``workers`` processes."""
    if spec.kind == "adr":  # no Optuna storage: one process plays its episodes (studies.adr_run)
        from studies.adr_run import run_adr_study

        if workers != 1:
            raise UserError(f"{spec.source}: an ADR study runs in one process (--workers 1)")
        return run_adr_study(spec, minutes, must_exist)
    started = time.monotonic()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget_minutes = minutes if minutes is not None else spec.file.budget.minutes
    deadline = started + budget_minutes * 60
    check_study_directory(spec)
    storage = open_storage(spec.storage_url, f"{spec.source}: study.storage")
    preflight(spec)  # after the storage opens (a quick refusal), before the study is made in it
    study = create_or_join(spec, storage, must_exist)
    write_study_directory(spec)
    log = _log(f"{spec.name}")
    log(f"storage {shown(spec.storage_url)}; {workers} worker(s); budget {spec.file.budget.trials} trials, "
        f"{budget_minutes:g} min; trials in {spec.directory / 'trials'}")
    if workers == 1:
        work(spec, 0, deadline, fail_running)
    else:
        recover_stale(study, storage, spec.file.study.stale_after_seconds, fail_running, log, wait_for_orphans=True)
        spawn_workers(spec, workers, deadline)
    counts = state_counts(study)
    summary = {"study": spec.name, "storage": shown(spec.storage_url), "directory": str(spec.directory),
               "states": counts, "seconds": round(time.monotonic() - started, 1)}
    log("done: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f" in {summary['seconds']:.0f} s")
    return summary


def spawn_workers(spec: Study, workers: int, deadline: float) -> None:
    """``workers`` processes of ``python -m studies.worker`` on the study (they die with this one)."""
    study_file = spec.directory / "study.toml"
    remaining = max(0.0, (deadline - time.monotonic()) / 60)
    processes = []
    for index in range(workers):
        command = [sys.executable, "-m", "studies.worker", str(study_file), "--storage", spec.storage_url,
                   "--index", str(index), "--minutes", f"{remaining:.4f}"]
        processes.append(subprocess.Popen(command, env=child_env(parent=True), stdin=subprocess.DEVNULL))
    try:
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:
        for process in processes:
            process.wait()
        raise
    failed = [(i, code) for i, code in enumerate(codes) if code != 0]
    if failed:
        raise UserError("worker(s) " + ", ".join(f"{i} (exit status {code})" for i, code in failed)
                        + " ended with an error; see their messages above")


# -- finding a study again -------------------------------------------------------------------------

def locate(target: str, storage: str | None = None, runs: Path = Path("runs")) -> Study:
    """A study by file (``studies/quick.toml``), directory (``runs/quick``) or name (``quick``), with
    its text read back from the storage it ran on."""
    path = Path(target)
    if path.suffix == ".toml" and path.is_file():
        from studies.spec import load_study_file

        return load_study_file(path, storage)
    directory = path if (path / "study.json").is_file() else runs / target
    record_path = directory / "study.json"
    url = storage
    if url is None:
        if not record_path.is_file():
            raise UserError(f"no study {target!r}: neither a study file nor a study directory ({record_path} "
                            "is missing); pass the study file, or --storage URL with the study's name")
        try:
            url = json.loads(record_path.read_text())["storage"]
        except (OSError, json.JSONDecodeError, KeyError) as error:
            raise UserError(f"{record_path}: unreadable study record ({error})") from None
    if url is None and record_path.is_file() and json.loads(record_path.read_text()).get("kind") == "adr":
        from studies.spec import load_study_file

        return load_study_file(directory / "study.toml")  # an ADR study has no storage: its file as it ran
    name = target if not record_path.is_file() else json.loads(record_path.read_text()).get("name", target)
    store = open_storage(url, f"--storage {shown(url)}")
    summaries = {s.study_name: s for s in store.get_all_studies()}
    if name not in summaries:
        raise UserError(f"{shown(url)} holds no study {name!r} (it holds: {', '.join(sorted(summaries)) or 'none'})")
    text = summaries[name].user_attrs.get(STUDY_FILE_ATTR)
    if text is None:
        raise UserError(f"study {name!r} in {shown(url)} was not made by `workbench study run` (no study file "
                        "stored with it); pass its study file")
    return parse_study(text, f"study {name!r} (as stored in {shown(url)})", url)
