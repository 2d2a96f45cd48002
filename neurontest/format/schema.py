"""The JSON Schema of hypothesis files, generated from the claim kinds' option declarations.

`neurontest schema > neurontest/format/hypothesis.schema.json` refreshes the published copy
(a test keeps it in sync); editors with YAML language servers can point at it.
"""

from __future__ import annotations

from typing import Any

BOUND = {"type": "string", "pattern": r"^\s*(>=|<=|>|<|==)\s*-?\d+(\.\d*)?([eE]-?\d+)?\s*$",
         "description": "a bound such as '>= 0.7'"}
TOKEN_PREDICATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tokens": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "regex": {"type": "string"},
        "any_of": {"type": "array", "items": {"type": "object"}},
        "exact": {"type": "boolean"},
        "case_sensitive": {"type": "boolean"},
    },
}
PREDICATE: dict[str, Any] = {
    "type": "object",
    "properties": TOKEN_PREDICATE["properties"] | {
        "preceded_by": TOKEN_PREDICATE, "not_preceded_by": TOKEN_PREDICATE,
        "within": {"type": "integer", "minimum": 1},
        # The composable forms (docs/hypothesis-format.md); predicate_from_dict checks them fully.
        "followed_by": TOKEN_PREDICATE, "not_followed_by": TOKEN_PREDICATE,
        "at": {"type": "integer", "minimum": 1},
        "all_of": {"type": "array", "items": {"type": "object"}}, "not": {"type": "object"},
        "sequence": {"type": "array", "items": {"type": "object"}},
        "in_run": {"type": "object"}, "inside": {"type": "object"}, "word": {"type": "object"},
        "python": {"type": "string", "pattern": "^[\\w.]+:\\w+$"},
    },
    "additionalProperties": False,
}
THRESHOLD = {"oneOf": [{"type": "number"}, {
    "type": "object", "properties": {"relative": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}},
    "required": ["relative"], "additionalProperties": False}]}
_OPTION_TYPES: dict[str, Any] = {
    "bound": BOUND, "number": {"type": "number"}, "integer": {"type": "integer"},
    "string": {"type": "string"}, "text": {"type": "string"}, "bool": {"type": "boolean"},
    "texts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "predicate": PREDICATE,
    "neurons": {"type": "array", "items": {"type": "string", "pattern": "^[Ll]\\d+[Nn]\\d+$"}},
    "attention_target": {"oneOf": [{"enum": ["previous", "self", "first"]},
                                   {"type": "object", "required": ["offset"], "additionalProperties": False,
                                    "properties": {"offset": {"type": "integer", "maximum": 0}}},
                                   PREDICATE]},
    "slots": {"type": "object", "additionalProperties": {"type": "array", "minItems": 1,
                                                         "items": {"type": ["string", "number"]}}},
}


_ONE_TOLERANCE: dict[str, Any] = {"oneOf": [
    {"type": "number", "minimum": 0},
    {"type": "object", "properties": {"abs": {"type": "number", "minimum": 0},
                                      "rel": {"type": "number", "minimum": 0}},
     "minProperties": 1, "additionalProperties": False}]}
TOLERANCE: dict[str, Any] = {
    "description": "baseline drift tolerance: absolute for every metric, or per metric",
    "anyOf": [_ONE_TOLERANCE, {"type": "object", "additionalProperties": _ONE_TOLERANCE}]}


def option_schema(kind: str) -> dict[str, Any]:
    if kind.startswith("enum:"):
        return {"enum": kind[5:].split("|")}
    return _OPTION_TYPES[kind]


def build_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a YAML hypothesis file."""
    from neurontest.format.kinds import CLAIM_KINDS
    from neurontest.format.spec import NEURON_KEYS

    claim_variants = []
    for kind, cls in CLAIM_KINDS.items():
        properties = {"kind": {"const": kind}, "id": {"type": "string"},
                      "xfail": {"type": "string", "description": "expected to fail (strict)"},
                      "threshold": THRESHOLD, "fires_on": PREDICATE, "tolerance": TOLERANCE}
        properties |= {name: option_schema(t) for name, t in cls.options.items()}
        claim_variants.append({
            "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
            "then": {"properties": properties, "required": ["kind", *cls.required],
                     "additionalProperties": False,
                     "description": (cls.__doc__ or "").strip().split("\n\n")[0]},
        })
    claim = {"type": "object", "required": ["kind"],
             "properties": {"kind": {"enum": list(CLAIM_KINDS)}}, "allOf": claim_variants}
    neuron = {
        "type": "object",
        "properties": {
            # A unit: L3N946 (neuron), L5H3 (head), sae + latent, direction + hook.
            "id": {"type": "string", "pattern": "^[Ll]\\d+[NnHh]\\d+$"},
            "layer": {"type": "integer", "minimum": 0}, "neuron": {"type": "integer", "minimum": 0},
            "sae": {"type": "string"}, "latent": {"type": "integer", "minimum": 0},
            "direction": {"type": "string"}, "hook": {"type": "string", "pattern": "^blocks\\.\\d+\\."},
            "description": {"type": "string"}, "fires_on": PREDICATE, "threshold": THRESHOLD,
            "claims": {"type": "array", "items": claim, "minItems": 1},
        },
        "required": ["claims"],
        "additionalProperties": False,
        "oneOf": [{"required": ["id"]}, {"required": ["layer", "neuron"]},
                  {"required": ["sae", "latent"]}, {"required": ["direction", "hook"]}],
    }
    assert set(neuron["properties"]) == set(NEURON_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "neurontest hypothesis file",
        "type": "object",
        "properties": {
            "model": {"type": "string"}, "revision": {"type": "string"}, "corpus": {"type": "string"},
            "models": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "corpus_tokens": {"type": ["integer", "null"]}, "window": {"type": "integer", "minimum": 1},
            "seed": {"type": "integer"}, "description": {"type": "string"},
            "neurons": {"type": "array", "items": neuron, "minItems": 1},
        },
        "required": ["neurons"],
        "additionalProperties": False,
    }
