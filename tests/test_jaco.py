"""The Kinova Jaco hand from dm_control as a built-in gripper: model, handles, task, validator."""

import subprocess
import sys

import mujoco
import numpy as np
import pytest
from dm_control.entities.manipulators.kinova import jaco_hand

from scenes.grippers import gripper_opening
from scenes.jaco import OPEN_ANGLE, jaco_geometry
from scenes.spec import SpecError, builtin_scenes, load_scene, parse_scene
from workbench.sim.env import GraspEnv
from workbench.sim.scripted import OraclePolicy, make_action


@pytest.fixture(scope="module")
def env():
    environment = GraspEnv("bin_grasp_jaco", split="test")
    yield environment
    environment.close()


def _lowest_fingertip_z(model, data, handles) -> float:
    lowest = np.inf
    for geom in handles.gripper.finger_geoms:
        mesh = model.geom_dataid[geom]
        start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        world = data.geom_xpos[geom] + model.mesh_vert[start:start + count] @ data.geom_xmat[geom].reshape(3, 3).T
        lowest = min(lowest, world[:, 2].min())
    return float(lowest)


def test_the_hand_is_dm_controls_jaco_with_position_actuated_fingers(env):
    env.reset(seed=0)
    model, handles = env.scene.model, env.scene.handles
    g = handles.gripper
    entity = jaco_hand.JacoHand()
    bodies = {model.body(i).name for i in range(model.nbody)}
    assert {f"jaco_{body.name}" for body in entity.mjcf_model.find_all("body")} <= bodies
    assert len(g.finger_qpos) == len(g.finger_actuators) == 3 and len(g.finger_geoms) == 6
    low, high = entity.mjcf_model.default.joint.range  # the hand's joints take it from the default class
    # Closed is the joints' limit; open is OPEN_ANGLE, inside their range (wide open costs grasps).
    assert low < g.finger_open == pytest.approx(OPEN_ANGLE) and g.finger_open + g.finger_travel == pytest.approx(high)
    # Ours replace dm_control's velocity actuators: a position target with a torque limit per finger.
    assert model.nu == 3
    for actuator in g.finger_actuators:
        assert model.actuator_biastype[actuator] == mujoco.mjtBias.mjBIAS_AFFINE
        assert model.actuator_biasprm[actuator, 1] == -model.actuator_gainprm[actuator, 0] < 0
        assert model.actuator_forcelimited[actuator]
    # Every geom of the hand wears the scene's gripper material, so the texture randomizer reaches it.
    geoms = handles.surface_geoms["gripper"]
    assert len(geoms) == 8 and set(g.finger_geoms) < set(geoms)
    assert {int(model.geom_matid[geom]) for geom in geoms} == {handles.materials["gripper"]}


def test_close_and_open_drive_all_three_fingers(env):
    observation, _ = env.reset(seed=0)
    g = env.scene.handles.gripper
    assert observation["gripper_closed"][0] < 0.02
    assert observation["height"][0] == pytest.approx(env.spec_scene.gripper.start_height, abs=0.005)
    for _ in range(2):  # in the air, nothing between the fingers
        observation, *_ = env.step(make_action([0, 0, 0], close=True))
    assert observation["gripper_closed"][0] > 0.9
    assert (env.data.qpos[list(g.finger_qpos)] > g.finger_open + 0.85 * g.finger_travel).all()
    for _ in range(2):
        observation, *_ = env.step(make_action([0, 0, 0], open_=True))
    assert observation["gripper_closed"][0] < 0.1


def test_the_tool_point_is_the_lowest_point_the_closing_fingertips_reach(env):
    env.reset(seed=0)
    model, data, handles = env.scene.model, env.data, env.scene.handles
    tool_z = float(data.xpos[handles.gripper.hand][2])
    lowest = [_lowest_fingertip_z(model, data, handles)]
    g = handles.gripper
    data.ctrl[list(g.finger_actuators)] = g.finger_open + g.finger_travel  # close, watching every 2 substeps
    for _ in range(40):
        mujoco.mj_step(model, data, nstep=2)
        lowest.append(_lowest_fingertip_z(model, data, handles))
    assert lowest[0] > tool_z + 0.008  # open, the fingertips are above it
    assert min(lowest) == pytest.approx(tool_z, abs=0.004)


def test_the_oracle_grasps_with_three_fingers(env):
    policy = OraclePolicy(env)
    successes = 0
    for seed in range(6):
        observation, _ = env.reset(seed=seed)
        policy.reset(np.random.default_rng(seed))
        done = False
        while not done:
            observation, reward, done, _, info = env.step(policy.act(observation))
        successes += info["success"]
        if info["success"]:  # held after the lift: partly open, an object between the fingers
            assert 0.2 < observation["gripper_closed"][0] < 0.99
            assert env.task.held_object(env.data) is not None
    assert successes >= 4


def test_the_opening_is_measured_on_dm_controls_model():
    geometry = jaco_geometry()
    assert 0.07 < geometry.opening < 0.12 and geometry.reach > geometry.opening / 2
    assert geometry.tool_depth > geometry.finger_length  # the fingertips hang below the wrist
    assert gripper_opening(load_scene("bin_grasp_jaco").gripper) == geometry.opening
    assert gripper_opening(load_scene("bin_grasp").gripper) == load_scene("bin_grasp").gripper.max_opening


def test_parallel_jaw_fields_are_refused_for_the_jaco(tmp_path):
    path = tmp_path / "scene.toml"
    path.write_text('name = "j"\n[gripper]\nkind = "jaco"\nmax_opening = 0.1\nfinger_gain = 50.0\n')
    with pytest.raises(SpecError) as error:
        load_scene(path)
    message = str(error.value)
    assert str(path) in message and "gripper" in message and "max_opening, finger_gain" in message
    spec = load_scene("bin_grasp_jaco")  # a dumped spec holds every field at its default: still valid
    assert parse_scene(spec.model_dump(mode="json"), "manifest") == spec


def test_the_jaco_scene_is_built_in_and_validates_with_a_build():
    assert "bin_grasp_jaco" in builtin_scenes()
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "scene", "validate", "bin_grasp_jaco",
                             "--build"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ok: scene 'bin_grasp_jaco'" in result.stdout and "compiled" in result.stdout
