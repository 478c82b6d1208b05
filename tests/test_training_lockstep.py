"""A lockstep collector beside the learner: the schedule, and two runs of one config are the same run."""

import itertools
import types
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


def test_a_machine_far_slower_than_nominal_still_trains_every_planned_step(tmp_path, monkeypatch):
    """Steps are the plan: four main jobs on two cores ran 3 to 4 times slower than nominal, and
    the run must still be the run of its seed, only later."""
    import workbench.training.train as train_module

    hours = itertools.count(0.0, 3600.0)  # every clock reading an hour after the last
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(monotonic=lambda: next(hours)))
    collect_explorer(tmp_path, scene="bin_grasp", profile="default", seed=3, image_size=64, episodes=4, workers=2)
    summary = train_with_collector(tmp_path, OVERRIDES, offline_steps=8, finetune_steps=4)
    assert summary["learner_step"] == 12 and summary["stopped_by"] == "steps"


def run_in_two_calls(run_dir: Path) -> dict:
    """As `workbench run` trains: the offline phase alone (finetune_steps 0), then config.json gets
    finetune_steps and finetune_profile and the run resumes at its phase switch."""
    import json

    collect_explorer(run_dir, scene="bin_grasp", profile="default", seed=3, image_size=64, episodes=4, workers=2)
    first = train_with_collector(run_dir, OVERRIDES, offline_steps=8, finetune_steps=0)
    assert first["learner_step"] == 8
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "finetune_steps": 16, "finetune_profile": "none"}))
    return train_with_collector(run_dir, {}, 0, 0)


@pytest.fixture(scope="module")
def split_runs(tmp_path_factory):
    return [(path, run_in_two_calls(path)) for path in (tmp_path_factory.mktemp("c") / "run",
                                                          tmp_path_factory.mktemp("d") / "run")]


def test_a_run_resumed_at_its_phase_switch_collects_under_the_finetune_profile_and_repeats(split_runs):
    (first, summary), (second, _) = split_runs
    assert summary["resumed"] and summary["learner_step"] == 24
    beside = sorted((first / "offline").glob("beside-*"))
    online = sorted((first / "online").glob("collector-*"))
    assert len(beside) == 4 and len(online) == 6
    assert {read_episode(p).info["profile"] for p in beside} == {"default"}  # the offline phase's profile
    assert {read_episode(p).info["profile"] for p in online} == {"none"}  # finetuning's
    a = safetensors.numpy.load((first / "checkpoint.safetensors").read_bytes())
    b = safetensors.numpy.load((second / "checkpoint.safetensors").read_bytes())
    for name in a:  # the same config, seed and phase switch: the same run
        assert np.array_equal(a[name], b[name]), name
