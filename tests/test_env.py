"""The grasping environment: API conformance, determinism, success detection."""

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from workbench import ENV_ID
from workbench.sim.env import GraspEnv
from workbench.sim.scripted import ExplorerPolicy, OraclePolicy, make_action


@pytest.fixture(scope="module")
def env():
    environment = GraspEnv("bin_grasp", split="test")
    yield environment
    environment.close()


def test_check_env_passes():
    environment = gym.make(ENV_ID, scene="tabletop_single")
    check_env(environment.unwrapped, skip_render_check=True)
    environment.close()


def test_spaces_are_qtopt(env):
    obs, info = env.reset(seed=0)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["gripper_closed"].shape == (1,) and obs["height"].shape == (1,)
    assert env.action_space.shape == (8,)
    assert 0.15 < obs["height"][0] < 0.3
    assert set(info) >= {"success", "object_ids", "physics_state"}
    assert len(info["object_ids"]) == env.spec_scene.objects.count


def test_same_seed_same_scene():
    first, second = GraspEnv("bin_grasp"), GraspEnv("bin_grasp")
    obs_a, info_a = first.reset(seed=7)
    obs_b, info_b = second.reset(seed=7)
    assert info_a["object_ids"] == info_b["object_ids"]
    np.testing.assert_array_equal(info_a["physics_state"], info_b["physics_state"])
    np.testing.assert_array_equal(obs_a["image"], obs_b["image"])
    _, info_c = first.reset(seed=8)
    assert info_c["object_ids"] != info_a["object_ids"]
    first.close()
    second.close()


def test_test_split_env_only_sees_test_objects(env):
    from scenes.household import household_ids
    from scenes.objects import TEST_IDS

    for seed in range(5):
        _, info = env.reset(seed=seed)
        assert set(info["object_ids"]) <= set(TEST_IDS) | set(household_ids("test"))


def test_physics_state_rerenders_the_same_image(env):
    obs, info = env.reset(seed=3)
    for _ in range(3):
        obs, _, _, _, info = env.step(make_action([0.02, 0.0, -0.03]))
    data = mujoco.MjData(env.scene.model)
    mujoco.mj_setState(env.scene.model, data, info["physics_state"], mujoco.mjtState.mjSTATE_INTEGRATION)
    mujoco.mj_forward(env.scene.model, data)
    np.testing.assert_array_equal(env.renderer.render(data), obs["image"])


def _oracle_episode(env, seed, drop_before_end=False):
    policy = OraclePolicy(env)
    obs, _ = env.reset(seed=seed)
    policy.reset(np.random.default_rng(seed))
    done = False
    while not done:
        action = policy.act(obs)
        if drop_before_end and action[7] > 0.5:  # about to terminate while holding: let go first
            for _ in range(3):
                obs, _, done, _, info = env.step(make_action([0, 0, 0], open_=True))
            action = make_action([0, 0, 0], terminate=True)
        obs, reward, done, _, info = env.step(action)
    return reward, info


def test_held_object_counts_as_success():
    env = GraspEnv("tabletop_single", split="test")
    rewards = [_oracle_episode(env, seed)[0] for seed in range(4)]
    assert max(rewards) == 1.0
    env.close()


def test_dropped_object_is_not_success():
    env = GraspEnv("tabletop_single", split="test")
    for seed in range(4):
        reward, info = _oracle_episode(env, seed, drop_before_end=True)
        assert not info["success"] and reward < 1.0
    env.close()


def test_object_high_but_not_held_is_not_success(env):
    env.reset(seed=0)
    obj = env.scene.handles.objects[0]
    env.data.qpos[obj.qpos_adr:obj.qpos_adr + 3] = [0.1, 0.1, env.scene.handles.bin_floor_z + 0.15]
    mujoco.mj_forward(env.scene.model, env.data)
    assert env.task.object_heights(env.data)[0] > env.spec_scene.task.lift_height
    assert env.task.held_object(env.data) is None


def test_episode_ends_at_max_steps_with_penalty(env):
    env.reset(seed=1)
    rewards = []
    done = False
    while not done:
        _, reward, done, _, info = env.step(make_action([0, 0, 0]))
        rewards.append(reward)
    assert len(rewards) == env.spec_scene.task.max_steps
    assert all(r == -env.spec_scene.task.step_penalty for r in rewards)


def test_explorer_only_uses_observations(env):
    # The explorer must not read privileged state: it works with the view removed.
    policy = ExplorerPolicy(env)
    obs, _ = env.reset(seed=2)
    policy.reset(np.random.default_rng(0))
    original = env.privileged_view
    env.privileged_view = None
    try:
        for _ in range(5):
            obs, *_ = env.step(policy.act(obs))
    finally:
        env.privileged_view = original


def test_the_grasp_is_judged_after_lifting_to_the_start_height(env):
    # QT-Opt's robots lifted before judging a grasp: an episode that ends low ends lifted.
    obs, _ = env.reset(seed=3)
    start = float(obs["height"][0])
    for _ in range(6):
        obs, *_ = env.step(make_action([0, 0, -0.05]))
    assert obs["height"][0] < 0.05
    obs, _, done, _, info = env.step(make_action([0, 0, 0], terminate=True))
    assert done and obs["height"][0] == pytest.approx(start, abs=0.01)
    assert not info["success"]  # open fingers hold nothing


def test_a_wrist_camera_rides_on_the_hand_and_a_world_camera_stays(env):
    wrist = env  # bin_grasp mounts its camera on the hand
    assert wrist.spec_scene.camera.mount == "hand"
    fixed = GraspEnv("tabletop_single")
    assert fixed.spec_scene.camera.mount == "world"
    for environment, moves in ((wrist, True), (fixed, False)):
        environment.reset(seed=0)
        camera, hand = environment.scene.handles.camera, environment.scene.handles.gripper.hand
        before = environment.data.cam_xpos[camera].copy(), environment.data.xpos[hand].copy()
        environment.step(make_action([0.04, -0.03, 0.0]))
        camera_moved = environment.data.cam_xpos[camera] - before[0]
        hand_moved = environment.data.xpos[hand] - before[1]
        assert np.linalg.norm(hand_moved) > 0.02
        # The soft weld lets the hand tilt a little under acceleration: the camera, 15 cm off
        # its origin, then moves a few millimetres differently.
        np.testing.assert_allclose(camera_moved, hand_moved if moves else 0.0, atol=0.003 if moves else 0.0)
    fixed.close()
