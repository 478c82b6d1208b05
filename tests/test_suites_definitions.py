"""Evaluation suites: each builds and runs; held-out assets are really held out; sensor effects."""

import json

import numpy as np
import pytest
from transfer_helpers import suite_cache  # noqa: F401 (a fixture)

from randomizers.config import load_profile
from randomizers.photos import BUILTIN_PHOTOS
from workbench.cli import main
from workbench.evaluation.suite_assets import HELDOUT_PHOTOS, heldout_photo_folder
from workbench.evaluation.suites import PROXY_REAL, SUITES, get_suites, make_suite_env, suite_scene
from workbench.sim.sensor_effects import CameraDraw, SensorEffects, apply_camera, draw_camera, vignette_gain

pytestmark = pytest.mark.usefixtures("suite_cache")


@pytest.mark.parametrize("name", list(SUITES))
def test_every_suite_resets_and_steps(name):
    env = make_suite_env(SUITES[name], image_size=32)
    observation, _ = env.reset(seed=3)
    assert observation["image"].shape == (32, 32, 3) and observation["image"].dtype == np.uint8
    observation, *_ = env.step(np.array([0, 0, -0.02, 0, 1, 0, 0, 0], np.float32))
    assert observation["image"].shape == (32, 32, 3)
    env.close()


def test_suites_see_the_same_objects_on_the_same_seeds():
    ids = []
    for name in [n for n, suite in SUITES.items() if suite.household == 0.0]:  # unseen-shapes: its own objects
        env = make_suite_env(SUITES[name], image_size=32)
        ids.append(env.reset(seed=11)[1]["object_ids"])
        env.close()
    assert all(i == ids[0] for i in ids)
    from scenes.objects import TEST_IDS

    assert set(ids[0]) <= set(TEST_IDS)


def test_heldout_photos_are_never_used_for_training():
    names = {name.rsplit(".", 1)[0] for name in HELDOUT_PHOTOS}
    assert not names & set(BUILTIN_PHOTOS)
    assert sorted(p.name for p in heldout_photo_folder().iterdir()) == sorted(HELDOUT_PHOTOS)
    for profile in ("none", "default", "wide"):  # the training profiles texture from the built-in set only
        assert load_profile(profile).texture.image_folder == ""


def test_shifts_lie_outside_the_wide_profile():
    wide = load_profile("wide")
    shift = SUITES["shifted-camera"].camera.position_offset
    assert max(abs(v) for v in shift) > wide.camera.position_offset.high
    base, proxy = suite_scene(SUITES["unseen-objects"]), suite_scene(SUITES[PROXY_REAL])
    assert abs(proxy.camera.fovy - base.camera.fovy) > wide.camera.fovy_offset_deg.high
    key = {light.name: light for light in suite_scene(SUITES["unseen-lighting"]).lights}["key"]
    nominal = {light.name: light for light in base.lights}["key"]
    assert max(abs(a - b) for a, b in zip(key.pos, nominal.pos)) > wide.lighting.position_offset.high


def test_proxy_real_is_marked_a_stand_in():
    assert SUITES[PROXY_REAL].stand_in and SUITES[PROXY_REAL].sensor is not None
    assert [s.name for s in get_suites("all")] == list(SUITES)
    assert not any(s.stand_in for n, s in SUITES.items() if n != PROXY_REAL)


def test_sensor_effects_are_reproducible_and_do_what_they_say():
    image = np.full((24, 24, 3), 128, np.uint8)
    effects = SUITES[PROXY_REAL].sensor
    a = apply_camera(image, draw_camera(effects, np.random.default_rng(1)), np.random.default_rng(2))
    b = apply_camera(image, draw_camera(effects, np.random.default_rng(1)), np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    plain = CameraDraw(0.0, 0.0, (1.0, 1.0, 1.0), 1.0, 0.0, 100)
    np.testing.assert_array_equal(apply_camera(image, plain, np.random.default_rng(0)), image)
    vignetted = apply_camera(image, CameraDraw(0.0, 0.5, (1.0, 1.0, 1.0), 1.0, 0.0, 100), np.random.default_rng(0))
    assert vignetted[0, 0, 0] < vignetted[12, 12, 0] <= 128
    assert vignette_gain(24, 24, 0.5).min() > 0.5 - 1e-9
    tinted = apply_camera(image, CameraDraw(0.0, 0.0, (1.1, 1.0, 0.9), 1.0, 0.0, 100), np.random.default_rng(0))
    assert tuple(tinted[0, 0]) == (141, 128, 115)
    with pytest.raises(ValueError):
        SensorEffects(vignetting=(0.5, 0.2))


def test_sensor_wrapper_reseeds_from_the_reset_seed():
    env = make_suite_env(SUITES[PROXY_REAL], image_size=32)
    first, info = env.reset(seed=4)
    second, again = env.reset(seed=4)
    np.testing.assert_array_equal(first["image"], second["image"])
    assert info["sensor_effects"] == again["sensor_effects"]
    assert not np.array_equal(first["image"], env.unwrapped.render())  # the policy sees the sensor's image
    env.close()


def test_eval_all_suites_writes_a_report(tmp_path, capsys):
    report = tmp_path / "report"
    code = main(["eval", "--policy", "oracle", "--suite", "all", "--episodes", "2", "--image-size", "32",
                 "--report", str(report), "--json"])
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert list(record["suites"]) == list(SUITES)
    for entry in record["suites"].values():
        assert entry["success"]["episodes"] == 2 and 0 <= entry["success"]["low"] <= entry["success"]["high"] <= 1
    assert "stand-in" in record["note"]
    assert {p.name for p in report.iterdir()} == {"report.md", "report.json", "episodes.json",
                                                  "success_per_suite.png", "suite_samples.png"}
    outcomes = json.loads((report / "episodes.json").read_text())
    assert list(outcomes) == list(SUITES)
    for name, episodes in outcomes.items():  # what a paired comparison reads, next to the summary
        assert [e["reset_seed"] for e in episodes] == [1000, 1001]
        assert sum(e["success"] for e in episodes) == record["suites"][name]["success"]["successes"]
        assert all(isinstance(i, int) for e in episodes for i in e["object_ids"])
    text = (report / "report.md").read_text()
    assert "proxy-real" in text and "not real data" in text


def test_eval_rejects_unknown_suite_and_conflicting_flags(capsys):
    assert main(["eval", "--suite", "nope", "--episodes", "1"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert main(["eval", "--suite", "all", "--profile", "wide", "--episodes", "1"]) == 2
