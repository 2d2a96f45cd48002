"""Shrink a text to the few tokens that keep a neuron firing at one token (greedy deletion).

At each step every candidate with one context token deleted is scored in one batch, and the
candidate that keeps the activation at the target highest survives. The target token is never
deleted. Tokens after the target cannot reach it in a causal model, so they are dropped first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from neurontest.engine.data.tokens import bos_id, display_tokens, encode, lone_token_text, merged_pieces
from neurontest.engine.run.prefix_runs import PrefixRunner, Variant
from neurontest.engine.units.protocol import UnitRef, check_units


@dataclass
class SimplificationStep:
    """One stage of the shrinking: its real tokens, the activation at the target (always the
    last token), and the token deleted to reach it (None for the first step).

    `str_tokens` are display strings and `pieces` the hover forms of merged byte pieces
    (`engine.tokens.display_tokens`, `merged_pieces`); compare tokens by `token_ids`, since a
    piece's display string depends on its neighbours."""

    str_tokens: list[str]
    activation: float
    removed: str | None
    token_ids: list[int] = field(default_factory=list, repr=False)
    pieces: list[str] = field(default_factory=list, repr=False)


@dataclass
class Simplification:
    """Every step from the (truncated) original text down to `min_tokens` tokens."""

    neuron: UnitRef
    text: str
    steps: list[SimplificationStep]

    @property
    def original(self) -> float:
        return self.steps[0].activation

    def minimal(self, keep_share: float = 0.5) -> SimplificationStep:
        """The shortest step whose activation is still >= `keep_share` x the original's.

        The first step is returned when no shorter one qualifies.
        """
        threshold = keep_share * self.original
        kept = [s for s in self.steps if s.activation >= threshold]
        return min(kept, key=lambda s: len(s.str_tokens)) if kept else self.steps[0]


def simplify(
    model: Any,
    neuron: UnitRef,
    text: str,
    *,
    target: int = -1,
    min_tokens: int = 1,
    prepend_bos: bool = True,
    batch_size: int = 64,
) -> Simplification:
    """Greedily delete tokens of `text` while keeping `neuron`'s activation at `target` high.

    `target` indexes the real tokens (BOS excluded). Each step evaluates all its candidates
    in batches (equal lengths, so no padding), each from its deleted position on and stopped
    after the neuron's layer (`prefix_runs`).
    """
    check_units(model, [neuron])
    if min_tokens < 1:
        raise ValueError("min_tokens must be at least 1 (the target token)")
    tokenizer = model.tokenizer
    ids = encode(tokenizer, text, prepend_bos=False)
    if not ids:
        raise ValueError("the text has no tokens")
    if not -len(ids) <= target < len(ids):
        raise ValueError(f"target {target} is out of range for a text of {len(ids)} tokens")
    ids = ids[: target % len(ids) + 1]
    prefix = [bos_id(tokenizer)] if prepend_bos and bos_id(tokenizer) is not None else []

    def step(row: list[int], activation: float, removed: str | None) -> SimplificationStep:
        return SimplificationStep(display_tokens(tokenizer, row), activation, removed, list(row),
                                  merged_pieces(tokenizer, row))

    # One runner for all steps: each step's base is a variant of the step before.
    runner = PrefixRunner(model, neuron, batch_size=batch_size)

    def run(rows: list[list[int]], starts: list[int], base: list[int]) -> Any:
        variants = [Variant(tuple(prefix + row), len(prefix) + start) for row, start in zip(rows, starts)]
        return runner(prefix + base, variants)

    first = run([ids], [len(ids)], ids)
    steps = [step(ids, float(first[0]), None)]
    while len(ids) > min_tokens:
        # Candidate j deletes token j; the target (last) token is never a candidate.
        candidates = [ids[:j] + ids[j + 1 :] for j in range(len(ids) - 1)]
        acts = run(candidates, list(range(len(candidates))), ids)
        best = int(torch.argmax(acts))
        removed = lone_token_text(tokenizer, ids[best])
        ids = candidates[best]
        steps.append(step(ids, float(acts[best]), removed))
    return Simplification(neuron, text, steps)
