"""The typed model of a hypothesis file: the file's keys and each `neurons:` entry.

Claims inside an entry are checked by their kind's `Options` model (`neurontest.claims.options`);
together these are the whole format, and `neurontest.format.schema` publishes their JSON Schema.
What a type cannot say (which unit an entry names, unique ids, a kind's cross-option rules) is
checked in `neurontest.format.spec`, in the same one-line form.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, WithJsonSchema

from neurontest.claims.options import PredicateSpec, Seed, ThresholdSpec, short_repr, value_problem

# Caps on the file-level numbers: larger values are typos that would run for hours or allocate
# far more memory than any machine has.
MAX_WINDOW = 8192
MAX_CORPUS_TOKENS = 1_000_000_000

Name = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Index = Annotated[int, Field(ge=0, le=10**9)]


class UnitEntry(BaseModel):
    """One entry of `neurons:`: the unit it names, its predicate and threshold, its claims."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    # The id's form is checked by its parser (claims/unit_entries.py), whose message names the forms.
    id: Annotated[str, WithJsonSchema({"type": "string", "pattern": "^\\s*[Ll]\\d+[NnHh]\\d+\\s*$"})] | None = Field(
        None, description="L<layer>N<index> (neuron) or L<layer>H<head> (attention head)")
    layer: Index | None = Field(None, description="layer index (with `neuron:`)")
    neuron: Index | None = Field(None, description="neuron index in the layer (with `layer:`)")
    sae: Name | None = Field(None, description="SAE/transcoder folder, embedded SAE name or hub "
                                               "repo (with `latent:`)")
    latent: Index | None = Field(None, description="latent index in the SAE (with `sae:`)")
    direction: Name | None = Field(None, description="a .pt/.npy/.safetensors file holding one "
                                                     "vector (with `hook:`)")
    hook: Annotated[str, Field(pattern=r"^blocks\.\d+\.")] | None = Field(
        None, description="TransformerLens hook name of a direction, or an SAE's hook override")
    description: str = Field("", description="what the unit is claimed to do")
    fires_on: PredicateSpec | None = Field(None, description="predicate over tokens")
    threshold: ThresholdSpec | None = Field(None, description="firing threshold (default: "
                                                              "{relative: 0.25})")
    # Each claim is checked by its kind's own model; the schema fills in their variants.
    claims: Annotated[list[dict[str, Any]], Field(min_length=1)] = Field(
        description="the claims about this unit")


class HypothesisDocument(BaseModel):
    """A whole hypothesis file."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)

    model: Name | None = Field(None, description="model name or path (default: the embedded "
                                                 "smollm2-135m)")
    models: Annotated[list[Name], Field(min_length=1)] | None = Field(
        None, description="several models/checkpoints, each claim tested on each (instead of "
                          "`model:`)")
    revision: Name | None = Field(None, description="hub revision/checkpoint of the model")
    corpus: Name | None = Field(None, description="corpus spec (default: wiki-sample)")
    corpus_tokens: Annotated[int, Field(ge=1, le=MAX_CORPUS_TOKENS)] | None = Field(
        100_000, description="tokens sampled from the corpus (null = all)")
    window: Annotated[int, Field(ge=1, le=MAX_WINDOW)] = Field(64, description="tokens per corpus "
                                                                              "window")
    seed: Seed = Field(0, description="corpus sampling seed")
    split: Literal["all", "explore", "confirm"] = Field(
        "all", description="which half of the corpus documents the sampled windows come from: "
                           "`explore` to draft claims on, `confirm` to test them on text they "
                           "were not fitted to, `all` (default) both")
    description: str = Field("", description="free text")
    neurons: Annotated[list[UnitEntry], Field(min_length=1)] = Field(
        description="the units (neurons, heads, SAE latents, directions) and their claims")


def field_descriptions(model: type[BaseModel]) -> dict[str, str]:
    """Key -> description, for messages and docs."""
    return {name: field.description or "" for name, field in model.model_fields.items()}


def validate_document(data: Any, base_dir: Path | None = None
                      ) -> tuple[HypothesisDocument | None, str, tuple[Any, ...]]:
    """(the typed document, "", ()) or (None, one-line problem, where in the data it is);
    `base_dir` is the file's folder, where `python:` predicates are looked up."""
    odd_key = non_string_key(data)
    if odd_key:
        return None, *odd_key
    try:
        return HypothesisDocument.model_validate(data, context={"base_dir": base_dir}), "", ()
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        return None, describe_document_error(error), tuple(error["loc"])
    except (TypeError, AttributeError, KeyError) as exc:  # a parser met a shape it cannot read
        return None, (f"a value of a form neurontest cannot read ({type(exc).__name__}: "
                      f"{short_repr(str(exc))}); see docs/hypothesis-format.md"), ()


def describe_document_error(error: Any) -> str:
    """One line for the first problem pydantic found in a document."""
    loc, kind = tuple(error["loc"]), error["type"]
    model: type[BaseModel] = HypothesisDocument
    where = "the file"
    for i, part in enumerate(loc[:-1]):
        if part == "neurons":
            model = UnitEntry
        if isinstance(part, int) and loc[i - 1] == "neurons":
            where = f"entry {part + 1} of `neurons:`"
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden" and isinstance(key, str):
        names = list(model.model_fields)
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(names)}"
        return f"unknown key {key!r} in {where}; {hint}"
    if kind == "missing":
        if key == "neurons":
            return "a hypothesis file needs a non-empty `neurons:` list of units and their claims"
        return f"{where} needs `{key}:` ({field_descriptions(model).get(str(key), '')})"
    if kind in ("model_type", "dict_type") and len(loc) >= 2 and isinstance(key, int):
        got = short_repr(error.get("input"))
        if loc[-2] == "claims":
            return f"claim {key + 1} in {where} is a mapping with `kind:`, got {got}"
        return f"entry {key + 1} of `neurons:` is a mapping with a unit (such as `id:`) and `claims:`, got {got}"
    named = next((p for p in reversed(loc) if isinstance(p, str)), "")
    label = f"`{named}:`" + (f" in {where}" if where != "the file" else "")
    if isinstance(key, int):
        label += f", item {key + 1}"
    if kind == "string_pattern_mismatch" and named == "hook":
        return (f"{label} is a TransformerLens hook name such as blocks.5.hook_resid_post, got "
                f"{short_repr(error.get('input'))}")
    return value_problem(error, label, model, named)


def non_string_key(data: Any, loc: tuple[Any, ...] = ()) -> tuple[str, tuple[Any, ...]] | None:
    """The first mapping key that is not a name (`1: x`), with where it is, or None."""
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                return (f"key {short_repr(key)} is not a name; keys are words such as `window:` "
                        "(quote it if it is meant as text)", loc)
            found = non_string_key(value, (*loc, key))
            if found:
                return found
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found = non_string_key(value, (*loc, i))
            if found:
                return found
    return None


def line_of(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The file line of the value at `loc`: its key's line, or the nearest enclosing one."""
    line = getattr(data, "line", None)
    node = data
    for part in loc:
        lines = getattr(node, "key_lines", {})
        if isinstance(part, str) and part in lines:
            line = lines[part]
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        line = getattr(node, "line", None) or line
    return line
