"""Test support for the transfer tests: a tiny run directory with an untrained Q-network.

Same layout as `workbench train` writes (workbench.training.config.RunPaths): config.json (the
PipelineConfig, training profile included) and checkpoint.safetensors (policies'
checkpoint format), so the code under test loads it like a trained run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from policies.qtopt.checkpoint import save_checkpoint
from policies.qtopt.config import QTOptConfig
from policies.qtopt.learner import Learner
from workbench.training.config import PipelineConfig, RunPaths


def make_tiny_run(path: Path, image_size: int = 32, profile: str = "none", seed: int = 0,
                  arch: str = "fast") -> Path:
    paths = RunPaths(path)
    paths.root.mkdir(parents=True)
    qtopt = QTOptConfig(image_size=image_size, arch=arch)
    learner = Learner.from_config(qtopt, np.random.default_rng(seed))
    save_checkpoint(paths.checkpoint, learner, qtopt)
    paths.config.write_text(PipelineConfig(seed=seed, profile=profile, qtopt=qtopt).model_dump_json(indent=2))
    return paths.root


@pytest.fixture(scope="module")
def suite_cache(tmp_path_factory):
    """Suite profiles and held-out photographs go to a temporary cache, not ~/.cache."""
    patch = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("workbench-cache")
    patch.setenv("WORKBENCH_CACHE", str(path))
    yield path
    patch.undo()
