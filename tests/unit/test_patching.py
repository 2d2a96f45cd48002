"""Activation patching on the planted model, where the answer is known exactly.

In the planted model the only route from an earlier "not" to the final position is L1H0 (it
copies a "saw not" flag into a spare residual dimension), and nothing else at the final
position differs between "the cat was not very good" and "the cat was the very good". So
patching L1H0's z, a direction on that dimension at `hook_attn_out`, or an SAE latent reading it
(decoded through its row, the SAE's large error term kept) recovers exactly 100% of the
clean - corrupt difference, in both directions. PROMOTER (L1N5) moves only through the norm
there: a partial share, equal to setting it by hand.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager

import pytest

torch = pytest.importorskip("torch")

from neurontest.claims.base import Subject, result_from_dict, result_to_dict  # noqa: E402
from neurontest.claims.patching import PatchingClaim  # noqa: E402
from neurontest.claims.runner import ClaimRunner  # noqa: E402
from neurontest.engine.units.direction import DirectionUnit  # noqa: E402
from neurontest.engine.units.head import HeadRef  # noqa: E402
from neurontest.engine.models.planted import MONTH_NEURON, PROMOTER_NEURON, WORDS  # noqa: E402
from neurontest.engine.units.sae_latent import Sae  # noqa: E402
from neurontest.engine.units.protocol import edit_hooks  # noqa: E402
from neurontest.measure.patching import patch  # noqa: E402
from neurontest.measure.targets import Target  # noqa: E402

NOT_HEAD = HeadRef(1, 0)
NOT_DIM = len(WORDS) + 1  # the spare dimension L1H0 writes its flag into
PAIRS = [("the cat was not very [[good]]", "the cat was the very [[good]]"),
         ("she saw not a red [[good]]", "she saw it a red [[good]]"),
         ("it is not [[good]]", "it is very [[good]]"),
         ("the food is not very [[good]]", "the food is a very [[good]]"),
         ("we went to the park , not [[good]]", "we went to the park , the [[good]]")]
TARGET = Target(answer="good", foil="the")


def _basis(dim: int) -> torch.Tensor:
    v = torch.zeros(80)
    v[dim] = 1.0
    return v


def not_direction() -> DirectionUnit:
    return DirectionUnit.from_vector(_basis(NOT_DIM), "blocks.1.hook_attn_out", name="not-flag")


def not_latent():
    """Latent 0 reads and writes the flag; latent 1 is noise and b_dec sits on a token
    dimension, so the SAE reconstructs the hook badly: a patch that replaced the hook with the
    reconstruction would not recover 100%, one through the decoder row does."""
    gen = torch.Generator().manual_seed(0)
    w_enc = torch.randn(80, 2, generator=gen) * 0.3
    w_enc[:, 0] = _basis(NOT_DIM)
    w_dec = torch.randn(2, 80, generator=gen) * 0.3
    w_dec[0] = _basis(NOT_DIM)
    b_dec = _basis(WORDS.index("cat")) * 0.7
    sae = Sae("notsae", "test", "blocks.1.hook_attn_out", "blocks.1.hook_attn_out", "relu",
              w_enc, torch.tensor([0.0, 0.1]), w_dec, b_dec)
    return sae.latent(0)


@contextmanager
def counted_forwards(model):
    """The forward passes `model` makes inside the block (its embedding runs once per forward)."""
    calls: list[int] = []
    handle = model.embed.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()  # the planted model is shared: leave no hook on it


def _texts(pairs):
    strip = lambda t: t.replace("[[", "").replace("]]", "")  # noqa: E731
    return [strip(c) for c, _ in pairs], [strip(x) for _, x in pairs]


def _final(pairs):
    return [[len(c.split()) - 1] for c, _ in pairs]


@pytest.mark.parametrize("direction", ["denoising", "noising"])
@pytest.mark.parametrize("unit", [NOT_HEAD, "direction", "latent"], ids=["head", "direction", "latent"])
def test_the_flag_route_recovers_exactly_all(planted, unit, direction):
    unit = {"direction": not_direction(), "latent": not_latent()}.get(unit, unit)
    clean, corrupt = _texts(PAIRS)
    runs = patch(planted.model, [unit], clean, corrupt, _final(PAIRS), TARGET, direction=direction)
    for run in runs:
        assert abs(run.clean - run.corrupt) > 0.2  # the pair differs on the target
        goal = run.clean if direction == "denoising" else run.corrupt
        assert run.patched == pytest.approx(goal, abs=1e-5)


def test_unmarked_pairs_patch_every_position_and_earlier_marks_do_nothing(planted):
    clean, corrupt = _texts(PAIRS[:2])
    everywhere = patch(planted.model, [NOT_HEAD], clean, corrupt, [[], []], TARGET)
    assert [r.patched for r in everywhere] == pytest.approx([r.clean for r in everywhere], abs=1e-5)
    # L1H0 at "not" itself writes nothing the final position reads: no change
    at_not = patch(planted.model, [NOT_HEAD], clean, corrupt, [[3], [2]], TARGET)
    assert [r.patched for r in at_not] == pytest.approx([r.corrupt for r in at_not], abs=1e-6)


def test_a_neuron_patch_equals_setting_it_by_hand(planted):
    """PROMOTER differs only through the norm ("not" in the clean text): patching it moves part
    of the difference, exactly what setting it to its clean value does."""
    from neurontest.measure.readout import activations_on_texts

    clean, corrupt = ["she saw not in March"], ["she saw a in March"]
    target = Target(token="2020")
    run = patch(planted.model, [PROMOTER_NEURON], clean, corrupt, [[4]], target)[0]
    share = (run.patched - run.corrupt) / (run.clean - run.corrupt)
    assert 0.05 < share < 0.95
    value = activations_on_texts(planted.model, PROMOTER_NEURON, clean)[0].values[-1]
    with torch.inference_mode():
        logits = planted.model.run_with_hooks(planted.model.to_tokens(corrupt[0]),
                                              fwd_hooks=edit_hooks(planted.model, {PROMOTER_NEURON: value}))
    by_hand = float(logits[0, -1].log_softmax(-1)[WORDS.index("2020")])
    assert run.patched == pytest.approx(by_hand, abs=1e-5)
    # MONTH has the same value on any month: a month-for-month patch changes nothing at all
    same = patch(planted.model, [MONTH_NEURON], ["we met in March"], ["we met in May"], [[3]], target)[0]
    assert same.patched == pytest.approx(same.corrupt, abs=1e-6)


@pytest.mark.parametrize("direction", ["denoising", "noising"])
def test_every_position_is_read_off_the_same_three_forwards(planted, direction):
    clean, corrupt = _texts(PAIRS)
    with counted_forwards(planted.model) as forwards:
        runs = patch(planted.model, [NOT_HEAD], clean, corrupt, _final(PAIRS), TARGET, direction=direction)
    assert len(forwards) == 3  # donor, receiver, patched: one chunk, no forward for the series
    for run, text, marks in zip(runs, clean, _final(PAIRS)):
        n = len(text.split())
        assert len(run.clean_series) == len(run.corrupt_series) == len(run.patched_series) == n
        assert run.read_at == n - 1 and run.patched_at == marks
        assert (run.clean_series[-1], run.corrupt_series[-1], run.patched_series[-1]) == (
            run.clean, run.corrupt, run.patched)
        # the patch is at the final position: every earlier one reads as the receiving run
        receiving = run.corrupt_series if direction == "denoising" else run.clean_series
        assert run.patched_series[:-1] == pytest.approx(receiving[:-1], abs=1e-5)
    unmarked = patch(planted.model, [NOT_HEAD], clean[:1], corrupt[:1], [[]], Target())[0]
    assert unmarked.patched_at == list(range(len(clean[0].split())))
    assert math.isnan(unmarked.clean_series[-1])  # `next`: the last token has no next one
    assert unmarked.clean_series[unmarked.read_at] == unmarked.clean


def test_unequal_lengths_and_bad_directions_are_refused(planted):
    with pytest.raises(ValueError, match="same length"):
        patch(planted.model, [NOT_HEAD], ["we met in March"], ["we met"], [[]], TARGET)
    with pytest.raises(ValueError, match="unknown patching direction"):
        patch(planted.model, [NOT_HEAD], ["a"], ["a"], [[]], TARGET, direction="sideways")


def _claim(unit, **options):
    config = {"pairs": [{"clean": c, "corrupt": x} for c, x in PAIRS],
              "target": {"answer": "good", "foil": "the"}} | options
    PatchingClaim.validate_options(config)
    return PatchingClaim(Subject(unit, None), config)


def test_claim_passes_fails_and_reports_each_pair(lab):
    runner = ClaimRunner(lab)
    held = runner.run(_claim(NOT_HEAD, recovered=">= 0.9", confidence=0.95))
    assert held.passed, held.summary
    assert held.metrics()["recovered"] == pytest.approx(1.0, abs=1e-5)
    table = held.evidence[0].table
    assert len(table) == 3 * len(PAIRS) and table[0][0].startswith("pair 1 clean: the cat was not")
    refuted = runner.run(_claim(PROMOTER_NEURON, recovered=">= 0.9"))
    assert refuted.verdict == "failed" and refuted.metrics()["recovered"] < 0.9
    # several units at once: the neuron plus the head recovers everything
    both = runner.run(_claim(PROMOTER_NEURON, recovered=">= 0.99", units=["L1H0"]))
    assert both.passed and "L1N5, L1H0" in both.summary
    # "not" lowers good - the: denoising lowers it, noising (corrupt into clean) raises it
    down = runner.run(_claim(NOT_HEAD, effect="<= -0.2"))
    up = runner.run(_claim(NOT_HEAD, effect="<= -0.2", direction="noising"))
    assert down.passed and up.verdict == "failed" and up.metrics()["effect"] > 0.2


def test_each_pair_shows_as_heatmaps_of_its_three_runs(lab, planted):
    with counted_forwards(planted.model) as forwards:
        result = ClaimRunner(lab).run(_claim(NOT_HEAD, recovered=">= 0.9"))
    assert len(forwards) == 3  # the heatmaps cost no forward of their own
    table, *pairs = result.evidence
    assert len(pairs) == len(PAIRS) and table.table and not table.rows
    for number, (group, (c, x)) in enumerate(zip(pairs, PAIRS), 1):
        clean, corrupt, patched = group.rows
        assert group.value_label == TARGET.label == "logit('good') - logit('the')"
        assert [r.str_tokens for r in group.rows] == [c.replace("[[", "").replace("]]", "").split(),
                                                      *[x.replace("[[", "").replace("]]", "").split()] * 2]
        final = len(clean.str_tokens) - 1
        assert clean.marked == corrupt.marked == patched.marked == [final]  # the patched position
        values = dict(table.table[3 * (number - 1): 3 * number])  # clean, corrupt, patched
        measured = list(values.values())
        assert [r.values[final] for r in group.rows] == measured
        assert patched.values[final] == pytest.approx(clean.values[final], abs=1e-5)  # recovered 1.0
        assert clean.label == f"pair {number} clean: {measured[0]:.4g}"
        assert patched.label == f"pair {number} patched (clean into corrupt): {measured[2]:.4g}"
    # the report's records and the result cache carry the rows as they are
    again = result_from_dict(json.loads(json.dumps(result_to_dict(result))))
    assert again.evidence == result.evidence
    # noising patches the clean run: its row shows the clean text; unmarked pairs mark nothing
    noised = ClaimRunner(lab).run(_claim(NOT_HEAD, recovered=">= 0.9", direction="noising", pairs=[
        {"clean": c.replace("[[", "").replace("]]", ""), "corrupt": x.replace("[[", "").replace("]]", "")}
        for c, x in PAIRS]))
    clean, corrupt, patched = noised.evidence[1].rows
    assert patched.str_tokens == clean.str_tokens != corrupt.str_tokens
    assert patched.marked == [] and "every position patched" in noised.evidence[1].title
    assert patched.label.startswith("pair 1 patched (corrupt into clean): ")


def test_few_or_undefined_pairs_are_inconclusive(lab):
    runner = ClaimRunner(lab)
    # PROMOTER recovers 0.56 and 0.61 of these two: an interval over 2 pairs straddles 0.5
    two = runner.run(_claim(PROMOTER_NEURON, recovered=">= 0.5", target="2020", pairs=[
        {"clean": "she saw not in March", "corrupt": "she saw a in March"},
        {"clean": "it is not the big May", "corrupt": "it is a the big May"}]))
    assert two.verdict == "inconclusive" and "rests on 2 pair(s)" in two.inconclusive
    same = [{"clean": "we met in [[March]]", "corrupt": "we met in [[March]]"}] * 5
    none = runner.run(_claim(NOT_HEAD, recovered=">= 0.9", pairs=same))
    assert none.verdict == "inconclusive" and "not defined" in none.inconclusive
    assert "5 pair(s) left out" in none.summary


def test_collection_errors_name_the_pair_and_the_fix(lab):
    claim = _claim(NOT_HEAD, recovered=">= 0.9", pairs=[
        {"clean": "we met in [[March]]", "corrupt": "we met in the [[May]]"}])
    with pytest.raises(ValueError, match=r"`pairs:` item 1 .*4 tokens and the corrupt 5.*same length"):
        ClaimRunner(lab).check(claim)
    late = _claim(NOT_HEAD, recovered=">= 0.9", target="next", pairs=[
        {"clean": "we met in [[March]]", "corrupt": "we met in [[May]]"}])
    with pytest.raises(ValueError, match="after the position the target is read at"):
        ClaimRunner(lab).check(late)
    with pytest.raises(ValueError, match="needs `recovered:`"):
        PatchingClaim.validate_options({"pairs": [{"clean": "a", "corrupt": "b"}]})
    with pytest.raises(ValueError, match="not a neuron id"):
        PatchingClaim.validate_options({"pairs": [{"clean": "a", "corrupt": "b"}], "effect": ">= 0",
                                        "units": ["L1X3"]})
