"""`workbench export RUN --out DIR`: a training run's Q-network as a self-contained policy bundle."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="export a training run as a policy bundle (ONNX + manifest)")
    parser.add_argument("run", help="training run directory (config.json and checkpoint.safetensors)")
    parser.add_argument("--out", required=True, help="bundle directory to create")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--seed", type=int, default=0, help="seed of the golden vectors")
    parser.add_argument("--max-observation-age", type=float, default=None,
                        help="watchdog limit in seconds (default: two control periods)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(func=export_command)


def export_command(args: argparse.Namespace) -> int:
    from workbench.deploy.export import export_run
    from workbench.errors import UserError

    if args.max_observation_age is not None and not args.max_observation_age > 0:
        raise UserError(f"--max-observation-age must be positive, got {args.max_observation_age}")
    summary = export_run(args.run, args.out, force=args.force, seed=args.seed,
                         max_observation_age=args.max_observation_age)
    if args.json:
        print(json.dumps(summary))
    else:
        sizes = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in summary["files"].items())
        print(f"{summary['bundle']}: {summary['arch']} Q-network at {summary['image_size']}px, learner step "
              f"{summary['learner_step']}, trained on {summary['scene']} ({summary['profile']}); {sizes}; verified")
    return 0
