"""Each predicate form on hand-written sequences, the errors of the YAML form (key path, fix,
bounds), `python:` resolution, and predicates passed to the `neuron` fixture's `create`."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurontest.claims.predicates import (
    Context, Either, Near, Not, PythonPredicate, TokenSet, Vocabulary, predicate_from_dict)

STRINGS = ["<s>", " March", " ", "2", "0", "1", "9", "(", "see", " above", ")", " and", " in",
           "dam", " Amster", '"', ",", " not", " good"]


class _Tokenizer:
    all_special_ids = [0]

    def __len__(self):
        return len(STRINGS)

    def batch_decode(self, ids):
        return [STRINGS[row[0]] for row in ids]


VOCAB = Vocabulary(_Tokenizer())


def ids(*pieces: str) -> list[int]:
    return [STRINGS.index(p) for p in pieces]


def marked(data, *pieces: str, base_dir: Path | None = None) -> list[bool]:
    predicate = predicate_from_dict(data, base_dir=base_dir)
    row = ids(*pieces)
    return [predicate.holds_for(row, p, VOCAB) for p in range(len(row))]


DIGIT = {"regex": r"^\d$"}


def test_the_three_former_silent_drops_now_compose():
    # any_of whose members carry preceded_by: each member keeps its context.
    either = {"any_of": [{"tokens": ["good"], "preceded_by": {"tokens": ["not"]}},
                         {"tokens": ["2"], "exact": True}]}
    assert isinstance(predicate_from_dict(either), Either)
    assert marked(either, " good", " not", " good", "2") == [False, False, True, True]
    # preceded_by and not_preceded_by on one predicate: both apply.
    both = {"regex": r"^\d$", "preceded_by": DIGIT, "not_preceded_by": {"tokens": ["("]},
            "within": 2}
    assert marked(both, "(", "2", "0", "1") == [False, False, False, True]
    # a preceded_by nested in a preceded_by: the inner one constrains the context token.
    nested = {"tokens": ["9"], "preceded_by": {"regex": r"^\d$", "preceded_by": {"tokens": ["1"]}}}
    assert marked(nested, "1", "9", "9", "2", "9") == [False, False, True, False, False]


def test_look_ahead_exact_offsets_and_sequences():
    ahead = {"regex": r"^\d$", "followed_by": DIGIT, "within": 1}
    assert marked(ahead, "2", "0", " ", "1") == [True, False, False, False]
    exactly = {"regex": r"^\d$", "preceded_by": {"tokens": ["March"]}, "at": 2}
    assert marked(exactly, " March", " ", "2", "0") == [False, False, True, False]
    after_month = {"sequence": [{"tokens": ["March"]}, {"tokens": [" "], "exact": True},
                                {"target": DIGIT}]}
    assert marked(after_month, " March", " ", "2", "0", " ", "1") == [
        False, False, True, False, False, False]


def test_runs_spans_and_words():
    year_head = {"in_run": {"of": DIGIT, "length": 4, "position": [1, 2]}}
    assert marked(year_head, " ", "1", "9", "9", "0", ",", "2", "0") == [
        False, True, True, False, False, False, False, False]
    last = {"in_run": {"of": DIGIT, "length": {"min": 2}, "position": -1}}
    assert marked(last, "2", "0", ",", "1") == [False, True, False, False]
    parens = {"inside": {"open": {"tokens": ["("]}, "close": {"tokens": [")"]}}}
    assert marked(parens, " and", "(", "see", "(", " above", ")", " and", ")", " in") == [
        False, False, True, True, True, True, True, False, False]
    quotes = {"inside": {"open": {"tokens": ['"']}, "close": {"tokens": ['"']}}}
    assert marked(quotes, '"', "see", '"', " and", '"', " in") == [
        False, True, False, False, False, True]
    amsterdam = {"word": {"words": ["Amsterdam"], "position": -1}}
    assert marked(amsterdam, " in", " Amster", "dam", " Amster") == [False, False, True, False]
    year = {"word": {"regex": r"^(1\d{3}|20\d{2})$", "position": [1, 2]}}
    assert marked(year, " ", "1", "9", "9", "0", " ", "2", "0", "1", "9", "9") == [
        False, True, True, False, False, False, False, False, False, False, False]


def test_logic_and_not_keep_unscorable_positions_unmarked():
    import torch

    from neurontest.engine.data.tokens import TokenBatch

    negated = predicate_from_dict({"not": {"inside": {"open": ["("], "close": [")"]}}})
    assert isinstance(negated, Not)
    tokens = torch.tensor([ids("(", "see", ")") + [0]])
    batch = TokenBatch(tokens, torch.tensor([[True, True, True, False]]), has_bos=False)
    assert negated.mask(batch, VOCAB).tolist() == [[True, False, True, False]]


def test_legacy_context_keeps_its_class_and_fields():
    legacy = predicate_from_dict({"tokens": ["good"], "preceded_by": {"tokens": ["not"]}, "within": 3})
    assert isinstance(legacy, Context) and legacy.within == 3
    assert legacy == Context(TokenSet(("good",)), TokenSet(("not",)), within=3)
    assert isinstance(predicate_from_dict({"tokens": ["2"], "followed_by": ["0"]}), Near)


@pytest.mark.parametrize("data, message", [
    ({"any_of": [{"tokens": ["a"]}, {"tokens": ["b"], "preceded_by": {"tokens": ["c"], "withn": 2}}]},
     r"^fires_on\.any_of\[1\]\.preceded_by: unknown key 'withn'; did you mean 'within'\?"),
    ({"tokens": ["a"], "preceded_by": ["b"], "within": True}, r"^fires_on\.within: must be a whole number"),
    ({"tokens": ["a"], "followed_by": ["b"], "at": 1.5}, r"^fires_on\.at: must be a whole number"),
    ({"tokens": ["a"], "followed_by": ["b"], "at": 5000}, r"^fires_on\.at: must be between 1 and 1024"),
    ({"tokens": ["a"], "followed_by": ["b"], "within": 0}, r"^fires_on\.within: must be between 1"),
    ({"tokens": ["a"], "followed_by": ["b"], "within": 2, "at": 2}, r"^fires_on: give `within:`"),
    ({"tokens": ["a"], "at": 2}, r"^fires_on\.at: `at` needs `preceded_by`"),
    ({"regex": "a", "exact": True}, r"^fires_on\.exact: `exact` applies to `tokens:` only"),
    ({"tokens": ["a"], "exact": "yes"}, r"^fires_on\.exact: must be true or false"),
    ({"regex": 2020}, r"^fires_on\.regex: must be a string.*quote it"),
    ({"tokens": ["a", True]}, r"^fires_on\.tokens\[1\]: token True is a bool.*'On'"),
    ({"sequence": [["a"], ["b"]]}, r"^fires_on\.sequence: mark exactly one element as the target"),
    ({"sequence": [{"target": ["a"], "extra": 1}]}, r"^fires_on\.sequence\[0\]: unknown key 'extra'"),
    ({"in_run": {"of": ["1"], "position": 0}}, r"^fires_on\.in_run\.position: a place is a non-zero"),
    ({"in_run": {"of": ["1"], "length": {"min": 3, "max": 2}}}, r"^fires_on\.in_run\.length: max 2 is below min 3"),
    ({"in_run": {"length": 2}}, r"^fires_on\.in_run: `of:` is missing"),
    ({"inside": {"open": ["("], "clos": [")"]}}, r"^fires_on\.inside: unknown key 'clos'; did you mean 'close'"),
    ({"word": {"words": ["a"], "regex": "b"}}, r"^fires_on\.word: give `words:`.*exactly one"),
    ({"not": {"tokens": ["a"], "regex": "b"}}, r"^fires_on\.not: a predicate needs exactly one of"),
    ({"python": "no_colon"}, r"^fires_on\.python: 'no_colon' is not 'module:function'"),
    ({"python": "surely_missing_module_xyz:f"}, r"^fires_on\.python: cannot import module"),
    ("March", r"^fires_on: a predicate is a mapping"),
])
def test_errors_name_the_key_path_and_the_fix(data, message):
    with pytest.raises(ValueError, match=message):
        predicate_from_dict(data)


def test_python_predicates_resolve_beside_the_hypothesis_file_then_sys_path(tmp_path, monkeypatch):
    (tmp_path / "my_preds.py").write_text(
        "def after_march(ids, position, vocab):\n"
        "    return position > 0 and vocab.strings[ids[position - 1]] == ' March'\n")
    data = {"python": "my_preds:after_march"}
    assert marked(data, " March", " ", " March", "2", base_dir=tmp_path) == [False, True, False, True]
    first = predicate_from_dict(data, base_dir=tmp_path)
    assert first == predicate_from_dict(data, base_dir=tmp_path)  # hashable, memoisable
    assert "python predicate my_preds:after_march" in first.describe()
    with pytest.raises(ValueError, match="no my_preds.py beside"):
        predicate_from_dict(data, base_dir=tmp_path / "elsewhere")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(predicate_from_dict(data), PythonPredicate)
    with pytest.raises(ValueError, match="has no function 'missing'"):
        predicate_from_dict({"python": "my_preds:missing"}, base_dir=tmp_path)


def test_python_predicates_and_callables_reach_the_neuron_fixture():
    from neurontest.engine.data.corpus import TextCorpus
    from neurontest.engine.models.planted import planted_corpus_texts, planted_model
    from neurontest.lab import CorpusOptions, Lab
    from neurontest.plugin.assertions import NeuronUnderTest

    planted = planted_model()
    sample = TextCorpus.from_texts("planted-corpus", planted_corpus_texts(60)).tokenize(
        planted.tokenizer, window=32, n_tokens=None)
    lab = Lab(planted.model, CorpusOptions(None, 32, None, 0), cache=False, progress=False,
              sample=sample)
    month_ids = {planted.token_id(m) for m in ("March", "July")}

    def is_march_or_july(token_ids, position, vocab):
        return token_ids[position] in month_ids

    by_function = NeuronUnderTest.create(lab, planted.month.neuron, fires_on=is_march_or_july,
                                         threshold=1.0)
    by_yaml = NeuronUnderTest.create(lab, planted.month.neuron, fires_on={"tokens": ["March", "July"]},
                                     threshold=1.0)
    assert isinstance(by_function.subject.predicate, PythonPredicate)
    assert "is_march_or_july" in by_function.subject.predicate.describe()
    assert lab.claimed(by_function.subject.predicate).equal(lab.claimed(by_yaml.subject.predicate))
    instance = NeuronUnderTest.create(lab, planted.month.neuron, fires_on=TokenSet(("March",)))
    assert instance.subject.predicate == TokenSet(("March",))


def test_python_predicates_are_keyed_by_their_source_not_their_address(tmp_path):
    for name, body in (("one", "True"), ("two", "False")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "preds.py").write_text(f"def f(ids, position, vocab):\n    return {body}\n")
    first = predicate_from_dict({"python": "preds:f"}, base_dir=tmp_path / "one")
    second = predicate_from_dict({"python": "preds:f"}, base_dir=tmp_path / "two")
    assert first.fingerprint != second.fingerprint
    assert "0x" not in repr(first) and first.fingerprint in repr(first)


def test_only_token_predicates_have_an_exact_token_table():
    context = predicate_from_dict({"tokens": ["good"], "preceded_by": ["not"]})
    assert not hasattr(context, "token_table")  # e.g. logit_attribution's `matches:` refuses it
    good = STRINGS.index(" good")
    assert context.target_table(VOCAB).nonzero().flatten().tolist() == [good]
    run = predicate_from_dict({"in_run": {"of": {"regex": r"^\d$"}}, "followed_by": [","]})
    assert run.target_table(VOCAB).nonzero().flatten().tolist() == [3, 4, 5, 6]
    assert bool(predicate_from_dict({"inside": {"open": ["("], "close": [")"]}}).target_table(VOCAB).all())
