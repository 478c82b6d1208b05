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

One seed's Wilson interval covers only evaluation noise. Two training runs of one backend
from different seeds differed by 11-14 points here, more than that interval, so
``--seeds N`` repeats steps 1-3 for N seeds (each seed's runs in RUN/seed-S/) and compares
the backends across seeds: each backend's mean success with a 95% t-interval over seeds,
and the per-seed Ray - local difference with its paired 95% t-interval. Each seed's figures
are written to its directory's ``result.json`` as soon as it finishes (RUN/result.json for
one seed), so a comparison stopped part-way keeps the seeds it finished.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

BACKENDS = ("local", "ray")


def add_arguments(parser) -> None:
    parser.set_defaults(cores=2)
    parser.add_argument("--episodes", type=int, default=200, help="offline explorer episodes (shared)")
    parser.add_argument("--eval-episodes", type=int, default=200, help="held-out evaluation episodes per backend")
    parser.add_argument("--config", default=None, help="TOML of PipelineConfig values (both backends)")
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1, help="seeds --seed, --seed+1, ...: compare across seeds")
    parser.add_argument("--run", default=None, help="directory for both runs (default: runs/bench-backends-<time>)")
    parser.add_argument("--collectors", type=int, default=1, help="Ray collector actors")
    parser.add_argument("--updaters", type=int, default=1, help="Ray Bellman updater actors")
    parser.add_argument("--address", default=None, help="Ray cluster (default: a local one of --cores CPUs)")


def run(args) -> dict:
    from workbench.bench_learn import fresh_run
    from workbench.errors import UserError

    if args.episodes < 1 or args.eval_episodes < 1 or args.seeds < 1:
        raise UserError("--episodes, --eval-episodes and --seeds must be at least 1")
    root, overrides, config = fresh_run(args, "backends")
    figures: dict = {"episodes": args.episodes, "eval_episodes": args.eval_episodes, "run": str(root),
                     "offline_steps": config.offline_steps, "finetune_steps": config.finetune_steps,
                     "steps_per_episode": config.steps_per_episode}
    if args.seeds == 1:
        return {**figures, **one_seed(args, root, overrides, config.qtopt.image_size)}
    seeds = [args.seed + i for i in range(args.seeds)]
    per_seed = [one_seed(args, root / f"seed-{seed}", {**overrides, "seed": seed}, config.qtopt.image_size)
                for seed in seeds]
    figures["seeds"] = {str(seed): result for seed, result in zip(seeds, per_seed, strict=True)}
    figures.update(compare_across_seeds([r["local_success"] for r in per_seed], [r["ray_success"] for r in per_seed]))
    return figures


def one_seed(args, root: Path, overrides: dict, image_size: int) -> dict:
    """Collect, train with both backends and evaluate both, for the seed in ``overrides``."""
    from policies.replay import OfflineStore
    from workbench.bench_learn import _evaluate
    from workbench.collect import collect
    from workbench.files import write_bytes_atomic
    from workbench.pipeline import spawn_pool
    from workbench.ray_train import train_ray
    from workbench.train import train

    seed = overrides["seed"]
    figures: dict = {}
    started = time.monotonic()
    collect(root / "local" / "offline", scene=args.scene, profile=args.profile, episodes=args.episodes,
            seed=seed, image_size=image_size, progress=False)
    shutil.copytree(root / "local" / "offline", root / "ray" / "offline")
    figures["offline_env_steps"] = sum(e.steps for e in OfflineStore(root / "local" / "offline").episodes())
    figures["collect_s"] = time.monotonic() - started

    for backend in BACKENDS:
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
                                            args.eval_episodes) for backend in BACKENDS])
        pool.close()
        pool.join()
    for backend, result in zip(BACKENDS, results, strict=True):
        figures.update({f"{backend}_success": result["rate"], f"{backend}_ci95_low": result["low"],
                        f"{backend}_ci95_high": result["high"]})
    local, ray = results
    figures["ray_within_local_ci95"] = local["low"] <= ray["rate"] <= local["high"]
    figures["intervals_overlap"] = ray["low"] <= local["high"] and local["low"] <= ray["high"]
    write_bytes_atomic(root / "result.json", json.dumps(figures, indent=2).encode())
    return figures


def t_interval(values) -> tuple[float, float, float]:
    """Mean and its two-sided 95% Student-t interval, for two or more values."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def compare_across_seeds(local_rates, ray_rates) -> dict:
    """Held-out success of both backends over the same seeds (training variance included)."""
    figures: dict = {}
    for backend, rates in (("local", local_rates), ("ray", ray_rates)):
        mean, low, high = t_interval(rates)
        figures.update({f"{backend}_mean_success": mean, f"{backend}_mean_ci95_low": low,
                        f"{backend}_mean_ci95_high": high})
    difference, low, high = t_interval(np.subtract(ray_rates, local_rates))
    figures.update(ray_minus_local=difference, ray_minus_local_ci95_low=low, ray_minus_local_ci95_high=high,
                   ray_within_local_ci95=figures["local_mean_ci95_low"] <= figures["ray_mean_success"]
                   <= figures["local_mean_ci95_high"],
                   difference_ci95_holds_zero=low <= 0.0 <= high)
    return figures
