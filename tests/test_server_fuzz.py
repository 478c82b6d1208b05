"""Malformed requests each get an error reply; the server keeps serving with bounded memory."""

from __future__ import annotations

import socket
import time

import msgpack
import numpy as np
import pytest
from bundle_helpers import export, make_run, observation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from policies.runtime.protocol import encode_array, pack
from policies.runtime.server import ServerLimits, ServerThread

LIMIT = 256 * 1024  # small request limit: oversized payloads stay cheap to send


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    bundle = export(make_run(root / "run"), root / "bundle")
    with ServerThread(bundle, limits=ServerLimits(max_request_bytes=LIMIT)) as running:
        yield running


def open_connection(server):
    connection = connect(server.url, open_timeout=5, compression=None, max_size=2**22, proxy=None)
    assert msgpack.unpackb(connection.recv(timeout=5))["type"] == "metadata"
    return connection


def ask(connection, payload) -> dict:
    connection.send(payload)
    return msgpack.unpackb(connection.recv(timeout=5))


def act_message(bundle, **changes) -> dict:
    obs = observation(bundle, timestamp=time.monotonic())
    wire = {"image": encode_array(obs["image"]), "gripper_closed": 0.0, "height": 0.2,
            "tool_position": [float(v) for v in obs["tool_position"]], "timestamp": obs["timestamp"]}
    wire.update(changes.pop("observation", {}))
    return {"type": "act", "id": 1, "observation": wire, "now": time.monotonic(), **changes}


def malformed(bundle) -> list[tuple[str, object, str]]:
    """(name, payload, expected error code)."""
    image = np.zeros((64, 64, 3), np.uint8)
    good = pack(act_message(bundle))
    bad_shape = {"dtype": "uint8", "shape": [64, 64, 4], "data": bytes(64 * 64 * 4)}
    return [
        ("wrong image shape", pack(act_message(bundle, observation={"image": bad_shape})), "bad_request"),
        ("wrong rank", pack(act_message(bundle, observation={"image": encode_array(image[:, :, 0])})),
         "bad_request"),
        ("wrong dtype", pack(act_message(bundle, observation={"image": encode_array(image.astype(np.float32))})),
         "bad_request"),
        ("unknown dtype", pack(act_message(bundle, observation={"image": {**encode_array(image), "dtype": "object"}})),
         "bad_request"),
        ("truncated array data", pack(act_message(bundle, observation={"image": {**encode_array(image),
                                                                                  "data": bytes(100)}})),
         "bad_request"),
        ("huge claimed shape", pack(act_message(bundle, observation={"image": {"dtype": "uint8",
                                                                               "shape": [8000, 8000, 3],
                                                                               "data": b""}})), "too_large"),
        ("negative dims", pack(act_message(bundle, observation={"image": {"dtype": "uint8", "shape": [-1, 64, 3],
                                                                          "data": b""}})), "bad_request"),
        ("image too small", pack(act_message(bundle, observation={"image": encode_array(image[:8, :8])})),
         "bad_observation"),
        ("bool as number", pack(act_message(bundle, observation={"height": True})), "bad_request"),
        ("nan height", pack(act_message(bundle, observation={"height": float("nan")})), "bad_request"),
        ("string timestamp", pack(act_message(bundle, observation={"timestamp": "now"})), "bad_request"),
        ("short tool position", pack(act_message(bundle, observation={"tool_position": [0.0, 0.0]})),
         "bad_request"),
        ("unknown observation key", pack(act_message(bundle, observation={"depth": 1})), "bad_request"),
        ("missing observation", pack({"type": "act", "id": 2}), "bad_request"),
        ("unknown type", pack({"type": "launch", "id": 3}), "bad_request"),
        ("no type", pack({"id": 4}), "bad_request"),
        ("not a map", pack([1, 2, 3]), "bad_message"),
        ("bad id", pack({"type": "ping", "id": [1]}), "bad_request"),
        ("bad seed", pack({"type": "reset", "seed": -1}), "bad_request"),
        ("truncated msgpack", good[: len(good) // 2], "bad_message"),
        ("trailing bytes", good + b"\x00", "bad_message"),
        ("garbage bytes", bytes(range(256)) * 4, "bad_message"),
        ("empty message", b"", "bad_message"),
        ("deep nesting", b"\x91" * 5000 + b"\xc0", "bad_message"),
        ("text frame", "hello", "bad_message"),
        ("oversized payload", pack({"type": "ping", "pad": bytes(LIMIT + 10)}), "too_large"),
    ]


def test_each_malformed_request_gets_an_error_reply_and_the_connection_survives(server):
    bundle = server.server.bundle
    connection = open_connection(server)
    try:
        for name, payload, code in malformed(bundle):
            reply = ask(connection, payload)
            assert reply["type"] == "error" and reply["code"] == code, (name, reply)
            assert reply["message"], name
        reply = ask(connection, pack(act_message(bundle)))
        assert reply["type"] == "action" and not reply["action"]["stop"]
    finally:
        connection.close()


def test_a_payload_over_the_hard_cap_closes_only_that_connection(server):
    connection = open_connection(server)
    connection.send(bytes(server.server.limits.hard_cap + 1))
    with pytest.raises(ConnectionClosed) as closed:
        connection.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    other = open_connection(server)
    assert ask(other, pack({"type": "ping", "id": 1}))["type"] == "pong"
    other.close()


def test_truncated_frames_and_non_websocket_garbage_leave_the_server_serving(server):
    host, port = "127.0.0.1", server.port
    with socket.create_connection((host, port), timeout=5) as raw:  # not HTTP at all
        raw.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        raw.settimeout(5)
        answer = raw.recv(100)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400")  # dropped, or told off
    connection = open_connection(server)
    # A binary frame header claiming 1000 masked bytes, then 10 bytes, then the socket closes.
    connection.socket.sendall(b"\x82" + bytes([0x80 | 126]) + (1000).to_bytes(2, "big") + b"\x01\x02\x03\x04"
                              + bytes(10))
    connection.socket.shutdown(socket.SHUT_RDWR)
    connection.close()
    other = open_connection(server)
    assert ask(other, pack({"type": "ping", "id": 1}))["type"] == "pong"
    other.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=512))
def test_random_bytes_get_error_replies(server, payload):
    connection = open_connection(server)
    try:
        reply = ask(connection, payload)
        assert reply["type"] == "error"
    finally:
        connection.close()


def resident_megabytes() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_memory_stays_bounded_under_a_stream_of_malformed_requests(server):
    bundle = server.server.bundle
    cases = malformed(bundle)
    connection = open_connection(server)
    try:
        def round_of_fuzz():
            for _, payload, code in cases:
                assert ask(connection, payload)["code"] == code

        for _ in range(20):  # warm up allocator pools and caches
            round_of_fuzz()
        before = resident_megabytes()
        for _ in range(150):  # ~4000 malformed requests
            round_of_fuzz()
        grown = resident_megabytes() - before
    finally:
        connection.close()
    print(f"resident memory grew {grown:.2f} MB")
    assert grown < 25, f"resident memory grew {grown:.1f} MB"
    assert server.server.connections <= 1
