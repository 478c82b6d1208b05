"""The front door for every file a user hands in: scene, profile, study, config, manifest, real data.

``read_text`` refuses what is not a regular file (a directory, a FIFO that would block, a
device), files over a size limit and text that is not UTF-8. ``load_toml`` and ``load_json``
parse it and ``check_values`` bounds the result: nesting at most ``MAX_DEPTH`` levels, integers
within 64 bits, every float finite (no file here has a use for NaN or infinity). Every refusal
is an ``InputFileError`` naming the file, the dotted field where there is one, and the reason.
Standard library only (the robot runtime uses it too).
"""

from __future__ import annotations

import json
import math
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from policies.runtime.files import FileProblem

MAX_DEPTH = 64  # levels of tables / arrays / objects: no file of ours nests more than ~6
MAX_INTEGER = 2**63 - 1  # larger integers are no count, seed or id of ours
MAX_TEXT_BYTES = 16 * 1024 * 1024


class InputFileError(FileProblem):
    """A file refused at the front door; the message is `path: [field = value: ]reason`."""


def regular_file(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> Path:
    """``path`` if it is a regular file of at most ``max_bytes`` bytes; InputFileError otherwise."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except OSError as error:
        raise InputFileError(path, f"cannot read it ({error.strerror or error})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(path, "is a directory, expected a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(path, "is not a regular file (a FIFO, socket or device), expected a file")
    if info.st_size > max_bytes:
        raise InputFileError(path, f"{info.st_size} bytes, larger than the {max_bytes}-byte limit")
    return path


def read_bytes(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    path = regular_file(path, max_bytes)
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as error:
        raise InputFileError(path, f"cannot read it ({error.strerror or error})") from None
    if len(data) > max_bytes:
        raise InputFileError(path, f"larger than the {max_bytes}-byte limit")
    return data


def decode_text(path: str | os.PathLike, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFileError(path, f"not UTF-8 text (byte {error.start}: {error.reason})") from None


def read_text(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> str:
    return decode_text(path, read_bytes(path, max_bytes))


def check_values(data: Any, path: str | os.PathLike, prefix: str = "") -> Any:
    """``data`` unchanged if nesting, integers and floats are within bounds; else InputFileError."""
    stack = [(data, prefix, 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputFileError(path, f"{where or '(top level)'}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and abs(value) > MAX_INTEGER:
            raise InputFileError(path, f"{where or '(top level)'} = an integer of {len(str(abs(value)))} digits: "
                                 f"larger than the 64-bit limit {MAX_INTEGER}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputFileError(path, f"{where or '(top level)'} = {value!r}: expected a finite number")
        # Pushed in reverse, so the first bad value in file order is the one reported.
        if isinstance(value, dict):
            stack.extend(reversed([(item, f"{where}.{key}" if where else str(key), depth + 1)
                                   for key, item in value.items()]))
        elif isinstance(value, list | tuple):
            stack.extend(reversed([(item, f"{where}.{index}" if where else str(index), depth + 1)
                                   for index, item in enumerate(value)]))
    return data


def parse_toml_text(text: str, path: str | os.PathLike) -> dict:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputFileError(path, f"invalid TOML: {error}") from None
    except RecursionError:
        raise InputFileError(path, f"invalid TOML: nested too deeply (the limit is {MAX_DEPTH} levels)") from None
    except ValueError as error:  # an integer literal past Python's digit limit
        raise InputFileError(path, f"invalid TOML: {error}") from None
    return check_values(data, path)


def load_toml(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> dict:
    return parse_toml_text(read_text(path, max_bytes), path)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def parse_json_bytes(data: bytes, path: str | os.PathLike) -> Any:
    text = decode_text(path, data)
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise InputFileError(path, f"not valid JSON (nested too deeply; the limit is {MAX_DEPTH} levels)") from None
    except ValueError as error:  # JSONDecodeError, NaN / Infinity, an integer past the digit limit
        raise InputFileError(path, f"not valid JSON ({error})") from None
    return check_values(value, path)


def load_json(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    return parse_json_bytes(read_bytes(path, max_bytes), path)
