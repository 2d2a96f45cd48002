"""Typed claim options: each claim kind's `Options` model is the one source of its validation,
defaults, error messages and JSON Schema.

    class Options(ClaimOptions):
        text: Text = Field(description="the [[marked]] text")
        draws: Annotated[int, Field(ge=1, le=4096)] = 16

Models are strict (no bool as a number, no truncated floats, no truthy strings, finite numbers
only) and forbid unknown keys. `validate_claim_options` turns the first pydantic error into one
line naming the option and the form it takes, with "did you mean" for a misspelt key.
Options whose form is richer than a type (bounds, predicates, thresholds, tolerances) are checked
by the parsers the claims use at run time, so collection and run can never disagree.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)

from neurontest.claims.bounds import Bound, Threshold
from neurontest.claims.predicates import predicate_from_dict
from neurontest.claims.tolerance import parse_tolerance
from neurontest.engine.units.neuron import NeuronRef

MAX_TEXT_CHARS = 4000  # one hand-written text; the model's context is checked at collection too
MAX_TEXTS = 256  # texts in one list: more belongs in a corpus

_BOUND_PATTERN = r"^\s*(>=|<=|>|<|==)\s*-?\d+(\.\d*)?([eE]-?\d+)?\s*$"


def _bound(value: str) -> str:
    Bound.parse(value)
    return value


def _predicate(value: Any, info: ValidationInfo) -> Any:
    base_dir = (info.context or {}).get("base_dir")
    # A field named `from_` is the option `from` (a Python keyword).
    predicate_from_dict(value, base_dir=None if base_dir is None else Path(base_dir),
                        where=(info.field_name or "fires_on").rstrip("_"))
    return value


def _token_predicate(value: Any, info: ValidationInfo) -> Any:
    if not hasattr(predicate_from_dict(value, where=(info.field_name or "matches").rstrip("_")),
                   "token_table"):
        raise ValueError("is a predicate on single tokens (tokens, regex, any_of), without context")
    return value


def _threshold(value: Any) -> Any:
    Threshold.parse(value)
    return value


def _tolerance(value: Any) -> Any:
    parse_tolerance(value)
    return value


def _neuron_id(value: str) -> str:
    NeuronRef.parse(value)
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is blank; give a text")
    return value


# -- named option types: each says its form once, for validation and the schema alike ---------
BoundText = Annotated[str, AfterValidator(_bound), WithJsonSchema(
    {"type": "string", "pattern": _BOUND_PATTERN, "description": "a bound such as '>= 0.7'"})]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS),
                 AfterValidator(_not_blank)]
Texts = Annotated[list[Text], Field(min_length=1, max_length=MAX_TEXTS)]
Words = Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
                  Field(min_length=1, max_length=100_000)]
NeuronIds = Annotated[list[Annotated[str, AfterValidator(_neuron_id),
                                     WithJsonSchema({"type": "string", "pattern": "^[Ll]\\d+[Nn]\\d+$"})]],
                      Field(min_length=1, max_length=4096)]
Share = Annotated[float, Field(gt=0, le=1)]
Level = Annotated[float, Field(gt=0, lt=1)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]

# Predicates, thresholds and tolerances have several forms each; their own parsers give better
# messages than a union's list of every form's complaint, and the schema below documents them.
_TOKEN_PREDICATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tokens": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "regex": {"type": "string"},
        "any_of": {"type": "array", "items": {"type": "object"}},
        "exact": {"type": "boolean"},
        "case_sensitive": {"type": "boolean"},
    },
}
PREDICATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "a predicate over tokens (docs/hypothesis-format.md, Predicates)",
    "properties": _TOKEN_PREDICATE["properties"] | {
        "preceded_by": _TOKEN_PREDICATE, "not_preceded_by": _TOKEN_PREDICATE,
        "followed_by": _TOKEN_PREDICATE, "not_followed_by": _TOKEN_PREDICATE,
        "within": {"type": "integer", "minimum": 1}, "at": {"type": "integer", "minimum": 1},
        "all_of": {"type": "array", "items": {"type": "object"}}, "not": {"type": "object"},
        "sequence": {"type": "array", "items": {"type": "object"}},
        "in_run": {"type": "object"}, "inside": {"type": "object"}, "word": {"type": "object"},
        "python": {"type": "string", "pattern": "^[\\w.]+:\\w+$"},
    },
    "additionalProperties": False,
}
PredicateSpec = Annotated[Any, AfterValidator(_predicate), WithJsonSchema(PREDICATE_SCHEMA)]
TokenPredicateSpec = Annotated[Any, AfterValidator(_token_predicate), WithJsonSchema(
    {"type": "object", "description": "a predicate on single tokens", **_TOKEN_PREDICATE,
     "additionalProperties": False})]
ThresholdSpec = Annotated[Any, AfterValidator(_threshold), WithJsonSchema({
    "description": "firing threshold: a number (absolute) or {relative: share of the corpus max}",
    "oneOf": [{"type": "number"}, {
        "type": "object", "required": ["relative"], "additionalProperties": False,
        "properties": {"relative": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}}}]})]
_ONE_TOLERANCE: dict[str, Any] = {"oneOf": [
    {"type": "number", "minimum": 0},
    {"type": "object", "properties": {"abs": {"type": "number", "minimum": 0},
                                      "rel": {"type": "number", "minimum": 0}},
     "minProperties": 1, "additionalProperties": False}]}
ToleranceSpec = Annotated[Any, AfterValidator(_tolerance), WithJsonSchema({
    "description": "baseline drift tolerance: absolute for every metric, or per metric",
    "anyOf": [_ONE_TOLERANCE, {"type": "object", "additionalProperties": _ONE_TOLERANCE}]})]


class ClaimOptions(BaseModel):
    """What every claim may set; a kind's `Options` subclass adds its own options."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True,
                              populate_by_name=True)

    id: str | None = Field(None, description="the claim's name in the node id (default: its kind)")
    xfail: str | None = Field(None, description="expected to fail, with the reason (strict)")
    threshold: ThresholdSpec | None = Field(None, description="this claim's firing threshold")
    fires_on: PredicateSpec | None = Field(None, description="this claim's predicate")
    tolerance: ToleranceSpec | None = Field(None, description="baseline drift tolerance")


