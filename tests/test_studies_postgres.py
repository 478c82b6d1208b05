"""Studies across machines: two `workbench study run` commands (two processes, as on two machines) on one
PostgreSQL storage finish a study with no duplicated or lost trials.

Runs where WORKBENCH_TEST_POSTGRES_URL names a PostgreSQL database (`.ci/run` starts PostgreSQL on
localhost and sets it), e.g. postgresql+psycopg2://workbench:workbench@127.0.0.1:5432/workbench_test.
"""

import os
import subprocess
import sys
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from studies.processes import child_env
from tests.study_helpers import cem_study, tiny_run

URL = os.environ.get("WORKBENCH_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="WORKBENCH_TEST_POSTGRES_URL is not set (.ci/run sets it)")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("pg-run") / "run")


@pytest.fixture
def study_name():
    name = f"pg-{uuid.uuid4().hex[:10]}"  # the database outlives the test: a fresh name each time
    yield name
    try:
        optuna.delete_study(study_name=name, storage=URL)
    except KeyError:
        pass


def test_two_study_run_commands_on_postgres_lose_and_duplicate_no_trial(run, tmp_path, study_name):
    path = cem_study(tmp_path / "pg.toml", name=study_name, directory=tmp_path / "study", run=run, trials=8,
                     episodes=12, rung=4, storage=URL, extra="[[enqueue]]\ncem.samples = 12\n")
    command = [sys.executable, "-m", "workbench.cli", "study", "run", str(path)]
    workers = [subprocess.Popen(command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for _ in range(2)]  # started together: both create or join the study at once
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], "\n".join(outputs)

    study = optuna.load_study(study_name=study_name, storage=URL)
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))  # no number twice, none missing
    assert all(t.state in FINISHED for t in trials), [(t.number, t.state) for t in trials]  # none lost
    assert 8 <= len(trials) <= 9  # the budget, at most one over (two workers may ask at once)
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) == 2  # both commands ran trials
    assert sum(t.params.get("cem.samples") == 12 and t.system_attrs.get("fixed_params") is not None
               for t in trials) == 1  # the enqueued trial once, though both commands started the study
    folders = sorted(int(folder.name) for folder in (tmp_path / "study" / "trials").iterdir())
    assert folders == [t.number for t in trials]
