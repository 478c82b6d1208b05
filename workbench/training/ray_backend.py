"""``--backend ray``: ``workbench collect`` (here) and ``workbench train`` (``workbench.training.ray_train``) on Ray.

QT-Opt's distributed shape on an existing engine: collector actors run episodes, a
ReplayStore actor writes them and serves batches, Bellman updater actors label batches
and a learner actor trains on them (``workbench.training.ray_actors``). The ReplayStore and the
learner are pinned to the driver's machine, which holds the run directory; collectors
and updaters go wherever the cluster has CPUs.

``--address``: none starts a local cluster (this machine's CPUs, shut down at the end);
``auto`` joins the cluster this machine belongs to (``ray start``); ``HOST:PORT`` a
cluster's head, ``ray://HOST:PORT`` through Ray Client.

Failures: collectors and updaters are restarted by Ray (``RESTARTS`` times) and their
running task retried; an episode's name and seeds follow from its index, the store
writes a name at most once, and work is handed out by index, so a killed collector's
episodes are neither lost nor stored or counted twice.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections import deque
from contextlib import contextmanager
from pathlib import Path

from workbench.errors import UserError

INSTALL_HINT = "install it with pip install -e '.[ray]'"
NAMESPACE = "workbench"
COLLECTOR_CPUS, UPDATER_CPUS, LEARNER_CPUS = 1.0, 0.5, 0.5  # what each actor reserves from the cluster
RESTARTS = 4  # times Ray restarts a dead collector or updater (and retries its running task)
_HOST_PORT = re.compile(r"^(?:ray://)?(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"--backend ray needs Ray, which is not installed; {INSTALL_HINT}") from None
    return ray


def check_address(address: str) -> None:
    """UserError unless ``address`` is ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` and, for the last two,
    something listens there (Ray itself would retry for minutes)."""
    if address == "auto":
        return
    match = _HOST_PORT.match(address)
    if match is None:
        raise UserError(f"--address {address!r}: expected auto, HOST:PORT (the head's `ray start --head` "
                        "address) or ray://HOST:PORT (Ray Client)")
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        raise UserError(f"--address {address}: no Ray cluster answers there ({error.strerror or error}); "
                        "start one with `ray start --head` or leave --address out for a local cluster") from None


@contextmanager
def cluster(address: str | None = None, num_cpus: int | None = None):
    """Ray, joined to the cluster at ``address`` or to a new local one of ``num_cpus`` CPUs (default: the
    CPUs this process may use), shut down on exit. When this process already runs Ray (a test, a
    notebook), that session is used and left running."""
    ray = import_ray()
    if address is not None:
        if num_cpus is not None:
            raise UserError("--num-cpus sizes a local cluster; a cluster at --address has its own CPUs")
        check_address(address)
    if ray.is_initialized():
        yield ray
        return
    kwargs = {"include_dashboard": False, "logging_level": logging.WARNING, "namespace": NAMESPACE}
    if address is None:
        kwargs["num_cpus"] = num_cpus or len(os.sched_getaffinity(0))
        what = "start a local Ray cluster"
    else:
        kwargs["address"] = address
        what = f"connect to the Ray cluster at {address}"
    try:
        ray.init(**kwargs)
    except Exception as error:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError...
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot {what}: {reason}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def here(ray) -> dict:
    """Actor options that keep an actor on the driver's machine (the one holding the run directory)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node, soft=False)}


def restartable(cpus: float) -> dict:
    return {"num_cpus": cpus, "max_restarts": RESTARTS, "max_task_retries": RESTARTS}


def check_capacity(ray, needed: float, layout: str) -> None:
    """UserError when the cluster has fewer CPUs than the actors reserve (they would wait forever)."""
    have = float(ray.cluster_resources().get("CPU", 0))
    if needed > have + 1e-9:
        raise UserError(f"{layout} reserve {needed:g} CPUs, the Ray cluster has {have:g}; use fewer actors "
                        "or a bigger cluster (a local one: --num-cpus)")


def actor_classes(ray) -> dict:
    from workbench.training import ray_actors

    return {name: ray.remote(getattr(ray_actors, name))
            for name in ("ReplayStore", "Collector", "Updater", "LearnerActor")}


def named(prefix: str, index: int, tag: str) -> str:
    """An actor's name in the ``workbench`` namespace (tests and tools find it with ``ray.get_actor``)."""
    return f"{prefix}-{index}-{tag}"


def dead_actor_errors(ray) -> tuple[type[BaseException], ...]:
    return (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)


# -- collect -------------------------------------------------------------------------------------

def collect_ray(out: str | Path, *, scene: str = "bin_grasp", profile: str = "default", episodes: int,
                seed: int = 0, split: str = "train", policy: str = "explorer", image_size: int | None = None,
                workers: int | None = None, chunk: int = 4, address: str | None = None,
                num_cpus: int | None = None, tag: str | None = None, progress: bool = True) -> dict:
    """``workbench.rollout.collect.collect`` on Ray: the same episode files (names, seeds, contents), collected by
    ``workers`` collector actors (default: one per cluster CPU) in chunks of ``chunk`` indices handed out
    as actors finish. Returns collect's counts plus ``workers``, ``restarts`` (collector processes that
    died and were replaced) and ``refused_duplicates`` (episodes the store did not write because their
    id was already on disk)."""
    from tqdm import tqdm

    from policies.qtopt.replay import OfflineStore
    from workbench.rollout.collect import episode_id, missing_indices, open_collection

    if episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {episodes}")
    if chunk < 1 or (workers is not None and workers < 1):
        raise UserError("--workers and the chunk size must be at least 1")
    out = Path(out)
    with cluster(address, num_cpus) as ray:
        env, settings = open_collection(out, scene=scene, profile=profile, split=split, policy=policy, seed=seed,
                                        image_size=image_size)
        env.close()
        todo = missing_indices(OfflineStore(out), range(episodes))
        started = time.monotonic()
        workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1) // COLLECTOR_CPUS))
        check_capacity(ray, workers * COLLECTOR_CPUS, f"{workers} collectors")
        tag = tag or f"{os.getpid()}-{time.time_ns()}"
        classes = actor_classes(ray)
        store_name = named("replay", 0, tag)
        store = classes["ReplayStore"].options(**here(ray), num_cpus=0, name=store_name).remote({"offline": str(out)})
        collectors = [classes["Collector"].options(**restartable(COLLECTOR_CPUS), name=named("collector", i, tag))
                      .remote(store_name, settings.to_json()) for i in range(workers)]
        first = wait_started(ray, collectors)
        pool = WorkPool(ray, collectors, lambda actor, part: actor.collect.remote(part))
        for i in range(0, len(todo), chunk):
            pool.add(todo[i:i + chunk])
        bar = tqdm(total=episodes, initial=episodes - len(todo), desc=f"collect {out} (ray)", disable=not progress,
                   unit="ep")
        while pool.busy():
            for result in pool.reap():
                bar.update(len(result["indices"]))
        bar.close()
        stored = ray.get(store.stored.remote("offline", [episode_id(i) for i in todo]))
        counts = ray.get(store.counts.remote())
        restarts = count_restarts(ray, collectors, pool.results, first)
        for actor in [*collectors, store]:
            ray.kill(actor, no_restart=True)
    successes = sum(item["success"] for item in stored.values())
    return {"requested": episodes, "skipped": episodes - len(todo), "written": len(stored), "successes": successes,
            "success_rate": successes / len(stored) if stored else None, "backend": "ray", "workers": workers,
            "restarts": restarts, "refused_duplicates": counts["refused"], "seconds": time.monotonic() - started}


def wait_started(ray, actors: list) -> set[str]:
    """Wait for ``actors`` to be up (a constructor error surfaces here); their processes."""
    return set(ray.get([actor.ping.remote() for actor in actors]))


def count_restarts(ray, actors: list, results: list[dict], first: set[str]) -> int:
    """Processes that ran these actors beyond one per actor: those they started in (``first``), those
    seen in results and those they have now (a restarted actor is a new process)."""
    pids = first | {result["pid"] for result in results}
    for actor in actors:
        try:
            pids.add(ray.get(actor.ping.remote(), timeout=60))
        except (*dead_actor_errors(ray), ray.exceptions.GetTimeoutError):
            pass
    return max(0, len(pids) - len(actors))


class WorkPool:
    """Parts of work (lists of episode indices) handed to actors one part per actor at a time. A part
    whose actor died for good (Ray's restarts and retries spent) goes back in the queue for another."""

    def __init__(self, ray, actors: list, call):
        self.ray, self.call = ray, call
        self.idle = deque(actors)
        self.queue: deque = deque()
        self.pending: dict = {}
        self.results: list[dict] = []

    def add(self, part) -> None:
        self.queue.append(part)
        self.dispatch()

    def dispatch(self) -> None:
        while self.idle and self.queue:
            actor, part = self.idle.popleft(), self.queue.popleft()
            self.pending[self.call(actor, part)] = (actor, part)

    def busy(self) -> bool:
        return bool(self.queue or self.pending)

    def reap(self, timeout: float | None = None) -> list[dict]:
        """Results of finished parts: wait for one (``timeout`` None) or take what is ready by ``timeout``."""
        if not self.pending:
            return []
        count = 1 if timeout is None else len(self.pending)
        ready, _ = self.ray.wait(list(self.pending), num_returns=count, timeout=timeout)
        finished = []
        for ref in ready:
            actor, part = self.pending.pop(ref)
            try:
                result = self.ray.get(ref)
            except dead_actor_errors(self.ray) as error:
                self.queue.appendleft(part)  # its stored episodes are skipped when the part runs again
                if not self.idle and not self.pending:
                    raise UserError(f"every collector died (last: {error}); the episodes stored so far are "
                                    "kept, run the same command again to collect the rest") from None
                continue  # the dead actor is not put back
            self.results.append(result)
            finished.append(result)
            self.idle.append(actor)
        self.dispatch()
        return finished
