"""Writing files other processes may read: atomic replaces, an inter-process lock, cleanup after
killed writers, and caches that degrade instead of failing.

Every shared write of neurontest (the caches under `cache_root()`, baselines, reports) goes
through `write_atomic`: the content goes to a temp file `.<name>.<random>.tmp` in the same folder,
which is renamed over the target only once complete, so a reader (or a crash, or kill -9) sees the
old file or the new one, never half of one. A writer holds an flock on its temp file while
writing; `remove_abandoned_temps` deletes only temp files nobody holds, i.e. leftovers of killed
writers, and is safe to run while other processes write.

Caches never fail a run: `write_cache_entry` turns an unwritable cache (read-only, full,
no permission) into one `CacheWarning` per cache folder and process, and skips later writes there;
`drop_cache_entry` deletes an entry that failed validation, with a warning, so it is recomputed.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Union

from neurontest.engine.store.paths import cache_root

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locks; temp files are cleaned by age only
    fcntl = None  # type: ignore[assignment]

TEMP_SUFFIX = ".tmp"
# Without flock (Windows) a temp file is presumed abandoned only after an hour.
_AGE_WITHOUT_LOCKS_S = 3600.0

Content = Union[bytes, str, Callable[[BinaryIO], None]]

_unwritable: set[Path] = set()  # cache folders this process could not write to
_dropped: set[Path] = set()  # cache entries this process already warned about
_swept: set[Path] = set()  # folders this process already cleaned of abandoned temp files


class CacheWarning(UserWarning):
    """A cache entry was dropped as corrupt, or a cache folder could not be written."""


def write_atomic(path: Path | str, content: Content, *, durable: bool = False,
                 clean_leftovers: bool = False) -> Path:
    """Write `content` (bytes, UTF-8 text, or a function writing to a binary handle) to `path`
    through a temp file in the same folder and `os.replace`; returns `path`.

    `durable` also fsyncs before the rename (files people keep: baselines, reports);
    `clean_leftovers` first removes abandoned temp files of this same target. The parent folder is
    created; the file gets the usual permissions (umask), not mkstemp's 0600. Raises OSError.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean_leftovers:
        remove_abandoned_temps(path.parent, prefix=f".{path.name}.")
    fd, tmp = _held_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(content):
                content(handle)
            else:
                handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            # Renamed while still open, so still locked: a cleaner never takes it for abandoned.
            os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):  # keep the original error
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_abandoned_temps(folder: Path | str, prefix: str = ".") -> int:
    """Delete the temp files of killed writers (`<prefix>*.tmp` that no writer holds) in `folder`;
    returns how many. Missing folders and files that vanish or cannot be removed are skipped:
    this is housekeeping, never an error."""
    folder = Path(folder)
    removed = 0
    try:
        candidates = list(folder.glob(f"{prefix}*{TEMP_SUFFIX}"))
    except OSError:
        return 0
    for candidate in candidates:
        try:
            if candidate.is_file() and _remove_if_abandoned(candidate):
                removed += 1
        except OSError:
            continue
    return removed


def sweep_once(folder: Path | str) -> None:
    """`remove_abandoned_temps(folder)`, the first time this process asks for that folder."""
    folder = Path(folder)
    if folder not in _swept:
        _swept.add(folder)
        remove_abandoned_temps(folder)


@contextmanager
def locked(lock_file: Path | str) -> Iterator[bool]:
    """Hold an exclusive inter-process lock (flock on `lock_file`, created if need be) for the
    block; yields True if held. Yields False, and runs the block unlocked, where the lock cannot
    be taken: a read-only or full folder (nothing can be written there anyway) or no flock."""
    lock_file = Path(lock_file)
    handle = None
    if fcntl is not None:
        try:
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_file, "a")  # noqa: SIM115 - closed below, which releases the lock
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:
            if handle is not None:
                handle.close()
            handle = None
    try:
        yield handle is not None
    finally:
        if handle is not None:
            handle.close()


def write_cache_entry(path: Path | str, content: Content) -> bool:
    """`write_atomic` for a cache entry: True if written. A cache folder that cannot be written
    (read-only, full, no permission) costs one `CacheWarning` per process, and later writes there
    are skipped: the run goes on without caching. The folder's abandoned temp files are removed
    before the first write there."""
    path = Path(path)
    if _cache_folder_of(path) in _unwritable:
        return False
    sweep_once(path.parent)
    try:
        write_atomic(path, content)
    except OSError as exc:
        cache_unwritable(path, exc)
        return False
    return True


def cache_unwritable(path: Path | str, exc: OSError) -> None:
    """Note that the cache holding `path` (an entry or folder) cannot be written, warning once
    per process."""
    root = _cache_folder_of(Path(path))
    if root in _unwritable:
        return
    _unwritable.add(root)
    reason = exc.strerror or str(exc) or type(exc).__name__
    warnings.warn(
        f"neurontest: cannot write to the cache {root} ({reason}); running without caching "
        f"there for this session: free space or fix its permissions, or set NEURONTEST_CACHE_DIR "
        f"to a writable folder", CacheWarning, stacklevel=3)


def cache_writable(path: Path | str) -> bool:
    """False once this process found the cache folder holding `path` unwritable."""
    return _cache_folder_of(Path(path)) not in _unwritable


def drop_cache_entry(path: Path | str, problem: str) -> None:
    """Delete a cache entry that failed validation (so it is recomputed), with one warning."""
    path = Path(path)
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache: it is recomputed in memory each time instead
    if path in _dropped:
        return
    _dropped.add(path)
    warnings.warn(f"neurontest: dropped the corrupt cache entry {path} ({problem}); recomputing it",
                  CacheWarning, stacklevel=3)


def read_json_entry(path: Path | str) -> object | None:
    """The JSON value of a cache entry, or None if it is absent or unreadable; an entry that is not
    JSON is dropped with a warning (so it is recomputed)."""
    import json

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        drop_cache_entry(path, f"not JSON: {exc}")
        return None


def read_torch_entry(path: Path | str) -> object | None:
    """The object of a `torch.save`d cache entry (weights only), or None if it is absent; an
    unreadable entry is dropped with a warning (so it is recomputed)."""
    import torch

    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None  # another process dropped it a moment ago
    except Exception as exc:  # noqa: BLE001 - any unreadable entry is simply recomputed
        drop_cache_entry(path, f"unreadable: {type(exc).__name__}")
        return None


def _cache_folder_of(path: Path) -> Path:
    """The cache root holding `path` (the unit a failed write disables), else `path`'s folder."""
    root = cache_root()
    try:
        path.relative_to(root)
    except ValueError:
        return path.parent
    return root


def _held_temp(path: Path) -> tuple[int, str]:
    """A new temp file beside `path`, open and flocked by this process until closed. A cleaner
    may delete it between its creation and the lock (it looked abandoned): then the lock is
    taken on an unlinked file, which is noticed and a new one made."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits out a cleaner that is checking this very file
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp
        os.close(fd)


def _remove_if_abandoned(temp: Path) -> bool:
    """Delete `temp` if no writer holds it (its writer was killed); True if deleted."""
    if fcntl is None:
        if time.time() - temp.stat().st_mtime <= _AGE_WITHOUT_LOCKS_S:
            return False
        temp.unlink()
        return True
    with open(temp, "rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live writer holds it
        temp.unlink()  # under our lock: a writer that raced us sees the unlink and retries
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
