"""The front door for scene, profile and study files, and nothing written changed by a failure
(issue 30, items 3 to 7): each case exits 2 (or raises the loader's error) naming the file, the
field and the reason, never a traceback, never a hang."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from study_helpers import pipeline_study

from randomizers import ProfileError, load_profile, parse_assignment, set_path
from scenes.spec import SpecError, load_scene
from workbench.cli import main
from workbench.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
MUG = ROOT / "examples" / "custom_scene" / "mug.stl"
DEFAULT_PROFILE = ROOT / "randomizers" / "profiles" / "default.toml"


def refused(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def scene(tmp_path: Path, body: str, name: str = "scene.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'name = "t"\n{body}\n')
    return path


def mesh_scene(tmp_path: Path, mesh_lines: str, objects: str = "") -> Path:
    shutil.copy(MUG, tmp_path / "mug.stl")
    return scene(tmp_path, f'[objects]\n{objects}\n[[objects.meshes]]\n{mesh_lines}\n')


# -- item 3: NaN and infinity ------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ("[objects]\nsettle_time = inf", "objects.settle_time"),
    ("[objects]\nsettle_time = 1e6", "objects.settle_time"),
    ("[camera]\npos = [nan, -0.4, 0.5]", "camera.pos"),
    ("[camera]\npos = [inf, -0.4, 0.5]", "camera.pos"),
    ('[[lights]]\nname = "a"\ndir = [0.0, -inf, -1.0]', "lights.0.dir"),
    ("[physics]\ntimestep = 1e-300", "physics.timestep"),
], ids=["settle-inf", "settle-1e6", "pos-nan", "pos-inf", "dir-inf", "timestep-tiny"])
def test_scene_values_that_are_not_finite_or_make_work_unbounded_exit_2(tmp_path, capsys, body, field):
    path = scene(tmp_path, body)
    refused(capsys, ["scene", "validate", str(path)], str(path), field)


def profile_with_intensity(tmp_path, intensity: str) -> Path:
    """The default profile with its lighting intensity range written as ``intensity``."""
    path = tmp_path / "p.toml"
    path.write_text(DEFAULT_PROFILE.read_text().replace("intensity = { low = 0.8, high = 1.2 }",
                                                          f"intensity = {intensity}"))
    return path


def test_profile_ranges_of_nan_are_refused(tmp_path):
    with pytest.raises(ProfileError, match=r"lighting\.intensity\.low = nan"):
        load_profile(profile_with_intensity(tmp_path, "{ low = nan, high = nan }"))


def test_a_set_override_of_nan_is_refused(capsys):
    path, value = parse_assignment("lighting.intensity.high=nan")
    with pytest.raises(ProfileError, match=r"lighting\.intensity\.high"):
        set_path(load_profile("default"), path, value)
    refused(capsys, ["randomize", "show", "default", "--set", "lighting.intensity.high=nan"],
            "lighting.intensity.high")


def test_a_study_with_nan_search_bounds_is_refused(tmp_path):
    path = pipeline_study(tmp_path / "s.toml", name="s", directory=tmp_path / "s", trials=1, pruner='name = "none"')
    path.write_text(path.read_text().replace("{ low = 1.0, high = 3.0, log = true }", "{ low = nan, high = nan }"))
    with pytest.raises(UserError, match=r"search\.randomizers\.lighting\.intensity\.high\.low = nan"):
        from studies.spec import load_study_file

        load_study_file(path)
    assert not (tmp_path / "s").exists()


# -- item 4: files that are not files, not text, or hang -----------------------------------------------

def test_a_scene_file_that_is_a_directory_or_not_utf8_exits_2(tmp_path, capsys):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    refused(capsys, ["scene", "validate", str(folder)], str(folder), "is a directory")
    binary = tmp_path / "latin1.toml"
    binary.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    refused(capsys, ["scene", "validate", str(binary)], str(binary), "not UTF-8")


def test_a_mesh_path_that_is_a_directory_exits_2(tmp_path, capsys):
    (tmp_path / "box.stl").mkdir()
    path = scene(tmp_path, '[[objects.meshes]]\nfile = "box.stl"')
    refused(capsys, ["scene", "validate", str(path)], "objects.meshes.0.file", "is a directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_stl_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "pipe.stl")
    path = scene(tmp_path, '[[objects.meshes]]\nfile = "pipe.stl"')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MUJOCO_GL": "egl"}
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "scene", "validate", str(path)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "not a regular file" in result.stderr, result.stderr[-2000:]


def test_a_light_without_a_direction_exits_2_at_validate_build(tmp_path, capsys):
    path = scene(tmp_path, '[[lights]]\nname = "a"\ndir = [0, 0, 0]')
    refused(capsys, ["scene", "validate", str(path), "--build"], "lights.0.dir", "must not be [0, 0, 0]")


# -- item 5: nothing written is changed by a failure ------------------------------------------------------

def _pipeline_spec(tmp_path: Path, name: str, directory: Path, storage: str | None = None):
    from studies.spec import load_study_file

    path = pipeline_study(tmp_path / f"{name}.toml", name=name, directory=directory, trials=1,
                          pruner='name = "none"')
    return load_study_file(path, storage=storage)


# Without a final newline Optuna skips the text as a partial record and appends to the file.
@pytest.mark.parametrize("text", ["my notes", "my notes\nsecond line\n"], ids=["no-final-newline", "lines"])
def test_a_journal_url_naming_a_text_file_is_refused_before_writing(tmp_path, monkeypatch, text):
    from studies import runner

    monkeypatch.setattr(runner, "work", lambda *args, **kwargs: None)  # no trials: only the set-up is tested
    notes = tmp_path / "notes.txt"
    notes.write_text(text)
    spec = _pipeline_spec(tmp_path, "j", tmp_path / "j", storage=f"journal:{notes}")
    try:
        with pytest.raises(UserError, match="not an Optuna journal"):
            runner.run_study(spec)
    finally:
        assert notes.read_text() == text


def test_a_study_directory_holding_another_study_is_refused_before_writing(tmp_path, monkeypatch):
    from studies import runner

    monkeypatch.setattr(runner, "work", lambda *args, **kwargs: None)
    shared = tmp_path / "shared"
    runner.run_study(_pipeline_spec(tmp_path, "first", shared))
    before = {name: (shared / name).read_bytes() for name in ("study.toml", "study.json")}
    with pytest.raises(UserError, match="holds another study"):
        runner.run_study(_pipeline_spec(tmp_path, "second", shared))
    assert {name: (shared / name).read_bytes() for name in before} == before
    runner.run_study(_pipeline_spec(tmp_path, "first", shared))  # the same study resumes there


# -- item 6: strict types -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ('[objects]\ncount = "8"', "objects.count"),
    ('[[lights]]\nname = "a"\ncastshadow = "off"', "lights.0.castshadow"),
    ("[camera]\nwidth = 64.0", "camera.width"),
], ids=["count-string", "castshadow-string", "width-float"])
def test_loose_types_are_refused_not_converted(tmp_path, capsys, body, field):
    path = scene(tmp_path, body)
    refused(capsys, ["scene", "validate", str(path)], field)


def test_a_profile_number_given_as_a_string_is_refused(tmp_path):
    with pytest.raises(ProfileError, match=r"lighting\.intensity\.low"):
        load_profile(profile_with_intensity(tmp_path, '{ low = "0.8", high = 1.2 }'))


# -- item 7: friction adding custom meshes --------------------------------------------------------------

def test_kinds_custom_caps_the_count_at_the_meshes(tmp_path):
    spec = load_scene(mesh_scene(tmp_path, 'file = "mug.stl"\nscale = 0.001', 'kinds = "custom"\ncount = 4'))
    assert spec.objects.count == 1


def test_a_mesh_in_metres_too_long_gets_a_scale_hint_that_fits(tmp_path):
    box = tmp_path / "long.obj"
    corners = [(x, y, z) for x in (0, 0.32) for y in (0, 0.1) for z in (0, 0.1)]
    faces = ["1 2 4", "1 4 3", "5 7 8", "5 8 6", "1 5 6", "1 6 2", "3 4 8", "3 8 7", "1 3 7", "1 7 5",
             "2 6 8", "2 8 4"]
    box.write_text("".join(f"v {x} {y} {z}\n" for x, y, z in corners) + "".join(f"f {f}\n" for f in faces))
    path = scene(tmp_path, '[[objects.meshes]]\nfile = "long.obj"')
    with pytest.raises(SpecError) as error:
        load_scene(path)
    message = str(error.value)
    # 0.62 makes it 0.198 m long and 0.062 m across: within the 0.2 m limit and the 8.5 cm opening.
    assert "0.001" not in message and "scale = 0.62 fits it" in message, message


def test_validate_says_which_split_eval_draws(capsys):
    assert main(["scene", "validate", "bin_grasp"]) == 0
    out = capsys.readouterr().out
    assert "eval and drive draw the test split" in out, out


def test_eval_json_names_the_profile_not_its_file(tmp_path, capsys):
    path = tmp_path / "my-file.toml"
    path.write_text(DEFAULT_PROFILE.read_text().replace('name = "default"', 'name = "mine"'))
    assert main(["eval", "--policy", "oracle", "--profile", str(path), "--episodes", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["profile"] == "mine" and record["profile_file"] == str(path)
