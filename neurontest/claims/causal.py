"""What the causal claim kinds (`patching`, `mediation`) share: counterfactual pairs, targets,
extra unit ids, and the checks that make a bad pair a one-line collection error.

    pairs:
      - {clean: "we met in [[March]]", corrupt: "we met in [[Friday]]"}
    target: {answer: " 2020", foil: " 1999"}     # or a token, or `next`

A pair's texts must tokenize to the same length; `[[marks]]` (on either text, or on both at the
same tokens) name the positions patched, every position when there is none. The target is read
at the pair's final position (`measure.patching.read_position`). Pairs may instead be drawn
from `templates:` (`claims.templates` for the format, `claims.drawn_pairs` for the drawing).

Both kinds show each pair (or text) as heatmaps of the target read at every position of each of
its runs (`runs_evidence`), beside the table of the values the claim reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

from neurontest.claims.base import Evidence, TokenRow
from neurontest.claims.options import MAX_TEXT_CHARS, MAX_TEXTS, Text
from neurontest.claims.unit_entries import unit_from_option
from neurontest.measure.patching import read_position
from neurontest.measure.targets import Target

if TYPE_CHECKING:
    from neurontest.claims.base import Claim
    from neurontest.claims.marked import MarkedText
    from neurontest.lab import Lab


class Pair(BaseModel):
    """A counterfactual pair: the same prompt with the feature present (clean) and absent."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    clean: Text = Field(description="the text where the behaviour happens")
    corrupt: Text = Field(description="the same text, as many tokens, with the cause changed")


#: a token as the tokenizer writes it: " " (a space) and "," are tokens, so blank is allowed
Token = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class AnswerFoil(BaseModel):
    """A target pair: the logit difference answer - foil."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    answer: Token = Field(description="the token the clean text predicts")
    foil: Token = Field(description="the token the corrupt text predicts instead")


def _target(value: Any) -> Any:
    """A token, `next` or {answer:, foil:}; one message for each wrong form (a union of types
    would name pydantic's internals)."""
    if isinstance(value, str):
        if not value:
            raise ValueError("is an empty text; give a token (e.g. \" 2020\"), {answer:, foil:} or next")
        if len(value) > 200:
            raise ValueError("is a single token, not a text of more than 200 characters")
        return value
    if isinstance(value, dict):
        try:
            return AnswerFoil.model_validate(value)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in error["loc"])
            raise ValueError(f"{{answer:, foil:}} takes two tokens (quoted texts); {where or 'it'}: "
                             f"{str(error['msg']).lower()}") from None
    raise ValueError("is a token (a quoted text), {answer: <token>, foil: <token>} or next")


_TARGET_SCHEMA: dict[str, Any] = {
    "description": "a token, {answer:, foil:} or next",
    "oneOf": [{"type": "string", "minLength": 1, "maxLength": 200},
              {"type": "object", "required": ["answer", "foil"], "additionalProperties": False,
               "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": 200},
                              "foil": {"type": "string", "minLength": 1, "maxLength": 200}}}]}


def _unit(value: Any, info: ValidationInfo) -> Any:
    base_dir = (info.context or {}).get("base_dir")
    unit_from_option(value, None if base_dir is None else Path(base_dir))
    return value


_TEXT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS}
# Inline, not a $ref: a claim's schema is spliced into the file's, which keeps no claim $defs.
Pairs = Annotated[list[Pair], Field(min_length=1, max_length=MAX_TEXTS), WithJsonSchema({
    "type": "array", "minItems": 1, "maxItems": MAX_TEXTS,
    "items": {"type": "object", "required": ["clean", "corrupt"], "additionalProperties": False,
              "properties": {"clean": _TEXT_SCHEMA, "corrupt": _TEXT_SCHEMA}}})]
TargetOption = Annotated[Any, AfterValidator(_target), WithJsonSchema(_TARGET_SCHEMA)]
# Any unit an entry of `neurons:` may name: `L3N946`, `L5H3`, `<sae>#<latent>`, or an entry's
# keys (`{sae:, latent:}`, `{direction:, hook:}`), paths relative to the hypothesis file.
UnitIds = Annotated[list[Annotated[str | dict[str, Any], AfterValidator(_unit), WithJsonSchema(
    {"oneOf": [{"type": "string", "minLength": 1},
               {"type": "object", "minProperties": 1}]})]], Field(min_length=1, max_length=4096)]
