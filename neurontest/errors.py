"""Exceptions a user can act on. Each message is one line that names the fix.

Every error neurontest raises on purpose derives from `NeurontestError`, so the pytest layer
shows any of them as its one line, at collection and at run time, with no traceback.
"""

from __future__ import annotations


class NeurontestError(Exception):
    """Base class: anything neurontest raises on purpose."""


class YamlInputError(NeurontestError, ValueError):
    """A YAML input problem at `line` (1-based, None when the whole file is at fault)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return self.message


class ModelUnavailableError(NeurontestError):
    """A model cannot be loaded (no network, no local copy, missing embedded wheel)."""


class CorpusUnavailableError(NeurontestError):
    """A corpus cannot be read or is empty."""


class DeviceMemoryError(NeurontestError):
    """A forward pass does not fit on the device even one row at a time."""


class HypothesisFileError(NeurontestError):
    """A hypothesis file is malformed; the message names the file, the line and the fix."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(where + message)


class NeurontestLoadError(NeurontestError):
    """A model or corpus for a hypothesis file could not be loaded (message is the fix)."""


class MiningFailedError(NeurontestError):
    """Part of a mining pass failed for good (a shard kept failing on the Ray pool); nothing of
    the pass was written to the cache."""


class ModelMismatchError(NeurontestError):
    """A worker loaded a model whose fingerprint differs from the driver's."""


class TokenizerMismatchError(NeurontestError):
    """Two models read different token ids, so their units cannot be matched token by token."""


class ReportPathError(NeurontestError, ValueError):
    """The report cannot be written where asked (the message names the option and the fix)."""


class ClaimFailed(NeurontestError):
    """A claim did not hold; carries the measured evidence for the failure report."""

    def __init__(self, message: str, *, evidence: object | None = None) -> None:
        self.evidence = evidence
        super().__init__(message)
