import pytest

from neurontest.claims.marked import mark_positions, strip_marks
from neurontest.engine.models.planted import planted_model
from neurontest.claims.predicates import Context, TokenRegex, TokenSet, predicate_from_dict, vocabulary
from neurontest.engine.data.tokens import encode_texts


@pytest.fixture(scope="module")
def planted():
    return planted_model()


def test_token_set_ignores_spacing_and_checks_single_tokens(planted):
    vocab = vocabulary(planted.tokenizer)
    table = TokenSet(("March",)).token_table(vocab)
    assert table[planted.token_id("March")] and int(table.sum()) == 1
    with pytest.raises(ValueError, match="not a single token"):
        TokenSet(("Marchember",)).check(vocab)


def test_regex_must_match_something(planted):
    vocab = vocabulary(planted.tokenizer)
    TokenRegex(r"^\d{4}$").check(vocab)
    with pytest.raises(ValueError, match="matches no token"):
        TokenRegex("^zzz$").check(vocab)
    with pytest.raises(ValueError, match="does not compile"):
        TokenRegex("(").check(vocab)


def test_context_predicate_looks_back_within_window(planted):
    vocab = vocabulary(planted.tokenizer)
    batch = encode_texts(planted.tokenizer, ["not very good", "good not", "good"])
    within2 = Context(TokenSet(("good",)), TokenSet(("not",)), within=2)
    assert within2.mask(batch, vocab)[0].tolist() == [False, False, False, True]
    assert not within2.mask(batch, vocab)[1].any()
    within1 = predicate_from_dict({"tokens": ["good"], "preceded_by": {"tokens": ["not"]}})
    assert not within1.mask(batch, vocab)[0].any()
    negated = predicate_from_dict({"tokens": ["good"], "not_preceded_by": {"tokens": ["not"]}, "within": 3})
    assert negated.mask(batch, vocab)[2].tolist() == [False, True, False, False]  # padded row


def test_predicates_never_mark_bos_or_padding(planted):
    vocab = vocabulary(planted.tokenizer)
    batch = encode_texts(planted.tokenizer, ["March", "March March March"])
    mask = TokenSet(("March",)).mask(batch, vocab)
    assert mask.tolist() == [[False, True, False, False], [False, True, True, True]]


def test_predicate_dict_errors():
    with pytest.raises(ValueError, match="exactly one of"):
        predicate_from_dict({"tokens": ["a"], "regex": "b"})
    with pytest.raises(ValueError, match="^fires_on: unknown key 'token'; did you mean 'tokens'"):
        predicate_from_dict({"token": ["a"]})
    with pytest.raises(ValueError, match="^fires_on.within: `within` needs"):
        predicate_from_dict({"tokens": ["a"], "within": 2})


def test_marks_point_at_single_tokens(planted):
    text, spans = strip_marks("we met in [[March]] 2020")
    assert text == "we met in March 2020" and spans == [(10, 15)]
    marked = mark_positions(planted.tokenizer, "we met in [[March]] 2020")
    assert marked.positions == (3,)
    with pytest.raises(ValueError, match="is 2 tokens"):
        mark_positions(planted.tokenizer, "[[in March]]")
    with pytest.raises(ValueError, match="no \\[\\[marked\\]\\] token"):
        mark_positions(planted.tokenizer, "no marks", require_marks=True)


class _Tokenizer:
    """Just enough tokenizer for a `Vocabulary`: no get_vocab(), so nothing is cached on disk."""

    all_special_ids = [0]

    def __init__(self, strings):
        self.strings = list(strings)

    def __len__(self):
        return len(self.strings)

    def batch_decode(self, ids):
        return [self.strings[row[0]] for row in ids]


def _batch(rows):
    import torch

    from neurontest.engine.data.tokens import TokenBatch

    tokens = torch.tensor(rows)
    return TokenBatch(tokens, torch.ones_like(tokens, dtype=torch.bool), has_bos=False)


def test_token_tables_are_memoised_per_predicate_and_vocabulary():
    from neurontest.claims.predicates import AnyOf, Vocabulary

    first = Vocabulary(_Tokenizer(["<s>", " March", "April", " the", "march"]))
    second = Vocabulary(_Tokenizer(["<s>", " the", "March"]))
    march = TokenSet(("March",))
    assert march.token_table(first).tolist() == [False, True, False, False, False]
    assert march.token_table(second).tolist() == [False, False, True]
    assert TokenSet(("April",)).token_table(first).tolist() == [False, False, True, False, False]
    # Other spacing/case modes build their own index, never reuse the default one.
    assert TokenSet(("March",), exact=True).token_table(first).tolist() == [False] * 5
    assert TokenSet(("MARCH",), case_sensitive=False).token_table(first).tolist() == [
        False, True, False, False, True]
    assert TokenRegex("March").token_table(first).tolist() == [False, True, False, False, False]
    assert AnyOf((march, TokenSet(("the",)))).token_table(first).tolist() == [
        False, True, False, True, False]
    # Equal predicates share the table; a caller modifying its copy changes nothing else.
    table = TokenSet(("March",)).token_table(first)
    table[:] = True
    assert march.token_table(first).tolist() == [False, True, False, False, False]
    assert march.mask(_batch([[1, 2, 1]]), first).tolist() == [[True, False, True]]


def test_unhashable_predicates_are_computed_without_the_memo():
    from neurontest.claims.predicates import Vocabulary

    vocab = Vocabulary(_Tokenizer(["<s>", " March", "April"]))
    listed = TokenSet([" March"])  # a list, as a notebook may write it: not hashable
    assert listed.token_table(vocab).tolist() == [False, True, False]
    listed.check(vocab)
    with pytest.raises(ValueError, match="matches no token"):
        TokenRegex("^May$").check(vocab)


def test_lab_memoises_claimed_masks_per_predicate(planted):
    from neurontest.engine.data.corpus import TextCorpus
    from neurontest.lab import CorpusOptions, Lab
    from neurontest.engine.models.planted import planted_corpus_texts

    sample = TextCorpus.from_texts("planted-corpus", planted_corpus_texts(40)).tokenize(
        planted.tokenizer, window=32, n_tokens=None)
    lab = Lab(planted.model, CorpusOptions(None, 32, None, 0), cache=False, progress=False,
              sample=sample)
    batch, vocab = sample.batch, vocabulary(planted.tokenizer)
    march, good = TokenSet(("March",)), TokenSet(("good",))
    first = lab.claimed(march)
    assert first.equal(march.mask(batch, vocab)) and first.any()
    first[:] = True  # the caller's copy: the memo is untouched
    assert lab.claimed(march).equal(march.mask(batch, vocab))
    assert lab.claimed(good).equal(good.mask(batch, vocab))
    assert not lab.claimed(good).equal(lab.claimed(march))
    assert lab.claimed(TokenSet(["March"])).equal(march.mask(batch, vocab))  # unhashable
    assert lab.describe()["corpus"]["scorable_tokens"] == int(batch.mask.sum())
