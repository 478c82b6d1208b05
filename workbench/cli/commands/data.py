"""`workbench data`: the real-data format: validate a directory, split it into tune and test, or write
simulated data in it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.cli.commands import print_summary


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="real-image data: validate a directory, split it into tune and "
                                                "test, export simulated data")
    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    validate = sub.add_parser("validate", help="check a real-data directory (exit 2 with the file and reason)")
    validate.add_argument("dir", type=Path)
    validate.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    validate.set_defaults(func=validate_command)

    split = sub.add_parser("split", help="assign a directory's files to a tune split (what studies may see) and a "
                                         "test split (reported, never seen by a study), in its manifest")
    split.add_argument("dir", type=Path)
    split.add_argument("--tune-episodes", type=int, default=50, help="labelled episodes in tune (default 50)")
    split.add_argument("--tune-images", type=int, default=300, help="unlabelled images in tune (default 300)")
    split.add_argument("--seed", type=int, default=0, help="seed of the draw (the same seed, the same split)")
    split.add_argument("--force", action="store_true", help="replace an existing split")
    split.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    split.set_defaults(func=split_command)

    export = sub.add_parser("export-sim", help="write simulated images and episodes in the real-data format")
    export.add_argument("--out", type=Path, required=True, help="new directory to write (never overwritten)")
    export.add_argument("--suite", default="proxy-real", help="evaluation suite to simulate (default: proxy-real)")
    export.add_argument("--images", type=int, default=200, help="unlabelled images (first frames of scenes)")
    export.add_argument("--episodes", type=int, default=50, help="labelled grasp episodes")
    export.add_argument("--policy", default="explorer", help="oracle, explorer, or a training run directory")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--image-size", type=int, default=None,
                        help="square image size (default: the scene's, 64; a run policy needs its own)")
    export.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    export.set_defaults(func=export_command)


def validate_command(args: argparse.Namespace) -> int:
    from workbench.evaluation.realdata import load_real_data

    summary = load_real_data(args.dir).summary()
    text = (f"{args.dir}: valid ({summary['source']} data, {summary['images']} images, {summary['episodes']} "
            f"episodes of which {summary['successful_episodes']} successful, {summary['transitions']} "
            f"transitions, {summary['image_size'][0]}x{summary['image_size'][1]} images)")
    if summary["splits"]:
        text += "; splits: " + ", ".join(f"{name} {c['episodes']} episodes and {c['images']} images"
                                         for name, c in summary["splits"].items())
    print_summary(summary, args.json, text)
    return 0


def split_command(args: argparse.Namespace) -> int:
    from workbench.evaluation.realdata import assign_splits

    summary = assign_splits(args.dir, tune_episodes=args.tune_episodes, tune_images=args.tune_images,
                            seed=args.seed, force=args.force)
    text = "\n".join(f"{name:5s} {counts['episodes']} episodes ({counts['successful_episodes']} successful), "
                      f"{counts['images']} images" for name, counts in summary["splits"].items())
    print_summary(summary, args.json, f"{args.dir}: splits written (seed {args.seed})\n{text}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    from workbench.evaluation.export_sim import export_sim
    from workbench.evaluation.suite_eval import policy_image_size
    from workbench.evaluation.suites import get_suites

    if args.suite == "all":
        from workbench.errors import UserError

        raise UserError("--suite takes one suite name, not all")
    suite = get_suites(args.suite)[0]
    image_size = policy_image_size(args.policy, args.image_size)
    summary = export_sim(args.out, suite, images=args.images, episodes=args.episodes, policy=args.policy,
                         seed=args.seed, image_size=image_size)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['out']}: {summary['images']} images and {summary['episodes']} episodes "
              f"({summary['successful_episodes']} successful) simulated in suite {summary['suite']} "
              "(marked source: simulation)")
    return 0
