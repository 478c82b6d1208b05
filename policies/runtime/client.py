"""A small blocking client for the policy server (numpy, msgpack, websockets; no torch).

    with PolicyClient("ws://127.0.0.1:8765/") as client:
        print(client.metadata["control"]["rate_hz"])
        client.reset([1000, 0, 1])                     # new episode, CEM seed
        action = client.act({"image": frame, "gripper_closed": 0.0, "height": 0.21,
                             "tool_position": [x, y, z], "timestamp": time.monotonic()})

``act`` returns the same ``RobotAction`` the local runtime returns; an error reply raises
``RemoteError`` (the connection stays usable). The client stamps each request with its own
``time.monotonic()`` as ``now``: give observations timestamps on that clock.
"""

from __future__ import annotations

import json
import time
import urllib.request

import numpy as np
from websockets.sync.client import connect

from policies.runtime.protocol import DEFAULT_PORT, HEALTH_PATH, encode_array, pack, unpack
from policies.runtime.robot_action import RobotAction

MAX_REPLY_BYTES = 4 * 1024 * 1024


class RemoteError(RuntimeError):
    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(f"{code}: {message}")


class PolicyClient:
    def __init__(self, url: str = f"ws://127.0.0.1:{DEFAULT_PORT}/", timeout: float = 5.0):
        self.url = url
        self.timeout = timeout
        self.metadata: dict | None = None
        self._connection = None
        self._next_id = 0

    def connect(self) -> dict:
        """Open the connection; returns the server's metadata (bundle, specs, limits)."""
        self._connection = connect(self.url, open_timeout=self.timeout, close_timeout=2, compression=None,
                                   max_size=MAX_REPLY_BYTES, proxy=None)
        self.metadata = self._receive()
        if self.metadata.get("type") != "metadata":
            raise RemoteError("bad_message", f"expected metadata on connect, got {self.metadata.get('type')!r}")
        return self.metadata

    def _receive(self) -> dict:
        return unpack(self._connection.recv(timeout=self.timeout), MAX_REPLY_BYTES)

    def request(self, message: dict) -> dict:
        if self._connection is None:
            raise RuntimeError("PolicyClient is not connected; call connect() first")
        self._next_id += 1
        self._connection.send(pack({**message, "id": self._next_id}))
        reply = self._receive()
        if reply.get("type") == "error":
            raise RemoteError(str(reply.get("code")), str(reply.get("message")))
        if reply.get("id") != self._next_id:
            raise RemoteError("bad_message", f"reply id {reply.get('id')!r} does not match request {self._next_id}")
        return reply

    def act(self, observation: dict, now: float | None = None) -> RobotAction:
        image = np.asarray(observation["image"])
        wire = {"image": encode_array(image), "gripper_closed": float(np.asarray(observation["gripper_closed"]).item()),
                "height": float(np.asarray(observation["height"]).item()),
                "tool_position": [float(v) for v in np.asarray(observation["tool_position"]).reshape(-1)],
                "timestamp": float(observation["timestamp"])}
        reply = self.request({"type": "act", "observation": wire,
                              "now": time.monotonic() if now is None else float(now)})
        return RobotAction.from_dict(reply["action"])

    def reset(self, seed=None) -> None:
        """Start an episode; ``seed`` is None, an int or a list of ints (numpy SeedSequence entropy)."""
        if isinstance(seed, np.random.Generator):
            raise TypeError("a remote policy takes a seed (int or list of ints), not a Generator")
        self.request({"type": "reset", "seed": seed})

    def ping(self) -> float:
        """Round-trip time in seconds."""
        start = time.perf_counter()
        self.request({"type": "ping"})
        return time.perf_counter() - start

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> PolicyClient:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def health(url: str, timeout: float = 5.0) -> dict:
    """GET the server's health endpoint; ``url`` may be its ws:// or http:// address."""
    base = url.replace("ws://", "http://", 1).replace("wss://", "https://", 1).rstrip("/")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    with opener.open(base + HEALTH_PATH, timeout=timeout) as response:
        return json.loads(response.read())
