"""`workbench drive BUNDLE`: run a bundle closed loop on the MuJoCo sim driver (a dry run for hardware)."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    from policies.runtime.server import add_admission_arguments

    parser = subparsers.add_parser("drive", help="run a policy bundle closed loop in simulation")
    parser.add_argument("bundle", help="bundle directory from `workbench export`")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000, help="same meaning as `workbench eval --seed`")
    parser.add_argument("--split", choices=["train", "test"], default="test",
                        help="object split (default: the held-out test objects)")
    parser.add_argument("--scene", default=None, help="scene name or TOML (default: the bundle's training scene)")
    parser.add_argument("--profile", default=None,
                        help="randomization profile (default: the bundle's training profile)")
    parser.add_argument("--camera-size", type=int, default=None,
                        help="render frames this large and let the runtime resize them (default: trained size)")
    parser.add_argument("--server", default=None, metavar="URL",
                        help="act through a running `workbench serve` at this ws:// URL instead of in-process")
    parser.add_argument("--compare-run", default=None, metavar="RUN",
                        help="also evaluate the training run with torch on the same scenes and seeds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_admission_arguments(parser)
    parser.set_defaults(func=drive_command)


def drive_command(args: argparse.Namespace) -> int:
    from workbench.deploy.drive import compare_with_run, drive_bundle
    from workbench.errors import UserError

    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    from workbench.evaluation.target_splits import check_outside_tune

    check_outside_tune(args.seed, args.episodes, f"--seed {args.seed} --episodes {args.episodes}")
    if args.compare_run is not None:
        if args.server is not None or args.camera_size is not None:
            raise UserError("--compare-run compares the in-process runtime at the trained camera size; "
                            "drop --server and --camera-size")
        record = compare_with_run(args.bundle, args.compare_run, episodes=args.episodes, seed=args.seed,
                                  split=args.split, scene=args.scene, profile=args.profile, envelope=args.envelope,
                                  require_signature=args.require_signature)
        if args.json:
            print(json.dumps(record))
        else:
            for key in ("bundle", "run"):
                r = record[key]
                print(f"{key:6s} {r['via']:24s} {r['rate']:.1%} ({r['successes']}/{r['episodes']}), "
                      f"95% interval [{r['low']:.1%}, {r['high']:.1%}]")
            verdict = "within" if record["bundle_within_run_interval"] else "OUTSIDE"
            print(f"bundle success is {verdict} the run's 95% interval (difference {record['difference']:+.1%})")
            a = record["agreement"]
            print(f"step by step: {a['same_step_count']}/{a['episodes']} episodes of equal length, "
                  f"{a['identical_actions_episodes']} with identical actions; largest action difference "
                  f"{a['max_action_difference']:.3g} (median {a['median_action_difference']:.3g})")
        return 0
    record = drive_bundle(args.bundle, episodes=args.episodes, seed=args.seed, split=args.split, scene=args.scene,
                          profile=args.profile, camera_size=args.camera_size, server=args.server,
                          envelope=args.envelope, require_signature=args.require_signature)
    if args.json:
        print(json.dumps(record))
    else:
        print(f"{args.bundle} via {record['via']} on {record['scene']} ({args.split} objects): "
              f"{record['rate']:.1%} success ({record['successes']}/{record['episodes']}), 95% interval "
              f"[{record['low']:.1%}, {record['high']:.1%}]; {record['stops']} safety stops in {record['steps']} "
              f"steps; act p50 {record['act_ms_p50']:.2f} ms, p99 {record['act_ms_p99']:.2f} ms")
    return 0
