"""Bundle runtime latency (preprocess + CEM + safety, one action) and the policy server's round trip.

Without ``--bundle`` it exports an untrained network of ``--arch`` at ``--image-size`` into a
temporary bundle (latency does not depend on the weights). The server runs as a separate process
(``python -m policies.server``, what ``workbench serve`` runs) on 127.0.0.1, pinned to the same
cores as the benchmark, so client and server share them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from workbench.bench import cem as bench_cem

time_calls = partial(bench_cem.time_calls, warmup=20)  # the runtime's first calls warm ONNX Runtime's caches

LATENCY_BUDGET_MS = 10.0


def add_arguments(parser) -> None:
    parser.add_argument("--bundle", default=None, help="bundle to time (default: a fresh untrained one)")
    parser.add_argument("--arch", choices=["fast", "paper"], default="fast", help="without --bundle")
    parser.add_argument("--image-size", type=int, default=64, help="without --bundle")
    parser.add_argument("--camera", default="480x640", help="a camera frame HxW for the resize figures")
    parser.add_argument("--repeats", type=int, default=500, help="timed actions per figure")
    parser.add_argument("--server-requests", type=int, default=500, help="timed round trips (0: skip the server)")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.asarray(samples) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def make_bundle(arch: str, image_size: int, directory: Path) -> Path:
    import torch

    from policies.qtopt.config import QTOptConfig
    from policies.qtopt.qnet import build_qnet
    from scenes.spec import load_scene
    from workbench.deploy.export import write_bundle

    torch.set_num_threads(1)
    spec = load_scene("bin_grasp")
    spec = spec.model_copy(update={"camera": spec.camera.model_copy(update={"width": image_size,
                                                                            "height": image_size})})
    out = directory / "bundle"
    write_bundle(build_qnet(arch, image_size, np.random.default_rng(0)), out, cem=QTOptConfig().act_cem,
                 scene_spec=spec, scene_source="bin_grasp", profile="none",
                 provenance={"note": "untrained network for benchmarking"})
    return out


def observation(image: np.ndarray, bundle) -> dict:
    low, high = np.asarray(bundle.safety.workspace_low), np.asarray(bundle.safety.workspace_high)
    return {"image": image, "gripper_closed": 0.0, "height": 0.2, "tool_position": (low + high) / 2,
            "timestamp": time.monotonic()}


def run(args) -> dict:
    from policies.runtime.policy import load_policy

    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp:
        bundle_path = Path(args.bundle) if args.bundle else make_bundle(args.arch, args.image_size, Path(tmp))
        policy = load_policy(bundle_path, threads=1)
        bundle = policy.bundle
        size = bundle.image.height
        rows, cols = (int(v) for v in args.camera.lower().split("x"))
        rng = np.random.default_rng(0)
        frame = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        camera_frame = rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)
        policy.reset(0)

        def act(image):
            action = policy.act(observation(image, bundle))
            assert not action.stop, action.reason
            return action

        figures: dict = {"arch": bundle.manifest["model"]["arch"], "image_size": size,
                         "cem": f"{bundle.cem.iterations}x{bundle.cem.samples} ({bundle.cem.elites} elites)",
                         "cores": len(os.sched_getaffinity(0)), "onnxruntime_threads": 1}
        p50, p99 = percentiles(time_calls(lambda: act(frame), args.repeats))
        figures.update(act_ms_p50=p50, act_ms_p99=p99, act_within_budget_p99=p99 <= LATENCY_BUDGET_MS)
        scores = policy.qfunction.score_fn(frame[None], np.array([[0.0, 0.2]], np.float32))
        actions = rng.uniform(-0.05, 0.05, (1, bundle.cem.samples, 8)).astype(np.float32)
        figures["onnx_call_ms_p50"] = percentiles(time_calls(lambda: scores(actions), args.repeats))[0]
        figures[f"preprocess_{rows}x{cols}_ms_p50"] = percentiles(
            time_calls(lambda: policy.preprocess(camera_frame), args.repeats))[0]
        p50, p99 = percentiles(time_calls(lambda: act(camera_frame), args.repeats))
        figures.update({f"act_{rows}x{cols}_ms_p50": p50, f"act_{rows}x{cols}_ms_p99": p99})
        if args.server_requests > 0:
            figures.update(server_round_trip(bundle_path, {"": frame, f"_{rows}x{cols}": camera_frame}, bundle,
                                             args.server_requests))
    return figures


def server_round_trip(bundle_path: Path, frames: dict[str, np.ndarray], bundle, requests: int) -> dict:
    """Round trips of act requests (one per frame size, keyed by a figure-name suffix) and of pings."""
    from policies.runtime.client import PolicyClient

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    # `python -m policies.server` is what `workbench serve` runs, minus the training stack's import time.
    process = subprocess.Popen([sys.executable, "-m", "policies.server", str(bundle_path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        if " on ws://" not in line:
            raise RuntimeError(f"the server did not start: {line}{process.stderr.read()}")
        url = line.split(" on ", 1)[1].split()[0]
        figures = {}
        with PolicyClient(url) as client:
            client.reset(0)
            figures["server_ping_ms_p50"], figures["server_ping_ms_p99"] = percentiles(time_calls(client.ping,
                                                                                                   requests))
            for suffix, frame in frames.items():
                trips = time_calls(lambda: client.act(observation(frame, bundle)), requests)
                p50, p99 = percentiles(trips)
                figures.update({f"server_round_trip{suffix}_ms_p50": p50, f"server_round_trip{suffix}_ms_p99": p99,
                                f"server_request{suffix}_image_bytes": int(frame.nbytes)})
        return figures
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
