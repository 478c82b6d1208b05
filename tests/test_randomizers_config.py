"""Randomization profiles: loading, validation errors, dotted paths, diff and printing."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from randomizers import (
    ProfileError,
    builtin_profiles,
    diff_profiles,
    format_profile,
    get_path,
    load_profile,
    parse_assignment,
    parse_profile,
    set_path,
)
from workbench.cli import main


def write(tmp_path: Path, text: str, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_profiles_load_and_none_turns_everything_off():
    assert {"none", "default", "wide"} <= set(builtin_profiles())
    none = load_profile("none")
    assert load_profile(None) == none
    assert not any(getattr(none, name).enabled for name in ("lighting", "texture", "object", "camera",
                                                             "dynamics", "image"))
    wide = load_profile("wide")
    assert wide.lighting.enabled and wide.texture.enabled and wide.image.frequency == "step"
    assert load_profile(Path(__file__).parents[1] / "randomizers/profiles/wide.toml") == wide
    assert load_profile(wide) is wide


@pytest.mark.parametrize("text, field, reason", [
    ("[lighting]\nintensity = {low = 2.0, high = 1.0}\n", "lighting.intensity", "low (2.0) is greater than high (1.0)"),
    ("[object]\ncount = {low = 9, high = 3}\n", "object.count", "greater than high"),
    ("[lighting]\nshadow_prob = 1.5\n", "lighting.shadow_prob", "less than or equal to 1"),
    ("[image.noise]\np = -0.1\n", "image.noise.p", "greater than or equal to 0"),
    ("[lighting]\nintensty = {low = 0.5, high = 1.0}\n", "lighting.intensty", "unknown key"),
    ("[texture]\ncolor = {low = 0.0, high = 1.5}\n", "texture.color", "must lie within [0.0, 1.0]"),
    ("[texture]\nfrequency = \"step\"\n", "texture.frequency", "'episode'"),
    ("[image.blur]\nkernel = {low = 3, high = 4}\n", "image.blur.kernel", "odd"),
])
def test_bad_profile_names_file_field_and_reason(tmp_path, text, field, reason):
    path = write(tmp_path, 'name = "bad"\n' + text)
    with pytest.raises(ProfileError) as error:
        load_profile(path)
    message = str(error.value)
    assert str(path) in message and field in message and reason in message


def test_texture_folder_needs_a_readable_image(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a picture")
    (folder / "broken.png").write_bytes(b"not a png either")
    path = write(tmp_path, 'name = "p"\n[texture]\nenabled = true\nimage_folder = "photos"\n')
    with pytest.raises(ProfileError) as error:
        load_profile(path)
    assert str(path) in str(error.value) and "texture.image_folder" in str(error.value)
    assert "no readable image" in str(error.value)

    import imageio.v3 as iio
    iio.imwrite(folder / "ok.png", np.full((20, 30, 3), 128, np.uint8))
    profile = load_profile(path)  # relative to the profile's own folder
    assert Path(profile.texture.image_folder) == folder.resolve()


def test_get_and_set_path():
    wide = load_profile("wide")
    assert get_path(wide, "lighting.intensity.high") == wide.lighting.intensity.high
    assert get_path(wide, "lighting.intensity") == {"low": 0.4, "high": 1.8}
    changed = set_path(wide, "lighting.intensity.high", 2.5)
    assert changed.lighting.intensity.high == 2.5 and wide.lighting.intensity.high == 1.8  # a new profile
    assert set_path(wide, "texture.kinds.image", 0.0).texture.kinds["image"] == 0.0
    assert set_path(wide, "camera.fovy_offset_deg", {"low": -1.0, "high": 1.0}).camera.fovy_offset_deg.low == -1.0


@pytest.mark.parametrize("path, part", [("lighting.intensty.high", "intensty"), ("lights", "lights"),
                                         ("lighting.intensity.high.more", "more")])
def test_unknown_path_is_a_clear_error(path, part):
    with pytest.raises(ProfileError) as error:
        set_path(load_profile("wide"), path, 1.0)
    assert path in str(error.value) and repr(part) in str(error.value) and "unknown path" in str(error.value)
    with pytest.raises(ProfileError):
        get_path(load_profile("wide"), path)


def test_set_path_validates_the_new_value():
    with pytest.raises(ProfileError) as error:
        set_path(load_profile("wide"), "lighting.intensity.low", 3.0)
    assert "lighting.intensity" in str(error.value) and "greater than high" in str(error.value)


def test_diff_and_format_round_trip():
    default, wide = load_profile("default"), load_profile("wide")
    differences = {path: (a, b) for path, a, b in diff_profiles(default, wide)}
    assert differences["lighting.intensity.high"] == (1.2, 1.8)
    assert differences["name"] == ("default", "wide")
    assert "lighting.enabled" not in differences
    assert diff_profiles(wide, wide) == []
    for profile in (default, wide, load_profile("none")):
        assert parse_profile(tomllib.loads(format_profile(profile))) == profile


def test_parse_assignment():
    assert parse_assignment("lighting.intensity.high=2") == ("lighting.intensity.high", 2)
    assert parse_assignment("camera.enabled = false") == ("camera.enabled", False)
    assert parse_assignment("lighting.intensity={low = 1, high = 2}") == ("lighting.intensity", {"low": 1, "high": 2})
    with pytest.raises(ProfileError):
        parse_assignment("lighting.intensity.high")


# -- the command: exit status 2 and a message naming file, field and reason ----------------
def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("text, field, reason", [
    ("[lighting]\nintensity = {low = 2.0, high = 1.0}\n", "lighting.intensity", "greater than high"),
    ("[lighting]\nshadow_prob = 1.5\n", "lighting.shadow_prob", "less than or equal to 1"),
    ('[texture]\nimage_folder = "empty"\n', "texture.image_folder", "no readable image"),
])
def test_validate_command_exits_2_on_bad_files(tmp_path, capsys, text, field, reason):
    (tmp_path / "empty").mkdir()
    path = write(tmp_path, 'name = "bad"\n' + text)
    status, _, err = run_cli(capsys, "randomize", "validate", str(path))
    assert status == 2 and str(path) in err and field in err and reason in err


def test_unknown_path_on_the_command_line_exits_2(capsys):
    status, _, err = run_cli(capsys, "randomize", "show", "wide", "--set", "lighting.intensty.high=2")
    assert status == 2 and "wide.toml" in err and "lighting.intensty.high" in err and "unknown path" in err


def test_validate_show_and_diff_commands(tmp_path, capsys):
    status, out, _ = run_cli(capsys, "randomize", "validate", "wide")
    assert status == 0 and out.startswith("ok: profile 'wide'")
    status, out, _ = run_cli(capsys, "randomize", "show", "default", "--set", "lighting.intensity.high=1.5")
    assert status == 0 and tomllib.loads(out)["lighting"]["intensity"]["high"] == 1.5
    status, out, _ = run_cli(capsys, "randomize", "diff", "default", "wide")
    assert status == 0 and "lighting.intensity.high: 1.2 -> 1.8" in out
    status, _, err = run_cli(capsys, "randomize", "show", "nonexistent")
    assert status == 2 and "unknown profile" in err
