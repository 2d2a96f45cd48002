"""Checking a firing property on perturbed texts: sample in batches, then shrink a counterexample.

1. Sampling: Hypothesis draws up to `examples` texts from the strategy (generate phase only, no
   model calls), and all of them go through the model in batched forward passes. The rate is
   the share of usable texts (trigger is one token, predicate as required at it) that behave.
2. Shrinking, only when a text broke the property or the example database holds one for this
   claim: `hypothesis.find` starts from the failure, one forward pass per shrink candidate (at
   most `shrink_budget`). Unseeded runs of the default profile save the sampled failure to the
   database and replay it (with older saved failures); seeded or derandomized runs, which
   Hypothesis runs without a database, regenerate it from the same seed (answered from the
   cache, no model call), so their counterexamples are reproducible.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# Seeded draws must not depend on the literals of whatever modules the process imported: the
# guard lives with the other seeded Hypothesis runs (the causal kinds' templated pairs).
from neurontest.claims.draws import BudgetSpent, global_constants_only
from neurontest.claims.predicates import TokenPredicate
from neurontest.claims.settings import DEFAULT_SETTINGS, RunSettings
from neurontest.engine.data.tokens import batch_from_ids, bos_id, display_tokens, merged_pieces
from neurontest.engine.progress import progress_task
from neurontest.engine.run.activations import neuron_activations
from neurontest.perturb.sources import Encoder
from neurontest.perturb.text import TokenText

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from neurontest.claims.predicates import Predicate
    from neurontest.engine.units.protocol import UnitRef
    from neurontest.lab import Lab


@dataclass
class Trial:
    """One perturbed text as the model saw it, with the activation at its trigger."""

    text: TokenText
    ids: tuple[int, ...]
    trigger: int
    predicate_holds: bool
    activation: float
    str_tokens: list[str]  # display strings (engine.tokens.display_tokens)
    values: list[float]
    shown: str = ""  # the decoded text with the trigger in [[ ]]
    pieces: list[str] = field(default_factory=list)  # hover forms of merged byte pieces


@dataclass
class PropertyOutcome:
    """What one property check found; `counterexample` is the shrunk one (None if none)."""

    tried: int
    discarded: int
    good: list[Trial]
    broken: list[Trial]
    counterexample: Trial | None
    seed: int
    shrink_calls: int = 0
    replayed: bool = False  # the counterexample came from the example database
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.good) / self.tried if self.tried else 0.0


class Evaluator:
    """Batched, cached activations of one neuron at the trigger of `TokenText`s."""

    def __init__(self, lab: Lab, neuron: UnitRef, predicate: Predicate, encoder: Encoder) -> None:
        self.lab, self.neuron, self.predicate, self.encoder = lab, neuron, predicate, encoder
        self.bos = bos_id(lab.tokenizer)
        self.table = predicate.token_table(lab.vocab) if isinstance(predicate, TokenPredicate) else None
        self.cache: dict[tuple[tuple[int, ...], int], Trial] = {}
        self.forwards = 0

    def run(self, texts: list[TokenText]) -> list[Trial | None]:
        """A trial per text (None where the trigger is not a single token), batched."""
        encoded = [self.encoder.encode(t) for t in texts]
        todo = {}
        for text, enc in zip(texts, encoded):
            if enc is not None and enc[1] is not None and enc not in self.cache:
                todo.setdefault(enc, text)
        if todo:
            self._forward(list(todo.items()))
        return [None if enc is None or enc[1] is None else self.cache[enc] for enc in encoded]

    def _forward(self, items: list[tuple[tuple[tuple[int, ...], int], TokenText]]) -> None:
        head = [] if self.bos is None else [self.bos]
        batch = batch_from_ids([head + list(ids) for (ids, _), _ in items], self.lab.tokenizer,
                               has_bos=bool(head))
        acts = neuron_activations(self.lab.model, batch, [self.neuron],
                                  batch_size=self.lab.batch_size)[self.neuron]
        if self.table is not None:
            holds = self.table[batch.tokens] & batch.mask
        else:
            holds = self.predicate.mask(batch, self.lab.vocab)
        self.forwards += 1
        tokenizer, strings = self.lab.tokenizer, self.lab.vocab.strings
        off = len(head)
        for row, ((ids, trig), text) in enumerate(items):
            values = acts[row, off: off + len(ids)].tolist()
            # The vocabulary's strings spare a decode per token: one trial per perturbed text.
            self.cache[(ids, trig)] = Trial(
                text, ids, trig, bool(holds[row, off + trig]), values[trig],
                display_tokens(tokenizer, ids, strings=strings), values,
                _shown(tokenizer, ids, trig), merged_pieces(tokenizer, ids, strings=strings))


def _shown(tokenizer: Any, ids: tuple[int, ...], trigger: int) -> str:
    """The decoded text with the trigger in [[ ]] (decoding whole prefixes keeps the spacing
    of tokenizers whose single-token decodes drop it)."""
    before, upto, full = (tokenizer.decode(list(ids[:n])) for n in (trigger, trigger + 1, len(ids)))
    if not (upto.startswith(before) and full.startswith(upto)):
        return f"{before}[[{tokenizer.decode([ids[trigger]])}]]{tokenizer.decode(list(ids[trigger + 1:]))}"
    word = upto[len(before):]
    space = word[: len(word) - len(word.lstrip())]
    return f"{before}{space}[[{word.lstrip()}]]{full[len(upto):]}"


def claim_seed(identity: str) -> int:
    """A stable seed for a claim (used by the `ci` profile when the claim sets none)."""
    return int.from_bytes(hashlib.sha256(identity.encode()).digest()[:4], "big")


def check_property(
    lab: Lab,
    neuron: UnitRef,
    predicate: Predicate,
    strategy: SearchStrategy[TokenText],
    *,
    tau: float,
    expect_fire: bool,
    identity: str,
    encoder: Encoder,
    examples: int | None = None,
    seed: int | None = None,
    shrink_budget: int = 200,
    config: RunSettings = DEFAULT_SETTINGS,
) -> PropertyOutcome:
    """Does the neuron fire (`expect_fire`) or stay silent at the trigger of every text the
    strategy draws? Texts count only where the predicate holds at the trigger (`expect_fire`)
    or does not (silence). `identity` names the claim in the example database."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    n = int(examples or config.max_examples)
    # Like Hypothesis itself: a database only for unseeded, non-derandomized runs.
    use_db = seed is None and config.database_dir is not None
    if seed is None:
        seed = claim_seed(identity) if config.derandomize else random.SystemRandom().getrandbits(32)
    base = settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=n,
                    derandomize=config.derandomize, print_blob=False, database=None)
    evaluator = Evaluator(lab, neuron, predicate, encoder)

    def usable(trial: Trial | None) -> bool:
        return trial is not None and trial.predicate_holds == expect_fire

    def behaves(trial: Trial) -> bool:
        return (trial.activation > tau) == expect_fire

    drawn: list[tuple[TokenText, Any]] = []

    @settings(base, phases=[Phase.generate])
    @given(strategy)
    def collect(text: TokenText) -> None:
        drawn.append((text, _choices() if use_db else None))

    # Shown live by the pytest plugin (engine/progress.py): drawing, then running, the texts.
    with progress_task(f"perturbing {neuron.short_id}", total=n, unit="texts",
                       phase="searches") as task:
        # `find(random=Random(seed))` seeds its test with the same 64 bits: the same texts come back.
        with global_constants_only():
            fixed_seed(random.Random(seed).getrandbits(64))(collect)()
        evaluated = evaluator.run([t for t, _ in drawn])
        task.advance(len(drawn))
    trials: dict[tuple[tuple[int, ...], int], tuple[Trial, Any]] = {}
    discarded = 0
    for trial, (_, choices) in zip(evaluated, drawn):
        if usable(trial):
            trials.setdefault((trial.ids, trial.trigger), (trial, choices))  # type: ignore[union-attr]
        else:
            discarded += 1
    good = [t for t, _ in trials.values() if behaves(t)]
    broken = [(t, c) for t, c in trials.values() if not behaves(t)]
    outcome = PropertyOutcome(len(trials), discarded, good, [t for t, _ in broken], None, seed)
    first = min(broken, key=lambda tc: (len(tc[0].text.edits), len(tc[0].ids)), default=None)
    use_db = use_db and (first is None or first[1] is not None)

    key = hashlib.sha256(identity.encode()).digest()[:20]
    database = _database(config) if use_db else None
    if first is None and (database is None or next(iter(database.fetch(key)), None) is None):
        return outcome
    start, last = evaluator.forwards, []

    def breaks(text: TokenText) -> bool:
        trial = evaluator.run([text])[0]
        if evaluator.forwards - start > shrink_budget:
            raise BudgetSpent
        if usable(trial) and not behaves(trial):  # type: ignore[arg-type]
            last[:] = [dataclasses.replace(trial, text=text)]  # type: ignore[arg-type]
            return True
        return False

    with global_constants_only():
        found = _shrink(strategy, breaks, base, seed, key, database, first, evaluator)
    if found is None and last:
        found = last[0]
        outcome.notes.append(f"shrinking stopped after {shrink_budget} model calls")
    if found is None and first is not None:
        found = first[0]
        outcome.notes.append("not shrunk: Hypothesis did not regenerate the failing text")
    outcome.shrink_calls = evaluator.forwards - start
    outcome.counterexample = found
    if found is not None and first is None:  # a saved failure replayed from the database
        outcome.replayed = True
        if (found.ids, found.trigger) not in trials:
            outcome.tried += 1
            outcome.broken.append(found)
    return outcome