COMMON_OPTIONS = frozenset(ClaimOptions.model_fields)


def claim_phrase(kind: str) -> str:
    """"an 'activation' claim", "a 'noise' claim": the article follows the kind's sound."""
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{article} {kind!r} claim"


def option_names(model: type[ClaimOptions]) -> list[str]:
    """The option keys a file may write (aliases, not Python field names)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def validate_claim_options(model: type[ClaimOptions], data: dict[str, Any], kind: str,
                           base_dir: Path | None = None) -> ClaimOptions:
    """The typed options of one claim mapping (`kind:` ignored), or ValueError: one line naming
    the option and the form it takes."""
    options = {k: v for k, v in data.items() if k != "kind"}
    try:
        return model.model_validate(options, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ValueError(describe_error(exc, model, kind)) from None
    except (TypeError, AttributeError, KeyError) as exc:
        # A parser behind a rich option met a value shape it does not expect: still the file's
        # fault, so one line naming the claim, never a traceback.
        raise ValueError(f"{claim_phrase(kind)} has an option of a form it cannot read "
                         f"({type(exc).__name__}: {short_repr(str(exc))}); see "
                         "docs/hypothesis-format.md for each option's form") from None


def describe_error(exc: ValidationError, model: type[ClaimOptions], kind: str) -> str:
    """The first problem of a validation error, as one line a person can act on."""
    error = exc.errors(include_url=False)[0]
    loc, kind_of = error["loc"], error["type"]
    phrase = claim_phrase(kind)
    names = option_names(model)
    if not loc:  # a check across options (a model validator)
        return _message(error)
    key = str(loc[0])
    field = model.model_fields.get(key) or next(
        (f for f in model.model_fields.values() if f.alias == key), None)
    if kind_of == "extra_forbidden" and len(loc) == 1:
        own = [n for n in names if n not in COMMON_OPTIONS]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(own)}"
        return f"unknown option {key!r} for {phrase}; {hint}"
    if kind_of == "missing" and len(loc) == 1:
        what = f" ({field.description})" if field is not None and field.description else ""
        return f"{phrase} needs `{key}:`{what}"
    where = f"`{key}:` of {phrase}" + item_path(loc[1:])
    return value_problem(error, where, model, key)


def item_path(parts: tuple[Any, ...]) -> str:
    """", item 2, key 'year'": where inside an option's value the problem is."""
    return "".join(f", item {p + 1}" if isinstance(p, int) else f", key {p!r}" for p in parts)


