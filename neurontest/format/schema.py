"""The JSON Schema of hypothesis files, generated from the claim kinds' typed `Options` models.

`neurontest schema > neurontest/format/hypothesis.schema.json` refreshes the published copy
(a test keeps it in sync); editors with YAML language servers can point at it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurontest.format.kinds import CLAIM_KINDS
from neurontest.format.model import HypothesisDocument

if TYPE_CHECKING:
    from neurontest.claims.base import Claim


def claim_schema(cls: type[Claim]) -> dict[str, Any]:
    """One claim kind's options, from its typed `Options` model, plus its `kind:`."""
    schema = cls.Options.model_json_schema(by_alias=True)
    schema.pop("title", None)
    schema["properties"] = {"kind": {"const": cls.kind}} | schema["properties"]
    schema["required"] = ["kind", *schema.get("required", [])]
    schema["description"] = (cls.__doc__ or "").strip().split("\n\n")[0]
    return schema


def build_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a YAML hypothesis file: the document model's, with
    each claim's variants from its kind's `Options` model."""
    claim_variants = [{"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                       "then": claim_schema(cls)} for kind, cls in CLAIM_KINDS.items()]
    claim = {"type": "object", "required": ["kind"],
             "properties": {"kind": {"enum": list(CLAIM_KINDS)}}, "allOf": claim_variants}
    schema = HypothesisDocument.model_json_schema()
    # A nested options model (e.g. ablation's `control:`) is a `$ref` to `#/$defs/...`: its
    # definition must sit at the root, where the reference points.
    for variant in claim_variants:
        for name, definition in variant["then"].pop("$defs", {}).items():
            if schema["$defs"].setdefault(name, definition) != definition:
                raise ValueError(f"two option models are both named {name!r}; rename one")
    entry = schema["$defs"]["UnitEntry"]
    entry["properties"]["claims"]["items"] = claim
    # Which unit an entry names: exactly one of the four forms (claims/unit_entries.py).
    entry["oneOf"] = [{"required": ["id"]}, {"required": ["layer", "neuron"]},
                      {"required": ["sae", "latent"]}, {"required": ["direction", "hook"]}]
    # `units:` is another name for `neurons:`: exactly one of them.
    schema["properties"]["units"] = dict(schema["properties"]["neurons"],
                                         description="another name for `neurons:`")
    schema["required"] = [key for key in schema.get("required", []) if key != "neurons"]
    if not schema["required"]:
        del schema["required"]
    schema["oneOf"] = [{"required": ["neurons"]}, {"required": ["units"]}]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "neurontest hypothesis file"} | {k: v for k, v in schema.items() if k != "title"}
