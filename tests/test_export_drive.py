"""Closed loop: a bundle on the MuJoCo sim driver, locally and through the server, vs `workbench eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bundle_helpers import export, make_run

from policies.runtime.policy import load_policy
from policies.runtime.robot_action import RobotAction
from workbench.deploy.drive import bundle_scene, compare_with_run, drive_episodes
from workbench.deploy.drivers.base import DeviceNotConnectedError
from workbench.deploy.drivers.sim import MujocoSimRobot


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("drive")
    run = make_run(root / "run", seed=1)
    return run, export(run, root / "bundle")


@pytest.fixture(scope="module")
def scene(made):
    policy = load_policy(made[1])
    return bundle_scene(policy.bundle.manifest, None, 64)


def test_sim_driver_speaks_robot_units_and_clamps(scene):
    robot = MujocoSimRobot(scene, split="test")
    with pytest.raises(DeviceNotConnectedError):
        robot.get_observation()
    with robot:
        features = robot.observation_features
        assert features["image"].shape == (64, 64, 3) and features["tool_position"].unit == "m"
        assert robot.action_features["rotation"].unit == "rad"
        robot.reset_episode(5)
        obs = robot.get_observation()
        assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
        start = obs["tool_position"]
        sent = robot.send_action({"translation": [1.0, 0.0, -1.0], "rotation": 2.0, "gripper": "hold",
                                  "terminate": False})
        np.testing.assert_allclose(sent["translation"], [0.05, 0.0, -0.05])
        assert sent["rotation"] == 0.5
        moved = robot.get_observation()["tool_position"] - start
        np.testing.assert_allclose(moved, [0.05, 0.0, -0.05], atol=1e-9)
        stopped = robot.send_action(RobotAction.stopped("test"))
        assert not stopped["translation"].any() and stopped["gripper"] == "hold"
        with pytest.raises(ValueError, match="gripper"):
            robot.send_action({"translation": [0, 0, 0], "gripper": "squeeze"})
    assert not robot.is_connected


def test_driving_locally_and_through_the_server_give_the_same_episodes(made, scene):
    from policies.runtime.client import PolicyClient
    from policies.runtime.server import ServerThread

    _, bundle = made
    with MujocoSimRobot(scene, split="test") as robot:
        local = drive_episodes(robot, load_policy(bundle), 3, seed=1000, progress=False, wall_clock=False)
        with ServerThread(bundle) as server, PolicyClient(server.url) as client:
            remote = drive_episodes(robot, client, 3, seed=1000, progress=False, wall_clock=False)
    for key in ("successes", "steps", "stops", "limited"):
        assert local[key] == remote[key], key
    assert local["stops"] == 0 and local["steps"] >= 3


def test_bundle_and_training_run_compared_on_the_same_scenes(made):
    run, bundle = made
    record = compare_with_run(bundle, run, episodes=4, seed=1000, progress=False)
    assert record["bundle"]["episodes"] == record["run"]["episodes"] == 4
    assert record["bundle"]["split"] == record["run"]["split"] == "test"
    assert record["run"]["via"].startswith("torch")
    assert isinstance(record["bundle_within_run_interval"], bool)
    assert record["bundle"]["low"] <= record["bundle"]["rate"] <= record["bundle"]["high"]
    agreement = record["agreement"]
    assert agreement["episodes"] == 4 and 0 <= agreement["same_step_count"] <= 4
    assert agreement["max_action_difference"] >= 0


def test_drive_command_with_a_larger_camera(made, capsys):
    from workbench.cli import main

    _, bundle = made
    assert main(["drive", str(bundle), "--episodes", "2", "--camera-size", "96", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["camera_size"] == 96 and record["episodes"] == 2 and record["clock"] == "wall"
