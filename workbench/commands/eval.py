"""`workbench eval`: success rate of a policy with a 95% interval."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a policy's grasp success")
    parser.add_argument("--policy", default="oracle",
                        help="oracle, explorer, or a training run directory")
    parser.add_argument("--scene", default="bin_grasp", help="built-in scene name or TOML path")
    parser.add_argument("--split", choices=["train", "test"], default="test",
                        help="object split (default: the held-out test objects)")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--profile", default=None, help="randomization profile name or TOML path")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--suite", default=None,
                        help="a held-out suite (unseen-objects, unseen-textures, unseen-lighting, shifted-camera, unseen-shapes, "
                             "proxy-real) or all; sets scene, profile and split, and writes a report")
    parser.add_argument("--report", default=None,
                        help="with --suite: report directory (default: RUN/reports/eval-SUITE, or "
                             "reports/eval-SUITE-POLICY for a scripted policy)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="with --suite: image size for a scripted policy (a run uses its own)")
    parser.set_defaults(func=eval_command)


def eval_command(args: argparse.Namespace) -> int:
    from workbench.env import GraspEnv
    from workbench.errors import UserError
    from workbench.evaluate import run_episodes
    from workbench.scripted import make_policy

    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    if args.suite is not None:
        return suite_eval_command(args)
    if args.report is not None or args.image_size is not None:
        raise UserError("--report and --image-size go with --suite")
    kwargs = {"profile": args.profile} if args.profile else {}
    env = GraspEnv(args.scene, split=args.split, **kwargs)
    policy = make_policy(args.policy, env)
    result = run_episodes(env, policy, args.episodes, args.seed, desc=f"eval {args.policy}")
    env.close()
    record = {"policy": args.policy, "scene": env.spec_scene.name, "split": args.split,
              "profile": args.profile or "none", "seed": args.seed, **result.to_dict()}
    print(json.dumps(record) if args.json else f"{args.policy} on {record['scene']} ({args.split} objects): {result}")
    return 0


def suite_eval_command(args: argparse.Namespace) -> int:
    from workbench.errors import UserError
    from workbench.suite_eval import evaluate_suites
    from workbench.suites import get_suites

    if args.profile is not None or args.scene != "bin_grasp" or args.split != "test":
        raise UserError("--suite sets the scene, profile and split itself; drop --scene, --split and --profile")
    suites = get_suites(args.suite)
    record = evaluate_suites(args.policy, suites, args.episodes, args.seed, args.image_size, args.report)
    if args.json:
        print(json.dumps(record))
        return 0
    for name, entry in record["suites"].items():
        success = entry["success"]
        print(f"{name:16s} {success['rate']:6.1%}  [{success['low']:.1%}, {success['high']:.1%}]  "
              f"({success['successes']}/{success['episodes']})")
    print(f"report: {record['report']}")
    return 0
