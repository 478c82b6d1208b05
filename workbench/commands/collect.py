"""`workbench collect`: explorer episodes on disk for offline QT-Opt training (resumable)."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("collect", help="collect grasp episodes into a replay directory")
    parser.add_argument("--scene", default="bin_grasp", help="built-in scene name or TOML path")
    parser.add_argument("--profile", default="default", help="randomization profile: none, default, wide or a path")
    parser.add_argument("--episodes", type=int, required=True, help="episodes wanted in --out (existing ones count)")
    parser.add_argument("--out", required=True, help="episode directory, e.g. runs/NAME/offline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy", default="explorer", help="scripted policy: explorer or oracle")
    parser.add_argument("--split", choices=["train", "test"], default="train", help="object split")
    parser.add_argument("--image-size", type=int, default=None, help="camera image size (default: the scene's)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.set_defaults(func=collect_command)


def collect_command(args: argparse.Namespace) -> int:
    import torch

    from policies.replay import ReplayFormatError
    from workbench.collect import collect
    from workbench.errors import UserError

    torch.set_num_threads(1)
    try:
        summary = collect(args.out, scene=args.scene, profile=args.profile, episodes=args.episodes,
                          seed=args.seed, split=args.split, policy=args.policy, image_size=args.image_size)
    except ReplayFormatError as error:
        raise UserError(str(error)) from None
    if args.json:
        print(json.dumps(summary))
    else:
        rate = summary["success_rate"]
        print(f"{args.out}: {summary['written']} episodes written, {summary['skipped']} already there"
              + (f"; success of new episodes {rate:.1%}" if rate is not None else ""))
    return 0
