"""The best simple explanation of a neuron's firing that a search can find, and how good it is.

    explanation = explain_neuron(lab, NeuronRef(0, 972))
    explanation.explained          # best F1 >= MIN_F1: a claim worth drafting
    explanation.fires_on           # the predicate in hypothesis-file form
    explanation.threshold          # the firing threshold it was found at
    explanation.scores             # every metric `score_predicate` returns for it

For each of a few firing thresholds, candidate generators propose predicates (`GENERATORS`: token
sets grown greedily from the neuron's firing tokens, regexes for token classes, and context forms
around the best of those), fitted on the even corpus rows. Every candidate is scored with its real
mask on the odd rows, and the one with the highest held-out F1 (less a small cost per extra part,
so the simpler form wins a tie) is measured on the whole corpus. A generator is any
`Callable[[Problem, Sequence[Scored]], Iterable[Candidate]]`, seeing the candidates scored so far
at that threshold, so new predicate forms plug in as one more entry of the list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import torch

from neurontest.claims.base import Threshold
from neurontest.claims.predicates import Context, Predicate, TokenPredicate, TokenRegex, TokenSet
from neurontest.measure.metrics import score_predicate

if TYPE_CHECKING:
    from neurontest.engine.data.tokens import TokenBatch
    from neurontest.engine.data.vocabulary import Vocabulary
    from neurontest.engine.units.protocol import UnitRef
    from neurontest.lab import Lab

MIN_F1 = 0.5  # below this, nothing simple explains the neuron and no claim is drafted
MIN_POSITIONS = 20  # a predicate (or a firing set) naming fewer corpus positions proves nothing
# At a threshold where more tokens fire, "every token" alone scores F1 >= 2s/(1+s) = 0.33: firing
# that common is not firing "on" something, so that threshold is skipped.
MAX_FIRING_SHARE = 0.2
RELATIVE_THRESHOLDS = (0.25, 0.15, 0.4, 0.6)  # shares of the corpus max tried as tau (ties: first)
PART_COST = 0.02  # F1 an extra predicate part (a context) must buy to be preferred
MAX_TOKENS = 24  # a longer token list is a lookup table, not an explanation
MIN_GAIN = 0.003  # F1 a token must add to join a greedy set
MIN_SUPPORT = 3  # firing positions a token must name to join a set (silent ones, to be excluded)
CONTEXT_SPANS = (1, 3, 8)  # `within` values tried for context forms
CONTEXT_BASES = 3  # how many of the best token-level candidates get a context tried around them

# Token classes a neuron often tracks; each is scored as `regex:` (token with its leading space).
TOKEN_CLASSES: dict[str, str] = {
    "numbers": r"^ ?\d+$",
    "tokens with a digit": r"\d",
    "capitalised words": r"^ ?[A-Z][a-z]+$",
    "all-caps words": r"^ ?[A-Z]{2,}$",
    "punctuation": r"^ ?[^\w\s]+$",
    "whitespace": r"^\s+$",
    "word starts": r"^ [A-Za-z]",
    "word continuations": r"^[a-z]+$",
}
ANY_TOKEN = TokenRegex(r"^")  # the base of "the token after X" forms


@dataclass(frozen=True)
class Candidate:
    """A predicate, its hypothesis-file form (`fires_on:`) and its number of parts."""

    predicate: Predicate
    fires_on: dict[str, Any]
    parts: int = 1


@dataclass(frozen=True)
class Scored:
    """A candidate's F1 on the corpus at one threshold."""

    candidate: Candidate
    f1: float
    n_claimed: int

    @property
    def rank(self) -> float:
        return self.f1 - PART_COST * (self.candidate.parts - 1)


