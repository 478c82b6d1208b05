"""policies/ stays below the rest of the workbench, and its runtime half stays torch-free."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("mujoco", "gymnasium", "workbench", "scenes", "randomizers", "studies")


def imported_top_level_modules(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def all_policies_modules() -> list[str]:
    return sorted(".".join(path.relative_to(ROOT).with_suffix("").parts)
                  for path in (ROOT / "policies").rglob("*.py") if path.name != "__init__.py")


def test_policies_never_imports_the_simulator_or_higher_packages():
    modules = imported_top_level_modules("import " + ", ".join(all_policies_modules()))
    assert "torch" in modules  # the probe really loaded everything
    assert not modules & set(FORBIDDEN)


def test_spec_and_cem_import_without_torch_or_pydantic():
    modules = imported_top_level_modules("import policies.runtime.spec, policies.runtime.cem")
    assert "torch" not in modules and "pydantic" not in modules


def test_nothing_in_policies_can_load_a_pickle():
    # safetensors.numpy.load is fine (no pickle); numpy's own np.load / torch.load are not.
    unsafe = re.compile(r"import pickle|torch\.load\(|(?<!safetensors\.)\b(np|numpy)\.load\(|allow_pickle=True")
    for path in (ROOT / "policies").rglob("*.py"):
        match = unsafe.search(path.read_text())
        assert match is None, f"{path.name} contains {match.group(0)!r}"
