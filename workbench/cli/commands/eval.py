"""`workbench eval`: success rate of a policy with a 95% interval."""

from __future__ import annotations

import argparse
import json

from workbench.cli.commands import print_summary


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a policy's grasp success")
    parser.add_argument("--policy", default="oracle",
                        help="oracle, explorer, or a training run directory")
    parser.add_argument("--scene", default="bin_grasp", help="built-in scene name or TOML path")
    parser.add_argument("--split", choices=["train", "test"], default="test",
                        help="object split (default: the held-out test objects)")
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000,
                        help="episode i resets with seed + i (default 1000: the test split; seeds 900000 to 900399 "
                             "are the tune split that studies see, refused here)")
    parser.add_argument("--profile", default=None, help="randomization profile name or TOML path")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (with each episode's reset seed, objects and success)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), default=None,
                        help="evaluate two policies on the same episodes and report A - B with its paired "
                             "95%% interval (instead of --policy)")
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
    from workbench.errors import UserError
    from workbench.rollout.evaluate import paired_difference, run_episodes
    from workbench.rollout.qtopt_policy import make_policy
    from workbench.sim.env import GraspEnv

    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    from workbench.evaluation.target_splits import check_outside_tune, split_of

    check_outside_tune(args.seed, args.episodes, f"--seed {args.seed} --episodes {args.episodes}")
    if args.suite is not None:
        if args.compare:
            raise UserError("--compare goes without --suite (compare two suite reports' episodes in the main job)")
        return suite_eval_command(args)
    if args.report is not None or args.image_size is not None:
        raise UserError("--report and --image-size go with --suite")
    env = GraspEnv(args.scene, split=args.split, profile=args.profile)
    policies = args.compare or [args.policy]
    try:
        results = {name: run_episodes(env, make_policy(name, env), args.episodes, args.seed, desc=f"eval {name}")
                   for name in policies}
    finally:
        env.close()
    # `profile` is the profile's name (a file's `name = ...`), `profile_file` the path given, if any.
    where = {"scene": env.spec_scene.name, "split": args.split, "profile": env.randomization.profile.name,
             "seed": args.seed, "target_split": split_of(args.seed, args.episodes)}
    if args.profile is not None and args.profile.endswith(".toml"):
        where["profile_file"] = args.profile
    if args.compare:
        (a, first), (b, second) = results.items()
        paired = paired_difference(first.outcomes, second.outcomes)
        record = {"compare": [a, b], **where, a: first.to_dict(), b: second.to_dict(),
                  "difference": paired.to_dict(), "per_episode": {a: list(first.outcomes), b: list(second.outcomes)}}
        text = f"on {where['scene']} ({args.split} objects):\n  A {a}: {first}\n  B {b}: {second}\n  A - B: {paired}"
        print_summary(record, args.json, text)
        return 0
    result = results[args.policy]
    record = {"policy": args.policy, **where, **result.to_dict(), "per_episode": list(result.outcomes)}
    print_summary(record, args.json, f"{args.policy} on {record['scene']} ({args.split} objects): {result}")
    return 0


def suite_eval_command(args: argparse.Namespace) -> int:
    from workbench.errors import UserError
    from workbench.evaluation.suite_eval import evaluate_suites
    from workbench.evaluation.suites import get_suites

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
