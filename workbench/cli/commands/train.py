"""`workbench train`: QT-Opt on a run directory (offline phase, then on-policy finetuning)."""

from __future__ import annotations

import argparse

from workbench.cli.commands import print_summary
from workbench.cli.commands.collect import add_backend_arguments, check_backend_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a QT-Opt policy on a run directory")
    parser.add_argument("--run", required=True, help="run directory holding offline/ from `workbench collect`")
    parser.add_argument("--config", default=None,
                        help="TOML of workbench.training.config.PipelineConfig fields, e.g. offline_steps = 5000, "
                             "[qtopt] batch_size = 32")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget for this invocation")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    add_backend_arguments(parser)
    parser.add_argument("--collectors", type=int, default=None,
                        help="--backend ray: on-policy collector actors, 1 CPU each (default 1)")
    parser.add_argument("--updaters", type=int, default=None,
                        help="--backend ray: Bellman updater actors, half a CPU each (default 1)")
    parser.add_argument("--sync-every", type=int, default=None,
                        help="--backend ray: learner steps between weight pushes to updaters and collectors "
                             "(default 10)")
    parser.set_defaults(func=train_command)


def train_command(args: argparse.Namespace) -> int:
    from policies.qtopt.checkpoint import CheckpointError
    from policies.qtopt.replay import ReplayFormatError
    from workbench.errors import UserError
    from workbench.training.train import train

    if args.minutes is not None and not args.minutes > 0:
        raise UserError(f"--minutes must be positive, got {args.minutes}")
    check_backend_arguments(args, ("collectors", "updaters", "sync_every"))
    try:
        if args.backend == "ray":
            from workbench.training.ray_train import train_ray

            options = {name: getattr(args, name) for name in ("collectors", "updaters", "sync_every")
                       if getattr(args, name) is not None}
            summary = train_ray(args.run, args.config, resume=args.resume, minutes=args.minutes,
                                address=args.address, num_cpus=args.num_cpus, **options)
        else:
            summary = train(args.run, args.config, resume=args.resume, minutes=args.minutes)
    except (ReplayFormatError, CheckpointError) as error:
        raise UserError(str(error)) from None
    text = (f"{summary['run']}: {summary['learner_step']} learner steps (stopped by {summary['stopped_by']}), "
            f"{summary['offline_episodes']} offline + {summary['online_episodes']} on-policy episodes, "
            f"{summary['seconds']:.0f} s; checkpoint, tensorboard/ and learning_curve.png written")
    print_summary(summary, args.json, text)
    return 0
