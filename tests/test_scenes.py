"""Scene specs, the object library and scene building."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scenes.build import build_scene
from scenes.objects import LIBRARY_SIZE, TEST_IDS, TRAIN_IDS, draw_object_ids, get_object
from scenes.spec import SpecError, builtin_scenes, load_scene

GOOD = """
name = "mine"
[bin]
inner_size = [0.3, 0.3]
[objects]
count = 2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scene.toml"
    path.write_text(text)
    return path


def test_builtin_scenes_load_by_name_and_path():
    assert {"bin_grasp", "tabletop_single"} <= set(builtin_scenes())
    by_name = load_scene("bin_grasp")
    assert 5 <= by_name.objects.count <= 10
    assert load_scene(Path(__file__).parents[1] / "scenes/builtin/bin_grasp.toml") == by_name
    assert load_scene("tabletop_single").objects.count == 1


@pytest.mark.parametrize("text, field, reason", [
    (GOOD + "colour = 3\n", "colour", "unknown key"),
    (GOOD.replace("count = 2", "count = 'two'"), "objects.count", "integer"),
    (GOOD.replace("[0.3, 0.3]", "[-0.3, 0.3]"), "bin.inner_size.0", "greater than 0"),
    (GOOD.replace("count = 2", "count = 2\nids = [3, 99999]"), "objects.ids.1", "unknown object id"),
])
def test_bad_spec_names_file_field_and_reason(tmp_path, text, field, reason):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as error:
        load_scene(path)
    message = str(error.value)
    assert str(path) in message and field in message and reason in message


def test_malformed_toml_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match="invalid TOML"):
        load_scene(write(tmp_path, "name = \n"))
    with pytest.raises(SpecError, match="file not found"):
        load_scene(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match="unknown scene"):
        load_scene("no_such_scene")


def test_cli_validate_exits_2_without_traceback(tmp_path):
    path = write(tmp_path, GOOD.replace("[0.3, 0.3]", "[-0.3, 0.3]"))
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "scene", "validate", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "bin.inner_size.0" in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr
    ok = subprocess.run([sys.executable, "-m", "workbench.cli", "scene", "validate", "bin_grasp"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "ok" in ok.stdout


def test_train_and_test_splits_never_overlap():
    assert LIBRARY_SIZE >= 1000
    assert not set(TRAIN_IDS) & set(TEST_IDS)
    assert set(TRAIN_IDS) | set(TEST_IDS) == set(range(LIBRARY_SIZE))
    assert len(TEST_IDS) == LIBRARY_SIZE // 10
    rng = np.random.default_rng(0)
    drawn = {i for _ in range(200) for i in draw_object_ids(rng, 8, "train")}
    assert drawn <= set(TRAIN_IDS)


def test_library_objects_are_distinct_and_deterministic():
    signatures = {(o.kind, o.size, o.vertices) for o in map(get_object, range(LIBRARY_SIZE))}
    assert len(signatures) == LIBRARY_SIZE
    kinds = {get_object(i).kind for i in range(LIBRARY_SIZE)}
    assert kinds == {"box", "sphere", "cylinder", "capsule", "ellipsoid", "mesh"}
    assert sum(get_object(i).kind == "mesh" for i in range(LIBRARY_SIZE)) >= 1000
    with pytest.raises(KeyError):
        get_object(LIBRARY_SIZE)


def test_build_gives_named_handles():
    spec = load_scene("bin_grasp")
    ids = draw_object_ids(np.random.default_rng(1), spec.objects.count, "train")
    scene = build_scene(spec, ids)
    handles = scene.handles
    assert [o.library_id for o in handles.objects] == list(ids)
    assert set(handles.lights) == {light.name for light in spec.lights}
    assert {"floor", "table", "bin", "gripper"} <= set(handles.materials)
    assert scene.model.cam_fovy[handles.camera] == pytest.approx(spec.camera.fovy)
    assert scene.model.vis.quality.shadowsize == spec.render.shadow_size
    assert len(handles.gripper.finger_actuators) == 2