def value_problem(error: Any, where: str, model: type[BaseModel], key: str) -> str:
    """`where` (the value, named for a person) and what is wrong with it, in one line."""
    kind, ctx, got = error["type"], error.get("ctx") or {}, short_repr(error.get("input"))
    if kind in ("value_error", "assertion_error"):
        # Parsers name the option themselves ("fires_on.within: ..."): say it once.
        message = _message(error).removeprefix(f"{key}: ")
        return message if message.startswith("`") else f"{where}: {message}"
    if kind in _RANGE_ERRORS:
        allowed = value_range(model, key)
        if allowed:
            return f"{where} is {got}; give {allowed}"
    if kind == "literal_error":
        return f"{where} is {ctx['expected']}, got {got}"
    form = ERROR_FORMS.get(kind)
    if form is not None:
        return f"{where} {form.format(**ctx)}, got {got}"
    return f"{where}: {str(error['msg']).lower()}, got {got}"


_RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def value_range(model: type[BaseModel], key: str) -> str:
    """The range a numeric option takes, from its schema: "1..4096", "(0, 1]", ">= 0"."""
    prop = model.model_json_schema(by_alias=True).get("properties", {}).get(key, {})

    def bounds(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if any(k in node for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
                return node
            for child in [*node.get("anyOf", []), node.get("items")]:
                found = bounds(child)
                if found:
                    return found
        return None

    found = bounds(prop)
    if not found:
        return ""
    whole = found.get("type") == "integer"
    low = found.get("minimum", found.get("exclusiveMinimum"))
    high = found.get("maximum", found.get("exclusiveMaximum"))
    if whole and "exclusiveMinimum" not in found and "exclusiveMaximum" not in found:
        if low is not None and high is not None:
            return f"a whole number {low}..{high}"
        return f"a whole number >= {low}" if low is not None else f"a whole number <= {high}"
    if low is not None and high is not None:
        left = "(" if "exclusiveMinimum" in found else "["
        right = ")" if "exclusiveMaximum" in found else "]"
        return f"a number in {left}{low:g}, {high:g}{right}"
    if low is not None:
        return f"a number {'>' if 'exclusiveMinimum' in found else '>='} {low:g}"
    return f"a number {'<' if 'exclusiveMaximum' in found else '<='} {high:g}"


ERROR_FORMS = {
    "int_type": "is a whole number", "int_from_float": "is a whole number",
    "float_type": "is a number", "finite_number": "is a finite number",
    "string_type": "is a text (quote it)", "bool_type": "is true or false",
    "list_type": "is a list of values (a list even for one)", "dict_type": "is a mapping",
    "greater_than": "is more than {gt}", "greater_than_equal": "is at least {ge}",
    "less_than": "is less than {lt}", "less_than_equal": "is at most {le}",
    "too_short": "is a non-empty list (at least {min_length})", "too_long": "takes at most {max_length} items",
    "string_too_short": "is one non-empty text",
    "string_too_long": "has at most {max_length} characters; shorten it",
    # inside a nested mapping (e.g. `control:`): a misspelt key, or not a mapping at all
    "extra_forbidden": "is not an option there (docs/hypothesis-format.md lists them)",
    "model_type": "is a mapping of options",
}


def _message(error: Any) -> str:
    """A validator's own ValueError text, without pydantic's "Value error, " prefix."""
    cause = (error.get("ctx") or {}).get("error")
    return str(cause) if cause is not None else str(error["msg"]).removeprefix("Value error, ")


def short_repr(value: Any) -> str:
    """A value for a one-line message: its repr cut at 60 characters."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
