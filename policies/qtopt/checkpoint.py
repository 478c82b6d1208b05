"""Learner checkpoints: one safetensors file, written atomically, validated on load.

Tensors (all float32 as trained):

    online.<name>                 online Q-network state_dict
    polyak.<name>, lagged.<name>  the two target networks
    optimizer.<i>.<key>           Adam state for parameter i (exp_avg, exp_avg_sq, ...)

The header metadata key ``workbench.checkpoint`` holds JSON: format_version, arch,
image_size, learner_step, polyak_tau, lagged_period, config (QTOptConfig as JSON, or
null), and the optimizer's param_groups (hyperparameters) plus its scalar state (the
per-parameter step counters) as {"<i>": {"<key>": {"value": v, "dtype": "float32"}}},
and a manifest of the optimizer tensors per parameter, {"<i>": ["exp_avg", ...]}.

Saving writes a temporary file beside the target and renames it over the old one only
after a complete, fsynced write, so a crash or error mid-save never replaces a good
checkpoint with a partial one. Loading checks everything before touching the learner,
so a bad file leaves the learner as it was. No pickle: torch.load is never used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
import torch

from policies.qtopt.config import QTOptConfig
from policies.qtopt.learner import Learner
from policies.runtime.files import FileProblem, atomic_write_bytes, read_safetensors_metadata

FORMAT_VERSION = 1
METADATA_KEY = "workbench.checkpoint"
NETWORK_PREFIXES = ("online", "polyak", "lagged")


class CheckpointError(FileProblem):
    pass


@dataclass(frozen=True)
class CheckpointInfo:
    arch: str
    image_size: int
    learner_step: int
    config: QTOptConfig | None


def _network_states(learner: Learner) -> dict[str, dict[str, torch.Tensor]]:
    return {
        "online": learner.qnet.state_dict(),
        "polyak": learner.targets.polyak.state_dict(),
        "lagged": learner.targets.lagged.state_dict(),
    }


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().contiguous().numpy()


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Tensors with a shape go to safetensors; scalars (step counters) and hyperparameters to JSON."""
    state = optimizer.state_dict()
    tensors: dict[str, np.ndarray] = {}
    tensor_keys: dict[str, list[str]] = {}  # manifest, so a missing tensor is noticed on load
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor) and value.ndim > 0:
                tensors[f"optimizer.{index}.{key}"] = _to_numpy(value)
                tensor_keys.setdefault(str(index), []).append(key)
            elif isinstance(value, torch.Tensor):
                scalars.setdefault(str(index), {})[key] = {"value": value.item(), "dtype": str(value.dtype)}
            else:
                scalars.setdefault(str(index), {})[key] = {"value": value, "dtype": None}
    return tensors, {"param_groups": state["param_groups"], "tensors": tensor_keys, "scalars": scalars}


def save_checkpoint(path: str | os.PathLike, learner: Learner, config: QTOptConfig | None = None) -> None:
    """Atomically save the learner (online net, both targets, Adam state) to ``path``."""
    path = Path(path)
    tensors: dict[str, np.ndarray] = {}
    for prefix, state in _network_states(learner).items():
        tensors.update({f"{prefix}.{name}": _to_numpy(value) for name, value in state.items()})
    optimizer_tensors, optimizer_meta = _flatten_optimizer(learner.optimizer)
    tensors.update(optimizer_tensors)
    meta = {
        "format_version": FORMAT_VERSION,
        "arch": learner.qnet.arch,
        "image_size": learner.qnet.image_size,
        "learner_step": learner.step_count,
        "polyak_tau": learner.targets.polyak_tau,
        "lagged_period": learner.targets.lagged_period,
        "config": config.model_dump(mode="json") if config is not None else None,
        "optimizer": optimizer_meta,
    }
    data = safetensors.numpy.save(tensors, metadata={METADATA_KEY: json.dumps(meta, allow_nan=False)})
    atomic_write_bytes(path, data)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not path.is_file():
        raise CheckpointError(path, "checkpoint file not found")
    try:
        data = path.read_bytes()
        raw_meta = read_safetensors_metadata(data)
        tensors = safetensors.numpy.load(data)
    except Exception as error:  # the safetensors library raises its own error types
        raise CheckpointError(path, f"not a readable safetensors file (truncated or corrupt?): {error}") from None
    try:
        meta = json.loads(raw_meta[METADATA_KEY])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(path, f"no valid {METADATA_KEY!r} metadata in the header") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version") if isinstance(meta, dict) else None
        raise CheckpointError(path, f"format version {version!r} is not supported (expected {FORMAT_VERSION})")
    for key in ("arch", "image_size", "learner_step", "optimizer", "polyak_tau", "lagged_period"):
        if key not in meta:
            raise CheckpointError(path, f"metadata field {key!r} is missing")
    return meta, tensors


