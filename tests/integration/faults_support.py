"""Pieces shared by the fault tests: a hypothesis file on the planted model, running pytest in
child processes, reading their JUnit outcomes, and a conftest that injects faults into a child.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from .planted_yaml import HEADER, MONTH_NEURON, MONTH_TEXT_CLAIMS

# Claims that use every cache: activations (activation, top_examples), the prepared corpus and
# vocabulary (every claim), remembered results (all of them are deterministic).
CLAIMS = HEADER + textwrap.dedent(MONTH_NEURON + """\
      - kind: activation
        f1: ">= 0.99"
      - kind: top_examples
        k: 10
        share: ">= 1.0"
""" + MONTH_TEXT_CLAIMS + """\
  - id: L1N9
    fires_on: {tokens: [good]}
    threshold: 1.0
    claims:
      - kind: activation
        recall: ">= 0.3"
""")
N_CLAIMS = 6

# Loaded by the child pytest runs of the fault tests (pytester's conftest.py); each fault is
# switched on by an environment variable, so the same file serves every test.
FAULTS_CONFTEST = '''
import builtins, errno, io, os, time

MINING_LOG = os.environ.get("FAULTS_MINING_LOG")
BLOCK_FSYNC = os.environ.get("FAULTS_BLOCK_FSYNC")
READ_ONLY = os.environ.get("FAULTS_READ_ONLY")


def pytest_configure(config):
    if MINING_LOG:  # count mining passes (one line per pass, from every process)
        import neurontest.engine.run.activation_cache as cache

        real = cache.neuron_activations

        def counted(model, batch, neurons, **kwargs):
            with open(MINING_LOG, "a") as log:
                log.write(f"{os.getpid()} {len(neurons)}\\n")
            return real(model, batch, neurons, **kwargs)

        cache.neuron_activations = counted
    if BLOCK_FSYNC:  # the first durable write (baseline, report) hangs there, to be killed
        def hang(fd):
            open(BLOCK_FSYNC, "w").close()
            time.sleep(600)

        os.fsync = hang
    if READ_ONLY:  # every write under READ_ONLY fails as on a read-only file system
        _read_only(os.path.realpath(READ_ONLY))


def _read_only(root):
    def inside(path):
        try:
            real = os.path.realpath(os.fspath(path))
            return real == root or real.startswith(root + os.sep)
        except TypeError:
            return False

    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))

    def guard(real, is_write):
        def guarded(path, *args, **kwargs):
            if inside(path) and is_write(*args, **kwargs):
                refuse(path)
            return real(path, *args, **kwargs)
        return guarded

    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    os.open = guard(os.open, lambda flags, *a, **k: bool(flags & writes))
    mode_writes = lambda mode="r", *a, **k: any(c in mode for c in "wax+")
    builtins.open = io.open = guard(io.open, mode_writes)
    for name in ("mkdir", "unlink", "remove", "rmdir"):
        setattr(os, name, guard(getattr(os, name), lambda *a, **k: True))
    for name in ("replace", "rename"):
        real = getattr(os, name)
        setattr(os, name, lambda src, dst, *a, _real=real, **k: refuse(dst) if inside(dst) or inside(src) else _real(src, dst, *a, **k))
'''


def start_pytest(folder: Path, name: str, *args: str, **env: str) -> subprocess.Popen[str]:
    """A child `pytest` run in `folder`, writing `<name>.xml` (JUnit) there."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
               f"--junitxml={folder / (name + '.xml')}", *args]
    return subprocess.Popen(command, cwd=folder, env=os.environ | env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(child: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str]:
    """Wait for a child run; its exit code and output."""
    output, _ = child.communicate(timeout=timeout)
    return child.returncode, output


def outcomes(junit: Path) -> dict[str, str]:
    """Test id -> outcome, from a JUnit XML report."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return out


def temp_files(folder: Path) -> list[Path]:
    """Temp files of atomic writes under `folder` (none should outlive a run)."""
    return sorted(p for p in folder.rglob(".*.tmp"))
