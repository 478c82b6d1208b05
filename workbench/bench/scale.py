"""Scaling out on Ray: collection episodes/s and Bellman labels/s with 1 and 2 workers, beside the local
backend's figures measured in the same run.

- local: one process, the local backend's code path (``collection_episode`` into an
  ``OfflineStore``; ``BellmanUpdater.label`` on the learner's own targets);
- ray: a local Ray cluster of ``--cores`` CPUs (or ``--address``), 1 then 2 collector
  actors writing through a ReplayStore actor, then 1 then 2 Bellman updater actors (1 CPU
  each). Each worker does the same amount of work, after one warm-up episode or batch, so
  ``*_2_over_1`` is the speed-up from the second worker (2.0 is perfect scaling).

Episodes are the explorer's at the scene's image size, written to a temporary directory;
labels are random non-terminal transitions (every row needs CEM). Figures are wall-clock
on a machine that may be doing other work: ``loadavg_*`` says how busy it was.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def add_arguments(parser) -> None:
    parser.set_defaults(cores=2)  # 1 and 2 workers: two cores
    parser.add_argument("--episodes", type=int, default=24, help="timed episodes per collector")
    parser.add_argument("--batches", type=int, default=40, help="timed labelled batches per updater")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--scene", default="bin_grasp")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--address", default=None, help="measure on this Ray cluster (default: a local one)")


def run(args) -> dict:
    from workbench.errors import UserError
    from workbench.training.ray_backend import cluster

    if args.episodes < 1 or args.batches < 1 or args.batch_size < 1:
        raise UserError("--episodes, --batches and --batch-size must be at least 1")
    figures: dict = {"cores": args.cores, "image_size": args.image_size, "episodes_per_worker": args.episodes,
                     "batches_per_worker": args.batches, "batch_size": args.batch_size,
                     "loadavg_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        figures["local_episodes_per_s"] = local_episodes_per_s(args, Path(scratch) / "local")
        figures["local_labels_per_s"] = local_labels_per_s(args)
        with cluster(args.address, None if args.address else args.cores) as ray:
            for workers in (1, 2):
                figures[f"ray_{workers}_episodes_per_s"] = ray_episodes_per_s(ray, args, workers,
                                                                              Path(scratch) / f"ray-{workers}")
            for workers in (1, 2):
                figures[f"ray_{workers}_labels_per_s"] = ray_labels_per_s(ray, args, workers)
    figures["collect_2_over_1"] = figures["ray_2_episodes_per_s"] / figures["ray_1_episodes_per_s"]
    figures["labels_2_over_1"] = figures["ray_2_labels_per_s"] / figures["ray_1_labels_per_s"]
    figures["ray_1_over_local_collect"] = figures["ray_1_episodes_per_s"] / figures["local_episodes_per_s"]
    figures["ray_1_over_local_labels"] = figures["ray_1_labels_per_s"] / figures["local_labels_per_s"]
    figures["loadavg_end"] = os.getloadavg()[0]
    return figures


def settings(args, out: Path):
    from workbench.rollout.collect import open_collection

    return open_collection(out, scene=args.scene, profile=args.profile, split="train", policy="explorer", seed=0,
                           image_size=args.image_size)


def local_episodes_per_s(args, out: Path) -> float:
    import torch

    from policies.qtopt.replay import OfflineStore
    from workbench.rollout.collect import collection_episode
    from workbench.rollout.qtopt_policy import make_policy

    torch.set_num_threads(1)
    env, collect_settings = settings(args, out)
    policy, store = make_policy("explorer", env), OfflineStore(out)
    store.add(collection_episode(env, policy, collect_settings, 0))  # warm-up
    start = time.perf_counter()
    for index in range(1, args.episodes + 1):
        store.add(collection_episode(env, policy, collect_settings, index))
    seconds = time.perf_counter() - start
    env.close()
    return args.episodes / seconds


def local_labels_per_s(args) -> float:
    import numpy as np
    import torch

    from policies.qtopt.batches import random_transitions
    from policies.qtopt.config import QTOptConfig
    from policies.qtopt.learner import Learner

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    config = QTOptConfig(image_size=args.image_size, batch_size=args.batch_size)
    updater = Learner.from_config(config, rng).bellman_updater(config)
    batch = random_transitions(args.batch_size, args.image_size, rng)
    updater.label(batch, rng)  # warm-up
    start = time.perf_counter()
    for _ in range(args.batches):
        updater.label(batch, rng)
    return args.batches * args.batch_size / (time.perf_counter() - start)


def ray_episodes_per_s(ray, args, workers: int, out: Path) -> float:
    from workbench.training.ray_backend import actor_classes, here, named, wait_started

    env, collect_settings = settings(args, out)
    env.close()
    classes, tag = actor_classes(ray), f"bench-{os.getpid()}-{time.time_ns()}"
    store_name = named("replay", 0, tag)
    store = classes["ReplayStore"].options(**here(ray), num_cpus=0, name=store_name).remote({"offline": str(out)})
    collectors = [classes["Collector"].options(num_cpus=1).remote(store_name, collect_settings.to_json())
                  for _ in range(workers)]
    wait_started(ray, collectors)
    per = args.episodes + 1
    ray.get([actor.collect.remote([w * per]) for w, actor in enumerate(collectors)])  # warm-up
    start = time.perf_counter()
    ray.get([actor.collect.remote(list(range(w * per + 1, (w + 1) * per))) for w, actor in enumerate(collectors)])
    seconds = time.perf_counter() - start
    for actor in [*collectors, store]:
        ray.kill(actor, no_restart=True)
    return workers * args.episodes / seconds


def ray_labels_per_s(ray, args, workers: int) -> float:
    from policies.qtopt.config import QTOptConfig
    from workbench.training.ray_backend import actor_classes, wait_started

    qtopt = QTOptConfig(image_size=args.image_size, batch_size=args.batch_size).model_dump(mode="json")
    updaters = [actor_classes(ray)["Updater"].options(num_cpus=1).remote(None, None, qtopt, args.batch_size, 0)
                for _ in range(workers)]
    wait_started(ray, updaters)
    ray.get([u.label_random.remote(1, args.batch_size, args.image_size, w) for w, u in enumerate(updaters)])
    start = time.perf_counter()
    labels = sum(ray.get([u.label_random.remote(args.batches, args.batch_size, args.image_size, w)
                          for w, u in enumerate(updaters)]))
    seconds = time.perf_counter() - start
    for actor in updaters:
        ray.kill(actor, no_restart=True)
    return labels / seconds
