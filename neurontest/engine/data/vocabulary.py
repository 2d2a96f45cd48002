"""Each token id's decoded string, computed once per tokenizer and cached on disk.

Predicates, perturbation word pools and the lab's corpus masks all read token strings; they share
one `Vocabulary` per tokenizer, which memoises tables derived from the whole vocabulary.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, TypeVar

from neurontest.engine.data.prep_cache import stored_vocabulary_strings, vocabulary_strings

T = TypeVar("T")


class Vocabulary:
    """Each token id's decoded string, computed once per tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._load_tokenizer: Callable[[], Any] | None = None
        # Decoding 49k ids costs about 1 s per run; the strings are cached on disk under `key`.
        self.strings, self.key = vocabulary_strings(tokenizer)
        self._memo: dict[Hashable, Any] = {}

    @classmethod
    def stored(cls, key: str, load_tokenizer: Callable[[], Any]) -> Vocabulary | None:
        """The vocabulary an earlier run stored under `key`, or None; its tokenizer is loaded
        (with the model) only if a check needs more than the strings."""
        strings = stored_vocabulary_strings(key)
        if strings is None:
            return None
        vocab = cls.__new__(cls)
        vocab._tokenizer, vocab._load_tokenizer = None, load_tokenizer
        vocab.strings, vocab.key, vocab._memo = strings, key, {}
        return vocab

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None and self._load_tokenizer is not None:
            self._tokenizer = self._load_tokenizer()
        return self._tokenizer

    def __len__(self) -> int:
        return len(self.strings)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per `key` for this vocabulary. Anything derived from all 49k strings
        (a predicate's token table, a word pool) costs tens of ms in Python, and a run asks for the
        same one from many claims. Values are shared: callers must not modify them. Keys must
        capture everything the value depends on besides the vocabulary; an unhashable key (a
        user's non-frozen predicate) is simply not memoised."""
        try:
            if key in self._memo:
                return self._memo[key]
        except TypeError:
            return compute()
        value = self._memo[key] = compute()
        return value


_VOCABULARIES: dict[int, Vocabulary] = {}


def vocabulary(tokenizer: Any) -> Vocabulary:
    """The (cached) `Vocabulary` of a tokenizer."""
    key = id(tokenizer)
    if key not in _VOCABULARIES:
        _VOCABULARIES[key] = Vocabulary(tokenizer)
    return _VOCABULARIES[key]
