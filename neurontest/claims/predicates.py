"""What a claim says a neuron responds to: predicates over the tokens of a text.

A token predicate is decided once per vocabulary entry (a bool per token id), so applying it to a
100k-token corpus is one lookup; a context predicate adds a look-back over the previous tokens.

    TokenSet(["January", "February"])            the token is one of these (spacing ignored)
    TokenRegex(r"^ ?\\d{4}$")                     the decoded token matches the regex
    Context(TokenRegex(r"^\\d+$"), preceded_by=TokenSet(["$"]), within=1)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

# Re-exported: predicates are decided per vocabulary entry.
from neurontest.engine.vocabulary import Vocabulary, vocabulary  # noqa: F401

if TYPE_CHECKING:
    import torch

    from neurontest.engine.tokens import TokenBatch


class Predicate:
    """Decides, for every position of a token batch, whether the claim says the neuron fires."""

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        """Bool `[rows, pos]`, False at every unscorable (BOS or pad) position."""
        raise NotImplementedError

    def check(self, vocab: Vocabulary) -> None:
        """Raise ValueError with a fix when the predicate cannot mean what was written."""

    def describe(self) -> str:
        raise NotImplementedError

    def holds_for(self, ids: Sequence[int], position: int, vocab: Vocabulary) -> bool:
        """The predicate at one position of one token sequence (no BOS handling)."""
        import torch

        from neurontest.engine.tokens import TokenBatch

        tokens = torch.tensor([list(ids)], dtype=torch.long)
        batch = TokenBatch(tokens, torch.ones_like(tokens, dtype=torch.bool), has_bos=False)
        return bool(self.mask(batch, vocab)[0, position])


class TokenPredicate(Predicate):
    """A predicate that looks at the token alone."""

    def token_table(self, vocab: Vocabulary) -> torch.Tensor:
        """Bool per token id (a fresh copy: callers may modify it)."""
        # Memoised per (vocabulary, predicate): predicates are frozen dataclasses, so equal
        # predicates share one table and different ones never do.
        return vocab.memo(("token_table", self), lambda: self.build_table(vocab)).clone()

    def build_table(self, vocab: Vocabulary) -> torch.Tensor:
        """Compute the bool-per-token-id table (`token_table` memoises it)."""
        raise NotImplementedError

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        return self.token_table(vocab)[batch.tokens] & batch.mask


@dataclass(frozen=True)
class TokenSet(TokenPredicate):
    """The token is one of `tokens`. With `exact=False` (default) surrounding spaces are ignored,
    so `March` matches both " March" and "March"; with `case_sensitive=False` case is too."""

    tokens: tuple[str, ...]
    exact: bool = False
    case_sensitive: bool = True

    def _norm(self, text: str) -> str:
        text = text if self.exact else text.strip()
        return text if self.case_sensitive else text.casefold()

    def _normalised(self, vocab: Vocabulary) -> tuple[list[str], frozenset[str]]:
        """Every vocabulary string normalised in this spacing/case mode, and the set of them;
        shared by every TokenSet with the same mode (the normalisation depends on nothing else).
        Plain strings, not a container per token id: a full garbage collection (about 15 per
        warm run) then has 2 more objects to scan instead of 49k."""

        def build() -> tuple[list[str], frozenset[str]]:
            strings = [self._norm(s) for s in vocab.strings]
            return strings, frozenset(strings)

        return vocab.memo(("TokenSet._normalised", self.exact, self.case_sensitive), build)

    def build_table(self, vocab: Vocabulary) -> torch.Tensor:
        import torch

        strings, _ = self._normalised(vocab)
        wanted = {self._norm(t) for t in self.tokens}
        return torch.tensor([s in wanted for s in strings], dtype=torch.bool)

    def check(self, vocab: Vocabulary) -> None:
        _, present = self._normalised(vocab)
        for token in self.tokens:
            if self._norm(token) not in present:
                pieces = vocab.tokenizer.tokenize(token)
                split = [vocab.tokenizer.convert_tokens_to_string([p]) for p in pieces]
                raise ValueError(
                    f"{token!r} is not a single token of this model: the tokenizer splits it "
                    f"into {split!r}; list one of those pieces, or use a regex or context predicate"
                )

    def describe(self) -> str:
        shown = ", ".join(repr(t) for t in self.tokens[:8])
        more = f", ... ({len(self.tokens)} tokens)" if len(self.tokens) > 8 else ""
        return f"token in [{shown}{more}]"


@dataclass(frozen=True)
class TokenRegex(TokenPredicate):
    """The decoded token (leading space included) matches `pattern` (Python `re.search`)."""

    pattern: str

    def build_table(self, vocab: Vocabulary) -> torch.Tensor:
        import torch

        compiled = re.compile(self.pattern)
        return torch.tensor([bool(compiled.search(s)) for s in vocab.strings], dtype=torch.bool)

    def check(self, vocab: Vocabulary) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"regex {self.pattern!r} does not compile: {exc}") from None
        if not bool(self.token_table(vocab).any()):  # the memoised table: no second vocab scan
            raise ValueError(
                f"regex {self.pattern!r} matches no token of this model's vocabulary; remember "
                f"tokens usually carry their leading space (e.g. r'^ ?March$')"
            )

    def describe(self) -> str:
        return f"token matches /{self.pattern}/"


@dataclass(frozen=True)
class AnyOf(TokenPredicate):
    """The token satisfies any of several token predicates."""

    parts: tuple[TokenPredicate, ...]

    def build_table(self, vocab: Vocabulary) -> torch.Tensor:
        table = self.parts[0].token_table(vocab)
        for part in self.parts[1:]:
            table = table | part.token_table(vocab)
        return table

    def check(self, vocab: Vocabulary) -> None:
        for part in self.parts:
            part.check(vocab)

    def describe(self) -> str:
        return " or ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class Context(Predicate):
    """`token` holds here and `preceded_by` holds at one of the previous `within` positions
    (or, with `negate=True`, at none of them)."""

    token: TokenPredicate
    preceded_by: TokenPredicate
    within: int = 1
    negate: bool = False

    def mask(self, batch: TokenBatch, vocab: Vocabulary) -> torch.Tensor:
        here = self.token.mask(batch, vocab)
        # BOS counts as context-free: the look-back sees only scorable tokens.
        before = self.preceded_by.mask(batch, vocab)
        seen = before.clone() & False
        for shift in range(1, self.within + 1):
            seen[:, shift:] |= before[:, :-shift]
        return here & (~seen if self.negate else seen)

    def check(self, vocab: Vocabulary) -> None:
        self.token.check(vocab)
        self.preceded_by.check(vocab)
        if self.within < 1:
            raise ValueError(f"within must be >= 1, got {self.within}")

    def describe(self) -> str:
        word = "not preceded" if self.negate else "preceded"
        span = "the previous token" if self.within == 1 else f"one of the previous {self.within} tokens"
        return f"{self.token.describe()}, {word} by {self.preceded_by.describe()} at {span}"


PREDICATE_KEYS = ("tokens", "regex", "any_of", "exact", "case_sensitive", "preceded_by",
                  "not_preceded_by", "within")


def predicate_from_dict(data: dict[str, Any]) -> Predicate:
    """Build a predicate from its YAML form: `tokens:` or `regex:` (or `any_of:` a list of
    those), optionally with `preceded_by:` / `not_preceded_by:` another such mapping and
    `within:` a look-back in tokens (default 1)."""
    if not isinstance(data, dict):
        raise ValueError("a predicate is a mapping with `tokens:` or `regex:`")
    unknown = set(data) - set(PREDICATE_KEYS)
    if unknown:
        raise ValueError(f"unknown predicate key(s) {sorted(unknown)}; use {list(PREDICATE_KEYS)}")
    token = _token_predicate(data)
    context_key = "preceded_by" if "preceded_by" in data else (
        "not_preceded_by" if "not_preceded_by" in data else None)
    if context_key is None:
        if "within" in data:
            raise ValueError("`within` needs `preceded_by` or `not_preceded_by`")
        return token
    return Context(
        token=token,
        preceded_by=_token_predicate(data[context_key]),
        within=int(data.get("within", 1)),
        negate=context_key == "not_preceded_by",
    )


def _token_predicate(data: Any) -> TokenPredicate:
    if isinstance(data, list):
        return TokenSet(_token_strings(data))
    if not isinstance(data, dict):
        raise ValueError("a predicate is a mapping with `tokens:` or `regex:`")
    kinds = [k for k in ("tokens", "regex", "any_of") if k in data]
    if len(kinds) != 1:
        raise ValueError("a predicate needs exactly one of `tokens:`, `regex:` or `any_of:`")
    if "tokens" in data:
        tokens = data["tokens"]
        if isinstance(tokens, str) or not tokens:
            raise ValueError("`tokens:` must be a non-empty list of token strings")
        return TokenSet(_token_strings(tokens), exact=bool(data.get("exact", False)),
                        case_sensitive=bool(data.get("case_sensitive", True)))
    if "regex" in data:
        return TokenRegex(str(data["regex"]))
    return AnyOf(tuple(_token_predicate(part) for part in data["any_of"]))


def _token_strings(tokens: list[Any]) -> tuple[str, ...]:
    # YAML 1.1 reads unquoted On/Off/Yes/No/True/False as booleans and 2020 as a number, which
    # would silently test the wrong token ("True" instead of "On").
    for token in tokens:
        if not isinstance(token, str):
            raise ValueError(
                f"token {token!r} is a {type(token).__name__}, not a string: YAML reads unquoted "
                f"On/Off/Yes/No and numbers that way; quote it, e.g. '{_yaml_source(token)}'")
    return tuple(tokens)


def _yaml_source(value: Any) -> str:
    return {True: "On", False: "Off"}.get(value, str(value)) if isinstance(value, bool) else str(value)
