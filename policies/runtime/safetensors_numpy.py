"""Read a safetensors file with numpy alone (the robot runtime has no safetensors package).

The format: an 8-byte little-endian header length N, N bytes of JSON naming each tensor's
dtype, shape and byte range, then the raw little-endian data. Every field is checked
against the file's size before an array is made, so a cut or doctored file raises
ValueError rather than returning garbage. Writing stays with the safetensors package
(the export side has it).
"""

from __future__ import annotations

import json
import struct

import numpy as np

DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}  # fmt: skip
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit


def parse_header(data: bytes) -> tuple[dict, dict[str, str], int]:
    """(tensor entries, metadata, header length) of a safetensors blob; ValueError if malformed."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes, too short for a safetensors header")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > MAX_HEADER_BYTES or 8 + header_length > len(data):
        raise ValueError(f"header claims {header_length} bytes but the file has {len(data) - 8} after the length")
    try:
        header = json.loads(data[8 : 8 + header_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError("header __metadata__ is not a map of strings")
    return header, metadata, header_length


def load_safetensors(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a safetensors blob; arrays are read-only views into ``data``."""
    header, metadata, header_length = parse_header(data)
    body = memoryview(data)[8 + header_length :]
    tensors: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        tensors[name] = _tensor(name, entry, body)
    return tensors, metadata


def _tensor(name: str, entry, body: memoryview) -> np.ndarray:
    if not isinstance(entry, dict):
        raise ValueError(f"tensor {name!r}: header entry is not an object")
    dtype = DTYPES.get(entry.get("dtype"))
    if dtype is None:
        raise ValueError(f"tensor {name!r}: unsupported dtype {entry.get('dtype')!r}")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ValueError(f"tensor {name!r}: bad shape {shape!r}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise ValueError(f"tensor {name!r}: bad data_offsets {offsets!r}")
    begin, end = offsets
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if not 0 <= begin <= end <= len(body) or end - begin != expected:
        raise ValueError(f"tensor {name!r}: byte range {offsets} does not fit shape {shape} of {entry['dtype']} "
                         f"in a {len(body)}-byte data section")
    array = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape)
    return array.astype(array.dtype.newbyteorder("="), copy=False)
