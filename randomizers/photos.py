"""Photographs for image textures: the built-in scikit-image set or any folder.

Each photograph is cut to its central square and resized once to twice the
scene's texture size; a texture is then a random crop of that, so drawing
and applying never touch the disk. The built-in set comes from pictures that
ship inside scikit-image's wheel (`skimage.data`), so it needs no download.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# Textures (brick, grass, gravel) and real photographs, all inside the skimage wheel.
BUILTIN_PHOTOS = ("brick", "grass", "gravel", "camera", "coins", "moon", "astronaut", "coffee",
                  "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
PHOTO_SCALE = 2  # photos are kept at this multiple of the texture size; a texture is a crop


@dataclass(frozen=True)
class PhotoSet:
    names: tuple[str, ...]
    images: tuple[np.ndarray, ...]  # (side, side, 3) uint8, side = PHOTO_SCALE * texture size
    # The 8 turns and mirror images of each photo, stored contiguous: crops then copy fast.
    orientations: tuple[tuple[np.ndarray, ...], ...]

    @property
    def side(self) -> int:
        return self.images[0].shape[0]

    def image(self, name: str) -> np.ndarray:
        return self.images[self.names.index(name)]

    def oriented(self, name: str, rot90: int, flip: bool) -> np.ndarray:
        return self.orientations[self.names.index(name)][(rot90 % 4) * 2 + int(flip)]


def orientations(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """Index rot90 * 2 + flip: `image` turned rot90 quarter turns, then mirrored left-right if flip."""
    turned = [np.rot90(image, k) for k in range(4)]
    return tuple(np.ascontiguousarray(view) for t in turned for view in (t, t[:, ::-1]))


def as_rgb(image: np.ndarray) -> np.ndarray | None:
    """uint8 (H, W, 3) from grey, RGB, RGBA or boolean pictures; None for anything else."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 2:
        return None
    if image.dtype != np.uint8:
        scale = 255.0 if image.dtype.kind == "f" and image.max() <= 1.0 else 1.0
        image = np.clip(image.astype(np.float64) * scale, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[:, :, :3])


def square(image: np.ndarray, side: int) -> np.ndarray:
    """The central square of `image`, resized to side x side with anti-aliasing."""
    from skimage.transform import resize

    height, width = image.shape[:2]
    edge = min(height, width)
    top, left = (height - edge) // 2, (width - edge) // 2
    stride = max(1, edge // (4 * side))  # cheap decimation first; the filter does the rest
    crop = image[top:top + edge:stride, left:left + edge:stride]
    edge = crop.shape[0]
    resized = resize(crop, (side, side), order=1, anti_aliasing=edge > side, preserve_range=True)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def read_image(path: Path) -> np.ndarray | None:
    """The picture at `path` as RGB uint8, or None when it is not a readable image."""
    import imageio.v3 as iio

    try:
        return as_rgb(iio.imread(path, index=0, plugin="pillow"))  # first frame of an animation or stack
    except Exception:  # noqa: BLE001 - any decoder failure means "not an image we can use"
        return None


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def first_readable_image(folder: Path) -> Path | None:
    return next((path for path in image_files(folder) if read_image(path) is not None), None)


@lru_cache(maxsize=8)
def load_photos(folder: str, texture_size: int) -> PhotoSet:
    """The photographs of `folder` ("" for the built-in set), prepared for `texture_size` textures."""
    side = PHOTO_SCALE * texture_size
    if not folder:
        import skimage.data

        pictures = [(name, as_rgb(getattr(skimage.data, name)())) for name in BUILTIN_PHOTOS]
    else:
        pictures = [(path.name, read_image(path)) for path in image_files(Path(folder))]
    pictures = [(name, square(image, side)) for name, image in pictures if image is not None]
    if not pictures:
        raise ValueError(f"no readable image in folder {folder}")
    names, images = zip(*pictures)
    return PhotoSet(tuple(names), tuple(images), tuple(orientations(image) for image in images))
