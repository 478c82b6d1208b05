"""The real-data format: round trip, validation of every kind of bad input, atomic writes."""

import json
import shutil

import imageio.v3 as iio
import numpy as np
import pytest

from workbench.cli import main
from workbench.evaluation.realdata import (
    LabelledEpisode,
    Manifest,
    RealDataError,
    fit_image,
    load_real_data,
    write_real_data,
)

SIZE = 16


def episode(rng, name, success, steps=3):
    return LabelledEpisode(
        episode_id=name, success=success,
        images=rng.integers(0, 256, size=(steps, SIZE, SIZE, 3), dtype=np.uint8),
        states=np.c_[np.zeros(steps), np.linspace(0.2, 0.05, steps)].astype(np.float32),
        actions=np.tile(np.array([0.05, -0.02, -0.05, 0, 1, 0, 0, 0], np.float32), (steps, 1)),
        final_image=rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8))


@pytest.fixture
def valid(tmp_path):
    rng = np.random.default_rng(0)
    manifest = Manifest("real", SIZE, SIZE, 0.05, "a test set")
    images = rng.integers(0, 256, size=(4, SIZE, SIZE, 3), dtype=np.uint8)
    episodes = [episode(rng, "ep-a", True), episode(rng, "ep-b", False, steps=2)]
    root = write_real_data(tmp_path / "data", manifest, images, episodes)
    return root, images, episodes


def test_round_trip(valid):
    root, images, episodes = valid
    data = load_real_data(root)
    np.testing.assert_array_equal(data.images, images)
    assert data.image_names == [f"image-{i:06d}.png" for i in range(4)]
    assert [e.episode_id for e in data.episodes] == ["ep-a", "ep-b"]
    for read, written in zip(data.episodes, episodes):
        assert read.success == written.success
        np.testing.assert_array_equal(read.images, written.images)
        np.testing.assert_array_equal(read.states, written.states)
        np.testing.assert_array_equal(read.actions, written.actions)  # float32 survives JSON exactly
        np.testing.assert_array_equal(read.final_image, written.final_image)
    images_, _, _, index, success = data.transitions()
    assert images_.shape == (5, SIZE, SIZE, 3) and list(index) == [0, 0, 0, 1, 1] and list(success) == [True, False]
    assert data.summary()["transitions"] == 5 and data.camera_images().shape[0] == 9


def test_jpeg_images_and_resizing(tmp_path):
    root = tmp_path / "jpeg"
    (root / "images").mkdir(parents=True)
    (root / "realdata.json").write_text(json.dumps({"format": "workbench-realdata", "format_version": 1,
                                                    "source": "real", "image_width": 48, "image_height": 32,
                                                    "max_translation": 0.05}))
    image = np.zeros((32, 48, 3), np.uint8)
    image[:, 8:40] = 200  # the central 32x32 square is bright
    iio.imwrite(root / "images" / "frame.JPG", image, extension=".jpg")
    data = load_real_data(root, image_size=16)
    assert data.images.shape == (1, 16, 16, 3) and data.images.mean() > 180
    assert fit_image(np.zeros((16, 16, 3), np.uint8), 16).shape == (16, 16, 3)


def _error(root) -> RealDataError:
    with pytest.raises(RealDataError) as caught:
        load_real_data(root)
    return caught.value


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_missing_label(valid):
    root = valid[0]
    edit_json(root / "episodes/ep-b/episode.json", lambda d: d.pop("success"))
    error = _error(root)
    assert error.path.endswith("ep-b/episode.json") and "missing label" in error.problem


def test_label_must_be_boolean(valid):
    root = valid[0]
    edit_json(root / "episodes/ep-a/episode.json", lambda d: d.update(success=1))
    assert "true or false" in _error(root).problem


def test_non_image_file(valid):
    root = valid[0]
    (root / "images" / "notes.txt").write_text("hello")
    error = _error(root)
    assert error.path.endswith("images/notes.txt") and "not an image file" in error.problem


def test_undecodable_image(valid):
    root = valid[0]
    (root / "images" / "broken.png").write_bytes(b"not a png at all")
    error = _error(root)
    assert error.path.endswith("broken.png") and "cannot be decoded" in error.problem


def test_mixed_image_sizes(valid):
    root = valid[0]
    iio.imwrite(root / "episodes/ep-a/step-001.png", np.zeros((SIZE, SIZE + 4, 3), np.uint8))
    error = _error(root)
    assert error.path.endswith("ep-a/step-001.png") and "20x16" in error.problem and "16x16" in error.problem


def test_greyscale_image(valid):
    root = valid[0]
    iio.imwrite(root / "images" / "image-000001.png", np.zeros((SIZE, SIZE), np.uint8))
    assert "greyscale" in _error(root).problem


def test_unknown_format_version(valid):
    root = valid[0]
    edit_json(root / "realdata.json", lambda d: d.update(format_version=2))
    error = _error(root)
    assert error.path.endswith("realdata.json") and "format_version 2 is unknown" in error.problem


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["steps"][1].update(action=[0.2, 0, 0, 0, 1, 0, 0, 0]), "steps[1].action[0] (dx) = 0.2"),
    (lambda d: d["steps"][0].update(action=[0, 0, 0]), "steps[0].action: expected 8 finite numbers"),
    (lambda d: d["steps"][0].update(gripper_closed=1.5), "steps[0].gripper_closed"),
    (lambda d: d["steps"][0].pop("height"), "steps[0].height: missing"),
    (lambda d: d["steps"][0].update(image="../x.png"), "steps[0].image"),
    (lambda d: d["steps"][0].update(image="nothere.png"), "not in"),
    (lambda d: d.update(steps=[]), "steps: expected a list of 1 to"),
    (lambda d: d.update(sucess=True), "sucess: unknown key"),
])
def test_bad_steps(valid, change, problem):
    root = valid[0]
    edit_json(root / "episodes/ep-a/episode.json", change)
    assert problem in str(_error(root))


def test_unreferenced_file_and_missing_manifest(valid, tmp_path):
    root = valid[0]
    shutil.copy(root / "episodes/ep-a/step-000.png", root / "episodes/ep-a/extra.png")
    assert "not named by episode.json" in _error(root).problem
    (root / "episodes/ep-a/extra.png").unlink()
    (root / "realdata.json").unlink()
    assert "not a real-data directory" in _error(root).problem
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "realdata.json").write_text((tmp_path / "data" / "episodes" / "ep-a" / "episode.json").read_text())
    assert "format" in _error(empty).problem


def test_cli_validate_exit_status(valid, capsys):
    root = valid[0]
    assert main(["data", "validate", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 2
    edit_json(root / "episodes/ep-b/episode.json", lambda d: d.pop("success"))
    assert main(["data", "validate", str(root)]) == 2
    err = capsys.readouterr().err
    assert "ep-b/episode.json" in err and "missing label" in err


def test_writer_is_atomic(tmp_path):
    rng = np.random.default_rng(0)
    bad = episode(rng, "ep", True)
    bad = LabelledEpisode(bad.episode_id, bad.success, bad.images, bad.states, bad.actions * 10)  # dx 0.5 > 0.05
    with pytest.raises(RealDataError):
        write_real_data(tmp_path / "out", Manifest("real", SIZE, SIZE, 0.05), [], [bad])
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary directory
    good = episode(rng, "ep", True)
    write_real_data(tmp_path / "out", Manifest("real", SIZE, SIZE, 0.05), [], [good])
    with pytest.raises(Exception, match="already exists"):
        write_real_data(tmp_path / "out", Manifest("real", SIZE, SIZE, 0.05), [], [good])
