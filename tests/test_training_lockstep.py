"""A lockstep collector beside the learner: the schedule, and two runs of one config are the same run."""

from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from policies.qtopt.replay import read_episode
from workbench.training.lockstep import Lockstep
from workbench.training.pipeline import collect_explorer, train_with_collector

OVERRIDES = {
    "seed": 3, "collector_every": 2, "collector_lag": 2, "checkpoint_every": 8, "log_every": 4,
    "qtopt": {"batch_size": 8, "cem": {"iterations": 1, "samples": 16, "elites": 2},
              "act_cem": {"iterations": 1, "samples": 24, "elites": 3}},
}


def test_schedule_explores_offline_then_acts_with_published_weights():
    lockstep = Lockstep(every=2, lag=2, offline_steps=8, total_steps=24)
    assert list(lockstep.episodes()) == list(range(10))  # due at 4, 6, ..., 22: all before the last step
    assert [lockstep.explores(i) for i in (0, 3, 4, 9)] == [True, True, False, False]
    assert (lockstep.start(4), lockstep.due(4)) == (8, 12)
    assert lockstep.starting_at(8) == 4 and lockstep.starting_at(9) is None
    assert lockstep.due_at(12) == 4 and lockstep.due_at(2) is None and lockstep.due_at(24) is None
    assert lockstep.name(0) == "beside-000000" and lockstep.name(4) == "collector-000004"


def run_once(run_dir: Path) -> dict:
    collect_explorer(run_dir, scene="bin_grasp", profile="default", seed=3, image_size=64, episodes=4, workers=2)
    return train_with_collector(run_dir, OVERRIDES, offline_steps=8, finetune_steps=16)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    return [(path, run_once(path)) for path in (tmp_path_factory.mktemp("a") / "run",
                                                  tmp_path_factory.mktemp("b") / "run")]


def test_two_runs_of_one_config_make_bit_identical_checkpoints(two_runs):
    (first, summary), (second, _) = two_runs
    assert summary["learner_step"] == 24 and summary["stopped_by"] == "steps"
    a = safetensors.numpy.load((first / "checkpoint.safetensors").read_bytes())
    b = safetensors.numpy.load((second / "checkpoint.safetensors").read_bytes())
    assert a.keys() == b.keys()
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_the_collector_ran_its_schedule_and_the_learner_took_it(two_runs):
    (first, summary), (second, _) = two_runs
    beside = sorted(p.name for p in (first / "offline").glob("beside-*"))
    online = sorted(p.name for p in (first / "online").glob("collector-*"))
    assert len(beside) == 4 and len(online) == 6
    assert summary["offline_episodes"] == 4 + 4 and summary["online_episodes"] == 6
    for name in online:  # the same on-policy episodes, acted with the same published weights
        x, y = read_episode(first / "online" / name), read_episode(second / "online" / name)
        assert np.array_equal(x.actions, y.actions) and np.array_equal(x.images, y.images)
    assert not list((first / "acting").glob("step-*"))  # every published weight file was used and removed