def _check_tensor(path: Path, tensors: dict[str, np.ndarray], name: str, like: torch.Tensor) -> np.ndarray:
    if name not in tensors:
        raise CheckpointError(path, f"missing tensor {name!r}")
    array = tensors[name]
    if tuple(array.shape) != tuple(like.shape):
        raise CheckpointError(path, f"tensor {name!r} has shape {array.shape}, expected {tuple(like.shape)}")
    if array.dtype != _to_numpy(like).dtype:
        raise CheckpointError(path, f"tensor {name!r} has dtype {array.dtype}, expected {_to_numpy(like).dtype}")
    return array


def _optimizer_state(path: Path, meta: dict, tensors: dict[str, np.ndarray], learner: Learner) -> dict:
    """Rebuild an optimizer state_dict from the file, checking it against the learner's parameters."""
    params = list(learner.qnet.parameters())
    groups = meta["optimizer"]["param_groups"]
    scalars = meta["optimizer"]["scalars"]
    indices = [i for group in groups for i in group["params"]]
    if sorted(indices) != list(range(len(params))):
        raise CheckpointError(path, f"optimizer covers parameters {indices}, the network has {len(params)}")
    state: dict[int, dict[str, Any]] = {}
    expected = set()
    for index, keys in meta["optimizer"]["tensors"].items():
        if not 0 <= int(index) < len(params):
            raise CheckpointError(path, f"optimizer state refers to parameter {index}, the network has {len(params)}")
        for key in keys:
            name = f"optimizer.{index}.{key}"
            expected.add(name)
            array = _check_tensor(path, tensors, name, params[int(index)])
            state.setdefault(int(index), {})[key] = torch.from_numpy(array.copy())
    unexpected = sorted(n for n in tensors if n.startswith("optimizer.") and n not in expected)
    if unexpected:
        raise CheckpointError(path, f"unexpected optimizer tensor(s) {', '.join(unexpected[:5])}")
    for index, entries in scalars.items():
        for key, entry in entries.items():
            value = entry["value"]
            if entry["dtype"] is not None:
                value = torch.tensor(value, dtype=getattr(torch, entry["dtype"].removeprefix("torch.")))
            state.setdefault(int(index), {})[key] = value
    # JSON turned tuples (Adam's betas) into lists.
    param_groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()} for g in groups]
    return {"state": state, "param_groups": param_groups}


def _network_arrays(path: Path, meta: dict, tensors: dict[str, np.ndarray],
                    learner: Learner) -> dict[str, dict[str, torch.Tensor]]:
    """The three networks' tensors from the file, checked against ``learner`` (arch, image size, shapes)."""
    if meta["arch"] != learner.qnet.arch:
        raise CheckpointError(path, f"checkpoint is for arch {meta['arch']!r}, the learner is {learner.qnet.arch!r}")
    if meta["image_size"] != learner.qnet.image_size:
        raise CheckpointError(
            path, f"checkpoint is for image size {meta['image_size']}, the learner uses {learner.qnet.image_size}"
        )
    network_states = {}
    for prefix, current in _network_states(learner).items():
        network_states[prefix] = {
            name: torch.from_numpy(_check_tensor(path, tensors, f"{prefix}.{name}", value).copy())
            for name, value in current.items()
        }
    known = {f"{p}.{n}" for p, s in network_states.items() for n in s}
    unexpected = sorted(n for n in tensors if n not in known and not n.startswith("optimizer."))
    if unexpected:
        raise CheckpointError(path, f"unexpected tensor(s) {', '.join(unexpected[:5])}")
    return network_states


