"""`--backend ray` on a local 2-CPU Ray cluster: the same episodes as the local backend for the same seed;
a collector actor killed mid-run is restarted and its episodes are neither lost nor stored or counted twice;
`train --backend ray` runs the QT-Opt loop with its roles as actors, on the local trainer's schedule, through
the kill of a collector and of a Bellman updater."""

import json
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")

from policies.qtopt.replay import OfflineStore, read_episode
from workbench.rollout.collect import collect
from workbench.training.ray_backend import collect_ray
from workbench.training.ray_train import train_ray

IMAGE = 16
TINY = {"qtopt": {"image_size": IMAGE, "batch_size": 8, "cem": {"iterations": 1, "samples": 16, "elites": 2},
                  "act_cem": {"iterations": 1, "samples": 16, "elites": 2}}}


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def names(directory) -> list[str]:
    return [p.name for p in OfflineStore(directory).paths()]


def kill_when(directory, count: int, actor_name: str, deadline_s: float = 900) -> dict:
    """In a thread: once ``directory`` holds ``count`` episodes, kill the named actor (Ray restarts it).
    The deadline is generous: on a busy machine an actor process takes a minute to start."""
    record: dict = {}

    def watch():
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline and len(names(directory)) < count:
            time.sleep(0.05)
        record["episodes_at_kill"] = len(names(directory))
        record["killed"] = ray.get_actor(actor_name)
        ray.kill(record["killed"], no_restart=False)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    record["thread"] = thread
    return record


def test_ray_collect_writes_the_local_backends_episodes(tmp_path):
    collect(tmp_path / "local", episodes=3, seed=3, image_size=IMAGE, progress=False)
    summary = collect_ray(tmp_path / "ray", episodes=3, seed=3, image_size=IMAGE, workers=2, chunk=1,
                          progress=False)
    assert summary["written"] == 3 and summary["skipped"] == 0 and summary["workers"] == 2
    assert names(tmp_path / "ray") == names(tmp_path / "local") == [f"episode-00000{i}.safetensors" for i in range(3)]
    for name in names(tmp_path / "local"):
        mine, theirs = read_episode(tmp_path / "local" / name), read_episode(tmp_path / "ray" / name)
        for field in ("images", "states", "actions", "rewards", "dones"):
            np.testing.assert_array_equal(getattr(mine, field), getattr(theirs, field))
        assert (mine.seed, mine.success, mine.info) == (theirs.seed, theirs.success, theirs.info)
    manifest = json.loads((tmp_path / "ray" / "collect.json").read_text())
    assert manifest == json.loads((tmp_path / "local" / "collect.json").read_text())
    again = collect_ray(tmp_path / "ray", episodes=4, seed=3, image_size=IMAGE, workers=1, progress=False)
    assert (again["skipped"], again["written"]) == (3, 1)  # resumes like collect


def test_killed_collector_is_restarted_and_no_episode_is_lost_or_counted_twice(tmp_path):
    out, episodes = tmp_path / "offline", 14
    kill = kill_when(out, 3, "collector-0-kill")
    summary = collect_ray(out, episodes=episodes, seed=1, image_size=IMAGE, workers=2, chunk=3, tag="kill",
                          progress=False)
    kill["thread"].join()
    assert 3 <= kill["episodes_at_kill"] < episodes, "the collector was not killed mid-run"
    assert summary["restarts"] >= 1  # the killed collector came back as a new process
    on_disk = names(out)
    assert on_disk == [f"episode-{i:06d}.safetensors" for i in range(episodes)]  # none lost, none extra
    assert summary["written"] == len(on_disk) == episodes  # reported == stored
    successes = sum(read_episode(out / name).success for name in on_disk)
    assert summary["successes"] == successes
    for name in on_disk:
        assert read_episode(out / name).info["index"] == int(name[8:14])


def test_ray_train_runs_the_local_schedule_and_survives_a_killed_collector(tmp_path):
    run = tmp_path / "run"
    collect(run / "offline", episodes=3, seed=0, image_size=IMAGE, progress=False)
    config = {"offline_steps": 4, "finetune_steps": 10, "steps_per_episode": 2, "checkpoint_every": 4,
              "log_every": 2, **TINY}
    kill = kill_when(run / "online", 1, "collector-0-train")
    kill_updater = kill_when(run / "online", 2, "updater-0-train")
    summary = train_ray(run, overrides=config, progress=False, tag="train", collectors=1, updaters=1, sync_every=2)
    kill["thread"].join()
    kill_updater["thread"].join()
    assert "killed" in kill and "killed" in kill_updater, "an actor was not found to kill"
    assert kill_updater["episodes_at_kill"] < 5, "the updater was not killed mid-run"
    assert summary["learner_step"] == 14 and summary["stopped_by"] == "steps"  # every step, none twice
    assert summary["collector_restarts"] >= 1
    online = names(run / "online")
    # The local trainer collects at finetuning steps 4, 6, ..., 12: five on-policy episodes.
    assert online == [f"train-{i:06d}.safetensors" for i in range(5)]
    assert summary["online_collected"] == summary["online_stored"] == summary["online_written"] == len(online)
    assert summary["online_episodes"] == 5 and summary["offline_episodes"] == 3
    assert summary["online_env_steps"] == sum(read_episode(run / "online" / n).steps for n in online)
    assert (run / "checkpoint.safetensors").exists() and (run / "learning_curve.png").exists()
    history = json.loads((run / "history.json").read_text())
    assert [p["step"] for p in history if "loss" in p] == [2, 4, 6, 8, 10, 12, 14]
    assert json.loads((run / "config.json").read_text())["finetune_steps"] == 10

    from workbench.rollout.qtopt_policy import load_run_policy

    assert load_run_policy(run).qnet is not None  # `workbench eval --policy RUN` reads what ray wrote


def test_bench_scale_reports_one_and_two_workers_beside_local(capsys):
    import os

    from workbench import cli

    cores = os.sched_getaffinity(0)
    try:
        assert cli.main(["bench", "scale", "--json", "--episodes", "1", "--batches", "1", "--batch-size", "8",
                         "--image-size", "16"]) == 0
    finally:
        os.sched_setaffinity(0, cores)  # the bench pins this process to --cores
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("local_episodes_per_s", "ray_1_episodes_per_s", "ray_2_episodes_per_s", "local_labels_per_s",
                "ray_1_labels_per_s", "ray_2_labels_per_s"):
        assert figures[key] > 0, key
    assert figures["collect_2_over_1"] == pytest.approx(figures["ray_2_episodes_per_s"] / figures["ray_1_episodes_per_s"])
    assert figures["labels_2_over_1"] == pytest.approx(figures["ray_2_labels_per_s"] / figures["ray_1_labels_per_s"])
