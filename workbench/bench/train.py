"""Training throughput of both architectures: gradient steps/s and Bellman-target labels/s.

A Bellman label needs CEM over the next state on the Polyak target net plus one pass of
the lagged net; the learner step is one forward and backward pass on a labelled batch.
Inputs are random non-terminal transitions (every row needs CEM: the expensive case).

`--profile` instead times the phases of whole updates as `workbench train` takes them
(`workbench.bench.update_profile`): sampling, augmentation, the three parts of a label, forward,
backward, the optimizer and the target update, in ms per update and % of the total.
"""

from __future__ import annotations

import numpy as np

from policies.qtopt.config import QTOptConfig
from workbench.bench.cem import ARCHITECTURES, median_ms


def add_arguments(parser) -> None:
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=QTOptConfig.model_fields["batch_size"].default)
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per measurement")
    parser.add_argument("--profile", action="store_true",
                        help="time the phases of whole learner updates instead (sampling to target update)")
    parser.add_argument("--updates", type=int, default=50, help="timed updates of --profile")
    parser.add_argument("--arch", choices=ARCHITECTURES, default="fast", help="the architecture --profile times")


def run(args) -> dict:
    import torch

    figures: dict = {"image_size": args.image_size, "batch_size": args.batch_size,
                     "torch_threads": torch.get_num_threads()}
    if args.profile:
        return {**figures, "arch": args.arch, **_profile(args)}
    for arch in ARCHITECTURES:
        label_ms, step_ms = _time_architecture(arch, args)
        figures[f"{arch}_bellman_labels_per_s"] = args.batch_size / (label_ms / 1e3)
        figures[f"{arch}_gradient_steps_per_s"] = 1e3 / step_ms
        # One full QT-Opt update: label a batch, then train on it.
        figures[f"{arch}_updates_per_s"] = 1e3 / (label_ms + step_ms)
    for key in ("bellman_labels_per_s", "gradient_steps_per_s", "updates_per_s"):
        figures[f"fast_over_paper_{key}"] = figures[f"fast_{key}"] / figures[f"paper_{key}"]
    return figures


def _profile(args) -> dict:
    from policies.qtopt.config import QTOptConfig
    from workbench.bench.update_profile import profile_figures, profile_updates
    from workbench.errors import UserError
    from workbench.training.config import PipelineConfig

    if args.updates < 1:
        raise UserError(f"--updates must be at least 1, got {args.updates}")
    config = QTOptConfig(arch=args.arch, image_size=args.image_size, batch_size=args.batch_size)
    shift = PipelineConfig.model_fields["augment_shift"].default
    return profile_figures(profile_updates(config, shift, args.updates, np.random.default_rng(0)))


def _time_architecture(arch: str, args) -> tuple[float, float]:
    """Median milliseconds to label one batch and to take one learner step on it."""
    from policies.qtopt.batches import LabelledBatch, random_transitions
    from policies.qtopt.config import QTOptConfig
    from policies.qtopt.learner import Learner

    rng = np.random.default_rng(0)
    config = QTOptConfig(arch=arch, image_size=args.image_size, batch_size=args.batch_size)
    learner = Learner.from_config(config, rng)
    updater = learner.bellman_updater(config)
    batch = random_transitions(args.batch_size, args.image_size, rng)
    labelled = LabelledBatch(batch.images, batch.states, batch.actions, rng.random(args.batch_size, dtype=np.float32))
    label_ms = median_ms(lambda: updater.label(batch, rng), args.repeats, warmup=2)
    step_ms = median_ms(lambda: learner.train_step(labelled), args.repeats, warmup=2)
    return label_ms, step_ms
