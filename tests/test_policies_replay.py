"""Replay: episode files round-trip and fail loudly; store, ring buffer and mixer."""

import json

import numpy as np
import pytest
import safetensors.numpy

from policies.qtopt.batches import Transitions
from policies.qtopt.replay import (
    FORMAT_VERSION,
    METADATA_KEY,
    Episode,
    OfflineStore,
    OnlineBuffer,
    ReplayFormatError,
    ReplayMixer,
    read_episode,
    write_episode,
)


def make_episode(steps: int = 5, size: int = 8, seed: int = 0, episode_id: str = "ep-0", reward: float = -0.05):
    rng = np.random.default_rng(seed)
    rewards = np.full(steps, reward, dtype=np.float32)
    rewards[-1] = 1.0
    dones = np.zeros(steps, dtype=np.uint8)
    dones[-1] = 1
    return Episode(
        images=rng.integers(0, 256, (steps + 1, size, size, 3), dtype=np.uint8),
        states=rng.random((steps + 1, 2), dtype=np.float32),
        actions=rng.uniform(-0.05, 0.05, (steps, 8)).astype(np.float32),
        rewards=rewards,
        dones=dones,
        episode_id=episode_id,
        success=True,
        seed=seed,
        policy="scripted",
        info={"lighting": {"intensity": np.float32(0.75)}, "objects": np.array([1, 2])},
    )


def write_raw(path, tensors, meta):
    path.write_bytes(safetensors.numpy.save(tensors, metadata={METADATA_KEY: json.dumps(meta)}))


def raw_parts(episode: Episode):
    tensors = {n: getattr(episode, n) for n in ("images", "states", "actions", "rewards", "dones")}
    meta = {"format_version": FORMAT_VERSION, "episode_id": "ep-0", "success": True, "seed": 0, "policy": ""}
    meta["info"] = {}
    return tensors, meta


def test_episode_round_trip(tmp_path):
    episode = make_episode()
    path = tmp_path / "ep.safetensors"
    write_episode(path, episode)
    loaded = read_episode(path)
    for name in ("images", "states", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(episode, name))
        assert getattr(loaded, name).dtype == getattr(episode, name).dtype
    assert (loaded.episode_id, loaded.success, loaded.seed, loaded.policy) == ("ep-0", True, 0, "scripted")
    assert loaded.info == {"lighting": {"intensity": 0.75}, "objects": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["ep.safetensors"]  # no temporary left behind


def test_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "cut.safetensors"
    write_episode(path, make_episode())
    data = path.read_bytes()
    for cut in (len(data) - 100, 40, 3):
        path.write_bytes(data[:cut])
        with pytest.raises(ReplayFormatError, match="cut.safetensors.*truncated or corrupt"):
            read_episode(path)


def test_missing_and_garbage_files_name_the_file(tmp_path):
    with pytest.raises(ReplayFormatError, match="absent.safetensors"):
        read_episode(tmp_path / "absent.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ReplayFormatError, match="junk.safetensors"):
        read_episode(tmp_path / "junk.safetensors")


def test_wrong_format_version_is_rejected(tmp_path):
    tensors, meta = raw_parts(make_episode())
    meta["format_version"] = 2
    write_raw(tmp_path / "v2.safetensors", tensors, meta)
    with pytest.raises(ReplayFormatError, match=r"v2.safetensors: format version 2 is not supported \(expected 1\)"):
        read_episode(tmp_path / "v2.safetensors")


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda t: t.update(states=t["states"][:-1]), "states has shape"),
        (lambda t: t.update(images=t["images"][:-2]), "images has shape"),
        (lambda t: t.update(rewards=t["rewards"][:-1]), "rewards has shape"),
        (lambda t: t.update(actions=t["actions"][:, :7]), "actions has shape"),
        (lambda t: t.update(images=t["images"].astype(np.float32)), "images has dtype float32"),
        (lambda t: t["rewards"].__setitem__(1, np.nan), "rewards has non-finite"),
        (lambda t: t.update(dones=np.ones(5, dtype=np.uint8)), "dones is 1 before the last step"),
        (lambda t: t.pop("dones"), "missing tensor"),
    ],
)
def test_inconsistent_episodes_are_rejected(tmp_path, edit, problem):
    tensors, meta = raw_parts(make_episode())
    edit(tensors)
    write_raw(tmp_path / "bad.safetensors", tensors, meta)
    with pytest.raises(ReplayFormatError, match=f"bad.safetensors: .*{problem}"):
        read_episode(tmp_path / "bad.safetensors")


