"""Texture pixels from a texture sample: procedural patterns and photo crops.

A pattern gives each pixel a level from 0 to 255, how far its colour lies
from the sample's first colour to its second; a 256-colour palette turns the
levels into pixels in one gather (per-pixel colour arithmetic on (H, W, 3)
arrays costs several times more). Everything here is a pure function of the
sample, so applying the same sample twice writes the same bytes.
"""

from __future__ import annotations

import numpy as np

from randomizers.photos import PHOTO_SCALE, PhotoSet

_LEVELS = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]


def _ramp(size: int, angle_deg: float) -> np.ndarray:
    """Distance from the texture's centre along the direction `angle_deg`, in texture widths."""
    axis = ((np.arange(size) + 0.5) / size - 0.5).astype(np.float32)
    angle = np.radians(angle_deg)
    return axis[None, :] * np.float32(np.cos(angle)) + axis[:, None] * np.float32(np.sin(angle))


def checker(size: int, cells: int) -> np.ndarray:
    parity = (((np.arange(size) * cells) // size) & 1).astype(np.uint8)
    return (parity[:, None] ^ parity[None, :]) * np.uint8(255)


def gradient(size: int, angle_deg: float) -> np.ndarray:
    ramp = np.clip(_ramp(size, angle_deg) * np.float32(np.sqrt(2.0)) + 0.5, 0.0, 1.0)
    return np.rint(ramp * 255).astype(np.uint8)


def stripes(size: int, count: int, angle_deg: float) -> np.ndarray:
    half_periods = np.floor(_ramp(size, angle_deg) * np.float32(2 * count)).astype(np.int32)
    return (half_periods & 1).astype(np.uint8) * np.uint8(255)


def value_noise(size: int, cells: int, seed: int) -> np.ndarray:
    """Smooth random noise: random values on a lattice, smoothly interpolated along rows and columns."""
    lattice = np.random.default_rng(seed).random((cells + 1, cells + 1), dtype=np.float32)
    position = np.arange(size, dtype=np.float32) * np.float32(cells / size)
    index = np.minimum(position.astype(np.int32), cells - 1)
    t = position - index
    t = t * t * (3 - 2 * t)  # smoothstep: no visible lattice creases
    # Interpolation as a (size, cells + 1) matrix: noise = weights @ lattice @ weights.T
    weights = np.zeros((size, cells + 1), np.float32)
    weights[np.arange(size), index] = 1 - t
    weights[np.arange(size), index + 1] = t
    return np.rint(weights @ lattice @ weights.T * 255).astype(np.uint8)


def blend(level: np.ndarray, colors) -> np.ndarray:
    """(H, W, 3) uint8: each pixel level/255 of the way from the first colour to the second."""
    first, second = (np.asarray(c, np.float32) for c in colors)
    palette = np.rint((first + _LEVELS * (second - first)) * 255).astype(np.uint8)
    pixels = np.take(palette.view("V3").ravel(), level.ravel())  # whole 3-byte pixels in one gather
    return pixels.view(np.uint8).reshape(*level.shape, 3)


def photo_crop(photos: PhotoSet, name: str, size: int, crop, rot90: int, flip: bool) -> np.ndarray:
    """A size x size window of a prepared photo, turned and mirrored; `crop` places it in the margin."""
    photo = photos.oriented(name, rot90, flip)
    margin = photo.shape[0] - size
    top, left = (round(fraction * margin) for fraction in crop)
    return photo[top:top + size, left:left + size]


def texture_pixels(texture: dict, size: int, photos: PhotoSet | None) -> np.ndarray:
    """(size, size, 3) uint8 pixels of one texture sample."""
    kind = texture["kind"]
    if kind == "image":
        if photos is None or photos.side != PHOTO_SCALE * size:
            raise ValueError(f"image texture needs photos prepared for texture size {size}")
        return photo_crop(photos, texture["image"], size, texture["crop"], texture["rot90"], texture["flip"])
    if kind == "checker":
        level = checker(size, texture["cells"])
    elif kind == "gradient":
        level = gradient(size, texture["angle_deg"])
    elif kind == "stripes":
        level = stripes(size, texture["count"], texture["angle_deg"])
    elif kind == "noise":
        level = value_noise(size, texture["cells"], texture["seed"])
    else:
        raise ValueError(f"unknown texture kind {kind!r}")
    return blend(level, texture["colors"])
