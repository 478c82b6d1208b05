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
    add_backend_arguments(parser)
    parser.add_argument("--workers", type=int, default=None,
                        help="--backend ray: collector actors (default: one per CPU of the cluster)")
    parser.set_defaults(func=collect_command)


def add_backend_arguments(parser) -> None:
    """--backend, --address and --num-cpus, shared by `collect` and `train`."""
    parser.add_argument("--backend", choices=["local", "ray"], default="local",
                        help="local: this process; ray: Ray actors (needs pip install -e '.[ray]')")
    parser.add_argument("--address", default=None,
                        help="--backend ray: the cluster to join: auto (this machine's `ray start` cluster), "
                             "HOST:PORT or ray://HOST:PORT (default: start a local cluster)")
    parser.add_argument("--num-cpus", type=int, default=None,
                        help="--backend ray without --address: CPUs of the local cluster (default: this machine's)")


def check_backend_arguments(args: argparse.Namespace, ray_only: tuple[str, ...]) -> None:
    from workbench.errors import UserError

    if args.backend == "local":
        given = [name for name in ("address", "num_cpus", *ray_only) if getattr(args, name) is not None]
        if given:
            raise UserError(", ".join("--" + name.replace("_", "-") for name in given) + " need(s) --backend ray")


def collect_command(args: argparse.Namespace) -> int:
    import torch

    from policies.qtopt.replay import ReplayFormatError
    from workbench.errors import UserError
    from workbench.rollout.collect import collect

    torch.set_num_threads(1)
    check_backend_arguments(args, ("workers",))
    kwargs = {"scene": args.scene, "profile": args.profile, "episodes": args.episodes, "seed": args.seed,
              "split": args.split, "policy": args.policy, "image_size": args.image_size}
    try:
        if args.backend == "ray":
            from workbench.training.ray_backend import collect_ray

            summary = collect_ray(args.out, workers=args.workers, address=args.address, num_cpus=args.num_cpus,
                                  **kwargs)
        else:
            summary = collect(args.out, **kwargs)
    except ReplayFormatError as error:
        raise UserError(str(error)) from None
    if args.json:
        print(json.dumps(summary))
    else:
        rate = summary["success_rate"]
        print(f"{args.out}: {summary['written']} episodes written, {summary['skipped']} already there"
              + (f"; success of new episodes {rate:.1%}" if rate is not None else ""))
    return 0
