"""The layering written in pyproject.toml's import-linter contracts holds: no upward import, no
import cycle between modules (README, "How it is built"); and ruff finds no real defect."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _lint_imports() -> list[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return [exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"]


def test_import_contracts_are_kept() -> None:
    out = subprocess.run(_lint_imports(), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    # The contract must be able to fail: copy the package, add one engine -> pytest-layer import.
    shutil.copytree(ROOT / "neurontest", tmp_path / "neurontest")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "neurontest" / "engine" / "paths.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _upward():\n    from neurontest.plugin import session_key  # noqa: F401\n")
    out = subprocess.run(_lint_imports()[:1] + ["--config", str(tmp_path / "pyproject.toml"),
                                                "--no-cache"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "neurontest.engine.paths -> neurontest.plugin" in out.stdout


def test_ruff_finds_no_defects() -> None:
    # pyproject's [tool.ruff.lint] selects pyflakes and syntax errors only: unused imports,
    # undefined names, redefinitions. Style stays a matter for review.
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    out = subprocess.run([exe, "check", "neurontest", "tests", "hypotheses"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
