"""Draws: every sampled value lies in its configured range, and 1000 draws cover each range.

Coverage: for a range [low, high] the 1000 values fill all ten equal bins and
come within 2% of the range's width of both ends (the chance that uniform
draws miss this is below 1e-8); integer ranges show every integer; choices
show every option at a frequency within five standard errors of its weight.
"""

import json

import numpy as np
import pytest

from randomizers import load_profile
from randomizers.camera import CameraRandomizer
from randomizers.dynamics import DynamicsRandomizer
from randomizers.image import ImageRandomizer
from randomizers.lighting import LightingRandomizer
from randomizers.objects import ObjectRandomizer
from randomizers.photos import BUILTIN_PHOTOS
from randomizers.texture import TextureRandomizer
from randomizers.texture_pool import draw_pool, slot_kinds
from scenes.build import build_scene
from scenes.objects import TRAIN_IDS, split_ids
from scenes.spec import load_scene

DRAWS = 1000
WIDE = load_profile("wide")


@pytest.fixture(scope="module")
def scene():
    return build_scene(load_scene("bin_grasp"), (3, 17, 42, 105, 230, 512, 777, 1001))


def draws(randomizer, scene, count=DRAWS, seed=0):
    rng = np.random.default_rng(seed)
    return [randomizer.draw(rng, scene) for _ in range(count)]


def assert_covers(values, interval, name):
    values = np.asarray(values, float).ravel()
    low, high = interval.low, interval.high
    assert values.min() >= low and values.max() <= high, f"{name}: outside [{low}, {high}]"
    if high > low:
        width = high - low
        assert values.min() - low < 0.02 * width and high - values.max() < 0.02 * width, f"{name}: ends not reached"
        assert (np.histogram(values, bins=10, range=(low, high))[0] > 0).all(), f"{name}: a tenth of the range unused"


def assert_all_integers(values, interval, name):
    assert set(np.asarray(values).ravel().tolist()) == set(range(interval.low, interval.high + 1)), name


def assert_frequency(hits, trials, probability, name):
    error = 5 * np.sqrt(probability * (1 - probability) / trials) + 1e-9
    assert abs(hits / trials - probability) <= error, f"{name}: {hits}/{trials} vs p={probability}"


def test_samples_are_json_and_repeat_from_the_seed(scene):
    for kind, params in [(LightingRandomizer, WIDE.lighting), (TextureRandomizer, WIDE.texture),
                         (ObjectRandomizer, WIDE.object), (CameraRandomizer, WIDE.camera),
                         (DynamicsRandomizer, WIDE.dynamics), (ImageRandomizer, WIDE.image)]:
        randomizer = kind(params)
        first, again = draws(randomizer, scene, 3, seed=5), draws(randomizer, scene, 3, seed=5)
        assert first == again
        assert json.loads(json.dumps(first)) == first


def test_lighting_draws(scene):
    p = WIDE.lighting
    samples = draws(LightingRandomizer(p), scene)
    lights = [light for s in samples for light in s["lights"].values()]
    assert_covers([light["pos_offset"] for light in lights], p.position_offset, "position_offset")
    assert_covers([light["dir_angle_deg"] for light in lights], p.direction_angle_deg, "direction_angle_deg")
    assert_covers([light["intensity"] for light in lights], p.intensity, "intensity")
    assert_covers([light["color_offset"] for light in lights], p.color_offset, "color_offset")
    assert_covers([light["ambient"] for light in lights], p.ambient, "ambient")
    assert_covers([light["specular"] for light in lights], p.specular, "specular")
    assert_covers([s["headlight"] for s in samples], p.headlight, "headlight")
    assert_frequency(sum(light["castshadow"] for light in lights), len(lights), p.shadow_prob, "shadow_prob")
    active = [sum(light["active"] for light in s["lights"].values()) for s in samples]
    assert_all_integers(active, p.active_count, "active_count")  # wide asks for 1..2 of the scene's 2 lights


def test_texture_draws(scene):
    p = WIDE.texture
    randomizer = TextureRandomizer(p)
    samples = draws(randomizer, scene)
    assert all(s["pool_seed"] == p.pool_seed for s in samples)
    assert set(samples[0]["surfaces"]) == {"floor", "table", "bin", "gripper"} | {o.name for o in scene.handles.objects}
    surfaces = [surface for s in samples for surface in s["surfaces"].values()]
    total = sum(p.kinds.values())
    for kind, weight in p.kinds.items():
        assert_frequency(sum(s["kind"] == kind for s in surfaces), len(surfaces), weight / total, f"kind {kind}")
    pool_size = len(scene.handles.pool_textures)
    slot_kind = slot_kinds(p, pool_size)
    assert all(slot_kind[s["slot"]] == s["kind"] for s in surfaces)
    assert {s["slot"] for s in surfaces} == set(range(pool_size))  # every slot gets used
    procedural = [s for s in surfaces if s["kind"] != "image"]
    assert_covers([s["rgba"][:3] for s in procedural], p.tint, "tint")
    assert all(s["rgba"] == [1.0, 1.0, 1.0, 1.0] for s in surfaces if s["kind"] == "image")
    assert all(s["rgba"][3] == 1.0 for s in procedural)
    for field in ("specular", "shininess", "reflectance"):
        assert_covers([surface[field] for surface in surfaces], getattr(p, field), field)