UNITS_HELP = ("unit ids (L3N946, L5H3, <sae>#<latent>) or unit entries ({sae:, latent:}, "
              "{direction:, hook:})")
TARGET_HELP = ("a token (its log-prob), {answer:, foil:} (their logit difference), or `next` "
               "(the true next token); read at each pair's final position")


def parse_target(raw: Any) -> Target:
    """The `Target` of a typed `target:` option (None and `next`: the true next token)."""
    if raw is None or (isinstance(raw, str) and raw == "next"):
        return Target()
    if isinstance(raw, AnswerFoil):
        return Target(answer=raw.answer, foil=raw.foil)
    if isinstance(raw, dict):
        return Target(answer=raw["answer"], foil=raw["foil"])
    return Target(token=str(raw))


def parse_unit_ids(ids: list[Any] | None, base_dir: Path | None = None) -> list[Any]:
    """The units an option names (ids or entries, beside the hypothesis file)."""
    return [unit_from_option(i, base_dir) for i in ids or []]


def checked_pairs(claim: Claim, lab: Lab, pairs: list[Pair], target: Target,
                  key: str = "pairs") -> list[tuple[MarkedText, MarkedText, tuple[int, ...]]]:
    """Each pair tokenized, as (clean, corrupt, patched positions); ValueError (one line naming
    the pair and the fix) for texts of different lengths, marks on different tokens, or marks
    past the position the target is read at."""
    out = []
    for number, pair in enumerate(pairs, 1):
        clean = claim.checked_text(lab, pair.clean, key)
        corrupt = claim.checked_text(lab, pair.corrupt, key)
        where = f"`{key}:` item {number} ({pair.clean!r} / {pair.corrupt!r})"
        out.append(paired(clean, corrupt, target, where))
    return out


def paired(clean: MarkedText, corrupt: MarkedText, target: Target,
           where: str) -> tuple[MarkedText, MarkedText, tuple[int, ...]]:
    """One tokenized pair as (clean, corrupt, patched positions), or ValueError: `where` (the
    pair, named for a person) and what to change."""
    if len(clean.ids) != len(corrupt.ids):
        raise ValueError(f"{where}: the clean text is {len(clean.ids)} tokens and the corrupt "
                         f"{len(corrupt.ids)}; counterfactual pairs must tokenize to the same "
                         "length: reword one text (e.g. swap a word for one of the same length)")
    if clean.positions and corrupt.positions and clean.positions != corrupt.positions:
        raise ValueError(f"{where}: the marks are on tokens {list(clean.positions)} of the clean "
                         f"text and {list(corrupt.positions)} of the corrupt; mark the same tokens "
                         "(or one text only)")
    positions = clean.positions or corrupt.positions
    if target.is_next and len(clean.ids) < 2:
        raise ValueError(f"{where}: too short to read the target; with `target: next` the "
                         "clean text's last token is the answer, so give at least 2 tokens")
    read_at = read_position(len(clean.ids), target)
    late = [p for p in positions if p > read_at]
    if late:
        raise ValueError(f"{where}: a marked token comes after the position the target is "
                         f"read at (token {read_at}"
                         f"{', whose true next token is the last' if target.is_next else ''}), "
                         "so patching it changes nothing; mark an earlier token")
    return clean, corrupt, tuple(positions)


def undefined_pairs(diffs: list[float], minimum: float) -> list[int]:
    """Indices of pairs whose clean and corrupt targets differ by less than `minimum` (or not at
    all): a share of that difference is not defined there."""
    return [i for i, d in enumerate(diffs) if not abs(d) >= minimum]


#: One run of a pair or text, as a heatmap row: (name, display tokens, the target at each
#: position, the value the claim reads off the run, hover pieces of merged byte tokens)
Run = tuple[str, list[str], list[float], float, list[str]]


def runs_evidence(title: str, target: Target, runs: list[Run], marked: list[int]) -> Evidence:
    """One pair's (or text's) runs as heatmap rows of `target` at every position, on the
    target's colour scale (shared by all of a claim's groups), `marked` outlined and each row
    labelled `name: value` with the value the claim reads off that run."""
    return Evidence(title, [TokenRow(list(tokens), [float(v) for v in values], list(marked),
                                     f"{name}: {value:.4g}", pieces=list(pieces))
                            for name, tokens, values, value, pieces in runs],
                    value_label=target.label)
