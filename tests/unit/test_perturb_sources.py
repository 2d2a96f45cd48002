"""Word pools for perturbations: members, non-members and clean ids, memoised per vocabulary."""

from __future__ import annotations

import pytest

from neurontest.perturb.sources import clean_ids, members, vocab_non_members
from neurontest.claims.predicates import Context, TokenSet, Vocabulary


class _Tokenizer:
    """Just enough tokenizer for a `Vocabulary`: no get_vocab(), so nothing is cached on disk."""

    all_special_ids = [0]

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings

    def __len__(self) -> int:
        return len(self.strings)

    def batch_decode(self, ids: list[list[int]]) -> list[str]:
        return [self.strings[row[0]] for row in ids]


def _vocab(strings: list[str]) -> Vocabulary:
    return Vocabulary(_Tokenizer(strings))


def test_clean_ids_skip_special_empty_and_broken_tokens() -> None:
    vocab = _vocab(["<s>", " March", " ", "\ufffd", "April"])
    assert clean_ids(vocab) == [1, 4]
    clean_ids(vocab).append(99)  # a caller's list is its own
    assert clean_ids(vocab) == [1, 4]
    assert clean_ids(_vocab(["<s>", "x"])) == [1]


def test_members_are_memoised_per_predicate_and_vocabulary() -> None:
    first = _vocab(["<s>", " March", "April", " May", "March", " the"])
    second = _vocab(["<s>", " the", "May"])
    assert members(TokenSet(("May", "March")), first).words == ("May", "March")
    assert members(TokenSet(("March", "May")), first).words == ("March", "May")
    assert members(TokenSet(("April",)), first).words == ("April",)
    assert members(TokenSet(("May", "March")), second).words == ("May",)
    context = Context(TokenSet(("the",)), TokenSet(("March",)))
    assert members(context, first).words == ("the",)
    assert vocab_non_members(TokenSet(("March",)), first).words == ("April", "May", "the")
    assert vocab_non_members(TokenSet(("the",)), second).words == ("May",)


def test_an_empty_pool_is_an_error_every_time() -> None:
    vocab = _vocab(["<s>", " March"])
    for _ in range(2):  # a failed build is not memoised as a value
        with pytest.raises(ValueError, match="is empty"):
            vocab_non_members(TokenSet(("March",)), vocab)


def test_clean_mask_marks_clean_ids_and_is_a_fresh_copy() -> None:
    from neurontest.perturb.sources import clean_mask

    vocab = _vocab(["<s>", " March", " ", "April"])
    mask = clean_mask(vocab)
    assert mask.tolist() == [False, True, False, True]
    mask[:] = True
    assert clean_mask(vocab).tolist() == [False, True, False, True]
    assert clean_mask(_vocab(["<s>", " ", "x"])).tolist() == [False, False, True]
