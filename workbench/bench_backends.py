"""The same QT-Opt run trained by the local and by the Ray backend, judged on held-out objects.

The check of ``workbench train --backend ray`` (same held-out success within the 95%
interval, for the same budget of environment steps):

1. collect   ``--episodes`` explorer episodes into RUN/local/offline, copied to RUN/ray/offline;
2. train     RUN/local with the local backend, then RUN/ray with ``--backend ray`` on a local
             cluster of ``--cores`` CPUs (or ``--address``), from the same config: the same offline
             episodes, the same learner steps and, while finetuning, one on-policy episode per
             ``steps_per_episode`` learner steps with the same episode seeds, so the same budget of
             environment steps (``*_online_env_steps`` counts them from the episode files);
3. evaluate  both greedy CEM policies on the same ``--eval-episodes`` held-out scenes, two
             processes; success with Wilson 95% intervals.

The budget is in steps, not minutes: with no ``--config`` the defaults of
``workbench.train.PipelineConfig`` train for hours on two cores. A quicker check:
``--config`` with smaller ``offline_steps`` and ``finetune_steps``.
"""

from __future__ import annotations

import shutil
import time


def add_arguments(parser) -> None:
    parser.set_defaults(cores=2)
    parser.add_argument("--episodes", type=int, default=200, help="offline explorer episodes (shared)")
    parser.add_argument("--eval-episodes", type=int, default=200, help="held-out evaluation episodes per backend")
    parser.add_argument("--config", default=None, help="TOML of PipelineConfig values (both backends)")
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", default=None, help="directory for both runs (default: runs/bench-backends-<time>)")
    parser.add_argument("--collectors", type=int, default=1, help="Ray collector actors")
    parser.add_argument("--updaters", type=int, default=1, help="Ray Bellman updater actors")
    parser.add_argument("--address", default=None, help="Ray cluster (default: a local one of --cores CPUs)")


def run(args) -> dict:
    from policies.replay import OfflineStore
    from workbench.bench_learn import _evaluate, fresh_run
    from workbench.collect import collect
    from workbench.errors import UserError
    from workbench.pipeline import spawn_pool
    from workbench.ray_train import train_ray
    from workbench.train import train

    if args.episodes < 1 or args.eval_episodes < 1:
        raise UserError("--episodes and --eval-episodes must be at least 1")
    root, overrides, config = fresh_run(args, "backends")
    image_size = config.qtopt.image_size
    figures: dict = {"episodes": args.episodes, "eval_episodes": args.eval_episodes, "run": str(root),
                     "offline_steps": config.offline_steps, "finetune_steps": config.finetune_steps,
                     "steps_per_episode": config.steps_per_episode}

    started = time.monotonic()
    collect(root / "local" / "offline", scene=args.scene, profile=args.profile, episodes=args.episodes,
            seed=args.seed, image_size=image_size, progress=False)
    shutil.copytree(root / "local" / "offline", root / "ray" / "offline")
    figures["offline_env_steps"] = sum(e.steps for e in OfflineStore(root / "local" / "offline").episodes())
    figures["collect_s"] = time.monotonic() - started

    for backend in ("local", "ray"):
        started = time.monotonic()
        if backend == "local":
            summary = train(root / backend, overrides=overrides, progress=False)
        else:
            summary = train_ray(root / backend, overrides=overrides, progress=False, address=args.address,
                                num_cpus=None if args.address else args.cores, collectors=args.collectors,
                                updaters=args.updaters)
        online = OfflineStore(root / backend / "online")
        figures.update({f"{backend}_train_s": time.monotonic() - started,
                        f"{backend}_learner_steps": summary["learner_step"],
                        f"{backend}_online_episodes": len(online),
                        f"{backend}_online_env_steps": sum(e.steps for e in online.episodes())})

    with spawn_pool(2) as pool:
        results = pool.starmap(_evaluate, [(str(root / backend), args.scene, args.profile, image_size,
                                            args.eval_episodes) for backend in ("local", "ray")])
        pool.close()
        pool.join()
    for backend, result in zip(("local", "ray"), results, strict=True):
        figures.update({f"{backend}_success": result["rate"], f"{backend}_ci95_low": result["low"],
                        f"{backend}_ci95_high": result["high"]})
    local, ray = results
    figures["ray_within_local_ci95"] = local["low"] <= ray["rate"] <= local["high"]
    figures["intervals_overlap"] = ray["low"] <= local["high"] and local["low"] <= ray["high"]
    return figures
