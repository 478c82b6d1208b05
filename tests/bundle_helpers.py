"""Tiny untrained training runs and their bundles, for the export, runtime and server tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def make_run(directory: Path, arch: str = "fast", image_size: int = 64, seed: int = 0) -> Path:
    """A run directory as workbench.training.train writes it: config.json + checkpoint.safetensors (untrained)."""
    from policies.qtopt.checkpoint import save_checkpoint
    from policies.qtopt.config import QTOptConfig
    from policies.qtopt.learner import Learner
    from policies.runtime.cem import CEMConfig
    from workbench.training.config import PipelineConfig

    torch.set_num_threads(1)
    # Acting with the paper's 2 x 64: an untrained network scores many actions within float error
    # of each other, and with wider searches onnxruntime and torch then break such ties apart.
    qtopt = QTOptConfig(arch=arch, image_size=image_size, cem=CEMConfig(iterations=1, samples=32, elites=4),
                        act_cem=CEMConfig())
    config = PipelineConfig(seed=seed, scene="bin_grasp", profile="none", qtopt=qtopt, offline_steps=0,
                            finetune_steps=0)
    learner = Learner.from_config(config.qtopt, np.random.default_rng([seed, 100]))
    directory.mkdir(parents=True, exist_ok=True)
    save_checkpoint(directory / "checkpoint.safetensors", learner, config.qtopt)
    (directory / "config.json").write_text(config.model_dump_json(indent=2))
    return directory


def export(run: Path, out: Path) -> Path:
    from workbench.deploy.export import export_run

    export_run(run, out)
    return out


def rewrite_manifest(bundle: Path, change, reseal: bool = False) -> None:
    """Edit the manifest; ``reseal`` recomputes its integrity digest, as a forger without the
    signing key could (the edit then passes the digest and must be caught by what follows it)."""
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    if reseal:
        from policies.runtime.integrity import INTEGRITY_KEY, seal

        manifest[INTEGRITY_KEY] = seal(manifest)
    path.write_text(json.dumps(manifest))


def observation(bundle, image: np.ndarray | None = None, timestamp: float = 100.0) -> dict:
    low, high = np.asarray(bundle.safety.workspace_low), np.asarray(bundle.safety.workspace_high)
    if image is None:
        image = np.full((bundle.image.height, bundle.image.width, 3), 128, np.uint8)
    return {"image": image, "gripper_closed": 0.0, "height": 0.2, "tool_position": (low + high) / 2,
            "timestamp": timestamp}


def act_message_parts(bundle, image: np.ndarray) -> dict:
    """An `act` request for the policy server with this image and an otherwise valid observation."""
    import time

    from policies.runtime.protocol import encode_array

    obs = observation(bundle, image=image, timestamp=time.monotonic())
    wire = {"image": encode_array(obs["image"]), "gripper_closed": 0.0, "height": 0.2,
            "tool_position": [float(v) for v in obs["tool_position"]], "timestamp": obs["timestamp"]}
    return {"type": "act", "id": 1, "observation": wire, "now": time.monotonic()}
