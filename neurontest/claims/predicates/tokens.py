"""Token predicates: decided once per vocabulary entry, so applying one to a 100k-token corpus
is one table lookup.

    TokenSet(["January", "February"])            the token is one of these (spacing ignored)
    TokenRegex(r"^ ?\\d{4}$")                     the decoded token matches the regex
    AnyOf / AllOf / NotToken                     or / and / not of token predicates
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from neurontest.claims.predicates.core import TokenPredicate
from neurontest.engine.data.vocabulary import Vocabulary


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

    def parts_to_check(self) -> tuple[TokenPredicate, ...]:
        return self.parts

    def describe(self) -> str:
        return " or ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class AllOf(TokenPredicate):
    """The token satisfies every one of several token predicates."""

    parts: tuple[TokenPredicate, ...]

    def build_table(self, vocab: Vocabulary) -> torch.Tensor:
        table = self.parts[0].token_table(vocab)
        for part in self.parts[1:]:
            table = table & part.token_table(vocab)
        return table

    def parts_to_check(self) -> tuple[TokenPredicate, ...]:
        return self.parts

    def describe(self) -> str:
        return " and ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class NotToken(TokenPredicate):
    """The token does not satisfy `part`."""

    part: TokenPredicate

    def build_table(self, vocab: Vocabulary) -> torch.Tensor:
        return ~self.part.token_table(vocab)

    def parts_to_check(self) -> tuple[TokenPredicate, ...]:
        return (self.part,)

    def describe(self) -> str:
        return f"not ({self.part.describe()})"
