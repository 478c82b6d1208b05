"""Checkpoints: exact round trip, training continues identically, bad files fail loudly."""

import json

import numpy as np
import pytest
import safetensors.numpy
import torch

import policies.runtime.files
from policies.qtopt.batches import LabelledBatch
from policies.qtopt.checkpoint import (
    METADATA_KEY,
    CheckpointError,
    learner_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from policies.qtopt.config import QTOptConfig
from policies.qtopt.learner import Learner

pytestmark = pytest.mark.usefixtures("single_torch_thread")


CONFIG = QTOptConfig(arch="fast", image_size=16, learning_rate=1e-2, lagged_period=2)


def batch(seed: int, size: int = 16) -> LabelledBatch:
    rng = np.random.default_rng(seed)
    return LabelledBatch(
        images=rng.integers(0, 256, (8, size, size, 3), dtype=np.uint8),
        states=rng.random((8, 2), dtype=np.float32),
        actions=rng.uniform(-0.05, 0.05, (8, 8)).astype(np.float32),
        targets=rng.random(8, dtype=np.float32),
    )


def trained_learner(steps: int = 3, config: QTOptConfig = CONFIG) -> Learner:
    learner = Learner.from_config(config, np.random.default_rng(0))
    for step in range(steps):
        learner.train_step(batch(step, config.image_size))
    return learner


def all_state(learner: Learner) -> dict[str, torch.Tensor]:
    state = {}
    networks = {"online": learner.qnet, "polyak": learner.targets.polyak, "lagged": learner.targets.lagged}
    for prefix, net in networks.items():
        state.update({f"{prefix}.{k}": v for k, v in net.state_dict().items()})
    for index, entries in learner.optimizer.state_dict()["state"].items():
        state.update({f"optimizer.{index}.{k}": v for k, v in entries.items()})
    return state


def assert_same_state(a: Learner, b: Learner) -> None:
    sa, sb = all_state(a), all_state(b)
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name
    assert a.step_count == b.step_count
    assert a.optimizer.state_dict()["param_groups"] == b.optimizer.state_dict()["param_groups"]


def test_round_trip_restores_everything_and_learning_continues_identically(tmp_path):
    original = trained_learner(steps=3)
    path = tmp_path / "learner.safetensors"
    save_checkpoint(path, original, CONFIG)

    restored = Learner.from_config(CONFIG, np.random.default_rng(123))  # different initial weights
    info = load_checkpoint(path, restored)
    assert (info.arch, info.image_size, info.learner_step, info.config) == ("fast", 16, 3, CONFIG)
    assert_same_state(original, restored)

    for step in range(3, 6):  # crosses a lagged refresh (period 2) too
        metrics_a = original.train_step(batch(step))
        metrics_b = restored.train_step(batch(step))
        assert metrics_a == metrics_b
    assert_same_state(original, restored)


def test_learner_can_be_rebuilt_from_the_stored_config(tmp_path):
    original = trained_learner(steps=2, config=CONFIG.model_copy(update={"arch": "paper"}))
    save_checkpoint(tmp_path / "ckpt.safetensors", original, CONFIG.model_copy(update={"arch": "paper"}))
    rebuilt, info = learner_from_checkpoint(tmp_path / "ckpt.safetensors")
    assert info.arch == "paper" and rebuilt.qnet.arch == "paper"
    assert_same_state(original, rebuilt)


def test_truncated_checkpoint_raises_and_leaves_the_learner_untouched(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, trained_learner(), CONFIG)
    path.write_bytes(path.read_bytes()[:-500])
    fresh = Learner.from_config(CONFIG, np.random.default_rng(1))
    before = {k: v.clone() for k, v in all_state(fresh).items()}
    with pytest.raises(CheckpointError, match="ckpt.safetensors: .*truncated or corrupt"):
        load_checkpoint(path, fresh)
    assert all(torch.equal(before[k], v) for k, v in all_state(fresh).items())


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, trained_learner(steps=1), CONFIG)
    good = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(policies.runtime.files.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, trained_learner(steps=2), CONFIG)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]
    load_checkpoint(path, Learner.from_config(CONFIG, np.random.default_rng(0)))


def rewrite(path, edit_tensors=None, edit_meta=None):
    data = path.read_bytes()
    tensors = safetensors.numpy.load(data)
    meta = json.loads(policies.runtime.files.read_safetensors_metadata(data)[METADATA_KEY])
    if edit_tensors:
        edit_tensors(tensors)
    if edit_meta:
        edit_meta(meta)
    path.write_bytes(safetensors.numpy.save(tensors, metadata={METADATA_KEY: json.dumps(meta)}))


@pytest.mark.parametrize(
    "edit_tensors, edit_meta, problem",
    [
        (lambda t: t.pop("lagged.head_rest.1.weight"), None, "missing tensor 'lagged.head_rest.1.weight'"),
        (
            lambda t: t.update({"online.head_action.weight": np.zeros((3, 3), np.float32)}),
            None,
            r"'online.head_action.weight' has shape \(3, 3\), expected \(64, 8\)",
        ),
        (lambda t: t.pop("optimizer.0.exp_avg"), None, "missing tensor 'optimizer.0.exp_avg'"),
        (None, lambda m: m.update(arch="paper"), "checkpoint is for arch 'paper', the learner is 'fast'"),
        (None, lambda m: m.update(image_size=32), "image size 32"),
        (None, lambda m: m.update(format_version=9), "format version 9"),
    ],
)
def test_damaged_checkpoints_name_the_file_and_the_problem(tmp_path, edit_tensors, edit_meta, problem):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, trained_learner(steps=1), CONFIG)
    rewrite(path, edit_tensors, edit_meta)
    with pytest.raises(CheckpointError, match=f"ckpt.safetensors: .*({problem})"):
        load_checkpoint(path, Learner.from_config(CONFIG, np.random.default_rng(0)))


def test_missing_checkpoint_is_reported(tmp_path):
    with pytest.raises(CheckpointError, match="nothing.safetensors: checkpoint file not found"):
        load_checkpoint(tmp_path / "nothing.safetensors", Learner.from_config(CONFIG, np.random.default_rng(0)))
