"""The environment's randomization hooks: profiles by name or path, splits, records, per-step firing."""

import json
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from randomizers import load_profile, set_path  # noqa: E402
from scenes.household import household_ids  # noqa: E402
from scenes.objects import TEST_IDS, TRAIN_IDS  # noqa: E402
from workbench.sim.env import GraspEnv  # noqa: E402
from workbench.sim.scripted import ExplorerPolicy, OraclePolicy, make_action  # noqa: E402


def test_profile_by_name_path_or_object_and_none_changes_nothing(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n[camera]\nenabled = true\n')
    assert GraspEnv("tabletop_single", profile=path).randomization.profile.name == "mine"
    assert GraspEnv("tabletop_single", profile=load_profile("wide")).randomization.profile.name == "wide"
    plain, none = GraspEnv("tabletop_single"), GraspEnv("tabletop_single", profile="none")
    obs_plain, info_plain = plain.reset(seed=4)
    obs_none, info_none = none.reset(seed=4)
    assert info_none["randomization"] == {} and none.randomization.profile.name == "none"
    np.testing.assert_array_equal(obs_plain["image"], obs_none["image"])
    np.testing.assert_array_equal(info_plain["physics_state"], info_none["physics_state"])


def test_object_randomizer_draws_from_the_training_split_only_on_train():
    profile = load_profile("wide")
    train = GraspEnv("bin_grasp", split="train", profile=profile)
    counts = set()
    for seed in range(4):
        _, info = train.reset(seed=seed)
        record = info["randomization"]["object"]
        counts.add(len(info["object_ids"]))
        assert set(info["object_ids"]) <= set(TRAIN_IDS) | set(household_ids("train"))
        assert record["ids"] == list(info["object_ids"])
        assert all(profile.object.scale.low <= s <= profile.object.scale.high for s in record["scales"])
        assert profile.object.count.low <= len(info["object_ids"]) <= profile.object.count.high
    assert len(counts) > 1
    test = GraspEnv("bin_grasp", split="test", profile=profile)
    for seed in range(2):
        _, info = test.reset(seed=seed)
        assert set(info["object_ids"]) <= set(TEST_IDS) | set(household_ids("test"))
        assert len(info["object_ids"]) == test.spec_scene.objects.count
        assert info["randomization"]["object"]["scales"] is None
    train.close()
    test.close()


def test_records_are_json_and_per_step_randomizers_fire_each_step():
    profile = set_path(load_profile("default"), "lighting.frequency", "step")
    env = GraspEnv("tabletop_single", split="test", profile=profile)
    _, info = env.reset(seed=0)
    assert set(info["randomization"]) == {"lighting", "texture", "object", "camera", "dynamics", "image"}
    assert "applied" in info["randomization"]["image"]
    json.dumps(info["randomization"])
    light_pos = env.scene.model.light_pos.copy()
    _, _, _, _, info = env.step(make_action([0, 0, 0]))
    assert set(info["randomization"]) == {"lighting"}  # the image randomizer fires per episode here
    assert not np.array_equal(env.scene.model.light_pos, light_pos)
    env.close()


def test_episode_samples_restore_before_the_next_episode():
    env = GraspEnv("tabletop_single", split="test", profile="wide")
    model_masses = []
    for seed in (0, 0):
        env.reset(seed=seed, options={"object_ids": (12,)})
        model_masses.append(env.scene.model.body_mass.copy())
    np.testing.assert_array_equal(*model_masses)  # same seed, same model: nothing piled up
    nominal_substeps = round(env.spec_scene.physics.control_dt / env.spec_scene.physics.timestep)
    for seed, ids in enumerate([(12,), (25,), (12,)]):  # the third comes from the compile cache
        env.reset(seed=seed, options={"object_ids": ids})
        assert env.task.substeps == nominal_substeps  # built under the nominal timestep
        assert env.scene.model.opt.timestep != env.spec_scene.physics.timestep  # then jittered
    env.close()


@pytest.mark.parametrize("policy_type", [OraclePolicy, ExplorerPolicy])
def test_scripted_policies_run_under_wide(policy_type):
    env = GraspEnv("bin_grasp", split="test", profile="wide")
    successes = 0
    for seed in range(3):
        observation, _ = env.reset(seed=seed)
        policy = policy_type(env)
        policy.reset(np.random.default_rng(seed))
        done = False
        while not done:
            observation, _, done, _, info = env.step(policy.act(observation))
        successes += info["success"]
    if policy_type is OraclePolicy:
        assert successes >= 2
    env.close()


def test_preview_command_is_deterministic_and_none_varies_only_objects(tmp_path, capsys):
    from workbench.cli import main

    sheets = []
    for name, profile in (("a", "wide"), ("b", "wide"), ("none", "none")):
        out = tmp_path / f"{name}.png"
        assert main(["randomize", "preview", "--profile", profile, "--n", "4", "--seed", "0", "--out", str(out)]) == 0
        sheets.append(out.read_bytes())
    assert sheets[0] == sheets[1]
    output = capsys.readouterr().out
    assert "mean pairwise tile difference" in output
    import imageio.v3 as iio

    none_sheet = iio.imread(Path(tmp_path / "none.png"))
    size = 64
    tiles = [none_sheet[2:2 + size, 2 + i * (size + 2):2 + i * (size + 2) + size] for i in range(2)]
    top = slice(0, 12)  # the backdrop above the bin: no objects there
    np.testing.assert_array_equal(tiles[0][top], tiles[1][top])
