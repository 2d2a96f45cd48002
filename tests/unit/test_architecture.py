"""The layering written in pyproject.toml's import-linter contracts holds: no upward import, no
import cycle between modules (README, "How it is built"); and ruff finds no real defect."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _lint_imports() -> list[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return [exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"]


def test_import_contracts_are_kept() -> None:
    out = subprocess.run(_lint_imports(), cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(("module", "upward", "broken"), [
    # engine -> the pytest layer
    (("engine", "store", "paths.py"), "from neurontest.plugin import session_key",
     "neurontest.engine.store.paths -> neurontest.plugin"),
    # inside the engine: a unit reaching up into the mining pass
    (("engine", "units", "neuron.py"), "from neurontest.engine.run.activations import neuron_activations",
     "neurontest.engine.units.neuron -> neurontest.engine.run.activations"),
])
def test_an_upward_import_breaks_the_contracts(tmp_path: Path, module: tuple[str, ...], upward: str,
                                               broken: str) -> None:
    # The contracts must be able to fail: copy the package, add one upward import.
    shutil.copytree(ROOT / "neurontest", tmp_path / "neurontest")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path.joinpath("neurontest", *module), "a", encoding="utf-8") as f:
        f.write(f"\n\ndef _upward():\n    {upward}  # noqa: F401\n")
    out = subprocess.run(_lint_imports()[:1] + ["--config", str(tmp_path / "pyproject.toml"),
                                                "--no-cache"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert broken in out.stdout


def test_ruff_finds_no_defects() -> None:
    # pyproject's [tool.ruff.lint] selects pyflakes and syntax errors only: unused imports,
    # undefined names, redefinitions. Style stays a matter for review.
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    out = subprocess.run([exe, "check", "neurontest", "tests", "hypotheses"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _imported_modules(path: Path) -> set[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_lab_imports_nothing_from_claims_even_for_typing() -> None:
    # The contracts skip `if TYPE_CHECKING:` imports; the lab must not name claim types at all:
    # claims run on it through neurontest.claims.runner.ClaimRunner.
    upward = ("neurontest.claims", "neurontest.format", "neurontest.perturb", "neurontest.plugin",
              "neurontest.report")
    found = sorted(m for m in _imported_modules(ROOT / "neurontest" / "lab.py") if m.startswith(upward))
    assert found == []


def test_no_typing_import_goes_up_a_layer() -> None:
    # import-linter ignores `if TYPE_CHECKING:` imports (pyproject); check them here against the
    # same layer order, so a type-only upward import cannot hide a design cycle.
    import tomllib

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    rank = {name.strip(): i for i, layer in enumerate(layers) for name in layer.split("|")}

    def layer_of(module: str) -> int | None:
        parts = module.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in rank:
                return rank[".".join(parts[:n])]
        return None

    upward = []
    for path in sorted((ROOT / "neurontest").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        own = layer_of(module)
        for imported in _imported_modules(path):
            other = layer_of(imported)
            if own is not None and other is not None and other < own:
                upward.append(f"{module} -> {imported}")
    assert upward == []


def test_no_module_cycle_even_through_imports_inside_functions() -> None:
    # acyclic_siblings checks packages; here every module edge counts, in-function imports too
    # (grimp reads them all), so two modules importing each other lazily still fail.
    import grimp

    graph = grimp.build_graph("neurontest", cache_dir=None)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []


def test_every_public_error_class_lives_in_errors_py() -> None:
    # One home for what users catch (issue 22). Control flow (a BaseException that stops a
    # search, a private `_Stop`) is not an error a user sees, and may stay where it is used.
    import ast

    strays = []
    for path in (ROOT / "neurontest").rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and any(
                    getattr(base, "id", getattr(base, "attr", "")).endswith(("Error", "Exception"))
                    and getattr(base, "id", "") != "BaseException" for base in node.bases):
                strays.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not strays, strays
