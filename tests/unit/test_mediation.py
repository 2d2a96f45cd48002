"""Mediation on the planted model, where the routes are known exactly.

* L1H0 (the "saw not" head) reaches the logits only through the flag it writes into a spare
  residual dimension: holding a direction on that dimension (at `hook_attn_out`) at its
  unablated value leaves no direct effect (share exactly 1); CONTEXT (L1N9) reads the flag but
  writes nothing, so holding it changes nothing (share exactly 0).
* MONTH (L0N3) moves "2020" almost wholly through PROMOTER (L1N5); what is left is MONTH's flag
  in the final norm (share 1.001 on these texts).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neurontest.claims.base import Subject  # noqa: E402
from neurontest.claims.mediation import MediationClaim  # noqa: E402
from neurontest.claims.runner import ClaimRunner  # noqa: E402
from neurontest.engine.units.head import HeadRef  # noqa: E402
from neurontest.engine.models.planted import CONTEXT_NEURON, MONTH_NEURON, PROMOTER_NEURON  # noqa: E402
from neurontest.measure.mediation import mediate  # noqa: E402
from neurontest.measure.targets import Target  # noqa: E402

from .test_patching import PAIRS, TARGET, counted_forwards, not_direction  # noqa: E402

NOT_HEAD = HeadRef(1, 0)
NOT_TEXTS = ["the cat was not very [[good]]", "she saw not a red [[good]]", "it is not [[good]]",
             "the food is not very [[good]]", "we went to the park , not [[good]]"]
MONTH_TEXTS = ["we met in [[March]]", "on 3 [[May]] the dog", "they went in [[June]] 2020",
               "the cat sat in [[April]]", "she came in [[July]] ."]


def _plain(texts):
    return [t.replace("[[", "").replace("]]", "") for t in texts]


def _shares(runs, at):
    out = []
    for run, p in zip(runs, at):
        total, direct = run.edited[p] - run.base[p], run.held[p] - run.base[p]
        out.append(1 - direct / total)
    return out


def test_a_unit_that_fully_mediates_and_one_that_does_not(planted):
    texts = _plain(NOT_TEXTS)
    at = [len(t.split()) - 1 for t in texts]
    zero = {NOT_HEAD: 0.0}
    full = mediate(planted.model, [NOT_HEAD], [not_direction()], texts, TARGET, values=zero)
    none = mediate(planted.model, [NOT_HEAD], [CONTEXT_NEURON], texts, TARGET, values=zero)
    for run, p in zip(full, at):
        assert abs(run.edited[p] - run.base[p]) > 0.2
    assert _shares(full, at) == pytest.approx([1.0] * 5, abs=1e-5)
    assert _shares(none, at) == pytest.approx([0.0] * 5, abs=1e-5)


def test_month_goes_through_the_promoter(planted):
    texts = _plain(MONTH_TEXTS)
    at = [t.split().index(w) for t, w in zip(texts, ["March", "May", "June", "April", "July"])]
    runs = mediate(planted.model, [MONTH_NEURON], [PROMOTER_NEURON], texts, Target(token="2020"),
                   values={MONTH_NEURON: 0.0})
    for share in _shares(runs, at):
        assert share == pytest.approx(1.0, abs=0.01)


def test_pairs_patch_the_edited_unit_from_the_donor(planted):
    clean, corrupt = _plain([c for c, _ in PAIRS]), _plain([x for _, x in PAIRS])
    runs = mediate(planted.model, [NOT_HEAD], [not_direction()], corrupt, TARGET, donors=clean,
                   positions=[[]] * len(PAIRS), labels=clean)
    at = [len(t.split()) - 1 for t in clean]
    assert _shares(runs, at) == pytest.approx([1.0] * 5, abs=1e-5)


def test_refuses_a_unit_held_and_edited(planted):
    with pytest.raises(ValueError, match="both edited and held"):
        mediate(planted.model, [NOT_HEAD], [NOT_HEAD], ["a"], TARGET, values={NOT_HEAD: 0.0})


def _claim(unit, **options):
    MediationClaim.validate_options(options)
    return MediationClaim(Subject(unit, None), options)


def test_claims_pass_fail_and_exclude_texts_without_an_effect(lab):
    runner = ClaimRunner(lab)
    through_promoter = runner.run(_claim(MONTH_NEURON, texts=MONTH_TEXTS, target="2020",
                                         through=["L1N5"], mediated_share=">= 0.9", confidence=0.95))
    assert through_promoter.passed, through_promoter.summary
    assert through_promoter.metrics()["total_effect"] < -1
    not_through_context = runner.run(_claim(NOT_HEAD, texts=NOT_TEXTS, through=["L1N9"],
                                            target={"answer": "good", "foil": "the"},
                                            mediated_share=">= 0.5"))
    assert not_through_context.verdict == "failed"
    assert not_through_context.metrics()["mediated_share"] == pytest.approx(0.0, abs=1e-5)
    # texts without a month: MONTH moves nothing there, so they are left out and said so
    mixed = runner.run(_claim(MONTH_NEURON, texts=MONTH_TEXTS + ["the [[cat]] sat"], target="2020",
                              through=["L1N5"], mediated_share=">= 0.9"))
    assert mixed.passed and "1 text(s) left out" in mixed.summary
    nothing = runner.run(_claim(MONTH_NEURON, texts=["the [[cat]] sat"] * 5, target="2020",
                                through=["L1N5"], mediated_share=">= 0.9"))
    assert nothing.verdict == "inconclusive" and "not defined" in nothing.inconclusive


def _check_heatmaps(result, names, marks, held="L1N9"):
    """One group per text (pair) after the table: its unedited, edited and held runs, each row
    labelled with the value the table gives for it."""
    table, *groups = result.evidence
    assert len(groups) == len(names)
    for number, (group, tokens, marked) in enumerate(zip(groups, names, marks), 1):
        assert [r.label.split(":")[0] for r in group.rows] == [
            f"{number} unedited", f"{number} edited", f"{number} edited, {held} held"]
        assert all(r.str_tokens == tokens and r.marked == marked for r in group.rows)
        assert group.value_label == table.value_label
        read = table.table[3 * (number - 1): 3 * number]
        assert [r.label for r in group.rows] == [f"{r.label.split(':')[0]}: {v:.4g}"
                                                 for r, (_, v) in zip(group.rows, read)]
        if marked:  # one position read: the row's value there is the table's
            assert [r.values[marked[0]] for r in group.rows] == [v for _, v in read]


def test_each_text_and_pair_shows_as_heatmaps_of_its_three_runs(lab, planted):
    runner = ClaimRunner(lab)
    texts = NOT_TEXTS[:4] + ["it is not good"]  # the last one unmarked: read everywhere
    with counted_forwards(planted.model) as forwards:
        on_texts = runner.run(_claim(NOT_HEAD, texts=texts, through=["L1N9"],
                                     target={"answer": "good", "foil": "the"}, mediated_share="<= 0.5"))
    assert len(forwards) == 3  # base, edited, held: the heatmaps cost no forward
    plain = _plain(texts)
    _check_heatmaps(on_texts, [t.split() for t in plain],
                    [[len(t.split()) - 1] for t in plain[:4]] + [[]])
    assert on_texts.evidence[-1].title.endswith("(labels: mean over every position)")
    pairs = [{"clean": c, "corrupt": x} for c, x in PAIRS]
    with counted_forwards(planted.model) as forwards:
        on_pairs = runner.run(_claim(NOT_HEAD, pairs=pairs, target={"answer": "good", "foil": "the"},
                                     through=["L1N9"], mediated_share="<= 0.05"))
    assert len(forwards) == 4  # and the donor's
    corrupt = _plain([x for _, x in PAIRS])  # denoising edits the corrupt run
    _check_heatmaps(on_pairs, [t.split() for t in corrupt], [[len(t.split()) - 1] for t in corrupt])
    assert "outlined: the patched positions" in on_pairs.evidence[1].title


def test_claim_on_pairs_and_option_errors(lab):
    pairs = [{"clean": c, "corrupt": x} for c, x in PAIRS]
    result = ClaimRunner(lab).run(_claim(NOT_HEAD, pairs=pairs, target={"answer": "good", "foil": "the"},
                                         through=["L1N9"], mediated_share="<= 0.05"))
    assert result.passed and result.summary.startswith("denoising patch of L1H0")
    with pytest.raises(ValueError, match="needs `texts:` or `pairs:`"):
        MediationClaim.validate_options({"through": ["L1N5"], "mediated_share": ">= 0.5"})
    with pytest.raises(ValueError, match="`mode:` is for `texts:`"):
        MediationClaim.validate_options({"pairs": pairs, "through": ["L1N5"], "mode": "mean",
                                         "mediated_share": ">= 0.5"})
    with pytest.raises(ValueError, match="needs `through:`"):
        MediationClaim.validate_options({"texts": ["a"], "mediated_share": ">= 0.5"})
    with pytest.raises(ValueError, match="which the claim edits"):
        ClaimRunner(lab).check(_claim(MONTH_NEURON, texts=MONTH_TEXTS, target="2020",
                                      through=["L0N3"], mediated_share=">= 0.5"))


def test_through_takes_any_unit_form_a_file_may_name(lab, tmp_path):
    # `through:` names a direction by its entry keys, beside the hypothesis file: the one-hot
    # direction on PROMOTER's coordinate of the MLP output is PROMOTER, so it mediates the same.
    torch.save(torch.eye(32)[PROMOTER_NEURON.index], tmp_path / "promoter.pt")
    options = dict(texts=MONTH_TEXTS, target="2020", mediated_share=">= 0.9",
                   through=[{"direction": "promoter.pt", "hook": "blocks.1.mlp.hook_post"}])
    MediationClaim.validate_options(options, base_dir=tmp_path)
    claim = MediationClaim(Subject(MONTH_NEURON, None, base_dir=tmp_path), options)
    by_direction = ClaimRunner(lab).run(claim)
    by_id = ClaimRunner(lab).run(_claim(MONTH_NEURON, texts=MONTH_TEXTS, target="2020",
                                        through=["L1N5"], mediated_share=">= 0.9"))
    assert by_direction.passed, by_direction.summary
    assert by_direction.metrics()["mediated_share"] == pytest.approx(
        by_id.metrics()["mediated_share"], abs=1e-4)
    with pytest.raises(ValueError, match="does not exist"):
        MediationClaim.validate_options({**options, "through": [{"direction": "missing.pt",
                                                                 "hook": "blocks.1.mlp.hook_post"}]},
                                        base_dir=tmp_path)
    with pytest.raises(ValueError, match="not a neuron id"):
        MediationClaim.validate_options({**options, "through": ["L1X5"]})