def test_texture_pool_draws():
    p = WIDE.texture
    textures = draw_pool(p, seed=0, count=DRAWS, size=64)
    assert draw_pool(p, seed=0, count=8, size=64) == textures[:8]  # a pure function of the seed
    assert draw_pool(p, seed=1, count=8, size=64) != textures[:8]
    kinds = sorted(k for k, w in p.kinds.items() if w > 0)
    assert [t["kind"] for t in textures[:len(kinds)]] == kinds  # slots go round the kinds in turn
    assert_covers([t["colors"] for t in textures if "colors" in t], p.color, "color")
    assert_all_integers([t["cells"] for t in textures if "cells" in t], p.cells, "cells")
    assert_all_integers([t["count"] for t in textures if t["kind"] == "stripes"], p.stripes, "stripes")
    photos = [t for t in textures if t["kind"] == "image"]
    assert {t["image"] for t in photos} == set(BUILTIN_PHOTOS)
    assert all(0 <= c <= 1 for t in photos for c in t["crop"])
    with pytest.raises(ValueError, match="texture_pool"):
        slot_kinds(p, 2)


def test_texture_groups_and_kinds_can_be_narrowed(scene):
    p = WIDE.texture.model_copy(update={"groups": ("table",), "kinds": {"checker": 1.0, "image": 0.0}})
    samples = draws(TextureRandomizer(p), scene, 50)
    assert all(set(s["surfaces"]) == {"table"} and s["surfaces"]["table"]["kind"] == "checker" for s in samples)


def test_object_choices_come_from_the_training_split_in_range():
    p = WIDE.object
    randomizer = ObjectRandomizer(p)
    rng = np.random.default_rng(0)
    choices = [randomizer.choose(rng, "all") for _ in range(DRAWS)]
    assert_all_integers([len(ids) for ids, _ in choices], p.count, "count")
    train = set(TRAIN_IDS)
    assert all(set(ids) <= train and len(set(ids)) == len(ids) for ids, _ in choices)
    assert len({i for ids, _ in choices for i in ids}) > 0.9 * len(TRAIN_IDS)  # the whole split gets used
    assert_covers([s for _, scales in choices for s in scales], p.scale, "scale")
    primitives = ObjectRandomizer(p).choose(rng, "primitive")[0]
    assert set(primitives) <= set(split_ids("train", "primitive"))


def test_object_draws(scene):
    p = WIDE.object
    samples = draws(ObjectRandomizer(p), scene)
    assert all(len(s["mass_scale"]) == len(scene.handles.objects) for s in samples)
    assert_covers([s["mass_scale"] for s in samples], p.mass_scale, "mass_scale")
    assert_covers([s["friction_scale"] for s in samples], p.friction_scale, "friction_scale")
    assert_covers([s["poses"]["spread"] for s in samples], p.spread, "spread")
    assert_covers([s["poses"]["drop_height"] for s in samples], p.drop_height, "drop_height")
    hx, hy = scene.handles.bin_half_size
    poses = np.array([pose for s in samples for pose in s["poses"]["objects"]])
    assert (np.abs(poses[:, 0]) <= hx).all() and (np.abs(poses[:, 1]) <= hy).all()
    assert (poses[:, 2] >= scene.handles.bin_floor_z + p.drop_height.low).all()
    np.testing.assert_allclose(np.linalg.norm(poses[:, 3:], axis=1), 1.0)


def test_camera_draws(scene):
    p = WIDE.camera
    samples = draws(CameraRandomizer(p), scene)
    assert_covers([s["pos_offset"] for s in samples], p.position_offset, "position_offset")
    assert_covers([s["rotation_deg"] for s in samples], p.rotation_deg, "rotation_deg")
    assert_covers([s["fovy_offset_deg"] for s in samples], p.fovy_offset_deg, "fovy_offset_deg")


def test_dynamics_draws(scene):
    p = WIDE.dynamics
    samples = draws(DynamicsRandomizer(p), scene)
    for field in ("finger_force_scale", "finger_gain_scale", "damping_scale", "timestep_scale"):
        assert_covers([s[field] for s in samples], getattr(p, field), field)


def test_image_augmentation_applies_parameters_in_range():
    p = WIDE.image
    randomizer = ImageRandomizer(p)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    seeds = draws(randomizer, None)
    applied = [randomizer.augment(image, seed)[1] for seed in seeds]
    by_name = {name: [a for record in applied for a in record if a["transform"] == name]
               for name in ("ColorJitter", "GaussNoise", "GaussianBlur", "ImageCompression", "RandomShadow")}
    for name, params in [("ColorJitter", p.color_jitter), ("GaussNoise", p.noise), ("GaussianBlur", p.blur),
                         ("ImageCompression", p.jpeg), ("RandomShadow", p.shadow)]:
        assert_frequency(sum(a["applied"] for a in by_name[name]), DRAWS, params.p, name)
    jitter = [a["params"] for a in by_name["ColorJitter"] if a["applied"]]
    for field in ("brightness", "contrast", "saturation", "hue"):
        assert_covers([j[field] for j in jitter], getattr(p.color_jitter, field), f"color_jitter.{field}")
    quality = [a["params"]["quality"] for a in by_name["ImageCompression"] if a["applied"]]
    assert_covers(quality, p.jpeg.quality, "jpeg.quality")  # ~400 draws over 66 qualities: coverage by tenths
    shadows = [a["params"] for a in by_name["RandomShadow"] if a["applied"]]
    assert_covers([i for s in shadows for i in s["intensities"]], p.shadow.intensity, "shadow.intensity")
    assert_all_integers([len(s["vertices_list"]) for s in shadows], p.shadow.count, "shadow.count")
    kernels = [len(a["params"]["kernel"]) for a in by_name["GaussianBlur"] if a["applied"]]
    assert set(kernels) <= set(range(p.blur.kernel.low, p.blur.kernel.high + 1, 2))
    first, again = randomizer.augment(image, seeds[0]), randomizer.augment(image, seeds[0])
    np.testing.assert_array_equal(first[0], again[0])
