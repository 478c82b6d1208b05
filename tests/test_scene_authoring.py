"""Scene authoring: custom object meshes, a custom gripper, the example scene and the generated reference."""

import importlib.util
import re
import tomllib
from pathlib import Path

import mujoco
import numpy as np
import pytest

from scenes.build import build_scene
from scenes.meshes import MeshError, read_mesh
from scenes.objects import CUSTOM_ID_BASE, TRAIN_IDS, draw_object_ids, split_ids
from scenes.spec import SpecError, load_scene, parse_scene
from workbench.cli.spec_reference import embedded_reference, scene_reference

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "custom_scene"
SCENE = EXAMPLE / "scene.toml"
GUIDE = REPO / "docs" / "scene-authoring.md"

TETRA_OBJ = """# a tetrahedron, one face a quad split by the reader
v 0 0 0
v 0.04 0 0
v 0 0.04 0
v 0 0 0.04
f 1 3 2
f 1/1 2/2 4/4
f -4//1 -1//1 -2//1
f 2 3 4
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def scene_text(mesh_lines: str, objects: str = "") -> str:
    return f'name = "t"\n[objects]\ncount = 1\n{objects}\n[[objects.meshes]]\n{mesh_lines}\n'


# -- the mesh reader -------------------------------------------------------------------------

def test_binary_and_ascii_stl_and_obj_read_alike(tmp_path):
    binary = read_mesh(EXAMPLE / "mug.stl")
    corners = binary.vertices[binary.faces]
    facets = "".join("facet normal 0 0 0\n outer loop\n" + "".join(f"  vertex {float(x)!r} {float(y)!r} {float(z)!r}\n" for x, y, z in tri)
                     + " endloop\nendfacet\n" for tri in corners)
    ascii_mesh = read_mesh(write(tmp_path, "mug.stl", f"solid mug\n{facets}endsolid mug\n"))
    np.testing.assert_array_equal(ascii_mesh.vertices, binary.vertices)
    np.testing.assert_array_equal(ascii_mesh.faces, binary.faces)
    tetra = read_mesh(write(tmp_path, "t.obj", TETRA_OBJ))
    assert tetra.vertices.shape == (4, 3) and tetra.faces.shape == (4, 3)
    np.testing.assert_allclose(tetra.extents, [0.04] * 3)


@pytest.mark.parametrize("name, text, reason", [
    ("m.ply", "ply", "unsupported mesh format '.ply'"),
    ("m.stl", "not an stl", "not an STL file"),
    ("m.obj", "v 0 0 0\nf 1 2 3\n", "cannot read"),
    ("m.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "flat mesh"),
    ("m.obj", "v 0 0 0\n", "no triangles"),
])
def test_unusable_mesh_files_say_why(tmp_path, name, text, reason):
    with pytest.raises(MeshError, match=re.escape(reason)):
        read_mesh(write(tmp_path, name, text))
    with pytest.raises(MeshError, match="file not found"):
        read_mesh(tmp_path / "missing.stl")


# -- custom meshes in a scene spec ----------------------------------------------------------

@pytest.mark.parametrize("mesh_lines, objects, field, reason", [
    ('file = "nope.stl"', "", "objects.meshes.0.file", "file not found"),
    ('file = "mug.ply"', "", "objects.meshes.0.file", "use .stl or .obj"),
    ('file = "mug.stl"', "", "objects.meshes.0", "needs scale = 0.001"),
    ('file = "mug.stl"\nscale = 0.00001', "", "objects.meshes.0", "smaller than"),
    ('file = "mug.stl"\nscale = 0.001\nmass = -1', "", "objects.meshes.0.mass", "greater than 0"),
    # More than the custom meshes is capped (test_safety_inputs); none in the split is refused.
    ('file = "mug.stl"\nscale = 0.001\nsplit = "test"', 'kinds = "custom"\ncount = 2', "objects.count",
     "only 0 objects"),
    ('file = "mug.stl"\nscale = 0.001', "ids = [10001]", "objects.ids.0", "custom meshes have ids 10000..10000"),
])
def test_bad_custom_meshes_name_file_field_and_reason(tmp_path, mesh_lines, objects, field, reason):
    (tmp_path / "mug.stl").write_bytes((EXAMPLE / "mug.stl").read_bytes())
    text = scene_text(mesh_lines, objects).replace("[objects]\ncount = 1\nkinds", "[objects]\nkinds")
    text = text.replace("count = 1\ncount = 2", "count = 2")
    path = write(tmp_path, "scene.toml", text)
    with pytest.raises(SpecError) as error:
        load_scene(path)
    message = str(error.value)
    assert str(path) in message and field in message and reason in message, message


def box_obj(x: float, y: float, z: float) -> str:
    corners = [(i * x, j * y, k * z) for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    faces = [(1, 2, 4), (1, 4, 3), (5, 7, 8), (5, 8, 6), (1, 5, 6), (1, 6, 2),
             (3, 4, 8), (3, 8, 7), (1, 3, 7), (1, 7, 5), (2, 6, 8), (2, 8, 4)]
    return "".join(f"v {a} {b} {c}\n" for a, b, c in corners) + "".join(f"f {a} {b} {c}\n" for a, b, c in faces)


@pytest.mark.parametrize("size, kind, reason", [
    ((0.32, 0.12, 0.10), "parallel_jaw", "larger than 0.2 m"),
    ((0.10, 0.10, 0.10), "parallel_jaw", "wider than the parallel_jaw gripper's opening, 0.085 m"),
    ((0.15, 0.09, 0.09), "jaco", "wider than the jaco gripper's opening"),
    ((0.15, 0.08, 0.09), "jaco", None),  # across its narrowest extent it fits between the Jaco's fingertips
])
def test_a_mesh_must_fit_the_grippers_opening_and_the_error_gives_a_scale_that_fits(tmp_path, size, kind, reason):
    write(tmp_path, "box.obj", box_obj(*size))
    text = scene_text('file = "box.obj"') + f'[gripper]\nkind = "{kind}"\n'
    path = write(tmp_path, "scene.toml", text)
    if reason is None:
        assert load_scene(path).objects.meshes[0].scale == 1.0
        return
    with pytest.raises(SpecError) as error:
        load_scene(path)
    message = str(error.value)
    assert "objects.meshes.0: scale = 1.0" in message and reason in message, message
    hinted = float(re.search(r"scale = ([0-9.e-]+) fits it", message).group(1))
    assert 0.001 < hinted < 1.0  # a file in metres is not taken for one in millimetres
    fitted = load_scene(write(tmp_path, "scene.toml", text.replace('"box.obj"', f'"box.obj"\nscale = {hinted}')))
    assert fitted.objects.meshes[0].scale == hinted


def test_kinds_custom_needs_meshes():
    with pytest.raises(SpecError, match="needs at least one"):
        parse_scene({"name": "t", "objects": {"kinds": "custom", "count": 1}})


def test_mesh_paths_resolve_against_the_scene_file_and_stay_valid_when_reloaded():
    spec = load_scene(SCENE)
    files = [Path(mesh.file) for mesh in spec.objects.meshes]
    assert files == [EXAMPLE / "mug.stl", EXAMPLE / "cup.obj"] and all(f.is_absolute() for f in files)
    again = parse_scene(spec.model_dump(mode="json"), "manifest", base_dir="/nowhere")
    assert again == spec


def test_custom_meshes_join_the_draw_of_their_split():
    spec = load_scene(SCENE)
    meshes = spec.objects.meshes
    assert split_ids("train", "custom", meshes) == (10000, 10001)
    assert split_ids("test", "all", meshes)[-2:] == (10000, 10001)
    held_out = (meshes[0].model_copy(update={"split": "test"}),)
    assert split_ids("train", "custom", held_out) == () and split_ids("test", "custom", held_out) == (10000,)
    # Without custom meshes the draw is the library's, unchanged.
    assert draw_object_ids(np.random.default_rng(3), 8, "train") == tuple(
        int(i) for i in np.random.default_rng(3).choice(TRAIN_IDS, size=8, replace=False))
    with pytest.raises(SpecError, match="only 2 of kinds 'custom'"):
        draw_object_ids(np.random.default_rng(0), 3, "train", "custom", meshes)


def test_the_object_randomizer_draws_at_most_the_custom_meshes():
    from randomizers.episode import Randomization

    spec = load_scene(SCENE)
    randomization = Randomization("default")
    for seed in range(5):
        ids, _ = randomization.choose_objects(np.random.default_rng(seed), "train", spec.objects)
        assert 1 <= len(ids) <= 2 and set(ids) <= {10000, 10001}


# -- the example scene: builds, runs, matches its generator --------------------------------

def test_example_scene_builds_with_mesh_assets_and_convex_hulls():
    spec = load_scene(SCENE)
    scene = build_scene(spec, (CUSTOM_ID_BASE, CUSTOM_ID_BASE + 1))
    model = scene.model
    mug, cup = scene.handles.objects
    assert (mug.name, cup.name) == ("obj10000_custom", "obj10001_custom")
    assert model.geom_type[mug.geom] == mujoco.mjtGeom.mjGEOM_MESH
    mesh = model.geom_dataid[mug.geom]
    assert model.mesh_facenum[mesh] == len(read_mesh(EXAMPLE / "mug.stl").faces)  # rendered as in the file
    assert model.mesh_graphadr[mesh] >= 0  # with a convex hull for collisions
    assert model.body_mass[mug.body] == pytest.approx(0.25)  # the spec's mass
    cup_volume = np.pi * 0.06 / 3 * (0.018**2 + 0.018 * 0.025 + 0.025**2)  # the hull: a frustum
    assert model.body_mass[cup.body] == pytest.approx(1000 * cup_volume, rel=0.05)
    assert mug.half_height == pytest.approx(0.074 / 2, abs=1e-3)


def test_example_scene_episode_runs_with_the_custom_meshes():
    from workbench.sim.env import GraspEnv
    from workbench.sim.scripted import OraclePolicy

    env = GraspEnv(SCENE, split="train")
    try:
        policy = OraclePolicy(env)
        observation, info = env.reset(seed=0)
        policy.reset(np.random.default_rng(0))
        assert set(info["object_ids"]) == {10000, 10001}
        assert observation["image"].shape == (64, 64, 3)
        done, steps = False, 0
        while not done:
            observation, _, done, _, info = env.step(policy.act(observation))
            steps += 1
        assert 1 <= steps <= env.spec_scene.task.max_steps
        heights = env.task.object_heights(env.data)
        assert np.isfinite(heights).all() and (heights > -0.01).all()  # nothing fell through the bin
    finally:
        env.close()


def test_committed_meshes_are_the_generators_output(tmp_path):
    loader = importlib.util.spec_from_file_location("make_meshes", EXAMPLE / "make_meshes.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("mug.stl", "cup.obj"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name
    vertices, faces = module.mug()
    assert module.signed_volume(vertices, faces) > 0  # outward normals


# -- a custom gripper ------------------------------------------------------------------------

def test_gripper_fields_shape_the_model_and_defaults_keep_the_old_gripper():
    default = build_scene(load_scene("tabletop_single"), (0,))
    model, g = default.model, default.handles.gripper
    np.testing.assert_allclose(model.geom_size[g.finger_geoms[0]], [0.02, 0.006, 0.025])
    np.testing.assert_allclose(model.geom_size[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "palm")],
                               [0.014, 0.0425 + 0.012, 0.008])

    custom = build_scene(load_scene(SCENE), (10000, 10001))
    model, g = custom.model, custom.handles.gripper
    np.testing.assert_allclose(model.geom_size[g.finger_geoms[0]], [0.015, 0.005, 0.035])
    np.testing.assert_allclose(model.geom_friction[g.finger_geoms[0], 0], 2.0)
    palm = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "palm")
    np.testing.assert_allclose(model.geom_size[palm], [0.015, 0.05 + 0.01, 0.01])
    np.testing.assert_allclose(model.actuator_forcerange[g.finger_actuators[0]], [-30.0, 30.0])
    assert model.actuator_gainprm[g.finger_actuators[0], 0] == pytest.approx(1500.0)
    assert g.finger_travel == pytest.approx(0.05) and g.finger_length == pytest.approx(0.07)


# -- the generated reference -----------------------------------------------------------------

def test_the_guide_embeds_the_current_generated_reference():
    embedded = embedded_reference(GUIDE.read_text())
    assert embedded is not None, f"{GUIDE} lost its reference markers"
    assert embedded == scene_reference(), (
        "docs/scene-authoring.md's spec reference is stale: run "
        "`workbench scene reference --update docs/scene-authoring.md`")
    for path in re.findall(r"^\| `([a-z_.\[\]]+)` \|", embedded, re.M):
        assert path.split(".")[0].rstrip("[]") in {"name", "description", "table", "bin", "objects", "gripper",
                                                  "camera", "lights", "render", "physics", "task"}, path


def test_every_toml_example_in_the_guide_is_a_valid_scene():
    blocks = re.findall(r"^```toml\n(.*?)^```", GUIDE.read_text(), re.M | re.S)
    assert len(blocks) >= 3
    for block in blocks:
        data = tomllib.loads(block)
        data.setdefault("name", "guide")
        parse_scene(data, "docs/scene-authoring.md", base_dir=EXAMPLE)


def test_the_guides_full_scene_holds_the_defaults():
    """The walk-through writes every field out at its default (but the count): it must not drift."""
    from scenes.spec import SceneSpec

    block = re.findall(r"^```toml\n(.*?)^```", GUIDE.read_text(), re.M | re.S)[0]
    written = SceneSpec.model_validate(tomllib.loads(block)).model_dump()
    default = SceneSpec(name=written["name"], description=written["description"]).model_dump()
    default["objects"]["count"] = written["objects"]["count"]
    assert written == default
