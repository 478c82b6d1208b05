"""Per-action CEM latency of both Q-network architectures (one state, as when acting).

`paper` merges the action mid-network, so every CEM sample runs the second half of the
network; `fast` encodes the image once and scores samples with a small head.
"""

from __future__ import annotations

import time

import numpy as np

ARCHITECTURES = ("fast", "paper")


def add_arguments(parser) -> None:
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=2, help="CEM iterations")
    parser.add_argument("--samples", type=int, default=64, help="CEM samples per iteration")
    parser.add_argument("--elites", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=200, help="timed actions per architecture")


def time_calls(fn, repeats: int, warmup: int = 5) -> list[float]:
    """Seconds per call of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):  # first calls pay for allocation and kernel selection
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_ms(fn, repeats: int, warmup: int = 5) -> float:
    return float(np.median(time_calls(fn, repeats, warmup)) * 1e3)


def run(args) -> dict:
    import torch

    from policies.qtopt.action_selection import cem_select
    from policies.qtopt.qnet import build_qnet, count_parameters
    from policies.runtime.cem import CEMConfig

    cem = CEMConfig(iterations=args.iterations, samples=args.samples, elites=args.elites)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (1, args.image_size, args.image_size, 3), dtype=np.uint8)
    state = np.array([[0.0, 0.15]], dtype=np.float32)
    figures: dict = {"image_size": args.image_size, "cem": f"{cem.iterations}x{cem.samples} ({cem.elites} elites)",
                     "torch_threads": torch.get_num_threads()}
    for arch in ARCHITECTURES:
        qnet = build_qnet(arch, args.image_size, rng).eval()
        figures[f"{arch}_parameters"] = count_parameters(qnet)
        figures[f"{arch}_cem_ms_per_action"] = median_ms(
            lambda qnet=qnet: cem_select(qnet, image, state, cem, rng), args.repeats)
    figures["fast_over_paper_latency"] = figures["fast_cem_ms_per_action"] / figures["paper_cem_ms_per_action"]
    figures["paper_over_fast_latency"] = 1.0 / figures["fast_over_paper_latency"]
    return figures