def _shrink(strategy: Any, breaks: Any, base: Any, seed: int, key: bytes, database: Any,
            first: tuple[Trial, Any] | None, evaluator: Evaluator) -> Trial | None:
    """`hypothesis.find` from the sampled failure: replayed from the database (after saving
    it there), or regenerated from the same seed (seeds and derandomize exclude a database)."""
    from hypothesis import Phase, find, settings
    from hypothesis.database import choices_to_bytes
    from hypothesis.errors import NoSuchExample

    try:
        if database is not None:
            if first is not None:
                database.save(key, choices_to_bytes(first[1]))
            shrink = settings(base, phases=[Phase.reuse, Phase.shrink], database=database)
            value = find(strategy, breaks, settings=shrink, database_key=key)
        else:
            shrink = settings(base, phases=[Phase.generate, Phase.shrink])
            value = find(strategy, breaks, settings=shrink, random=random.Random(seed))
    except (BudgetSpent, NoSuchExample):
        return None
    trial = evaluator.run([value])[0]
    # The cache answers by token ids: report the shrunk edits, not those of an earlier twin.
    return None if trial is None else dataclasses.replace(trial, text=value)


def _database(config: RunSettings) -> Any:
    from hypothesis.database import DirectoryBasedExampleDatabase

    return DirectoryBasedExampleDatabase(str(config.database_dir))


def _choices() -> Any:
    """The choice sequence Hypothesis made for the current example (to save a failure found
    in the batched phase to the database); None if this Hypothesis version hides it."""
    try:
        from hypothesis.control import current_build_context

        return tuple(current_build_context().data.choices)
    except Exception:
        return None
