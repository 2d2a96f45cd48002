"""Shared writes (neurontest.engine.store.files): atomic replaces, the inter-process lock, cleanup after
writers killed with SIGKILL, and caches that degrade to one warning when they cannot be written."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from neurontest.engine.store import files

# A child that starts an atomic write of `target` and blocks halfway until it is killed.
_SLOW_WRITER = """
import sys, time
from neurontest.engine.store.files import write_atomic

def write(handle):
    handle.write(b"half of a file")
    handle.flush()
    print("writing", flush=True)
    time.sleep(600)

write_atomic(sys.argv[1], write, durable=True)
"""


def _start_slow_writer(target: Path) -> subprocess.Popen[str]:
    env = os.environ | {"PYTHONPATH": str(Path(files.__file__).parents[2])}
    child = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(target)], env=env,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "writing"
    return child


def _temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{files.TEMP_SUFFIX}"))


def test_writes_bytes_text_and_streams_and_replaces_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "entry.bin"
    files.write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    files.write_atomic(target, "März\n")
    assert target.read_text(encoding="utf-8") == "März\n"
    files.write_atomic(target, lambda handle: handle.write(b"streamed"), durable=True)
    assert target.read_bytes() == b"streamed"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # not mkstemp's 0600
    assert _temps(target.parent) == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "entry.json"
    files.write_atomic(target, "old")

    def disk_full(handle: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        files.write_atomic(target, disk_full)
    assert target.read_text() == "old" and _temps(tmp_path) == []


def test_kill_9_mid_write_leaves_the_old_file_and_a_temp_the_next_run_removes(tmp_path: Path) -> None:
    target = tmp_path / "baseline.json"
    files.write_atomic(target, "complete\n")
    child = _start_slow_writer(target)
    try:
        (temp,) = _temps(tmp_path)
        # While the writer lives its temp file is locked: a concurrent cleanup keeps it.
        assert files.remove_abandoned_temps(tmp_path) == 0 and temp.exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert target.read_text() == "complete\n"  # the kill left the old file whole
    assert _temps(tmp_path) == [temp]
    assert files.remove_abandoned_temps(tmp_path) == 1
    assert _temps(tmp_path) == [] and target.read_text() == "complete\n"


def test_cleanup_removes_only_unheld_temp_files_with_the_prefix(tmp_path: Path) -> None:
    dead = tmp_path / ".entry.json.abc.tmp"
    dead.write_text("half a file")
    keep = [tmp_path / "entry.json", tmp_path / ".lock", tmp_path / "notes.tmp"]
    for path in keep:
        path.write_text("x")
    assert files.remove_abandoned_temps(tmp_path / "missing") == 0
    assert files.remove_abandoned_temps(tmp_path, prefix=".other.") == 0
    assert files.remove_abandoned_temps(tmp_path, prefix=".entry.json.") == 1
    assert not dead.exists() and all(path.exists() for path in keep)


def test_a_writer_whose_temp_a_cleaner_deleted_starts_a_new_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real_mkstemp = files.tempfile.mkstemp

    def cleaned_before_locked(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real_mkstemp(*args, **kwargs)
        made.append(name)
        if len(made) == 1:  # a cleaner saw the first one unheld, an instant before the lock
            assert files.remove_abandoned_temps(tmp_path) == 1
        return fd, name

    monkeypatch.setattr(files.tempfile, "mkstemp", cleaned_before_locked)
    files.write_atomic(tmp_path / "entry.json", "whole")
    assert len(made) == 2 and (tmp_path / "entry.json").read_text() == "whole"
    assert _temps(tmp_path) == []


def test_clean_leftovers_removes_the_dead_temps_of_that_file_before_writing(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    dead = tmp_path / ".report.html.x1.tmp"
    other = tmp_path / ".other.html.x2.tmp"
    for path in (dead, other):
        path.write_text("half")
    files.write_atomic(target, "<html>", clean_leftovers=True)
    assert not dead.exists() and other.exists() and target.read_text() == "<html>"


def test_the_lock_excludes_other_processes(tmp_path: Path) -> None:
    lock = tmp_path / "deep" / ".lock"
    probe = textwrap.dedent(f"""
        import fcntl, sys
        with open({str(lock)!r}, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                sys.exit(3)
    """)
    with files.locked(lock) as held:
        assert held
        assert subprocess.run([sys.executable, "-c", probe]).returncode == 3
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0


def test_an_unusable_lock_runs_the_block_unlocked(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    ran = []
    with files.locked(blocker / ".lock") as held:  # its folder cannot be created
        ran.append(held)
    assert ran == [False]


def test_an_unwritable_cache_warns_once_and_skips_later_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "cache"
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(root))
    calls = []

    def read_only(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise OSError(errno.EROFS, "Read-only file system")

    original = files.write_atomic
    monkeypatch.setattr(files, "write_atomic", read_only)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert files.write_cache_entry(root / "results" / "a.json", "{}") is False
        assert files.write_cache_entry(root / "prep" / "b.json", "{}") is False
        files.cache_unwritable(root / "models", OSError(errno.EROFS, "Read-only file system"))
    assert len(calls) == 1  # the second write was not even tried
    (warning,) = [w for w in caught if issubclass(w.category, files.CacheWarning)]
    assert "Read-only file system" in str(warning.message) and str(root) in str(warning.message)
    assert not files.cache_writable(root / "activations" / "x.pt")
    # Another cache folder (a new NEURONTEST_CACHE_DIR) is tried afresh.
    monkeypatch.setattr(files, "write_atomic", original)
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path / "other"))
    assert files.write_cache_entry(tmp_path / "other" / "c.json", "{}") is True


def test_a_dropped_entry_is_deleted_with_one_warning(tmp_path: Path) -> None:
    entry = tmp_path / "claim-k.json"
    entry.write_text("{broken")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files.drop_cache_entry(entry, "not JSON")
        files.drop_cache_entry(entry, "not JSON")
    assert not entry.exists()
    assert [str(w.message) for w in caught] == [
        f"neurontest: dropped the corrupt cache entry {entry} (not JSON); recomputing it"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_first_cache_write_in_a_folder_removes_killed_writers_temps(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "results"
    folder.mkdir()
    dead = folder / ".claim-a.json.x1.tmp"
    dead.write_text("half")
    assert files.write_cache_entry(folder / "claim-b.json", "{}")
    assert not dead.exists() and (folder / "claim-b.json").read_text() == "{}"
