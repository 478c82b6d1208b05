"""Simple image statistics, to put two image sets side by side.

Per image: brightness (mean luma, 0-255), contrast (standard deviation of luma, RMS
contrast) and sharpness (variance of the 4-neighbour Laplacian of luma: blur lowers
it, noise raises it). Per set: the mean and standard deviation of each, the mean
colour, and per-channel histograms normalised to sum to 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

HISTOGRAM_BINS = 32
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601


def luma(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, H, W) float64 luma in 0..255."""
    return images.astype(np.float64) @ LUMA


def laplacian_variance(gray: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian over the interior of each (N, H, W) image."""
    lap = (gray[:, :-2, 1:-1] + gray[:, 2:, 1:-1] + gray[:, 1:-1, :-2] + gray[:, 1:-1, 2:]
           - 4.0 * gray[:, 1:-1, 1:-1])
    return lap.reshape(len(gray), -1).var(axis=1)


def per_image_stats(images: np.ndarray) -> dict[str, np.ndarray]:
    _check_images(images)
    gray = luma(images)
    flat = gray.reshape(len(images), -1)
    return {"brightness": flat.mean(1), "contrast": flat.std(1), "sharpness": laplacian_variance(gray)}


@dataclass(frozen=True)
class ImageSetStats:
    count: int
    brightness: tuple[float, float]  # mean, std over images
    contrast: tuple[float, float]
    sharpness: tuple[float, float]
    mean_rgb: tuple[float, float, float]
    histogram_edges: list[float]
    histograms: dict[str, list[float]]  # "r", "g", "b" -> bin fractions

    def to_dict(self) -> dict:
        return asdict(self)


def image_set_stats(images: np.ndarray, bins: int = HISTOGRAM_BINS) -> ImageSetStats:
    per_image = per_image_stats(images)
    edges = np.linspace(0, 256, bins + 1)
    histograms = {}
    for channel, name in enumerate("rgb"):
        counts, _ = np.histogram(images[..., channel], bins=edges)
        histograms[name] = (counts / counts.sum()).tolist()
    summary = {k: (float(v.mean()), float(v.std())) for k, v in per_image.items()}
    mean_rgb = tuple(float(c) for c in images.reshape(-1, 3).mean(0))
    return ImageSetStats(len(images), summary["brightness"], summary["contrast"], summary["sharpness"],
                         mean_rgb, edges.tolist(), histograms)


def histogram_distance(a: ImageSetStats, b: ImageSetStats) -> dict[str, float]:
    """Total variation distance (0 same .. 1 disjoint) between the two sets' channel histograms."""
    return {c: 0.5 * float(np.abs(np.subtract(a.histograms[c], b.histograms[c])).sum()) for c in "rgb"}


def _check_images(images: np.ndarray) -> None:
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W, 3) uint8 array, got {images.dtype} {images.shape}")
