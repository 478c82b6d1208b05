"""The policy server: a bundle's runtime behind a websocket, for a robot controller elsewhere.

    server = PolicyServer("bundle/", host="127.0.0.1", port=8765)
    asyncio.run(server.run())                       # or ServerThread(...) in tests and benches

- ``ws://HOST:PORT/``: the policy. On connect the server sends ``metadata``; then each
  binary msgpack request (policies.runtime.protocol) gets exactly one reply, an error reply for a
  bad one, and the connection stays open. Each connection is one episode stream with
  its own CEM random stream and watchdog (``reset`` starts a new episode).
- ``http://HOST:PORT/healthz``: JSON status (bundle, connections, request and error counts).

Binds to 127.0.0.1 unless told otherwise; there is no authentication or TLS, so expose
it only on a trusted network. Memory is bounded: messages over ``max_request_bytes`` get a
``too_large`` error (over twice that, the connection is closed with code 1009 before the
message is read), at most ``max_connections`` clients, small receive queues, no
per-request state kept. Needs numpy, onnxruntime, msgpack and websockets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import threading
import time
from dataclasses import asdict, dataclass
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from policies.runtime.admission import ROBOT_DEFAULT, admit_bundle
from policies.runtime.policy import BundlePolicy, ObservationError, OnnxQFunction, verify_golden
from policies.runtime.preprocess import CropBox
from policies.runtime.protocol import (
    DEFAULT_PORT,
    HEALTH_PATH,
    PROTOCOL_VERSION,
    ProtocolError,
    message_id,
    number,
    pack,
    parse_observation,
    parse_seed,
    unpack,
)

log = logging.getLogger("policies.server")
MAX_REQUEST_MB = 1024.0  # --max-request-mb: more than any camera frame, and memory stays bounded


@dataclass(frozen=True)
class ServerLimits:
    max_request_bytes: int = 8 * 1024 * 1024  # a 1920x1080 RGB frame is 6.2 MB
    max_connections: int = 4
    receive_queue: int = 4  # frames buffered per connection before back-pressure

    def __post_init__(self) -> None:
        for name in ("max_request_bytes", "max_connections", "receive_queue"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def hard_cap(self) -> int:
        """Messages larger than this are refused by closing the connection (1009)."""
        return 2 * self.max_request_bytes + 4096


class PolicyServer:
    def __init__(self, bundle_path, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 limits: ServerLimits | None = None, threads: int = 1, crop: CropBox | None = None,
                 channel_order: str | None = None, envelope=ROBOT_DEFAULT, require_signature=None):
        self.bundle = admit_bundle(bundle_path, envelope=envelope, require_signature=require_signature)
        self.crop = crop  # how this server's camera frames map onto the trained image
        self.channel_order = channel_order or self.bundle.image.channel_order
        self.qfunction = OnnxQFunction(self.bundle.onnx_path, threads=threads)
        verify_golden(self.bundle, self.qfunction)
        self.host, self.port = host, port
        self.limits = limits or ServerLimits()
        self.connections = 0
        self.requests = 0
        self.errors = 0
        self._server = None
        self._started = time.monotonic()

    # -- metadata and health ---------------------------------------------------
    def metadata(self) -> dict:
        m = self.bundle.manifest
        return {"type": "metadata", "protocol": PROTOCOL_VERSION, "bundle": self.bundle.fingerprint,
                "schema_version": m["schema_version"], "created": m.get("created"), "model": m["model"],
                "observation": m["observation"], "action": m["action"], "cem": m["cem"],
                "control": m["control"], "safety": m["safety"],
                "limits": {"max_request_bytes": self.limits.max_request_bytes,
                           "max_connections": self.limits.max_connections},
                "frames": {"channel_order": self.channel_order,
                           "crop": None if self.crop is None else asdict(self.crop)}}

    def health(self) -> dict:
        return {"status": "ok", "bundle": self.bundle.fingerprint, "connections": self.connections,
                "requests": self.requests, "errors": self.errors,
                "uptime_s": round(time.monotonic() - self._started, 3)}

    def _process_request(self, connection: ServerConnection, request):
        if request.path == HEALTH_PATH:
            response = connection.respond(HTTPStatus.OK, json.dumps(self.health()) + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        if request.path != "/":
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such endpoint; the policy is at / and health "
                                                            f"at {HEALTH_PATH}\n")
        if self.connections >= self.limits.max_connections:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                                      f"busy: {self.connections} clients connected (limit "
                                      f"{self.limits.max_connections})\n")
        return None

    # -- requests ----------------------------------------------------------------
    def handle(self, policy: BundlePolicy, data, received: float) -> dict:
        """One request -> one reply (never raises)."""
        request_id = None
        try:
            message = unpack(data, self.limits.max_request_bytes)
            request_id = message_id(message)
            kind = message["type"]
            if kind == "act":
                observation = parse_observation(message.get("observation"), self.limits.max_request_bytes)
                now = message.get("now")
                # The client's clock at send, advanced by the time the request spent here.
                now = time.monotonic() if now is None else number(now, "now") + (time.monotonic() - received)
                try:
                    action = policy.act(observation, now=now)
                except ObservationError as error:
                    raise ProtocolError("bad_observation", str(error)) from None
                return {"type": "action", "id": request_id, "action": action.to_dict(),
                        "timing": {"server_ms": (time.monotonic() - received) * 1e3}}
            if kind == "reset":
                policy.reset(parse_seed(message.get("seed")))
                return {"type": "reset", "id": request_id}
            if kind == "ping":
                return {"type": "pong", "id": request_id, "server_time": time.monotonic()}
            if kind == "metadata":
                return {**self.metadata(), "id": request_id}
            raise ProtocolError("bad_request", f"unknown message type {kind[:40]!r}; expected act, reset, ping "
                                               "or metadata")
        except ProtocolError as error:
            self.errors += 1
            return {"type": "error", "id": request_id, "code": error.code, "message": str(error)}
        except Exception as error:  # a bug must not take the server down; the client gets told
            self.errors += 1
            log.exception("internal error handling a request")
            return {"type": "error", "id": request_id, "code": "internal",
                    "message": f"internal error: {type(error).__name__}"}

    async def _handler(self, connection: ServerConnection) -> None:
        self.connections += 1
        policy = BundlePolicy(self.bundle, self.qfunction, crop=self.crop, channel_order=self.channel_order)
        try:
            await connection.send(pack(self.metadata()))
            async for data in connection:
                received = time.monotonic()
                self.requests += 1
                await connection.send(pack(self.handle(policy, data, received)))
        except ConnectionClosed:
            pass  # the client went away (or sent a frame over the hard cap): nothing to answer
        finally:
            self.connections -= 1

    # -- lifecycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._process_request, compression=None,
            max_size=self.limits.hard_cap, max_queue=self.limits.receive_queue, open_timeout=10,
            close_timeout=2, ping_interval=20, ping_timeout=20,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._started = time.monotonic()

    async def run(self, ready=None) -> None:
        """Serve until cancelled; ``ready(server)`` is called once bound."""
        await self.start()
        if ready is not None:
            ready(self)
        try:
            await self._server.serve_forever()
        finally:
            await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/"


class ServerThread:
    """A PolicyServer on its own event loop in a daemon thread (tests, benches, notebooks)."""

    def __init__(self, bundle_path, host: str = "127.0.0.1", port: int = 0, limits: ServerLimits | None = None,
                 threads: int = 1, crop: CropBox | None = None, channel_order: str | None = None):
        self.server = PolicyServer(bundle_path, host, port, limits, threads, crop, channel_order)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="policy-server", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.server.close())
        self._loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- command line (shared by `workbench serve` and `python -m policies.server`) -----------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle directory from `workbench export`")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default localhost; the server has no authentication)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0 picks a free one)")
    parser.add_argument("--max-request-mb", type=float, default=8.0, help="largest request answered, in MiB")
    parser.add_argument("--max-connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per inference")
    parser.add_argument("--crop", default=None, metavar="TOP,LEFT,HEIGHT,WIDTH",
                        help="crop box of the camera frames that sees what the sim camera saw (docs/hardware.md)")
    parser.add_argument("--channel-order", choices=["RGB", "BGR"], default=None,
                        help="channel order of the frames clients send (default: the bundle's, RGB)")
    add_admission_arguments(parser)


def add_admission_arguments(parser: argparse.ArgumentParser) -> None:
    """--envelope and --require-signature (also on `workbench drive`)."""
    parser.add_argument("--envelope", default=None, metavar="FILE",
                        help="the robot's hard limits (TOML, docs/hardware.md); the bundle may only narrow them "
                             "(default: policies/runtime/robot_envelope.toml, the simulated bench cell)")
    parser.add_argument("--require-signature", default=None, metavar="KEY",
                        help="Ed25519 public key (PEM): refuse a bundle not signed with its private key")


def envelope_from_args(args: argparse.Namespace):
    """The envelope --envelope names (EnvelopeError, a ValueError, for a bad file), or the default."""
    from policies.runtime.envelope import RobotEnvelope

    return ROBOT_DEFAULT if args.envelope is None else RobotEnvelope.from_file(args.envelope)


def server_from_args(args: argparse.Namespace) -> PolicyServer:
    """A PolicyServer for parsed arguments; ValueError (BundleError included) for bad ones."""
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {args.port}")
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    crop = None
    if args.crop is not None:
        try:
            crop = CropBox(*(int(part) for part in args.crop.split(",")))
        except (TypeError, ValueError) as error:
            raise ValueError(f"--crop {args.crop!r}: expected TOP,LEFT,HEIGHT,WIDTH as non-negative integers "
                             f"({error})") from None
    if not 0 < args.max_request_mb <= MAX_REQUEST_MB:
        raise ValueError(f"--max-request-mb must be in (0, {MAX_REQUEST_MB}], got {args.max_request_mb}")
    limits = ServerLimits(max_request_bytes=max(1, int(args.max_request_mb * 1024 * 1024)),
                          max_connections=args.max_connections)
    return PolicyServer(args.bundle, host=args.host, port=args.port, limits=limits, threads=args.threads,
                        crop=crop, channel_order=args.channel_order, envelope=envelope_from_args(args),
                        require_signature=args.require_signature)


def serve_forever(server: PolicyServer, name: str) -> None:
    """Print the address once bound, then serve until interrupted."""
    if server.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding to {server.host}: anyone who can reach this port can command the policy "
              "(no authentication, no TLS)", file=sys.stderr)

    def ready(bound: PolicyServer) -> None:
        print(f"serving {name} on {bound.url} (health: http://{bound.host}:{bound.port}{HEALTH_PATH})", flush=True)

    asyncio.run(server.run(ready))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.server", description="Serve a policy bundle.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        serve_forever(server_from_args(args), args.bundle)
    except (ValueError, OSError) as error:
        print(f"policies.server: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0

