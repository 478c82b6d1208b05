"""Camera frames -> the trained image: crop, resize, channel order; and the numpy safetensors reader."""

from __future__ import annotations

import numpy as np
import pytest
import safetensors.numpy

from policies.runtime.preprocess import CropBox, FrameError, Preprocessor
from policies.runtime.safetensors_numpy import load_safetensors


def test_a_frame_at_the_trained_size_passes_bit_for_bit():
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = Preprocessor(64, 64)(frame)
    np.testing.assert_array_equal(out, frame)
    assert out.dtype == np.uint8 and out.flags.c_contiguous


def test_an_integer_factor_is_the_block_mean_rounded_half_up():
    frame = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    blocks = frame.reshape(64, 2, 64, 2, 3).astype(np.float64).mean(axis=(1, 3))
    np.testing.assert_array_equal(Preprocessor(64, 64)(frame), np.floor(blocks + 0.5).astype(np.uint8))


@pytest.mark.parametrize("shape", [(480, 640), (97, 131), (65, 65), (64, 200), (300, 64)])
def test_fractional_factors_keep_constants_and_means(shape):
    constant = np.full((*shape, 3), 77, np.uint8)
    assert np.all(Preprocessor(64, 64)(constant) == 77)
    frame = np.random.default_rng(2).integers(0, 256, (*shape, 3), dtype=np.uint8)
    pre = Preprocessor(64, 64)
    box = pre.crop_box(*shape)
    crop = frame[box.top:box.top + box.height, box.left:box.left + box.width].astype(np.float64)
    # Area averaging preserves the mean (up to the final rounding).
    assert abs(pre(frame).astype(np.float64).mean() - crop.mean()) < 0.6


def test_the_default_crop_is_the_centred_box_of_the_trained_aspect():
    pre = Preprocessor(64, 64)
    assert pre.crop_box(480, 640) == CropBox(0, 80, 480, 480)
    assert pre.crop_box(640, 480) == CropBox(80, 0, 480, 480)
    assert Preprocessor(32, 64).crop_box(480, 640) == CropBox(80, 0, 320, 640)


def test_a_calibrated_crop_and_bgr_frames():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[10:74, 20:84] = (10, 20, 30)  # BGR
    out = Preprocessor(64, 64, crop=CropBox(10, 20, 64, 64), channel_order="BGR")(frame)
    assert np.all(out == (30, 20, 10))
    with pytest.raises(FrameError, match="does not fit"):
        Preprocessor(64, 64, crop=CropBox(50, 150, 64, 64))(frame)


@pytest.mark.parametrize("frame, message", [
    (np.zeros((64, 64, 3), np.float32), "uint8"),
    (np.zeros((64, 64, 4), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((64, 64), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((48, 64, 3), np.uint8), "smaller than the trained"),
    ([[1, 2, 3]], "numpy array"),
])
def test_unusable_frames_are_refused(frame, message):
    with pytest.raises(FrameError, match=message):
        Preprocessor(64, 64)(frame)


def test_numpy_safetensors_reader_matches_the_library():
    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1, 2], np.uint8),
              "c": np.zeros((0, 3), np.float64), "d": np.array([-5], np.int64)}
    data = safetensors.numpy.save(arrays, metadata={"k": "v"})
    tensors, metadata = load_safetensors(data)
    assert metadata == {"k": "v"} and sorted(tensors) == sorted(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(tensors[name], value)
        assert tensors[name].dtype == value.dtype
    for broken in (data[:4], data[:-3], b"\xff" * 8 + data[8:]):
        with pytest.raises(ValueError):
            load_safetensors(broken)
