"""The robot-side modules import neither torch nor the simulator nor the rest of the workbench."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_MODULES = ("policies.runtime.policy", "policies.runtime.bundle", "policies.runtime.preprocess", "policies.runtime.safety",
                   "policies.runtime.robot_action", "policies.runtime.safetensors_numpy", "policies.runtime.protocol",
                   "policies.runtime.client", "policies.runtime.server", "policies.runtime.spec",
                   "policies.runtime.cem", "policies.runtime.files", "policies.server")
FORBIDDEN = {"torch", "mujoco", "gymnasium", "workbench", "scenes", "randomizers", "studies", "pydantic",
             "safetensors", "onnx"}


def test_runtime_needs_only_numpy_onnxruntime_msgpack_and_websockets():
    probe = (f"import {', '.join(RUNTIME_MODULES)}\nimport sys\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    modules = set(result.stdout.split())
    assert {"numpy", "onnxruntime", "msgpack", "websockets"} <= modules
    assert not modules & FORBIDDEN, modules & FORBIDDEN
