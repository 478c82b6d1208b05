"""QT-Opt learning core: Q-networks, CEM, replay, Bellman targets, learner, checkpoints.

Arrays in, arrays out; never imports MuJoCo, gymnasium or the other workbench packages.

Names are exported lazily (PEP 562), so ``import policies.cem`` or ``policies.spec``
does not pull in torch: the exported runtime needs only numpy and onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ACTION_DIM": "policies.spec",
    "STATE_DIM": "policies.spec",
    "ActionSpec": "policies.spec",
    "CEMConfig": "policies.cem",
    "CEMResult": "policies.cem",
    "cem_maximize": "policies.cem",
    "cem_select": "policies.action_selection",
    "QNetwork": "policies.qnet",
    "build_qnet": "policies.qnet",
    "Transitions": "policies.batches",
    "LabelledBatch": "policies.batches",
    "TargetNetworks": "policies.targets",
    "clipped_bellman_targets": "policies.targets",
    "BellmanUpdater": "policies.bellman",
    "FORMAT_VERSION": "policies.replay",
    "Episode": "policies.replay",
    "ReplayFormatError": "policies.replay",
    "write_episode": "policies.replay",
    "read_episode": "policies.replay",
    "OfflineStore": "policies.replay",
    "OnlineBuffer": "policies.replay",
    "ReplayMixer": "policies.replay",
    "Learner": "policies.learner",
    "LearnerMetrics": "policies.learner",
    "CheckpointError": "policies.checkpoint",
    "CheckpointInfo": "policies.checkpoint",
    "save_checkpoint": "policies.checkpoint",
    "load_checkpoint": "policies.checkpoint",
    "learner_from_checkpoint": "policies.checkpoint",
    "QTOptConfig": "policies.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'policies' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
