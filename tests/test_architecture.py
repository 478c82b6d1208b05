"""The house: each room imports only rooms below it, and no modules import each other in a circle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("workbench", "studies", "randomizers", "scenes", "policies")


def lint_imports(config: Path) -> subprocess.CompletedProcess:
    executable = shutil.which("lint-imports") or "lint-imports"
    return subprocess.run([executable, str(config), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True)


def test_import_contracts_hold():
    result = lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_a_broken_contract_fails(tmp_path):
    # The same contracts with two rooms swapped: training's real imports of rollout now run
    # upward, so the check must fail and name them.
    text = (ROOT / "pyproject.toml").read_text()
    swapped = text.replace('"workbench.training",\n    "workbench.rollout",', '"workbench.rollout",\n    "workbench.training",')
    assert swapped != text, "the layers in pyproject.toml changed: update this test"
    config = tmp_path / "pyproject.toml"
    config.write_text(swapped)
    result = lint_imports(config)
    assert result.returncode != 0
    assert "workbench.training is not allowed to import workbench.rollout" in result.stdout


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm over every module-to-module import that runs, imports inside functions included."""
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_through_others():
    # Imports under `if TYPE_CHECKING:` never run: they name types for annotations only.
    assert strongly_connected(grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)) == []


@pytest.mark.parametrize("package", ["workbench"])
def test_workbench_holds_only_rooms_and_two_shared_helpers(package):
    modules = sorted(path.name for path in (ROOT / package).glob("*.py"))
    assert modules == ["__init__.py", "errors.py", "files.py"]