def _assign_networks(learner: Learner, network_states: dict[str, dict[str, torch.Tensor]]) -> None:
    learner.qnet.load_state_dict(network_states["online"])
    learner.targets.polyak.load_state_dict(network_states["polyak"])
    learner.targets.lagged.load_state_dict(network_states["lagged"])


def _stored_config(path: Path, meta: dict) -> QTOptConfig | None:
    try:
        return QTOptConfig.model_validate(meta["config"]) if meta.get("config") is not None else None
    except (ValueError, TypeError) as error:  # an invalid stored config (pydantic's ValidationError is a ValueError)
        raise CheckpointError(path, f"malformed metadata: {error}") from None


def read_checkpoint_info(path: str | os.PathLike) -> CheckpointInfo:
    """What a checkpoint holds (arch, image size, step, stored config), without a learner to load it into."""
    path = Path(path)
    meta, _ = _read(path)
    return CheckpointInfo(meta["arch"], meta["image_size"], int(meta["learner_step"]), _stored_config(path, meta))


def load_checkpoint(path: str | os.PathLike, learner: Learner) -> CheckpointInfo:
    """Restore ``learner`` in place from ``path``; CheckpointError names the file and the problem.

    Everything is validated before anything is assigned.
    """
    path = Path(path)
    meta, tensors = _read(path)
    network_states = _network_arrays(path, meta, tensors, learner)
    try:
        optimizer_state = _optimizer_state(path, meta, tensors, learner)
    except CheckpointError:
        raise
    except Exception as error:  # malformed JSON structure
        raise CheckpointError(path, f"malformed metadata: {error}") from None
    config = _stored_config(path, meta)

    _assign_networks(learner, network_states)
    learner.optimizer.load_state_dict(optimizer_state)
    learner.step_count = int(meta["learner_step"])
    learner.targets.polyak_tau = float(meta["polyak_tau"])
    learner.targets.lagged_period = int(meta["lagged_period"])
    return CheckpointInfo(meta["arch"], meta["image_size"], int(meta["learner_step"]), config)


def load_networks(path: str | os.PathLike, learner: Learner) -> CheckpointInfo:
    """Only the networks (online and both targets) from ``path`` into ``learner``: its step count,
    optimizer and target settings stay as they are (a warm start). Validated before anything is assigned."""
    path = Path(path)
    meta, tensors = _read(path)
    network_states = _network_arrays(path, meta, tensors, learner)
    config = _stored_config(path, meta)
    _assign_networks(learner, network_states)
    return CheckpointInfo(meta["arch"], meta["image_size"], int(meta["learner_step"]), config)


def learner_from_checkpoint(path: str | os.PathLike) -> tuple[Learner, CheckpointInfo]:
    """Build a learner from the config stored in the checkpoint, then restore it."""
    path = Path(path)
    meta, _ = _read(path)
    if meta.get("config") is None:
        raise CheckpointError(path, "checkpoint has no stored config; build a Learner and use load_checkpoint")
    try:
        config = QTOptConfig.model_validate(meta["config"])
    except Exception as error:
        raise CheckpointError(path, f"stored config is invalid: {error}") from None
    # The initial weights are overwritten by the load, so their seed does not matter.
    learner = Learner.from_config(config, np.random.default_rng(0))
    return learner, load_checkpoint(path, learner)