def test_too_long_episodes_and_bad_metadata_are_rejected(tmp_path):
    write_episode(tmp_path / "ep.safetensors", make_episode(steps=30))
    with pytest.raises(ReplayFormatError, match="30 steps, expected 1 to 20"):
        read_episode(tmp_path / "ep.safetensors", max_steps=20)
    tensors, meta = raw_parts(make_episode())
    meta["success"] = "yes"
    write_raw(tmp_path / "meta.safetensors", tensors, meta)
    with pytest.raises(ReplayFormatError, match="'success' must be bool"):
        read_episode(tmp_path / "meta.safetensors")


def test_writing_an_invalid_episode_fails_before_touching_disk(tmp_path):
    episode = make_episode()
    bad = Episode(**{**episode.__dict__, "states": episode.states[:-1]})
    with pytest.raises(ReplayFormatError, match="states has shape"):
        write_episode(tmp_path / "ep.safetensors", bad)
    not_json = Episode(**{**episode.__dict__, "info": {"x": float("inf")}})
    with pytest.raises(ReplayFormatError, match="finite JSON"):
        write_episode(tmp_path / "ep.safetensors", not_json)
    assert list(tmp_path.iterdir()) == []


def test_offline_store_lists_counts_and_flattens_episodes(tmp_path):
    store = OfflineStore(tmp_path / "episodes")
    assert len(store) == 0
    for i, steps in enumerate((3, 5)):
        store.add(make_episode(steps=steps, seed=i, episode_id=f"ep-{i}"))
    (tmp_path / "episodes" / ".ep-9.safetensors.abc.tmp").write_bytes(b"partial")  # an interrupted write
    assert len(store) == 2
    assert [e.episode_id for e in store.episodes()] == ["ep-0", "ep-1"]
    with pytest.raises(FileExistsError):
        store.add(make_episode(episode_id="ep-0"))
    with pytest.raises(ReplayFormatError, match="safe file name"):
        store.add(make_episode(episode_id="../escape"))

    flat = store.load_transitions()
    assert len(flat) == 8 and flat.images.dtype == np.uint8
    second = make_episode(steps=5, seed=1)
    np.testing.assert_array_equal(flat.images[3:], second.images[:-1])
    np.testing.assert_array_equal(flat.next_images[3:], second.images[1:])
    np.testing.assert_array_equal(flat.next_states[3:], second.states[1:])
    np.testing.assert_array_equal(flat.dones, [0, 0, 1, 0, 0, 0, 0, 1])


def marked_transitions(n: int, marker: float, start: int = 0) -> Transitions:
    """Transitions whose reward says where they came from and whose action[0] counts them."""
    t = make_episode(steps=n).transitions()
    actions = t.actions.copy()
    actions[:, 0] = np.arange(start, start + n)
    rewards = np.full(n, marker, dtype=np.float32)
    return Transitions(t.images, t.states, actions, rewards, t.next_images, t.next_states, t.dones)


