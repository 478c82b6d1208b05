"""The policy server's wire format: msgpack maps over binary websocket messages.

Arrays travel as ``{"dtype": "uint8" | "float32" | "float64", "shape": [...], "data": <bytes>}``
(little-endian, C order). Every message is a map with a ``type`` and an optional ``id``
(an int or a short string) that the reply echoes.

Client -> server:

    {"type": "act", "id": 7, "now": 123.45, "observation": {
        "image": ARRAY (H, W, 3) uint8, "gripper_closed": 0.0, "height": 0.21,
        "tool_position": [x, y, z] or ARRAY (3,), "timestamp": 123.44}}
    {"type": "reset", "id": 8, "seed": 42 | [1000, 3, 1] | null}
    {"type": "ping", "id": 9}
    {"type": "metadata", "id": 10}

Server -> client: ``metadata`` (also sent unasked right after connecting), ``action``
(``{"action": RobotAction.to_dict(), "timing": {"server_ms": ...}}``), ``reset``,
``pong``, or ``error`` with a ``code`` (bad_message, too_large, bad_request,
bad_observation, internal) and a ``message``. ``now`` is the client's clock when it sent
the request, on the same clock as ``timestamp``; the watchdog measures the age with it.
numpy and msgpack only.
"""

from __future__ import annotations

import math

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
DEFAULT_PORT = 8765
HEALTH_PATH = "/healthz"
ARRAY_DTYPES = {"uint8": "<u1", "float32": "<f4", "float64": "<f8"}
MAX_ID_LENGTH = 64
MAX_SEED_WORDS = 8
MAX_IMAGE_SIDE = 8192


class ProtocolError(ValueError):
    """A request the server answers with an error; ``code`` is one of the codes above."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def encode_array(array: np.ndarray) -> dict:
    array = np.asarray(array)
    for name, dtype in ARRAY_DTYPES.items():
        if array.dtype == np.dtype(dtype).newbyteorder("="):
            return {"dtype": name, "shape": list(array.shape),
                    "data": np.ascontiguousarray(array, dtype=dtype).tobytes()}
    raise TypeError(f"cannot send dtype {array.dtype}; supported: {', '.join(ARRAY_DTYPES)}")


def _default(value):
    if isinstance(value, np.ndarray):
        return encode_array(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__}")


def pack(message: dict) -> bytes:
    return msgpack.packb(message, use_bin_type=True, default=_default)


def unpack(data, max_bytes: int) -> dict:
    """Decode one message; ProtocolError for anything that is not a bounded msgpack map with a type."""
    if isinstance(data, str):
        raise ProtocolError("bad_message", "text frames are not accepted: send msgpack in a binary message")
    if len(data) > max_bytes:
        raise ProtocolError("too_large", f"message of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    try:
        message = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True, max_bin_len=max_bytes,
                                  max_str_len=1 << 16, max_array_len=1024, max_map_len=64, max_ext_len=0)
    except Exception as error:  # msgpack raises many types for malformed input (ExtraData, FormatError, ...)
        raise ProtocolError("bad_message", f"not a valid msgpack message ({type(error).__name__}: {error})") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_message", f"message must be a map, got {type(message).__name__}")
    if not isinstance(message.get("type"), str):
        raise ProtocolError("bad_request", "message has no string 'type'")
    return message


def message_id(message: dict):
    value = message.get("id")
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63):
        return value
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH:
        return value
    raise ProtocolError("bad_request", f"id must be an integer or a string of at most {MAX_ID_LENGTH} characters")


def number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError("bad_request", f"{field} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ProtocolError("bad_request", f"{field} must be finite, got {value}")
    return value


def decode_array(value, field: str, dtypes: tuple[str, ...], ndim: int, max_bytes: int) -> np.ndarray:
    """A read-only array from its map form, checked against dtype, rank and byte count."""
    if not isinstance(value, dict) or set(value) != {"dtype", "shape", "data"}:
        raise ProtocolError("bad_request", f"{field} must be an array map with exactly dtype, shape and data")
    dtype, shape, data = value["dtype"], value["shape"], value["data"]
    if dtype not in dtypes:
        raise ProtocolError("bad_request", f"{field} has dtype {dtype!r}; expected {' or '.join(dtypes)}")
    if (not isinstance(shape, list) or len(shape) != ndim
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_IMAGE_SIDE for d in shape)):
        raise ProtocolError("bad_request", f"{field} shape {shape!r} must be {ndim} integers in 0..{MAX_IMAGE_SIDE}")
    if not isinstance(data, bytes):
        raise ProtocolError("bad_request", f"{field} data must be binary")
    itemsize = np.dtype(ARRAY_DTYPES[dtype]).itemsize
    expected = itemsize * math.prod(shape)
    if expected > max_bytes:
        raise ProtocolError("too_large", f"{field} of shape {shape} would take {expected} bytes, over the limit")
    if len(data) != expected:
        raise ProtocolError("bad_request", f"{field} has {len(data)} bytes of data, its shape {shape} and dtype "
                            f"{dtype} need {expected} (truncated?)")
    return np.frombuffer(data, dtype=ARRAY_DTYPES[dtype]).reshape(shape)


def parse_observation(value, max_bytes: int) -> dict:
    """The runtime's observation dict from a request's ``observation`` map."""
    if not isinstance(value, dict):
        raise ProtocolError("bad_request", "act needs an 'observation' map")
    required = ("image", "gripper_closed", "height", "tool_position", "timestamp")
    missing = [key for key in required if key not in value]
    if missing:
        raise ProtocolError("bad_request", f"observation lacks {', '.join(missing)}")
    extra = sorted(set(value) - set(required))
    if extra:
        raise ProtocolError("bad_request", f"observation has unknown keys {', '.join(map(str, extra))}")
    image = decode_array(value["image"], "observation.image", ("uint8",), 3, max_bytes)
    if image.shape[2] != 3:
        raise ProtocolError("bad_request", f"observation.image must be (H, W, 3) RGB, got shape {image.shape}")
    tool = value["tool_position"]
    if isinstance(tool, list):
        if len(tool) != 3:
            raise ProtocolError("bad_request", f"observation.tool_position must have 3 numbers, got {len(tool)}")
        tool = np.array([number(v, "observation.tool_position") for v in tool])
    else:
        tool = decode_array(tool, "observation.tool_position", ("float32", "float64"), 1, max_bytes)
        if tool.shape != (3,) or not np.all(np.isfinite(tool)):
            raise ProtocolError("bad_request", "observation.tool_position must be 3 finite numbers")
    return {"image": image, "gripper_closed": number(value["gripper_closed"], "observation.gripper_closed"),
            "height": number(value["height"], "observation.height"), "tool_position": tool,
            "timestamp": number(value["timestamp"], "observation.timestamp")}


def parse_seed(value):
    """None, a non-negative int, or a short list of them (numpy SeedSequence entropy)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    if (isinstance(value, list) and 0 < len(value) <= MAX_SEED_WORDS
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**64 for v in value)):
        return value
    raise ProtocolError("bad_request", f"seed must be null, a non-negative integer or up to {MAX_SEED_WORDS} of them")
