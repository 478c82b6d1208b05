"""Running CEM studies on a tiny trained run: a failed trial is recorded with its reason and the study
goes on; report and best files exist and load; a SIGKILLed study resumes without losing trials; two
worker processes on one storage produce no duplicate or lost trials."""

import json
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from studies.processes import child_env
from tests.study_helpers import cem_study, tiny_run, trial_states
from workbench import cli

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("cem-run") / "run")


def load(name: str, storage: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def test_failed_trial_recorded_with_reason_study_goes_on_report_and_best(run, tmp_path, capsys):
    directory = tmp_path / "study"
    # elites 8 with samples 4: each bound alone is valid with the run's CEM (16 samples, 2 elites),
    # together they are not. Enqueued first, that trial fails; the study goes on.
    path = cem_study(tmp_path / "c.toml", name="c", directory=directory, run=run, trials=3,
                     search="cem.samples = { low = 4, high = 24 }\ncem.elites = { low = 2, high = 8 }",
                     extra="[[enqueue]]\ncem.samples = 4\ncem.elites = 8\n")
    path.write_text(path.read_text().replace("trial_minutes = 2", "trial_minutes = 2\nmax_failed = 6"))
    assert cli.main(["study", "run", str(path)]) == 0
    study = load("c", f"sqlite:///{directory}/study.db")
    first = study.trials[0]
    assert first.state == TrialState.FAIL and first.params == {"cem.samples": 4, "cem.elites": 8}
    assert "invalid trial config" in first.user_attrs["fail_reason"]
    assert "elites (8) must not exceed samples (4)" in first.user_attrs["fail_reason"]
    assert sum(t.state in FINISHED for t in study.trials) == 3
    assert "trial 0 failed" in capsys.readouterr().out

    assert cli.main(["study", "report", str(directory)]) == 0
    report = directory / "report"
    for name in ("optimization_history_success.png", "optimization_history_latency_ms.png", "pareto_front.png",
                 "report.html", "best_trials.md", "trials.json"):
        assert (report / name).stat().st_size > 0, name
    assert (report / "pareto_front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (report / "report.html").read_text()
    assert "data:image/png;base64," in page and "must not exceed samples" in page
    rows = json.loads((report / "trials.json").read_text())
    assert [r["number"] for r in rows] == [t.number for t in study.trials]

    out = tmp_path / "best" / "cem.toml"
    assert cli.main(["study", "best", "c", "--runs", str(tmp_path), "--storage", f"sqlite:///{directory}/study.db",
                     "--objective", "latency_ms", "--out", str(out)]) == 0
    chosen = tomllib.loads(out.read_text())["qtopt"]["act_cem"]
    best = min((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: t.values[1])
    assert chosen["samples"] == best.params["cem.samples"] and chosen["elites"] == best.params["cem.elites"]
    from workbench.training.config import read_toml, validate_config

    assert validate_config(read_toml(out), str(out)).qtopt.act_cem.samples == chosen["samples"]  # `train` takes it
    assert cli.main(["study", "best", str(directory), "--out", str(out)]) == 2  # exists: needs --force
    assert cli.main(["study", "best", str(directory), "--trial", "0", "--out", str(out), "--force"]) == 2
    assert "trial 0 is fail" in capsys.readouterr().err


def _running(db: Path, name: str) -> list[int]:
    return [n for n, state in trial_states(db, name) if state == "RUNNING"]


def test_sigkill_mid_trial_then_resume_keeps_completed_and_fails_the_interrupted(run, tmp_path):
    directory = tmp_path / "study"
    db = directory / "study.db"
    path = cem_study(tmp_path / "k.toml", name="k", directory=directory, run=run, trials=4, episodes=24, rung=8)
    command = [sys.executable, "-m", "workbench.cli", "study", "run", str(path)]
    for _ in range(3):  # a kill that lands between two trials interrupts nothing: kill again
        process = subprocess.Popen(command, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            states = dict(trial_states(db, "k"))
            if list(states.values()).count("COMPLETE") >= 2 and _running(db, "k"):
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        running = _running(db, "k")
        if running:
            break
    assert running, "the study was never killed mid-trial"
    before = load("k", f"sqlite:///{db}")
    complete = {t.number: t.values for t in before.trials if t.state == TrialState.COMPLETE}
    assert len(complete) >= 2

    assert cli.main(["study", "resume", str(directory)]) == 0
    after = load("k", f"sqlite:///{db}")
    by_number = {t.number: t for t in after.trials}
    for number, values in complete.items():  # every completed trial is still there, unchanged
        assert by_number[number].state == TrialState.COMPLETE and by_number[number].values == values
    for number in running:  # the interrupted trial is failed, with why
        assert by_number[number].state == TrialState.FAIL
        assert by_number[number].user_attrs["fail_reason"].startswith("interrupted: its worker")
    assert sum(t.state in FINISHED for t in after.trials) == 4  # the budget is finished
    assert not [t for t in after.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_workers_one_storage_no_duplicate_or_lost_trials(run, tmp_path, kind):
    directory = tmp_path / "study"
    storage = f"journal:{directory}/journal.log" if kind == "journal" else f"sqlite:///{directory}/study.db"
    path = cem_study(tmp_path / "w.toml", name="w", directory=directory, run=run, trials=8, episodes=12, rung=4,
                     storage=storage)
    assert cli.main(["study", "run", str(path), "--workers", "2"]) == 0
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        study = optuna.load_study(study_name="w", storage=JournalStorage(JournalFileBackend(f"{directory}/journal.log")))
    else:
        study = load("w", storage)
    trials = study.trials
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # no number twice, none missing
    assert all(t.state in FINISHED for t in trials)  # nothing lost: every trial finished
    assert 8 <= len(trials) <= 9  # the budget, at most one over (two workers may ask at once)
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(pids) == 2  # both workers ran trials
    folders = sorted((directory / "trials").iterdir())
    assert [int(f.name) for f in folders] == numbers  # one directory per trial
    for trial, folder in zip(trials, folders):
        record = json.loads((folder / "trial.json").read_text())
        assert record["number"] == trial.number and record["params"] == trial.params
        assert json.loads((folder / "result.json").read_text())["number"] == trial.number or trial.state == TrialState.PRUNED
