"""Atomic file writes: a reader never sees half a file, a crash never loses the old one."""

from __future__ import annotations

from pathlib import Path

from policies.files import atomic_write_bytes


def write_bytes_atomic(path: str | Path, payload: bytes) -> None:
    """`policies.files.atomic_write_bytes`, creating the parent directories first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, payload)


def write_image_atomic(path: str | Path, image) -> None:
    """PNG/JPEG by suffix, encoded in memory, then written atomically."""
    import imageio.v3 as iio

    path = Path(path)
    write_bytes_atomic(path, iio.imwrite("<bytes>", image, extension=path.suffix or ".png"))
