"""File helpers shared by replay and checkpoints: atomic writes, safetensors header reading."""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)  # reading the umask means setting it: put it straight back


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then os.replace over it.

    On any failure the temporary file is removed and an existing ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode of a new file
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    # Make the rename itself durable (best effort: not every platform can open a directory).
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob; ValueError if the header is cut or malformed."""
    if len(data) < 8:
        raise ValueError(f"file is {len(data)} bytes, too short for a safetensors header")
    (header_length,) = struct.unpack("<Q", data[:8])
    if 8 + header_length > len(data):
        raise ValueError(f"header claims {header_length} bytes but the file has {len(data) - 8} after the length")
    try:
        header = json.loads(data[8 : 8 + header_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict):
        raise ValueError("header __metadata__ is not a JSON object")
    return metadata
