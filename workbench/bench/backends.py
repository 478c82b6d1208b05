"""The same QT-Opt run trained by the local and by the Ray backend, judged on held-out objects.

The check of ``workbench train --backend ray`` (same held-out success within the 95%
interval, for the same budget of environment steps):

1. collect   ``--episodes`` explorer episodes into RUN/local/offline, copied to RUN/ray/offline;
2. train     RUN/local with the local backend (one process, one core) and, beside it, RUN/ray with
             ``--backend ray`` on a local cluster of ``--cores`` CPUs (or ``--address``); with
             ``--seeds``, the local process goes on to the next seed while Ray trains this one.
             Both from the same config: the same offline episodes, the same learner steps and,
             while finetuning, one on-policy episode per ``steps_per_episode`` learner steps with
             the same episode seeds, so the same budget of environment steps
             (``*_online_env_steps`` counts them from the episode files);
3. evaluate  both greedy CEM policies on the same ``--eval-episodes`` held-out scenes, two
             processes; success with Wilson 95% intervals.

The budget is in steps, not minutes: with no ``--config`` the defaults of
``workbench.training.config.PipelineConfig`` train for hours on two cores. A quicker check:
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
    from workbench.bench.learn import fresh_run
    from workbench.errors import UserError
    from workbench.training.pipeline import spawn_pool

    if args.episodes < 1 or args.eval_episodes < 1 or args.seeds < 1:
        raise UserError("--episodes, --eval-episodes and --seeds must be at least 1")
    root, overrides, config = fresh_run(args, "backends")
    image_size = config.qtopt.image_size
    figures: dict = {"episodes": args.episodes, "eval_episodes": args.eval_episodes, "run": str(root),
                     "offline_steps": config.offline_steps, "finetune_steps": config.finetune_steps,
                     "steps_per_episode": config.steps_per_episode}
    seeds = [args.seed + i for i in range(args.seeds)]
    roots = {seed: root if args.seeds == 1 else root / f"seed-{seed}" for seed in seeds}
    seed_overrides = {seed: {**overrides, "seed": seed} for seed in seeds}
    with spawn_pool(1) as lane:
        # The local trainer uses one core: one process collects and trains the local backend seed
        # after seed while this one trains with Ray each seed whose episodes are ready. Budgets are
        # in steps, so sharing the machine changes times; the local results not at all, the Ray ones
        # only through when on-policy episodes arrive, which varies from run to run anyway.
        staged = {seed: (lane.apply_async(collect_seed, (str(roots[seed]), args.scene, args.profile, args.episodes,
                                                         seed, image_size)),
                         lane.apply_async(train_local, (str(roots[seed]), seed_overrides[seed])))
                  for seed in seeds}
        per_seed = [finish_seed(args, roots[seed], seed_overrides[seed], image_size, *staged[seed])
                    for seed in seeds]
        lane.close()
        lane.join()
    if args.seeds == 1:
        return {**figures, **per_seed[0]}
    figures["seeds"] = {str(seed): result for seed, result in zip(seeds, per_seed, strict=True)}
    figures.update(compare_across_seeds([r["local_success"] for r in per_seed], [r["ray_success"] for r in per_seed]))
    return figures


def collect_seed(root: str, scene: str, profile: str, episodes: int, seed: int, image_size: int) -> dict:
    """The seed's explorer episodes into ROOT/local/offline, copied to ROOT/ray/offline."""
    from policies.qtopt.replay import OfflineStore
    from workbench.rollout.collect import collect

    root_path, started = Path(root), time.monotonic()
    collect(root_path / "local" / "offline", scene=scene, profile=profile, episodes=episodes, seed=seed,
            image_size=image_size, progress=False)
    shutil.copytree(root_path / "local" / "offline", root_path / "ray" / "offline")
    return {"offline_env_steps": sum(e.steps for e in OfflineStore(root_path / "local" / "offline").episodes()),
            "collect_s": time.monotonic() - started}


def train_local(root: str, overrides: dict) -> dict:
    from workbench.training.train import train

    started = time.monotonic()
    summary = train(Path(root) / "local", overrides=overrides, progress=False)
    return _trained("local", Path(root), summary, started)


def finish_seed(args, root: Path, overrides: dict, image_size: int, collected, trained_local) -> dict:
    """Train the seed with Ray once its episodes are collected, then evaluate both backends."""
    from policies.runtime.files import atomic_write_bytes
    from workbench.bench.learn import _evaluate
    from workbench.training.pipeline import spawn_pool
    from workbench.training.ray_train import train_ray

    figures = dict(collected.get())
    started = time.monotonic()
    summary = train_ray(root / "ray", overrides=overrides, progress=False, address=args.address,
                        num_cpus=None if args.address else args.cores, collectors=args.collectors,
                        updaters=args.updaters)
    ray_figures = _trained("ray", root, summary, started)
    figures.update({**trained_local.get(), **ray_figures})

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
    atomic_write_bytes(root / "result.json", json.dumps(figures, indent=2).encode())
    return figures


def _trained(backend: str, root: Path, summary: dict, started: float) -> dict:
    from policies.qtopt.replay import OfflineStore

    online = OfflineStore(root / backend / "online")
    return {f"{backend}_train_s": time.monotonic() - started, f"{backend}_learner_steps": summary["learner_step"],
            f"{backend}_online_episodes": len(online),
            f"{backend}_online_env_steps": sum(e.steps for e in online.episodes())}


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
