"""ablate: zero and mean ablation of planted neurons."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from neurontest.claims.runner import ClaimRunner  # noqa: E402
from neurontest.measure.ablation import ablate  # noqa: E402
from neurontest.engine.models.planted import MONTHS, PROMOTED, planted_model  # noqa: E402
from neurontest.measure.readout import activations_on_texts  # noqa: E402
from neurontest.engine.data.tokens import encode_texts  # noqa: E402

TEXTS = ["we met in March 2020 .", "the cat sat on the mat", "on 3 May the dog went in June"]


@pytest.fixture(scope="module")
def planted():
    return planted_model()


@pytest.fixture(scope="module")
def effects(planted):
    return ablate(planted.model, [planted.promoter.neuron], TEXTS, targets=[PROMOTED], batch_size=2)


def test_shapes_and_definitions(effects):
    for e, text in zip(effects, TEXTS):
        assert e.text == text and e.str_tokens == text.split()
        n = len(e.str_tokens)
        assert len(e.true_next_logprob_diff) == n - 1
        assert len(e.kl) == n and len(e.target_logprob_diff[PROMOTED]) == n
    # "March" is followed by "2020": the prediction made at March loses the promoted token.
    first = effects[0]
    i = first.str_tokens.index("March")
    assert first.true_next_logprob_diff[i] == pytest.approx(first.target_logprob_diff[PROMOTED][i])


def test_promoter_ablation_hits_months_only(planted, effects):
    silent = activations_on_texts(planted.model, planted.promoter.neuron, TEXTS)
    for e, acts in zip(effects, silent):
        for i, word in enumerate(e.str_tokens):
            if word in MONTHS:
                assert e.target_logprob_diff[PROMOTED][i] < -1.0
                assert e.kl[i] > 0.1
            else:
                assert abs(acts.values[i]) < 1e-6
                assert abs(e.kl[i]) < 1e-6
                assert abs(e.target_logprob_diff[PROMOTED][i]) < 1e-6


def test_token_batch_input_and_several_layers(planted):
    batch = encode_texts(planted.tokenizer, TEXTS)
    both = ablate(planted.model, [planted.month.neuron, planted.promoter.neuron], batch)
    only_month = ablate(planted.model, [planted.month.neuron], batch)
    # PROMOTER reads MONTH's flag: ablating MONTH alone already silences the promoted path.
    for a, b in zip(both, only_month):
        assert a.kl == pytest.approx(b.kl, abs=1e-5)
        assert (max(a.kl) > 0.1) == any(w in MONTHS for w in a.str_tokens)


def test_mean_ablation(planted):
    neuron = planted.promoter.neuron
    with pytest.raises(ValueError, match="needs means"):
        ablate(planted.model, [neuron], TEXTS, mode="mean")
    with pytest.raises(ValueError, match="no mean given for L1N5"):
        ablate(planted.model, [neuron], TEXTS, mode="mean", means={planted.month.neuron: 1.0})
    with pytest.raises(ValueError, match="unknown ablation mode"):
        ablate(planted.model, [neuron], TEXTS, mode="resample")
    zero = ablate(planted.model, [neuron], TEXTS, mode="mean", means={neuron: 0.0})
    ref = ablate(planted.model, [neuron], TEXTS)
    assert [e.kl for e in zero] == [e.kl for e in ref]
    mean = ablate(planted.model, [neuron], TEXTS[1:2], mode="mean", means={neuron: 3.0})[0]
    assert min(mean.kl) > 0.01  # a silent position set to the mean does change


def test_targets_must_be_single_tokens(planted):
    with pytest.raises(ValueError, match="not a single token"):
        ablate(planted.model, [planted.promoter.neuron], TEXTS, targets=["2020 2021"])


def test_steering_the_promoter_raises_its_token_and_is_checked_as_an_option() -> None:
    from neurontest.claims.ablation import AblationClaim
    from neurontest.claims.base import Subject
    from neurontest.engine.models.planted import PROMOTED, PROMOTER_NEURON, planted_model
    from neurontest.lab import CorpusOptions, Lab

    lab = Lab(planted_model().model, CorpusOptions("planted", 16, None), cache=False, progress=False)
    texts = ["the cat sat on the [[mat]]", "we met in the [[park]]", "a [[big]] day",
             "the [[red]] food", "it was a good [[morning]]"]
    options = {"texts": texts, "target": PROMOTED, "mode": "steer", "steer_by": 5.0, "effect": ">= 0.5"}
    AblationClaim.validate_options(options)
    up = ClaimRunner(lab).run(AblationClaim(Subject(PROMOTER_NEURON, None), options))
    assert up.passed and up.summary.startswith("steering L1N5 by +5"), up.summary
    down = ClaimRunner(lab).run(AblationClaim(Subject(PROMOTER_NEURON, None), options | {"steer_by": -5.0}))
    assert not down.passed and down.metrics()["effect"] < 0  # the other way lowers it
    one_text = ClaimRunner(lab).run(AblationClaim(Subject(PROMOTER_NEURON, None), options | {"texts": texts[:1]}))
    assert one_text.verdict == "inconclusive" and "rests on 1 text" in one_text.inconclusive
    with pytest.raises(ValueError, match="needs at least 3 texts"):
        AblationClaim.validate_options(options | {"texts": texts[:2], "confidence": 0.95})
    with pytest.raises(ValueError, match="`mode: steer` and `steer_by:` go together"):
        AblationClaim.validate_options({"texts": ["a"], "mode": "steer", "effect": ">= 0"})


def test_an_answer_foil_target_is_the_change_of_their_logit_difference() -> None:
    from neurontest.claims.ablation import AblationClaim
    from neurontest.claims.base import Subject
    from neurontest.engine.models.planted import PROMOTER_NEURON, planted_model
    from neurontest.lab import CorpusOptions, Lab

    lab = Lab(planted_model().model, CorpusOptions("planted", 16, None), cache=False, progress=False)
    texts = ["we met in [[March]]", "on 3 [[May]] the dog", "they went in [[June]] 2020",
             "the cat sat in [[April]]", "she came in [[July]] ."]
    runner = ClaimRunner(lab)

    def run(target):
        options = {"texts": texts, "target": target, "effect": "<= -1"}
        return runner.run(AblationClaim(Subject(PROMOTER_NEURON, None), options))

    pair, token, foil = run({"answer": PROMOTED, "foil": "the"}), run(PROMOTED), run("the")
    assert pair.passed and "logit('2020') - logit('the')" in pair.summary
    assert pair.metrics()["effect"] == pytest.approx(token.metrics()["effect"] - foil.metrics()["effect"],
                                                     abs=1e-5)
    assert run("next").metrics()["effect"] == run(None).metrics()["effect"]
