"""policies/ stays below the rest of the workbench, and its runtime half stays torch-free."""

import re
import subprocess
import sys
from pathlib import Path

import policies

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("mujoco", "gymnasium", "workbench", "scenes", "randomizers", "studies")


def imported_top_level_modules(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_policies_never_imports_the_simulator_or_higher_packages():
    names = ", ".join(policies.__all__)
    modules = imported_top_level_modules(f"from policies import {names}\nimport policies.checkpoint, policies.bench")
    assert "torch" in modules  # the probe really loaded everything
    assert not modules & set(FORBIDDEN)


def test_spec_and_cem_import_without_torch_or_pydantic():
    modules = imported_top_level_modules("import policies.spec, policies.cem")
    assert "torch" not in modules and "pydantic" not in modules


def test_nothing_in_policies_can_load_a_pickle():
    # safetensors.numpy.load is fine (no pickle); numpy's own np.load / torch.load are not.
    unsafe = re.compile(r"import pickle|torch\.load\(|(?<!safetensors\.)\b(np|numpy)\.load\(|allow_pickle=True")
    for path in (ROOT / "policies").glob("*.py"):
        match = unsafe.search(path.read_text())
        assert match is None, f"{path.name} contains {match.group(0)!r}"
