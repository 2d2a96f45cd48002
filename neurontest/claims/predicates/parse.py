"""The YAML form of predicates: `predicate_from_dict` turns a mapping into a predicate, using
every key or raising a ValueError that starts with the key's path and says the fix.

A mapping has exactly one base form and any look-around on top of it:

    tokens: [...] (with exact:, case_sensitive:) | regex: ... | any_of: [...] | all_of: [...]
    | not: {...} | sequence: [..., {target: {...}}, ...] | in_run: {of:, length:, position:}
    | inside: {open:, close:} | word: {words: [...] | regex:, case_sensitive:, position:}
    | python: "module:function"
    preceded_by / not_preceded_by / followed_by / not_followed_by: {...}, with within: N
    (one of the N tokens; default 1) or at: N (exactly N tokens away), for all of them

Wherever a predicate goes, a plain list means `tokens:`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from neurontest.claims.predicates.context import Context, Near, Sequence
from neurontest.claims.predicates.core import Predicate, TokenPredicate
from neurontest.claims.predicates.logic import Both, Either, Not
from neurontest.claims.predicates.python import python_predicate
from neurontest.claims.predicates.spans import InRun, Inside, Word
from neurontest.claims.predicates.tokens import AllOf, AnyOf, NotToken, TokenRegex, TokenSet

BASE_KEYS = ("tokens", "regex", "any_of", "all_of", "not", "sequence", "in_run", "inside", "word",
             "python")
LOOKAROUND_KEYS = ("preceded_by", "not_preceded_by", "followed_by", "not_followed_by")
DISTANCE_KEYS = ("within", "at")
TOKEN_OPTIONS = ("exact", "case_sensitive")
PREDICATE_KEYS = BASE_KEYS + TOKEN_OPTIONS + LOOKAROUND_KEYS + DISTANCE_KEYS
MAX_DISTANCE = 1024  # look-arounds, run lengths and places: anything larger is a typo


def predicate_from_dict(data: Any, *, base_dir: Path | None = None,
                        where: str = "fires_on") -> Predicate:
    """Build a predicate from its YAML form (see the module docstring). `base_dir` is the
    hypothesis file's folder, where `python:` modules are looked up first; `where` names the
    value in error messages. A `Predicate` is returned unchanged."""
    return _Parser(base_dir).predicate(data, where)


class _Parser:
    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir

    def predicate(self, data: Any, path: str) -> Predicate:
        if isinstance(data, Predicate):
            return data
        if isinstance(data, list):
            return TokenSet(_token_strings(data, path))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a predicate is a mapping with one of {_keys(BASE_KEYS)} "
                             f"(or a list of tokens), got {type(data).__name__} {data!r}")
        _check_keys(data, PREDICATE_KEYS, path)
        bases = [k for k in BASE_KEYS if k in data]
        if len(bases) != 1:
            found = f"both {_keys(bases)}" if bases else "none"
            raise ValueError(f"{path}: a predicate needs exactly one of {_keys(BASE_KEYS)}, got "
                             f"{found}; combine several with `all_of:` or `any_of:`")
        for option in TOKEN_OPTIONS:
            if option in data and "tokens" not in data:
                raise ValueError(f"{path}.{option}: `{option}` applies to `tokens:` only; for "
                                 f"`{bases[0]}:` drop it")
        predicate = getattr(self, "_" + bases[0])(data, f"{path}.{bases[0]}")
        return self._lookarounds(predicate, data, path)

    def _lookarounds(self, predicate: Predicate, data: dict, path: str) -> Predicate:
        present = [k for k in LOOKAROUND_KEYS if k in data]
        if not present:
            for key in DISTANCE_KEYS:
                if key in data:
                    raise ValueError(f"{path}.{key}: `{key}` needs `preceded_by`, "
                                     f"`not_preceded_by`, `followed_by` or `not_followed_by`")
            return predicate
        if all(k in data for k in DISTANCE_KEYS):
            raise ValueError(f"{path}: give `within:` (one of the N nearest tokens) or `at:` "
                             f"(exactly N tokens away), not both")
        exact = "at" in data
        distance = _small_int(data.get("at", data.get("within", 1)),
                              f"{path}.{'at' if exact else 'within'}", minimum=1)
        for key in present:
            other = self.predicate(data[key], f"{path}.{key}")
            negate = key.startswith("not_")
            if key.endswith("preceded_by") and not exact:
                predicate = Context(predicate, other, within=distance, negate=negate)
                continue
            sign = -1 if key.endswith("preceded_by") else 1
            offsets = (sign * distance,) if exact else tuple(sign * k for k in range(1, distance + 1))
            predicate = Near(predicate, other, offsets, negate)
        return predicate

    def _tokens(self, data: dict, path: str) -> Predicate:
        tokens = data["tokens"]
        if not isinstance(tokens, list) or not tokens:
            raise ValueError(f"{path}: `tokens:` must be a non-empty list of token strings, e.g. "
                             f"[March, April]")
        options = {o: _bool(data[o], f"{path[:-len('tokens')]}{o}") for o in TOKEN_OPTIONS if o in data}
        return TokenSet(_token_strings(tokens, path), **options)

    def _regex(self, data: dict, path: str) -> Predicate:
        return TokenRegex(_string(data["regex"], path))

    def _any_of(self, data: dict, path: str) -> Predicate:
        parts = self._list(data["any_of"], path)
        if all(isinstance(p, TokenPredicate) for p in parts):
            return AnyOf(parts)  # type: ignore[arg-type]
        return Either(parts)

    def _all_of(self, data: dict, path: str) -> Predicate:
        parts = self._list(data["all_of"], path)
        if all(isinstance(p, TokenPredicate) for p in parts):
            return AllOf(parts)  # type: ignore[arg-type]
        return Both(parts)

    def _not(self, data: dict, path: str) -> Predicate:
        part = self.predicate(data["not"], path)
        return NotToken(part) if isinstance(part, TokenPredicate) else Not(part)

    def _list(self, value: Any, path: str) -> tuple[Predicate, ...]:
        if not isinstance(value, list) or not value:
            raise ValueError(f"{path}: must be a non-empty list of predicates")
        return tuple(self.predicate(item, f"{path}[{i}]") for i, item in enumerate(value))

    def _sequence(self, data: dict, path: str) -> Predicate:
        items = data["sequence"]
        if not isinstance(items, list) or not items:
            raise ValueError(f"{path}: must be a list of predicates, one of them marked "
                             f"`{{target: ...}}`")
        targets = [i for i, item in enumerate(items) if isinstance(item, dict) and "target" in item]
        if len(targets) != 1:
            raise ValueError(f"{path}: mark exactly one element as the target, e.g. "
                             f"`- target: {{regex: '^\\d$'}}`; found {len(targets)}")
        elements = []
        for i, item in enumerate(items):
            if i == targets[0]:
                _check_keys(item, ("target",), f"{path}[{i}]")
                elements.append(self.predicate(item["target"], f"{path}[{i}].target"))
            else:
                elements.append(self.predicate(item, f"{path}[{i}]"))
        return Sequence(tuple(elements), targets[0])

    def _in_run(self, data: dict, path: str) -> Predicate:
        spec = _mapping(data["in_run"], path, ("of", "length", "position"), required=("of",))
        min_length, max_length = 1, None
        if "length" in spec:
            min_length, max_length = _length(spec["length"], f"{path}.length")
        places = _places(spec["position"], f"{path}.position") if "position" in spec else None
        return InRun(self.predicate(spec["of"], f"{path}.of"), min_length, max_length, places)

    def _inside(self, data: dict, path: str) -> Predicate:
        spec = _mapping(data["inside"], path, ("open", "close"), required=("open", "close"))
        return Inside(self.predicate(spec["open"], f"{path}.open"),
                      self.predicate(spec["close"], f"{path}.close"))

    def _word(self, data: dict, path: str) -> Predicate:
        spec = _mapping(data["word"], path, ("words", "regex", "case_sensitive", "position"))
        if ("words" in spec) == ("regex" in spec):
            raise ValueError(f"{path}: give `words:` (a list of whole words) or `regex:` (matched "
                             f"against the word's text), exactly one")
        words = None
        if "words" in spec:
            if not isinstance(spec["words"], list) or not spec["words"]:
                raise ValueError(f"{path}.words: must be a non-empty list of words")
            words = _token_strings(spec["words"], f"{path}.words")
        regex = _string(spec["regex"], f"{path}.regex") if "regex" in spec else None
        case = _bool(spec.get("case_sensitive", True), f"{path}.case_sensitive")
        places = _places(spec["position"], f"{path}.position") if "position" in spec else None
        return Word(words, regex, case, places)

    def _python(self, data: dict, path: str) -> Predicate:
        try:
            return python_predicate(_string(data["python"], path), self.base_dir)
        except ValueError as exc:
            message = str(exc)
            raise ValueError(message if message.startswith(path) else f"{path}: {message}") from None


def _check_keys(data: dict, allowed: tuple[str, ...], path: str) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of {_keys(allowed)}"
            raise ValueError(f"{path}: unknown key {key!r}; {hint}")


def _mapping(value: Any, path: str, allowed: tuple[str, ...],
             required: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: must be a mapping with {_keys(allowed)}")
    _check_keys(value, allowed, path)
    for key in required:
        if key not in value:
            raise ValueError(f"{path}: `{key}:` is missing; it takes a predicate")
    return value


def _small_int(value: Any, path: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{path}: must be a whole number of tokens, got {value!r}")
    if not minimum <= value <= MAX_DISTANCE:
        raise ValueError(f"{path}: must be between {minimum} and {MAX_DISTANCE} tokens, got {value}")
    return value


def _length(value: Any, path: str) -> tuple[int, int | None]:
    if isinstance(value, dict):
        _check_keys(value, ("min", "max"), path)
        if not value:
            raise ValueError(f"{path}: give `min:`, `max:` or both")
        low = _small_int(value.get("min", 1), f"{path}.min", minimum=1)
        high = _small_int(value["max"], f"{path}.max", minimum=1) if "max" in value else None
        if high is not None and high < low:
            raise ValueError(f"{path}: max {high} is below min {low}")
        return low, high
    exact = _small_int(value, path, minimum=1)
    return exact, exact


def _places(value: Any, path: str) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError(f"{path}: give a place (1 = first, -1 = last) or a list of them")
    places = []
    for i, item in enumerate(values):
        where = f"{path}[{i}]" if isinstance(value, list) else path
        if isinstance(item, bool) or not isinstance(item, int) or item == 0:
            raise ValueError(f"{where}: a place is a non-zero whole number (1 = first, -1 = "
                             f"last), got {item!r}")
        _small_int(abs(item), where, minimum=1)
        places.append(item)
    return tuple(dict.fromkeys(places))


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{path}: must be true or false, got {value!r}")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: must be a string, got {type(value).__name__} {value!r}; quote it")
    return value


def _token_strings(tokens: list[Any], path: str) -> tuple[str, ...]:
    # YAML 1.1 reads unquoted On/Off/Yes/No/True/False as booleans and 2020 as a number, which
    # would silently test the wrong token ("True" instead of "On").
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise ValueError(
                f"{path}[{i}]: token {token!r} is a {type(token).__name__}, not a string: YAML "
                f"reads unquoted On/Off/Yes/No and numbers that way; quote it, e.g. "
                f"'{_yaml_source(token)}'")
    return tuple(tokens)


def _yaml_source(value: Any) -> str:
    return {True: "On", False: "Off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def _keys(keys: Any) -> str:
    return ", ".join(f"`{k}:`" for k in keys)
