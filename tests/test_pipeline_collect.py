"""`workbench collect`: episodes on disk in the replay format, resumable, refusing mixed settings."""

import json

import numpy as np
import pytest

from policies.qtopt.replay import OfflineStore, read_episode
from workbench import cli
from workbench.errors import UserError
from workbench.rollout.collect import collect


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "offline"
    summary = collect(out, episodes=3, seed=5, progress=False)
    return out, summary


def test_collect_writes_n_readable_episodes(collected):
    out, summary = collected
    assert summary["written"] == 3 and summary["skipped"] == 0
    paths = OfflineStore(out).paths()
    assert [p.name for p in paths] == [f"episode-00000{i}.safetensors" for i in range(3)]
    for path in paths:
        episode = read_episode(path)
        steps = episode.steps
        assert episode.images.shape == (steps + 1, 64, 64, 3) and episode.images.dtype == np.uint8
        assert episode.states.shape == (steps + 1, 2)
        closure = episode.states[:, 0]  # gripper_closed (measured finger closure) first, then height
        assert closure.min() >= 0.0 and closure.max() <= 1.0 and closure[0] == 0.0  # starts open
        assert episode.dones[-1] == 1 and not episode.dones[:-1].any()  # the env ended it: no bootstrap
        assert episode.rewards[-1] == (1.0 if episode.success else 0.0)  # bin_grasp has no step penalty
        assert episode.policy == "explorer" and isinstance(episode.seed, int)
        info = episode.info
        assert info["success"] == episode.success and len(info["object_ids"]) >= 1
        assert info["index"] == int(path.stem.split("-")[1]) and info["profile"] == "default"
    manifest = json.loads((out / "collect.json").read_text())
    assert manifest["seed"] == 5 and manifest["image_size"] == 64


def test_collect_resumes_without_duplicates(collected):
    out, _ = collected
    before = {p.name: p.stat().st_mtime_ns for p in OfflineStore(out).paths()}
    summary = collect(out, episodes=4, seed=5, progress=False)
    assert summary["skipped"] == 3 and summary["written"] == 1
    after = {p.name: p.stat().st_mtime_ns for p in OfflineStore(out).paths()}
    assert len(after) == 4 and all(after[name] == stamp for name, stamp in before.items())


def test_episode_draws_depend_on_seed_and_index_only(collected, tmp_path):
    out, _ = collected
    collect(tmp_path / "again", episodes=1, seed=5, indices=[2], progress=False)
    original = read_episode(out / "episode-000002.safetensors")
    again = read_episode(tmp_path / "again" / "episode-000002.safetensors")
    assert original.seed == again.seed and original.info["object_ids"] == again.info["object_ids"]
    np.testing.assert_array_equal(original.actions, again.actions)


def test_collect_refuses_other_settings(collected):
    out, _ = collected
    with pytest.raises(UserError, match="other settings"):
        collect(out, episodes=5, seed=6, progress=False)
    assert len(OfflineStore(out).paths()) == 4


def test_cli_rejects_bad_episode_count(tmp_path, capsys):
    assert cli.main(["collect", "--episodes", "0", "--out", str(tmp_path / "o")]) == 2
    assert "--episodes" in capsys.readouterr().err
