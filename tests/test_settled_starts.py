"""Settled starts (scenes.settled, GraspEnv's start_seed): reused, turned, still settled, reproducible."""

import json

import mujoco
import numpy as np
import pytest

from scenes.settled import STATE_SPEC, SettledStarts, capture_state, draw_turn, turn_objects, turns_allowed
from scenes.task import GraspTask
from workbench import cli
from workbench.bench.env import difference_interval, effective_draws
from workbench.rollout.collect import EPISODES_PER_START, start_seed
from workbench.sim.env import GraspEnv


@pytest.fixture(scope="module")
def env():
    env = GraspEnv("bin_grasp", profile="default")
    yield env
    env.close()


def _observation_and_state(env, seed, start):
    observation, info = env.reset(seed=seed, options={"start_seed": start})
    return observation["image"], info["physics_state"], info["randomization"]


def test_a_start_is_a_function_of_its_seeds_not_of_the_episodes_before(env):
    env.reset(seed=1, options={"start_seed": 7})  # drops and keeps start 7
    env.reset(seed=2)  # a fresh episode in between
    reused = _observation_and_state(env, 3, 7)
    other = GraspEnv("bin_grasp", profile="default")
    try:
        first = _observation_and_state(other, 3, 7)  # start 7 dropped now, for this very episode
    finally:
        other.close()
    np.testing.assert_array_equal(reused[0], first[0])
    np.testing.assert_array_equal(reused[1], first[1])
    assert reused[2] == first[2]


def test_reused_starts_share_objects_and_settle_once(env, monkeypatch):
    settles = []
    settle = GraspTask.reset
    monkeypatch.setattr(GraspTask, "reset", lambda task, *a: (settles.append(1), settle(task, *a))[1])
    ids = {env.reset(seed=s, options={"start_seed": 11})[1]["object_ids"] for s in range(4)}
    assert len(ids) == 1 and len(settles) == 1
    assert env.reset(seed=0, options={"start_seed": 12})[1]["object_ids"] not in ids
    assert len(settles) == 2


def test_restoring_a_captured_start_is_exact():
    env = GraspEnv("bin_grasp")
    try:
        env.reset(seed=5)
        state = capture_state(env.scene.model, env.data)
        for _ in range(2):
            env.task.apply(env.data, np.array([0.01, 0.0, -0.02]), 0.1, True)
        after = env.physics_state()
        env.task.restore(env.data, state, STATE_SPEC)
        mujoco.mj_forward(env.scene.model, env.data)
        for _ in range(2):
            env.task.apply(env.data, np.array([0.01, 0.0, -0.02]), 0.1, True)
        np.testing.assert_array_equal(env.physics_state(), after)
    finally:
        env.close()


def _settledness(env):
    """Deepest contact penetration now, and the fastest object after 0.3 s with the gripper parked."""
    penetration = min([c.dist for c in env.data.contact[:env.data.ncon]] + [0.0])
    for _ in range(3):
        env.task.apply(env.data, np.zeros(3), 0.0, None)
    speed = max(np.linalg.norm(env.data.qvel[o.qvel_adr:o.qvel_adr + 6]) for o in env.scene.handles.objects)
    return penetration, speed