@dataclass
class Problem:
    """One neuron at one threshold, as candidate generators see it: the corpus tokens, where the
    neuron fires, and the vocabulary. Masks are bool `[rows, pos]`, False off the scorable mask.

    Generators fit their candidates on the `fit` positions (the even corpus rows) only; candidates
    are ranked by F1 on the `held` ones (the odd rows), so a token list that memorises where the neuron happened
    to fire does not win."""

    batch: TokenBatch
    vocab: Vocabulary
    firing: torch.Tensor
    fit: torch.Tensor
    held: torch.Tensor
    threshold: Threshold
    tau: float
    _masks: dict[Predicate, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def n_firing_fit(self) -> int:
        """Firing positions among the `fit` ones (the F1 denominator a generator fits)."""
        return int((self.firing & self.fit).sum())

    def mask(self, predicate: Predicate) -> torch.Tensor:
        """Where `predicate` holds (memoised: generators share bases)."""
        if predicate not in self._masks:
            self._masks[predicate] = predicate.mask(self.batch, self.vocab)
        return self._masks[predicate]

    def score(self, candidate: Candidate) -> Scored:
        """The candidate's F1 on the held-out rows (`n_claimed` counts the whole corpus)."""
        claimed = self.mask(candidate.predicate)
        held = self.held
        hits = int((claimed & self.firing & held).sum())
        total = int((claimed & held).sum()) + int((self.firing & held).sum())
        return Scored(candidate, 2 * hits / total if total else 0.0, int(claimed.sum()))

    def groups(self, case_sensitive: bool = True) -> tuple[torch.Tensor, list[str]]:
        """Each token id's group (tokens equal once stripped, and casefolded unless
        `case_sensitive`: what a `tokens:` entry matches) and each group's name."""

        def build() -> tuple[torch.Tensor, list[str]]:
            index: dict[str, int] = {}
            ids = [index.setdefault(_norm(s, case_sensitive), len(index)) for s in self.vocab.strings]
            return torch.tensor(ids, dtype=torch.long), list(index)

        return self.vocab.memo(("explain.groups", case_sensitive), build)


def _norm(text: str, case_sensitive: bool) -> str:
    text = text.strip()
    return text if case_sensitive else text.casefold()


CandidateGenerator = Callable[[Problem, Sequence[Scored]], Iterable[Candidate]]


def greedy_groups(pair_position: torch.Tensor, pair_group: torch.Tensor, fires: torch.Tensor,
                  n_firing: int, *, exclude: bool = False, allowed: torch.Tensor | None = None,
                  max_groups: int = MAX_TOKENS, min_gain: float = MIN_GAIN,
                  min_support: int = MIN_SUPPORT) -> list[int]:
    """Forward selection of groups maximising F1 = 2 |claimed & firing| / (|claimed| + n_firing).

    Positions `0..len(fires)-1` each carry the groups of the (unique) pairs naming them. With
    `exclude=False` the claim starts empty and a chosen group claims every position it names;
    with `exclude=True` it starts with every position and a chosen group removes them. A group
    must name at least `min_support` firing positions (silent ones with `exclude`), so a set is
    not a list of one-off tokens; `allowed` (bool per group id) limits the choice further."""
    fires = fires.to(torch.bool)
    if allowed is not None:
        keep = allowed[pair_group]
        pair_position, pair_group = pair_position[keep], pair_group[keep]
    # Compact ids over the groups that can be chosen: each step then costs O(pairs left).
    label, group = torch.unique(pair_group, return_inverse=True)
    hit = fires[pair_position]
    useful = torch.bincount(group, weights=(hit != exclude).to(torch.float64), minlength=len(label))
    keep = (useful >= min_support)[group]
    position, group, hit = pair_position[keep], group[keep], hit[keep].to(torch.float64)
    n_groups, sign = len(label), (-1.0 if exclude else 1.0)
    claimed, hits = (float(len(fires)), float(fires.sum())) if exclude else (0.0, 0.0)
    best = 2 * hits / (claimed + n_firing) if claimed + n_firing else 0.0
    touched = torch.zeros(len(fires), dtype=torch.bool)
    chosen: list[int] = []
    while len(chosen) < max_groups and len(group):
        count = torch.bincount(group, minlength=n_groups).to(torch.float64)
        fired = torch.bincount(group, weights=hit, minlength=n_groups)
        f1 = 2 * (hits + sign * fired) / (claimed + sign * count + n_firing).clamp(min=1e-12)
        f1[count == 0] = -1.0
        pick = int(f1.argmax())
        if float(f1[pick]) < best + min_gain:
            break
        chosen.append(pick)
        best = float(f1[pick])
        claimed, hits = claimed + sign * float(count[pick]), hits + sign * float(fired[pick])
        touched[position[group == pick]] = True
        still = ~touched[position]
        position, group, hit = position[still], group[still], hit[still]
    return [int(label[g]) for g in chosen]


def token_sets(problem: Problem, found: Sequence[Scored]) -> Iterable[Candidate]:
    """The token set (spacing ignored; and a case-insensitive one) grown greedily for F1."""
    mask = problem.fit
    for case_sensitive in (True, False):
        group_of, names = problem.groups(case_sensitive)
        groups = group_of[problem.batch.tokens[mask]]
        allowed = _nonblank(names)
        chosen = greedy_groups(torch.arange(len(groups)), groups, problem.firing[mask], problem.n_firing_fit,
                               allowed=allowed)
        if chosen:
            tokens = tuple(names[g] for g in chosen)
            fires_on: dict[str, Any] = {"tokens": list(tokens)}
            if not case_sensitive:
                fires_on["case_sensitive"] = False
            yield Candidate(TokenSet(tokens, case_sensitive=case_sensitive), fires_on)


def token_classes(problem: Problem, found: Sequence[Scored]) -> Iterable[Candidate]:
    """Each regex of `TOKEN_CLASSES`."""
    for pattern in TOKEN_CLASSES.values():
        yield Candidate(TokenRegex(pattern), {"regex": pattern})


def preceded_by(problem: Problem, found: Sequence[Scored]) -> Iterable[Candidate]:
    """Around the best token-level candidates (and any token): `preceded_by` and
    `not_preceded_by` a token set chosen greedily from the tokens before, for each span."""
    bases = [s.candidate for s in sorted(found, key=lambda s: -s.f1)
             if isinstance(s.candidate.predicate, TokenPredicate)][:CONTEXT_BASES]
    bases.append(Candidate(ANY_TOKEN, {"regex": ANY_TOKEN.pattern}))
    group_of, names = problem.groups()
    allowed = _nonblank(names)
    for base in bases:
        rows, cols = (problem.mask(base.predicate) & problem.fit).nonzero(as_tuple=True)
        if len(rows) < MIN_POSITIONS:
            continue
        fires = problem.firing[rows, cols]
        # "The token after X": only the previous token, or the look-back claims nearly everything.
        for within in CONTEXT_SPANS if base.predicate != ANY_TOKEN else (1,):
            position, group = _previous_tokens(problem, rows, cols, within, group_of)
            for negate in (False, True):
                chosen = greedy_groups(position, group, fires, problem.n_firing_fit, exclude=negate,
                                       allowed=allowed, max_groups=MAX_TOKENS // 2)
                if not chosen:
                    continue
                tokens = tuple(names[g] for g in chosen)
                fires_on = dict(base.fires_on)
                fires_on["not_preceded_by" if negate else "preceded_by"] = {"tokens": list(tokens)}
                if within != 1:
                    fires_on["within"] = within
                predicate = Context(base.predicate, TokenSet(tokens), within=within, negate=negate)
                yield Candidate(predicate, fires_on, parts=base.parts + 1)


GENERATORS: list[CandidateGenerator] = [token_sets, token_classes, preceded_by]


def _nonblank(names: list[str]) -> torch.Tensor:
    # A blank entry would read `tokens: [""]`; whitespace has its own regex class.
    return torch.tensor([bool(n) for n in names], dtype=torch.bool)


def _previous_tokens(problem: Problem, rows: torch.Tensor, cols: torch.Tensor, within: int,
                     group_of: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique (base position, group) pairs: the groups of the scorable tokens among the
    `within` before each base position (what `Context` looks back at)."""
    tokens, mask = problem.batch.tokens, problem.batch.mask
    positions, groups = [], []
    index = torch.arange(len(rows))
    for shift in range(1, within + 1):
        ok = cols >= shift
        r, c = rows[ok], cols[ok] - shift
        seen = mask[r, c]
        positions.append(index[ok][seen])
        groups.append(group_of[tokens[r[seen], c[seen]]])
    position, group = torch.cat(positions), torch.cat(groups)
    n_groups = int(group_of.max()) + 1
    pairs = torch.unique(position * n_groups + group)
    return pairs // n_groups, pairs % n_groups


@dataclass
class Explanation:
    """The best candidate found for a neuron, at the threshold it was found at, with every
    metric of `score_predicate` for it on the whole corpus (`scores`), its F1 on the rows it was
    not fitted on (`held_out_f1`), and the best candidates in rank order (`ranked`)."""

    candidate: Candidate | None
    threshold: Threshold
    scores: dict[str, float]
    held_out_f1: float = 0.0
    ranked: list[tuple[Threshold, Scored]] = field(default_factory=list)

    @property
    def explained(self) -> bool:
        """Whether the best candidate is good enough to draft a claim: F1 >= MIN_F1 on the whole
        corpus and on the rows it was not fitted on."""
        return (self.candidate is not None and self.scores.get("f1", 0.0) >= MIN_F1
                and self.held_out_f1 >= MIN_F1)

    @property
    def predicate(self) -> Predicate | None:
        return None if self.candidate is None else self.candidate.predicate

    @property
    def fires_on(self) -> dict[str, Any]:
        return {} if self.candidate is None else dict(self.candidate.fires_on)

    def describe(self) -> str:
        if self.candidate is None:
            return (f"no threshold tried makes it fire on {MIN_POSITIONS} positions to "
                    f"{MAX_FIRING_SHARE:.0%} of the corpus, or no candidate claims {MIN_POSITIONS}")
        return (f"{self.candidate.predicate.describe()}: f1 {self.scores['f1']:.3f} "
                f"(held out {self.held_out_f1:.3f}) at tau {self.scores['tau']:.4g} "
                f"({self.threshold.describe()})")


def explain(values: torch.Tensor, batch: TokenBatch, vocab: Vocabulary, *,
            thresholds: Sequence[float] = RELATIVE_THRESHOLDS,
            generators: Sequence[CandidateGenerator] = tuple(GENERATORS)) -> Explanation:
    """Search `generators`' candidates at each relative threshold for the highest-ranked F1
    against `values > tau` (`values`: `[rows, pos]` activations on `batch`)."""
    mask = batch.mask
    rows = torch.arange(mask.shape[0])
    # Even rows to fit, odd rows to rank; a one-row corpus fits and ranks on the same row.
    fit = mask & (rows % 2 == 0)[:, None] if mask.shape[0] > 1 else mask.clone()
    held = mask & ~fit if mask.shape[0] > 1 else mask.clone()
    peak = float(values[mask].max()) if bool(mask.any()) else 0.0
    ranked: list[tuple[Threshold, Scored]] = []
    masks: dict[Predicate, torch.Tensor] = {}  # shared across thresholds: masks do not change
    for share in thresholds:
        if peak <= 0:
            break
        threshold = Threshold(share, relative=True)
        tau = share * peak
        firing = (values > tau) & mask
        n_firing = int(firing.sum())
        if n_firing < MIN_POSITIONS or n_firing > MAX_FIRING_SHARE * int(mask.sum()):
            continue
        problem = Problem(batch, vocab, firing, fit, held, threshold, tau, masks)
        found: list[Scored] = []
        for generate in generators:
            for candidate in generate(problem, found):
                scored = problem.score(candidate)
                if scored.n_claimed >= MIN_POSITIONS:
                    found.append(scored)
        ranked += [(threshold, s) for s in found]
    ranked.sort(key=lambda ts: -ts[1].rank)
    if not ranked:
        return Explanation(None, Threshold(RELATIVE_THRESHOLDS[0], relative=True), {})
    threshold, best = ranked[0]
    tau = threshold.value * peak
    scores = score_predicate(values[mask], masks[best.candidate.predicate][mask], tau)
    return Explanation(best.candidate, threshold, scores, best.f1, ranked[:10])


def explain_neuron(lab: Lab, neuron: UnitRef, **options: Any) -> Explanation:
    """`explain` on the lab's corpus activations of `neuron`; its `scores` are what an
    `activation` claim with `fires_on: explanation.fires_on` measures on this lab."""
    explanation = explain(lab.activations(neuron), lab.sample.batch, lab.vocab, **options)
    if explanation.candidate is not None:
        explanation.scores = lab.score(neuron, explanation.candidate.predicate, explanation.threshold)
    return explanation