def test_online_buffer_keeps_the_newest_transitions():
    buffer = OnlineBuffer(capacity=6)
    assert len(buffer) == 0
    buffer.add(marked_transitions(4, 1.0, start=0))
    assert len(buffer) == 4
    buffer.add(marked_transitions(4, 1.0, start=4))
    assert len(buffer) == 6
    assert sorted(buffer.take(np.arange(6)).actions[:, 0]) == [2, 3, 4, 5, 6, 7]
    buffer.add(marked_transitions(10, 1.0, start=100))  # more than capacity at once
    assert sorted(buffer.take(np.arange(6)).actions[:, 0]) == [104, 105, 106, 107, 108, 109]
    assert buffer.take(np.arange(6)).images.dtype == np.uint8
    with pytest.raises(IndexError):
        buffer.take(np.array([6]))


def test_mixer_honours_the_offline_fraction():
    online = OnlineBuffer(capacity=100)
    online.add(marked_transitions(20, 1.0))
    mixer = ReplayMixer(offline=marked_transitions(20, 0.0), online=online, offline_fraction=0.3)
    rng = np.random.default_rng(0)
    rewards = np.concatenate([mixer.sample(64, rng).rewards for _ in range(200)])
    offline_share = np.mean(rewards == 0.0)
    # 12800 draws: the standard error of the share is 0.004, so 0.02 is five of them.
    assert abs(offline_share - 0.3) < 0.02


def test_mixer_falls_back_to_the_non_empty_source():
    offline = marked_transitions(5, 0.0)
    rng = np.random.default_rng(0)
    assert np.all(ReplayMixer(offline, OnlineBuffer(10), 0.2).sample(32, rng).rewards == 0.0)
    online = OnlineBuffer(10)
    online.add(marked_transitions(5, 1.0))
    assert np.all(ReplayMixer(None, online, 0.9).sample(32, rng).rewards == 1.0)
    with pytest.raises(ValueError, match="both"):
        ReplayMixer(None, OnlineBuffer(10), 0.5).sample(8, rng)
    with pytest.raises(ValueError, match="offline_fraction"):
        ReplayMixer(offline, online, 1.5)


def test_mixer_is_reproducible_from_the_seed():
    online = OnlineBuffer(capacity=100)
    online.add(marked_transitions(20, 1.0, start=50))
    mixer = ReplayMixer(marked_transitions(20, 0.0), online, 0.5)
    a = mixer.sample(16, np.random.default_rng(3))
    b = mixer.sample(16, np.random.default_rng(3))
    np.testing.assert_array_equal(a.actions, b.actions)


def test_n_step_transitions_by_hand():
    episode = make_episode(steps=5, reward=-0.05)  # rewards -0.05 x4, then 1.0 (done)
    one = episode.transitions()
    np.testing.assert_array_equal(one.horizons, 1)
    np.testing.assert_array_equal(one.next_images, episode.images[1:])
    three = episode.transitions(n_step=3, gamma=0.9)
    np.testing.assert_array_equal(three.horizons, [3, 3, 3, 2, 1])  # cut short by the episode's end
    np.testing.assert_allclose(three.rewards, [-0.05 * (1 + 0.9 + 0.81)] * 2
                               + [-0.05 - 0.045 + 0.81, -0.05 + 0.9, 1.0], atol=1e-6)
    np.testing.assert_array_equal(three.dones, [0, 0, 1, 1, 1])  # a window reaching the end is terminal
    for t, end in enumerate([3, 4, 5, 5, 5]):
        np.testing.assert_array_equal(three.next_images[t], episode.images[end])
        np.testing.assert_array_equal(three.next_states[t], episode.states[end])
    with pytest.raises(ValueError, match="n_step"):
        episode.transitions(n_step=0)


def test_online_buffer_cuts_episodes_with_its_n_step():
    buffer = OnlineBuffer(100, n_step=2, gamma=0.5)
    buffer.add_episode(make_episode(steps=4, reward=0.0))
    batch = buffer.take(np.arange(4))
    np.testing.assert_array_equal(batch.horizons, [2, 2, 2, 1])
    np.testing.assert_allclose(batch.rewards, [0.0, 0.0, 0.5, 1.0])
