"""Timings of the learning core on this machine: ``python -m policies.bench``.

Measures, per architecture: CEM action selection latency for one state, Bellman labels
per second on a batch of non-terminal transitions (the expensive case: CEM on every
next state), and learner steps per second. Inputs are random arrays; only speed is
measured. Meant to be called by the workbench's bench command as well.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from policies.action_selection import cem_select
from policies.batches import LabelledBatch, Transitions
from policies.cem import CEMConfig
from policies.config import QTOptConfig
from policies.learner import Learner


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first calls pay for allocation and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def random_transitions(n: int, image_size: int, rng: np.random.Generator) -> Transitions:
    return Transitions(
        images=rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8),
        states=rng.random((n, 2), dtype=np.float32),
        actions=rng.uniform(-0.05, 0.05, (n, 8)).astype(np.float32),
        rewards=np.full(n, -0.05, dtype=np.float32),
        next_images=rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8),
        next_states=rng.random((n, 2), dtype=np.float32),
        dones=np.zeros(n, dtype=np.uint8),
    )


def benchmark(arch: str, image_size: int, batch_size: int, cem: CEMConfig, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    config = QTOptConfig(arch=arch, image_size=image_size, batch_size=batch_size, cem=cem)
    learner = Learner.from_config(config, rng)
    updater = learner.bellman_updater(config)
    batch = random_transitions(batch_size, image_size, rng)
    one = batch.take(np.arange(1))

    cem_s = _median_seconds(lambda: cem_select(learner.qnet, one.images, one.states, cem, rng), repeats * 5)
    label_s = _median_seconds(lambda: updater.label(batch, rng), repeats)
    labelled = LabelledBatch(batch.images, batch.states, batch.actions, rng.random(batch_size, dtype=np.float32))
    step_s = _median_seconds(lambda: learner.train_step(labelled), repeats)
    return {
        "cem_ms_per_action": cem_s * 1e3,
        "bellman_labels_per_s": batch_size / label_s,
        "learner_steps_per_s": 1.0 / step_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--arch", nargs="+", default=["fast", "paper"])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cem = CEMConfig()
    print(
        f"image {args.image_size}x{args.image_size}, batch {args.batch_size}, "
        f"CEM {cem.iterations}x{cem.samples} ({cem.elites} elites), torch threads {args.threads}"
    )
    for arch in args.arch:
        result = benchmark(arch, args.image_size, args.batch_size, cem, args.repeats)
        print(
            f"{arch:6s} CEM {result['cem_ms_per_action']:7.2f} ms/action   "
            f"Bellman {result['bellman_labels_per_s']:8.1f} labels/s   "
            f"learner {result['learner_steps_per_s']:6.1f} steps/s"
        )


if __name__ == "__main__":
    main()
