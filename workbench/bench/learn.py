"""The whole QT-Opt pipeline for a budget of ``--minutes``, judged on held-out objects.

Plan for ``--minutes M`` on two cores (evaluation time is reserved first):

1. collect  ``--collect-share`` of the rest: two explorer processes write offline/.
2. train    the remainder, in this process (one core): the offline phase for
            ``--offline-share`` of the training time, then joint finetuning. Beside it, one
            lockstep collector process (the other core) adds explorer episodes while the
            learner is offline, then runs its CEM policy with exploration noise
            (QT-Opt's collectors -> replay -> trainer).
3. evaluate the trained CEM policy and the explorer on the held-out (test) objects, the
            same E scenes each, in two processes; success with 95% Wilson intervals, and the
            paired difference (trained minus explorer, scene by scene) with its 95% interval.

The minutes become counts (episodes, learner steps) at nominal rates measured on this kind
of machine (``workbench.training.pipeline``), so the same arguments give the same run, bit
for bit; only the wall time depends on the machine.
"""

from __future__ import annotations

import time
from pathlib import Path

from workbench.rollout.evaluate import paired_difference
from workbench.training.pipeline import (
    collect_explorer,
    planned_explorer_episodes,
    planned_steps,
    spawn_pool,
    train_with_collector,
)

EVAL_SEED = 1000  # `workbench eval`'s default seed: the same held-out scenes


def add_arguments(parser) -> None:
    parser.set_defaults(cores=2)  # the pipeline is planned for two cores: collectors beside the trainer
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget for the whole pipeline")
    parser.add_argument("--episodes", type=int, default=200, help="held-out evaluation episodes per policy")
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--profile", default="default", help="randomization profile for training and evaluation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", default=None, help="run directory (default: runs/bench-learn-<time>)")
    parser.add_argument("--config", default=None, help="TOML of PipelineConfig values to override")
    parser.add_argument("--collect-share", type=float, default=0.2,
                        help="share of the (non-evaluation) budget for the initial explorer collection")
    parser.add_argument("--offline-share", type=float, default=0.4,
                        help="share of the training time spent in the offline phase")


def eval_reserve_seconds(episodes: int) -> float:
    # Measured ~0.2-0.3 s per 64x64 episode on a busy core, plus process start-up.
    return 20.0 + 0.35 * episodes


def fresh_run(args, bench: str) -> tuple[Path, dict, object]:
    """The benchmark's empty run directory (``--run`` or runs/bench-NAME-<time>), its config overrides
    (``--config`` plus seed, scene, profile) and the validated config: a bad one fails before any work."""
    from workbench.errors import UserError
    from workbench.training.config import read_toml, validate_config

    run_dir = Path(args.run or f"runs/bench-{bench}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise UserError(f"{run_dir} is not empty; bench {bench} starts from nothing")
    overrides = read_toml(args.config) if args.config else {}
    overrides.update(seed=args.seed, scene=args.scene, profile=args.profile)
    return run_dir, overrides, validate_config(overrides, args.config or f"bench {bench}")


def run(args) -> dict:
    import torch

    from workbench.errors import UserError

    torch.set_num_threads(1)
    started = time.time()
    if not args.minutes > 0 or args.episodes < 1:
        raise UserError("--minutes must be positive and --episodes at least 1")
    if not (0 < args.collect_share < 1 and 0 <= args.offline_share <= 1):
        raise UserError("--collect-share must be in (0, 1) and --offline-share in [0, 1]")
    run_dir, overrides, base = fresh_run(args, "learn")
    image_size = base.qtopt.image_size

    budget = args.minutes * 60
    work = max(budget - eval_reserve_seconds(args.episodes), 0.5 * budget)
    collect_seconds = args.collect_share * work
    train_seconds = work - collect_seconds
    figures: dict = {"minutes": args.minutes, "run": str(run_dir), "scene": args.scene, "profile": args.profile,
                     "seed": args.seed, "plan_collect_s": collect_seconds, "plan_train_s": train_seconds,
                     "plan_eval_s": budget - work}

    # 1. Offline data: two explorer processes.
    collected = collect_explorer(run_dir, scene=args.scene, profile=args.profile, seed=args.seed,
                                 image_size=image_size, episodes=planned_explorer_episodes(collect_seconds))
    figures.update(collect_episodes=collected["episodes"], collect_explorer_success=collected["explorer_success"],
                   collect_s=time.time() - started)

    # 2. Train: offline phase, then finetuning, with a lockstep collector process beside the trainer.
    train_started = time.time()
    summary = train_with_collector(run_dir, overrides, *planned_steps(train_seconds, args.offline_share))
    figures.update(offline_steps=summary["offline_steps"],
                   learner_steps=summary["learner_step"], train_s=time.time() - train_started,
                   offline_episodes=summary["offline_episodes"], online_episodes=summary["online_episodes"],
                   online_success=summary["online_success_rate"])

    # 3. Held-out evaluation of both policies on the same scenes, one process each.
    eval_started = time.time()
    jobs = [(str(run_dir), args.scene, args.profile, image_size, args.episodes),
            ("explorer", args.scene, args.profile, image_size, args.episodes)]
    with spawn_pool(2) as pool:
        qtopt, explorer = pool.starmap(_evaluate, jobs)
        pool.close()
        pool.join()
    figures.update(eval_episodes=args.episodes, eval_s=time.time() - eval_started)
    for name, result in (("qtopt", qtopt), ("explorer", explorer)):
        figures.update({f"{name}_success": result["rate"], f"{name}_successes": result["successes"],
                        f"{name}_ci95_low": result["low"], f"{name}_ci95_high": result["high"]})
    figures["qtopt_over_explorer"] = qtopt["rate"] / explorer["rate"] if explorer["rate"] else float("inf")
    paired = paired_difference(qtopt["outcomes"], explorer["outcomes"])  # the same held-out scenes
    figures.update(qtopt_minus_explorer=paired.difference, qtopt_minus_explorer_ci95_low=paired.low,
                   qtopt_minus_explorer_ci95_high=paired.high)
    figures["total_s"] = time.time() - started
    return figures


def _evaluate(policy_name: str, scene: str, profile: str, image_size: int, episodes: int) -> dict:
    import torch

    from workbench.rollout.collect import make_env
    from workbench.rollout.evaluate import run_episodes
    from workbench.rollout.qtopt_policy import make_policy

    torch.set_num_threads(1)
    env = make_env(scene, split="test", image_size=image_size, profile=profile)
    policy = make_policy(policy_name, env)
    result = run_episodes(env, policy, episodes, EVAL_SEED, progress=False)
    env.close()
    return {**result.to_dict(), "outcomes": list(result.outcomes)}
