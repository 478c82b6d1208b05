"""Images written atomically (bytes: ``policies.runtime.files.atomic_write_bytes``)."""

from __future__ import annotations

from pathlib import Path

from policies.runtime.files import atomic_write_bytes


def write_image_atomic(path: str | Path, image) -> None:
    """PNG/JPEG by suffix, encoded in memory, then written atomically."""
    import imageio.v3 as iio  # imageio's plugins load slowly: only commands that write images pay

    path = Path(path)
    atomic_write_bytes(path, iio.imwrite("<bytes>", image, extension=path.suffix or ".png"))
