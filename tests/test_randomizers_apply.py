"""Apply: samples land in the model as drawn, restore first, never pile up, and re-render the same."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from randomizers import Randomization, load_profile, set_path  # noqa: E402
from randomizers.base import RANDOMIZED_FIELDS, read_field  # noqa: E402
from randomizers.scene_cache import SceneCache, build_scaled_scene  # noqa: E402
from randomizers.texture_pool import draw_pool
from scenes.build import build_scene  # noqa: E402
from scenes.render import SceneRenderer  # noqa: E402
from scenes.spec import load_scene  # noqa: E402
from scenes.task import GraspTask  # noqa: E402

SPEC = load_scene("bin_grasp")
IDS = (3, 17, 42, 105, 230, 512, 777, 1001)
# Fields mj_setConst derives from masses: they must come back too.
DERIVED = ("body_subtreemass", "dof_invweight0", "body_invweight0", "dof_M0", "actuator_acc0")


@pytest.fixture(scope="module")
def renderer():
    r = SceneRenderer(SPEC.camera.width, SPEC.camera.height)
    yield r
    r.close()


def fresh(renderer=None):
    scene = build_scene(SPEC, IDS)
    data = mujoco.MjData(scene.model)
    GraspTask(scene).reset(data, np.random.default_rng(0))
    if renderer is not None:
        renderer.set_model(scene.model, scene.handles.camera)
    return scene, data


def model_fields(model):
    return {field: read_field(model, field) for field in RANDOMIZED_FIELDS + DERIVED}


def assert_same_fields(a, b):
    for field in a:
        np.testing.assert_array_equal(a[field], b[field], err_msg=field)


def test_apply_restores_first_so_samples_never_pile_up():
    randomization = Randomization("wide")
    rng = np.random.default_rng(1)
    scene, data = fresh()
    first, second = randomization.draw(rng, scene), randomization.draw(rng, scene)
    randomization.apply(first, scene, data)
    randomization.apply(second, scene, data)
    clean_scene, clean_data = fresh()
    Randomization("wide").apply(second, clean_scene, clean_data)
    assert_same_fields(model_fields(scene.model), model_fields(clean_scene.model))


def test_restore_brings_back_every_nominal_value():
    randomization = Randomization("wide")
    scene, data = fresh()
    nominal = model_fields(scene.model)
    randomization.apply(randomization.draw(np.random.default_rng(2), scene), scene, data)
    changed = model_fields(scene.model)
    assert all(not np.array_equal(changed[f], nominal[f]) for f in
               ("light_pos", "mat_texid", "mat_rgba", "cam_quat", "body_mass", "body_subtreemass", "dof_damping", "opt.timestep"))
    target = randomization.target(scene)
    for randomizer in randomization.randomizers.values():
        if hasattr(randomizer, "restore"):
            randomizer.restore(target)
    assert_same_fields(model_fields(scene.model), nominal)


def test_samples_land_in_the_model_as_drawn():
    randomization = Randomization("wide")
    scene, data = fresh()
    m, h = scene.model, scene.handles
    nominal = model_fields(m)
    record = randomization.draw(np.random.default_rng(3), scene)
    randomization.apply(record, scene, data)
    key = record["lighting"]["lights"]["key"]
    light = h.lights["key"]
    assert m.light_active[light] == key["active"] and m.light_castshadow[light] == key["castshadow"]
    np.testing.assert_allclose(m.light_pos[light], nominal["light_pos"][light] + key["pos_offset"])
    angle = np.degrees(np.arccos(np.clip(m.light_dir[light] @ nominal["light_dir"][light], -1, 1)))
    assert angle == pytest.approx(key["dir_angle_deg"], abs=1e-6)
    np.testing.assert_allclose(m.vis.headlight.diffuse, record["lighting"]["headlight"])
    camera = record["camera"]
    assert m.cam_fovy[h.camera] == pytest.approx(nominal["cam_fovy"][h.camera] + camera["fovy_offset_deg"])
    np.testing.assert_allclose(m.cam_pos[h.camera], nominal["cam_pos"][h.camera] + camera["pos_offset"])
    dynamics = record["dynamics"]
    actuator = h.gripper.finger_actuators[0]
    assert m.actuator_gainprm[actuator, 0] == pytest.approx(nominal["actuator_gainprm"][actuator, 0]
                                                            * dynamics["finger_gain_scale"])
    assert m.actuator_forcerange[actuator, 1] == pytest.approx(nominal["actuator_forcerange"][actuator, 1]
                                                               * dynamics["finger_force_scale"])
    assert m.opt.timestep == pytest.approx(nominal["opt.timestep"] * dynamics["timestep_scale"])
    obj = h.objects[2]
    objects = record["object"]
    assert m.body_mass[obj.body] == pytest.approx(nominal["body_mass"][obj.body] * objects["mass_scale"][2])
    assert m.geom_friction[obj.geom, 0] == pytest.approx(nominal["geom_friction"][obj.geom, 0]
                                                         * objects["friction_scale"][2])
    table = record["texture"]["surfaces"]["table"]
    assert m.mat_specular[h.materials["table"]] == pytest.approx(table["specular"])
    assert m.mat_texid[h.materials["table"], mujoco.mjtTextureRole.mjTEXROLE_RGB] == h.pool_textures[table["slot"]]
    np.testing.assert_allclose(m.mat_rgba[h.materials["table"]], table["rgba"], rtol=1e-6)
    for pose, handle in zip(objects["poses"]["objects"], h.objects):
        assert data.qpos[handle.qpos_adr + 2] < pose[2] + 0.01  # dropped from the drawn pose, then settled


def test_visual_samples_change_the_image_and_come_back(renderer):
    randomization = Randomization("wide")
    scene, data = fresh(renderer)
    mujoco.mj_forward(scene.model, data)
    nominal_image = renderer.render(data)
    visual = {k: v for k, v in randomization.draw(np.random.default_rng(4), scene).items()
              if k in ("lighting", "texture", "camera")}
    randomization.apply(visual, scene, data, renderer)
    randomized = renderer.render(data)
    assert np.abs(randomized.astype(int) - nominal_image).mean() > 10
    randomization.apply(visual, scene, data, renderer)  # the same sample again: the same bytes
    np.testing.assert_array_equal(renderer.render(data), randomized)
    target = randomization.target(scene, renderer)
    for name in ("lighting", "texture", "camera"):
        randomization.randomizers[name].restore(target)
    target.flush()
    mujoco.mj_forward(scene.model, data)
    np.testing.assert_array_equal(renderer.render(data), nominal_image)


def test_visual_and_physical_randomizers_touch_disjoint_fields():
    profile = load_profile("wide")
    randomization = Randomization(profile)
    scene, _ = fresh()
    nominal = model_fields(scene.model)
    record = randomization.draw(np.random.default_rng(5), scene)
    randomization.apply({k: record[k] for k in ("lighting", "texture", "camera")}, scene, None)
    physical = ("body_mass", "body_inertia", "geom_friction", "actuator_gainprm", "dof_damping", "opt.timestep")
    assert_same_fields({f: read_field(scene.model, f) for f in physical}, {f: nominal[f] for f in physical})


def test_texture_folder_of_photographs(tmp_path):
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    for index in range(3):
        iio.imwrite(tmp_path / f"photo{index}.png", rng.integers(0, 256, (40 + index, 50, 3), dtype=np.uint8))
    profile = set_path(load_profile("none"), "texture", {"enabled": True, "kinds": {"image": 1.0},
                                                         "image_folder": str(tmp_path)})
    randomization = Randomization(profile)
    scene, data = fresh()
    record = randomization.draw(rng, scene)
    pool = draw_pool(profile.texture, record["texture"]["pool_seed"], len(scene.handles.pool_textures), 64)
    assert {t["image"] for t in pool} == {"photo0.png", "photo1.png", "photo2.png"}
    randomization.apply(record, scene, data)


def test_texture_pool_is_filled_once_and_surfaces_only_point_at_it(renderer):
    scene, data = fresh(renderer)
    mujoco.mj_forward(scene.model, data)
    surfaces = list(scene.handles.textures.values())
    own_pixels = [texture_pixels_of(scene.model, t) for t in surfaces]
    randomization = Randomization("wide")
    randomization.apply(randomization.draw(np.random.default_rng(6), scene), scene, data, renderer)
    pool = [texture_pixels_of(scene.model, t) for t in scene.handles.pool_textures]
    assert len({p.tobytes() for p in pool}) == len(pool)  # every slot its own texture
    for _ in range(3):  # later episodes leave every texture's pixels as they are
        randomization.apply(randomization.draw(np.random.default_rng(7), scene), scene, data, renderer)
    for texture, pixels in zip(scene.handles.pool_textures, pool):
        np.testing.assert_array_equal(texture_pixels_of(scene.model, texture), pixels)
    for texture, pixels in zip(surfaces, own_pixels):
        np.testing.assert_array_equal(texture_pixels_of(scene.model, texture), pixels)
    # The renderer reads mat_texid at render time: a fresh render context shows the same pixels.
    image = renderer.render(data)
    renderer.set_model(scene.model, scene.handles.camera)
    np.testing.assert_array_equal(renderer.render(data), image)


def test_a_record_from_another_pool_seed_refills_the_pool(renderer):
    scene, data = fresh(renderer)
    mujoco.mj_forward(scene.model, data)
    other = Randomization(set_path(load_profile("wide"), "texture.pool_seed", 5))
    record = {"texture": other.draw(np.random.default_rng(8), scene)["texture"]}
    other.apply(record, scene, data, renderer)
    expected = renderer.render(data)
    scene, data = fresh(renderer)
    mujoco.mj_forward(scene.model, data)
    Randomization("wide").apply(record, scene, data, renderer)  # filled from seed 0 first, then from 5
    np.testing.assert_array_equal(renderer.render(data), expected)


def texture_pixels_of(model, texture):
    start = model.tex_adr[texture]
    size = model.tex_height[texture] * model.tex_width[texture] * model.tex_nchannel[texture]
    return np.array(model.tex_data[start:start + size])


def test_scaled_scenes_and_the_compile_cache():
    scaled = build_scaled_scene(SPEC, IDS, (1.2,) * len(IDS))
    plain = build_scene(SPEC, IDS)
    for a, b in zip(scaled.handles.objects, plain.handles.objects):
        assert a.half_height == pytest.approx(1.2 * b.half_height)
        assert scaled.model.geom_rbound[a.geom] == pytest.approx(1.2 * plain.model.geom_rbound[b.geom], rel=1e-6)
        assert scaled.model.body_mass[a.body] == pytest.approx(1.2 ** 3 * plain.model.body_mass[b.body], rel=1e-6)
    cache = SceneCache(size=2)
    first = cache.get(SPEC, IDS, (1.1,) * len(IDS))
    assert cache.get(SPEC, IDS, (1.1,) * len(IDS)) is first
    assert cache.get(SPEC, IDS) is not first
    cache.get(SPEC, IDS[:4])
    assert cache.get(SPEC, IDS, (1.1,) * len(IDS)) is not first  # evicted: least recently used


def test_a_scene_built_by_the_randomization_renders_its_pool_without_uploads(renderer):
    randomization = Randomization("wide")
    scene = randomization.build_scene(SPEC, IDS)  # the pool is filled before the render context is made
    renderer.set_model(scene.model, scene.handles.camera)
    data = mujoco.MjData(scene.model)
    GraspTask(scene).reset(data, np.random.default_rng(0))
    target = randomization.target(scene, renderer)
    randomization.apply(randomization.draw(np.random.default_rng(9), scene), scene, data, renderer)
    assert not target.nominal.pool_renderers  # nothing was uploaded
    image = renderer.render(data)
    for texture in scene.handles.pool_textures:
        renderer.upload_texture(texture)
    np.testing.assert_array_equal(renderer.render(data), image)
