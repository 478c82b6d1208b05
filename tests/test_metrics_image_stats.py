"""Image statistics: brightness, contrast, sharpness and histograms on known images."""

import numpy as np
import pytest

from workbench.evaluation.metrics.image_stats import histogram_distance, image_set_stats, per_image_stats
from workbench.sim.sensor_effects import gaussian_blur


def test_flat_and_two_tone_images():
    flat = np.full((1, 8, 8, 3), 100, np.uint8)
    stats = per_image_stats(flat)
    assert stats["brightness"][0] == pytest.approx(100) and stats["contrast"][0] == 0
    assert stats["sharpness"][0] == 0
    halves = np.zeros((1, 8, 8, 3), np.uint8)
    halves[:, :, 4:] = 200
    stats = per_image_stats(halves)
    assert stats["brightness"][0] == pytest.approx(100) and stats["contrast"][0] == pytest.approx(100)


def test_blur_lowers_and_noise_raises_sharpness():
    rng = np.random.default_rng(0)
    image = np.zeros((32, 32, 3), np.uint8)
    image[8:24, 8:24] = 255
    blurred = np.clip(gaussian_blur(image.astype(float), 1.5), 0, 255).astype(np.uint8)
    noisy = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    sharpness = per_image_stats(np.stack([image, blurred, noisy]))["sharpness"]
    assert sharpness[1] < sharpness[0] < sharpness[2]


def test_histograms_sum_to_one_and_distance():
    dark = np.zeros((2, 4, 4, 3), np.uint8)
    bright = np.full((2, 4, 4, 3), 255, np.uint8)
    a, b = image_set_stats(dark), image_set_stats(bright)
    assert a.count == 2 and len(a.histogram_edges) == 33
    assert all(sum(h) == pytest.approx(1) for h in a.histograms.values())
    assert histogram_distance(a, b) == {"r": 1.0, "g": 1.0, "b": 1.0}
    assert histogram_distance(a, a) == {"r": 0.0, "g": 0.0, "b": 0.0}
    assert a.mean_rgb == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        image_set_stats(np.zeros((2, 4, 4), np.uint8))
