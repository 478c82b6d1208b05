"""`workbench bench NAME`: benchmarks, each printed as a table or one JSON object.

Each benchmark is a module `workbench.bench.<name>` (or, for one that runs studies, a module of
`studies`, the room above) with `add_arguments(parser)` (optional) and `run(args) -> dict`. Benchmarks pin themselves to one core by
default (`--cores`), so figures compare across machines with more.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os

BENCHMARKS = {
    "env": "environment control steps/s with rendering vs the raw MuJoCo floor",
    "randomize": "cost of drawing and applying each randomizer vs a recompile",
    "cem": "per-action CEM latency of the fast and paper Q-networks",
    "train": "gradient steps/s and Bellman labels/s of both architectures",
    "learn": "the whole QT-Opt pipeline under a wall-clock budget vs the explorer",
    "runtime": "bundle runtime per-action latency (preprocess + CEM) and the policy server's round trip",
    "scale": "Ray: collection episodes/s and Bellman labels/s with 1 and 2 workers, and the local backend's",
    "backends": "the same QT-Opt run trained by the local and the Ray backend: held-out success of each",
    "tuning": "final policies at equal compute under hand-set profiles and the profiles ADR, BayRn and the "
              "study chose: held-out success and the paired difference on proxy-real test",
}
MODULES = {"tuning": "studies.tuning_bench"}  # a benchmark of studies lives in their room


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark")
    sub = parser.add_subparsers(dest="bench_name", required=True, metavar="NAME")
    for name, help_text in BENCHMARKS.items():
        module = importlib.import_module(MODULES.get(name, f"workbench.bench.{name}"))
        bench = sub.add_parser(name, help=help_text)
        bench.add_argument("--json", action="store_true", help="print one JSON object")
        bench.add_argument("--cores", type=int, default=1, help="CPU cores to pin the benchmark to")
        if hasattr(module, "add_arguments"):
            module.add_arguments(bench)
        bench.set_defaults(func=_runner(module))


def _runner(module):
    def run(args: argparse.Namespace) -> int:
        _pin_cores(args.cores)
        figures = module.run(args)
        if args.json:
            print(json.dumps(figures))
        else:
            for key, value in figures.items():
                print(f"{key:40s} {value:.4g}" if isinstance(value, float) else f"{key:40s} {value}")
        return 0
    return run


def _pin_cores(cores: int) -> None:
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, set(available[:max(1, cores)]))
    os.environ["LP_NUM_THREADS"] = str(max(1, cores))  # Mesa's software rasterizer threads
    try:
        import torch

        torch.set_num_threads(max(1, cores))
    except ImportError:
        pass
