"""`bench train --profile`: the phases of a learner update, timed where the learner runs them."""

import json

import numpy as np
import pytest

from policies.qtopt.config import QTOptConfig
from policies.qtopt.stopwatch import NO_STOPWATCH, Stopwatch
from workbench import cli
from workbench.bench.update_profile import PHASES, profile_figures, profile_updates, random_replay


def test_the_phases_add_up_to_the_wall_time_of_an_update():
    config = QTOptConfig(image_size=32, batch_size=16)
    profile = profile_updates(config, 2, updates=4, rng=np.random.default_rng(0), warmup=1, episodes=6)
    phases = profile["phases_ms"]
    assert set(phases) == set(PHASES) and all(ms > 0 for ms in phases.values())
    assert abs(profile["other_ms"]) < 0.15 * profile["total_ms"]  # the phases cover the update
    figures = profile_figures(profile)
    assert sum(figures[f"profile_{p}_pct"] for p in (*PHASES, "other")) == pytest.approx(100.0)


def test_random_replay_ends_episodes_as_real_data_does():
    config = QTOptConfig(image_size=16)
    buffer = random_replay(config, episodes=3, steps=5, rng=np.random.default_rng(1))
    batch = buffer.take(np.arange(len(buffer)))
    assert len(buffer) == 15 and 0 < batch.dones.sum() < 15  # some transitions need no CEM, most do


def test_stopwatch_sums_repeated_phases_and_the_default_times_nothing():
    watch = Stopwatch()
    for _ in range(3):
        with watch("a"):
            pass
    assert list(watch.seconds) == ["a"] and watch.seconds["a"] >= 0
    with NO_STOPWATCH("a"):
        pass


def test_bench_train_profile_json(capsys):
    assert cli.main(["bench", "train", "--json", "--profile", "--updates", "2", "--image-size", "32",
                     "--batch-size", "8"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["arch"] == "fast" and figures["profile_updates_per_s"] > 0
    for phase in (*PHASES, "other"):
        assert f"profile_{phase}_ms" in figures and f"profile_{phase}_pct" in figures


def test_bench_train_profile_rejects_no_updates(capsys):
    assert cli.main(["bench", "train", "--profile", "--updates", "0"]) == 2
    assert "--updates" in capsys.readouterr().err
