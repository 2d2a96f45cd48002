"""Hand-written texts with marked positions: `We met in [[March]] 2020.`

`[[...]]` marks the token where the claim says something happens (the neuron fires, the trigger
sits). The marked span must be exactly one token of the model, so the claim is unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from neurontest.engine.data.tokens import lone_token_text

_MARK = re.compile(r"\[\[(.+?)\]\]")


@dataclass(frozen=True)
class MarkedText:
    """A text with its markers removed and the token positions they pointed at.

    `positions` index real tokens (0 = first token after BOS)."""

    source: str
    text: str
    positions: tuple[int, ...]
    ids: tuple[int, ...]


def strip_marks(source: str) -> tuple[str, list[tuple[int, int]]]:
    """The text without `[[ ]]` and the character span of each marked piece in it."""
    spans: list[tuple[int, int]] = []
    out: list[str] = []
    cursor = 0
    length = 0
    for match in _MARK.finditer(source):
        before = source[cursor : match.start()]
        out.append(before)
        length += len(before)
        inner = match.group(1)
        spans.append((length, length + len(inner)))
        out.append(inner)
        length += len(inner)
        cursor = match.end()
    out.append(source[cursor:])
    return "".join(out), spans


def mark_positions(tokenizer: Any, source: str, *, require_marks: bool = False) -> MarkedText:
    """Tokenize a marked text and find the token of each mark (ValueError if a mark splits)."""
    text, spans = strip_marks(source)
    if require_marks and not spans:
        raise ValueError(f"{source!r} has no [[marked]] token; mark where the neuron should fire")
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
    positions = []
    for start, end in spans:
        hits = [i for i, (s, e) in enumerate(offsets) if s < end and e > start]
        if len(hits) != 1:
            pieces = [lone_token_text(tokenizer, ids[i]) for i in hits]  # byte pieces as <0xE2>
            raise ValueError(
                f"marked {text[start:end]!r} in {source!r} is {len(hits)} tokens {pieces!r}, "
                f"not one; mark a single token, e.g. [[{pieces[-1].strip() if pieces else '...'}]]"
            )
        positions.append(hits[0])
    return MarkedText(source, text, tuple(positions), tuple(ids))
