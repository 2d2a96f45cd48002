"""The escape hatch: a predicate written in Python.

    def year_digit(ids, position, vocab) -> bool: ...      # in hypotheses/my_predicates.py
    fires_on: {python: "my_predicates:year_digit"}         # in a hypothesis file beside it

The function gets one text's scorable token ids (no BOS, no padding), the position to decide,
and the `Vocabulary` (`vocab.strings[i]` is token i's text). It is called once per corpus
position, so keep it cheap.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from neurontest.claims.predicates.core import Predicate
from neurontest.engine.data.vocabulary import Vocabulary

if TYPE_CHECKING:

    from neurontest.engine.data.tokens import TokenBatch

PredicateFunction = Callable[[Sequence[int], int, Vocabulary], bool]


@dataclass(frozen=True)
class PythonPredicate(Predicate):
    """`function(ids, position, vocab)` is true at the position; `name` says which function.

    The repr carries a fingerprint of the function's source file and closure instead of its
    memory address: remembered claim results are keyed by it, so editing the function (or a
    helper in its file) runs the claim again."""

    function: PredicateFunction = field(repr=False)
    name: str
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", source_fingerprint(self.function))

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        out = torch.zeros_like(batch.mask)
        for row, (tokens, scorable) in enumerate(zip(batch.tokens.tolist(), batch.mask.tolist())):
            places = [p for p, keep in enumerate(scorable) if keep]
            ids = [tokens[p] for p in places]
            for i, p in enumerate(places):
                out[row, p] = bool(self.function(ids, i, vocab))
        return out

    def describe(self) -> str:
        return f"python predicate {self.name}"


def source_fingerprint(function: PredicateFunction) -> str:
    """A hash of the function's module source, its name and its closure's values."""
    parts = [getattr(function, "__qualname__", repr(type(function)))]
    try:
        parts.append(inspect.getsource(sys.modules[function.__module__]))
    except (AttributeError, KeyError, OSError, TypeError):
        code = getattr(function, "__code__", None)
        parts.append(repr((code.co_code, code.co_consts)) if code is not None else "")
    for cell in getattr(function, "__closure__", None) or ():
        try:
            parts.append(repr(cell.cell_contents))
        except ValueError:  # an empty cell
            parts.append("<empty>")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def python_predicate(reference: str, base_dir: Path | None) -> PythonPredicate:
    """The predicate named `module:function`: the module is `module.py` in `base_dir` (the
    hypothesis file's folder) if there is one, else an importable module."""
    module_name, _, function_name = reference.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"{reference!r} is not 'module:function', e.g. 'my_predicates:is_year'")
    module = _load_module(module_name, base_dir)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"module {module_name!r} has no function {function_name!r}; define "
                         f"`def {function_name}(ids, position, vocab) -> bool` there")
    return PythonPredicate(function, reference)


def _load_module(name: str, base_dir: Path | None) -> object:
    beside = base_dir / (name.replace(".", "/") + ".py") if base_dir is not None else None
    if beside is not None and beside.is_file():
        key = f"neurontest_predicates.{beside.resolve()}"
        if key not in sys.modules:  # one module object per file: its functions stay hashable-equal
            spec = importlib.util.spec_from_file_location(key, beside)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[key]
                raise ValueError(f"importing {beside} failed: {type(exc).__name__}: {exc}") from None
        return sys.modules[key]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        where = f"no {name}.py beside the hypothesis file ({base_dir}) and " if base_dir else ""
        raise ValueError(f"{where}cannot import module {name!r}: {exc}; put {name}.py next to the "
                         f"hypothesis file or on sys.path") from None
