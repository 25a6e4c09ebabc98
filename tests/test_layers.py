"""The house's import rules (pyproject's ``[tool.importlinter]``) hold, and break loudly when a cycle
or an upward import is introduced.

The contracts: ``store`` ← ``tools`` ← ``agent`` ← ``evals`` ← ``workers`` ← ``autointerp``; nothing
imports the benchmarks; no import cycles between the modules and subpackages of any package; and
inside ``tools/`` the catalogue, the executor seam, the rooms and the runtime in that order.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("store", "tools", "agent", "evals", "workers", "autointerp")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the packages under ``root`` with the project's contracts."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def copy_of_the_house(tmp_path: Path) -> Path:
    """The project's packages (Python files only) and pyproject.toml, copied to a scratch folder."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_import_contracts_hold() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "broken" not in run.stdout.lower().replace("0 broken", "")


def test_an_upward_import_breaks_the_layers(copy_of_the_house: Path) -> None:
    registry = copy_of_the_house / "tools" / "registry.py"
    registry.write_text(registry.read_text() + "\nimport agent.graph  # deliberately against the layers\n")
    run = lint_imports(copy_of_the_house)
    assert run.returncode != 0
    assert "tools.registry -> agent.graph" in run.stdout, run.stdout


def test_a_cycle_inside_a_package_is_named(copy_of_the_house: Path) -> None:
    # tools.runtime.addresses is imported by the adapters; importing an adapter back closes a cycle.
    addresses = copy_of_the_house / "tools" / "runtime" / "addresses.py"
    addresses.write_text(addresses.read_text() + "\nimport tools.runtime.adapters.llama  # deliberate cycle\n")
    run = lint_imports(copy_of_the_house)
    assert run.returncode != 0
    assert "No cycles are allowed in tools.runtime" in run.stdout, run.stdout
