"""Household object families: they build, are deterministic, keep their split, and the suite runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from randomizers.config import ObjectParams
from randomizers.objects import ObjectRandomizer
from scenes.build import build_scene
from scenes.household import (
    FAMILIES,
    FAMILY_NAMES,
    VARIANTS,
    household_id,
    household_ids,
    household_object,
    is_held_out,
)
from scenes.objects import HOUSEHOLD_ID_BASE, TEST_IDS, draw_object_ids, drawable_count, scene_object
from scenes.spec import SpecError, load_scene, parse_scene
from workbench.evaluation.suites import SUITES, make_suite_env, suite_scene
from workbench.sim.env import GraspEnv
from workbench.sim.scripted import OraclePolicy

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "household" / "scene.toml"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_each_family_compiles_at_real_scale(family):
    ids = (household_id(family, 0), household_id(family, 3))
    scene = build_scene(load_scene("bin_grasp"), ids)
    for handle, object_id in zip(scene.handles.objects, ids):
        definition = household_object(object_id)
        assert definition.kind == family and handle.compound and len(handle.geoms) == len(definition.parts)
        assert scene.model.body_mass[handle.body] == pytest.approx(definition.mass)
        assert 0.03 < definition.mass < 0.7  # kg: a can, a mug, a box of cereal
        extent = 2 * np.asarray(definition.size)
        assert 0.005 < extent.min() and extent.max() < 0.25  # metres
        assert np.all(np.asarray(handle.extents) >= np.asarray(definition.size) - 1e-6)


def test_households_hold_families_wider_than_the_hand_and_handles():
    opening = load_scene("bin_grasp").gripper.max_opening
    irregular = [household_object(household_id("irregular", v)) for v in range(8)]
    assert all(2 * min(o.size[:2]) > opening for o in irregular)  # only a part can be taken
    mug = household_object(household_id("mug", 0))
    assert sum(p.kind == "capsule" for p in mug.parts) == 3 and len(mug.parts) > 10


def test_ids_are_deterministic_and_distinct():
    first = household_object(household_id("bottle", 5))
    household_object.cache_clear()
    assert household_object(household_id("bottle", 5)) == first
    signatures = {household_object(i).parts for i in household_ids("train")[:200]}
    assert len(signatures) == 200
    with pytest.raises(KeyError, match="household ids"):
        household_object(HOUSEHOLD_ID_BASE + 1000 * len(FAMILIES))
    with pytest.raises(KeyError, match="variant"):
        household_id("mug", VARIANTS)
    assert scene_object(household_id("can", 1)).kind == "can"


def test_the_split_is_disjoint_and_training_never_draws_held_out_shapes():
    train, test = set(household_ids("train")), set(household_ids("test"))
    assert not train & test and len(train) + len(test) == len(FAMILIES) * VARIANTS
    held_out_families = {f.name for f in FAMILIES if f.held_out}
    assert held_out_families and not {household_object(i).kind for i in train} & held_out_families
    assert {household_object(i).kind for i in test} == set(FAMILY_NAMES)
    rng = np.random.default_rng(0)
    drawn = {i for _ in range(300) for i in draw_object_ids(rng, 8, "train", household=0.5)}
    assert drawn & train and not drawn & test and not drawn & set(TEST_IDS)
    randomizer = ObjectRandomizer(ObjectParams())
    chosen = {i for _ in range(100) for i in randomizer.choose(rng, "all", (), 1.0)[0]}
    assert chosen <= train
    assert all(is_held_out(i) for i in draw_object_ids(rng, 6, "test", household=1.0))


def test_held_out_variants_are_larger_than_their_family_in_training():
    for family in ("can", "fruit", "mug"):
        train = [household_object(household_id(family, v)) for v in range(VARIANTS) if v % 4 != 3]
        test = [household_object(household_id(family, v)) for v in range(VARIANTS) if v % 4 == 3]
        def radius(o, family=family):
            return o.parts[0].size[0] if family == "mug" else max(o.size[:2])

        assert max(map(radius, train)) < max(map(radius, test))
        assert np.median([radius(o) for o in train]) < np.median([radius(o) for o in test])


def test_a_share_mixes_households_into_the_draw_and_zero_keeps_the_old_draw():
    old = draw_object_ids(np.random.default_rng(3), 8, "train")
    assert draw_object_ids(np.random.default_rng(3), 8, "train", household=0.0) == old
    rng = np.random.default_rng(1)
    shares = [np.mean([i >= HOUSEHOLD_ID_BASE for i in draw_object_ids(rng, 8, "train", household=0.25)])
              for _ in range(400)]
    assert abs(np.mean(shares) - 0.25) < 0.03
    assert drawable_count("train", household=1.0) == len(household_ids("train"))


def test_the_spec_field_is_validated():
    def scene(**objects):
        return {"name": "s", "objects": objects}

    assert parse_scene(scene(household=0.3)).objects.household == 0.3
    with pytest.raises(SpecError, match="objects.household"):
        parse_scene(scene(household=1.5), "bad.toml")
    assert parse_scene(scene(ids=[household_id("jug", 2)], count=1)).objects.ids == (household_id("jug", 2),)
    with pytest.raises(SpecError, match=r"bad.toml: objects.ids.0 = 29100: unknown object id 29100"):
        parse_scene(scene(ids=[29100], count=1), "bad.toml")


def _mixed_scene(share: float):
    spec = load_scene("bin_grasp")
    return spec.model_copy(update={"objects": spec.objects.model_copy(update={"household": share})})


@pytest.mark.parametrize("profile", ["none", "wide"])  # wide drops them again at its own poses, 4 to 12 objects
def test_dropped_households_settle_inside_the_bin(profile):
    env = GraspEnv(EXAMPLE if profile == "none" else _mixed_scene(0.25), image_size=32, profile=profile)
    outside, households = 0, 0
    try:
        for seed in range(4):
            _, info = env.reset(seed=seed)
            households += sum(i >= HOUSEHOLD_ID_BASE for i in info["object_ids"])
            h = env.scene.handles
            heights = env.task.object_heights(env.data)
            xy = np.array([env.data.xpos[o.body][:2] for o in h.objects])
            assert np.all(heights > 0.0) and np.all(heights < 0.3)
            outside += int(np.sum(np.any(np.abs(xy) > np.asarray(h.bin_half_size) + 0.005, axis=1)))
    finally:
        env.close()
    assert households > 0 and outside == 0


def test_unseen_shapes_suite_runs_and_the_oracle_takes_parts():
    suite = SUITES["unseen-shapes"]
    spec = suite_scene(suite)
    assert spec.objects.household == 1.0 and suite.split == "test"
    env = make_suite_env(suite, image_size=32)
    policy, successes = OraclePolicy(env), 0
    try:
        for seed in range(3):
            observation, info = env.reset(seed=1000 + seed)
            assert all(is_held_out(i) for i in info["object_ids"])
            policy.reset(np.random.default_rng(seed))
            done = False
            while not done:
                observation, _, terminated, truncated, info = env.step(policy.act(observation))
                done = terminated or truncated
            assert policy.part is not None  # a compound scene: the oracle picked a part
            successes += info["success"]
    finally:
        env.close()
    assert successes >= 2