def test_a_turned_start_is_as_settled_as_the_dropped_one():
    env = GraspEnv("bin_grasp")
    try:
        for seed in range(3):
            env.reset(seed=seed)
            assert turns_allowed(env.scene) == 4
            state = capture_state(env.scene.model, env.data)
            positions = np.array([env.data.xpos[o.body] for o in env.scene.handles.objects])
            figures = []
            for turns in range(4):
                env.task.restore(env.data, state, STATE_SPEC)
                turn_objects(env.scene, env.data, turns)
                mujoco.mj_forward(env.scene.model, env.data)
                turned = np.array([env.data.xpos[o.body] for o in env.scene.handles.objects])
                angle = turns * np.pi / 2
                expected = positions @ np.array([[np.cos(angle), np.sin(angle), 0],
                                                 [-np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
                np.testing.assert_allclose(turned, expected, atol=1e-12)
                figures.append(_settledness(env))
            dropped_penetration, dropped_speed = figures[0]
            assert dropped_penetration > -2e-3  # the settle itself leaves only soft-contact depth
            for penetration, speed in figures[1:]:
                assert penetration == pytest.approx(dropped_penetration, abs=1e-5)
                assert speed <= dropped_speed + 0.02
    finally:
        env.close()


def test_turns_are_drawn_from_the_episode_and_cover_the_allowed_ones(env):
    env.reset(seed=0)
    draws = {draw_turn(np.random.default_rng(i), env.scene) for i in range(40)}
    assert draws == {0, 1, 2, 3}


def test_settled_starts_keep_the_most_recent():
    starts = SettledStarts(2)
    for key in "abc":
        starts.put(key, key)
    assert starts.get("a") is None and starts.get("b") == "b" and len(starts) == 2
    with pytest.raises(ValueError, match="at least 1"):
        SettledStarts(0)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_bad_start_seed_is_refused(env, bad):
    with pytest.raises(ValueError, match="start_seed"):
        env.reset(seed=0, options={"start_seed": bad})


def test_collection_blocks_share_a_start_seed():
    seeds = [start_seed(4, 0, i) for i in range(2 * EPISODES_PER_START)]
    assert len(set(seeds[:EPISODES_PER_START])) == 1 and seeds[0] != seeds[EPISODES_PER_START]
    assert start_seed(4, 0, 0) != start_seed(5, 0, 0) != start_seed(4, 10, 0)


def test_effective_draws_follow_the_correlation_within_starts():
    alike = np.repeat([1.0, 0.0, 1.0, 1.0], 8)  # every start all or nothing: one draw per start
    assert effective_draws(alike, 8) == pytest.approx(4.0)
    assert effective_draws(np.ones(32), 8) == 4.0  # no spread: each start counts once
    mixed = np.tile([1.0, 0.0], 16)  # every start half and half: the episodes are independent
    assert effective_draws(mixed, 8) == 32.0


def test_difference_interval_counts_reused_starts_not_episodes():
    # 80 starts all grasped against 627 of 640 fresh episodes: no failure among 80 starts is
    # likely at a 2% failure rate, so the interval must reach below 0.
    low, high = difference_interval(1.0, 80, 627 / 640, 640)
    assert low < 0 < high
    low_many, high_many = difference_interval(1.0, 640, 627 / 640, 640)  # were they 640 starts
    assert low_many > 0 and high_many - low_many < high - low


def test_bench_env_reports_reset_costs(capsys):
    assert cli.main(["bench", "env", "--json", "--episodes", "3", "--success-episodes", "2"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("reset_ms", "fresh_reset_ms", "steps_per_s_including_resets", "with_resets_ratio",
                "fresh_with_resets_ratio", "episodes_per_start"):
        assert key in figures
    assert 0 < figures["with_resets_ratio"] < 1 and 0 < figures["fresh_with_resets_ratio"] < 1
    assert figures["steps_per_s_including_resets"] < figures["env_steps_per_s"]
    for name in ("oracle", "explorer"):
        assert figures[f"{name}_episodes"] == 2 and 1 <= figures[f"{name}_reused_effective_episodes"] <= 2
        assert figures[f"{name}_reused_minus_fresh_low"] <= figures[f"{name}_reused_minus_fresh"]
        assert figures[f"{name}_reused_minus_fresh"] <= figures[f"{name}_reused_minus_fresh_high"]
        assert figures[f"{name}_reused_minus_fresh"] == pytest.approx(
            figures[f"{name}_reused_success"] - figures[f"{name}_fresh_success"])


def test_bench_env_rejects_bad_counts(capsys):
    assert cli.main(["bench", "env", "--episodes", "0"]) == 2
    assert "--episodes" in capsys.readouterr().err


def test_collect_workers_take_whole_blocks_and_every_index_once(monkeypatch):
    import workbench.rollout.collect as collect_module

    taken = {}
    monkeypatch.setattr(collect_module, "collect", lambda out, indices, **kwargs: taken.setdefault(out, list(indices)))
    for worker in range(3):
        collect_module.collect_worker(f"w{worker}", {"episodes": 50}, worker, 3)
    everything = sorted(i for indices in taken.values() for i in indices)
    assert everything == list(range(50))
    for indices in taken.values():  # a worker's blocks are whole: it reuses every start it settles
        blocks = {i // EPISODES_PER_START for i in indices}
        assert sum(1 for i in range(50) if i // EPISODES_PER_START in blocks) == len(indices)
