"""Null distributions for ablation claims (issue 23, part 2): random units of the same kind and
layer under the same edit, on the planted model whose unplanted neurons have no effect at all."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neurontest.claims.ablation import AblationClaim  # noqa: E402
from neurontest.claims.base import Subject  # noqa: E402
from neurontest.claims.runner import ClaimRunner  # noqa: E402
from neurontest.engine.units.head import HeadRef  # noqa: E402
from neurontest.engine.units.neuron import NeuronRef  # noqa: E402
from neurontest.engine.models.planted import (  # noqa: E402
    MONTH_NEURON, PREVIOUS_HEAD, PROMOTED, PROMOTER_NEURON, planted_model,
)
from neurontest.measure.ablation import ablate, ablate_each  # noqa: E402
from neurontest.measure.controls import (  # noqa: E402
    controls_needed, draw_controls, percentile, permutation_p_value,
)

TEXTS = ["we met in [[March]] 2020", "it was [[May]] 2020", "in [[June]] 2020 we came",
         "the [[April]] rain", "on 3 [[July]] 2020"]
SILENT = NeuronRef(1, 12)  # an unplanted neuron: zero down-projection, no effect downstream


@pytest.fixture(scope="module")
def lab():
    from neurontest.lab import CorpusOptions, Lab

    return Lab(planted_model().model, CorpusOptions("planted", 16, None), cache=False, progress=False)


def run(lab, unit, **options):
    config = {"texts": TEXTS, "target": PROMOTED} | options
    return ClaimRunner(lab).run(AblationClaim(Subject(unit, None), config))


def test_permutation_p_value_and_percentile_are_exact() -> None:
    controls = [0.0, -1.0, -2.0, -3.0]
    # lower is extreme: -2.5 beats 0, -1, -2; -3 is at least as extreme
    assert permutation_p_value(-2.5, controls, lower=True) == pytest.approx(2 / 5)
    assert percentile(-2.5, controls, lower=True) == pytest.approx(3 / 4)
    # higher is extreme: ties count against the unit (at least as extreme)
    assert permutation_p_value(0.0, controls, lower=False) == pytest.approx(2 / 5)
    assert percentile(0.0, controls, lower=False) == pytest.approx(3 / 4)
    assert permutation_p_value(-9.0, controls, lower=True) == pytest.approx(1 / 5)
    assert controls_needed(0.05) == 19 and controls_needed(0.05, strict=True) == 20
    assert controls_needed(0.1) == 9 and controls_needed(0.0) is None


def test_controls_are_seeded_same_kind_same_layer_and_exclude_the_ablated(lab) -> None:
    model = lab.model
    units = [PROMOTER_NEURON, NeuronRef(1, 7)]
    a = draw_controls(model, units, 10, seed=3)
    assert a == draw_controls(model, units, 10, seed=3) != draw_controls(model, units, 10, seed=4)
    for control in a:
        assert len(control) == 2 and len(set(control)) == 2
        assert all(isinstance(u, NeuronRef) and u.layer == 1 and u not in units for u in control)
    single = [c[0] for c in draw_controls(model, [MONTH_NEURON], 31, seed=0)]
    assert len(set(single)) == 31 and MONTH_NEURON not in single  # all the layer's other neurons
    heads = [c[0] for c in draw_controls(model, [PREVIOUS_HEAD], 3, seed=0)]
    assert sorted(h.head for h in heads) == [0, 2, 3] and all(isinstance(h, HeadRef) for h in heads)
    with pytest.raises(ValueError, match=r"holds only 3 other unit.*at most 3"):
        draw_controls(model, [PREVIOUS_HEAD], 4, seed=0)


def test_batched_edits_match_one_edit_at_a_time(lab) -> None:
    # Rows of one forward carry different edits: each must equal that edit run on its own.
    model = lab.model
    texts = [t.replace("[[", "").replace("]]", "") for t in TEXTS]
    edits = [{PROMOTER_NEURON: 0.0}, {MONTH_NEURON: 0.0}, {SILENT: 0.0}, {PREVIOUS_HEAD: 0.0}]
    batched = ablate_each(model, edits, texts, targets=[PROMOTED], batch_size=7)
    for edit, effects in zip(edits, batched):
        alone = ablate(model, list(edit), texts, targets=[PROMOTED])
        for a, b in zip(effects, alone):
            assert a.str_tokens == b.str_tokens
            assert a.target_logprob_diff[PROMOTED] == pytest.approx(b.target_logprob_diff[PROMOTED], abs=1e-4)
            assert a.kl == pytest.approx(b.kl, abs=1e-4)
    steered = ablate_each(model, [{PROMOTER_NEURON: 5.0}], texts[:1], add=True, targets=[PROMOTED])[0][0]
    alone = ablate(model, [PROMOTER_NEURON], texts[:1], mode="steer", steer_by=5.0, targets=[PROMOTED])[0]
    assert steered.target_logprob_diff[PROMOTED] == pytest.approx(alone.target_logprob_diff[PROMOTED], abs=1e-4)


def test_a_unit_whose_effect_stands_out_passes(lab) -> None:
    result = run(lab, PROMOTER_NEURON, effect="<= -0.5",
                 control={"units": 19, "seed": 0, "p_value": "<= 0.05", "percentile": ">= 0.95"})
    metrics = result.metrics()
    assert result.verdict == "passed", [str(m) for m in result.measurements]
    assert metrics["p_value"] == pytest.approx(1 / 20) and metrics["percentile"] == 1.0
    assert metrics["control_min"] == metrics["control_max"] == 0.0  # unplanted: no effect
    table = result.evidence[-1].table
    assert len(table) == 20 and table[0][0] == "L1N5 (claimed)"


def test_a_unit_no_different_from_random_units_fails(lab) -> None:
    # Its effect bound holds (0 <= 0) but every control does the same: not special.
    result = run(lab, SILENT, effect="<= 0", control={"units": 19, "p_value": "<= 0.05"})
    assert result.verdict == "failed"
    assert result.metrics()["p_value"] == 1.0 and result.metrics()["percentile"] == 0.0
    assert run(lab, SILENT, effect="<= 0").verdict == "passed"  # without controls it would pass


def test_kl_only_claims_rank_by_kl_and_steering_steers_controls(lab) -> None:
    result = run(lab, MONTH_NEURON, kl=">= 0.1", control={"units": 19, "p_value": "<= 0.05"})
    assert result.verdict == "passed" and "kl is less extreme (higher" in next(str(m) for m in result.measurements if m.name == "percentile")
    # Off months "2020" is unlikely, so steering the promoter up raises it (at a month it is
    # already near certain).
    plain = ["the cat sat on the [[mat]]", "we met in the [[park]]", "a [[big]] day", "the [[red]] food",
             "it was a good [[morning]]"]
    steer = run(lab, PROMOTER_NEURON, texts=plain, mode="steer", steer_by=5.0, effect=">= 0.5",
                control={"units": 19, "p_value": "<= 0.05"})
    assert steer.verdict == "passed" and steer.metrics()["control_max"] == 0.0


def test_too_few_controls_for_the_bound_is_invalid_never_a_pass(lab) -> None:
    for control, needed in (({"units": 10, "p_value": "<= 0.05"}, 19),
                            ({"units": 10, "percentile": ">= 0.95"}, 19),
                            ({"units": 19, "p_value": "< 0.05"}, 20)):
        result = run(lab, PROMOTER_NEURON, effect="<= -0.5", control=control)
        assert result.verdict == "invalid", control
        assert f"at least {needed}" in result.invalid
    assert run(lab, PROMOTER_NEURON, effect="<= -0.5", control={"units": 10}).verdict == "passed"


def test_bad_control_options_are_one_line_errors(lab) -> None:
    with pytest.raises(ValueError, match=r"at most 31"):
        ClaimRunner(lab).check(AblationClaim(Subject(PROMOTER_NEURON, None),
                                             {"texts": TEXTS, "effect": "<= 0", "control": {"units": 32}}))
    with pytest.raises(ValueError, match="has none: use <, <=, > or >="):
        AblationClaim.validate_options({"texts": TEXTS, "effect": "== 0", "control": {}})
    with pytest.raises(ValueError, match="units"):
        AblationClaim.validate_options({"texts": TEXTS, "effect": "<= 0", "control": {"units": 0}})
    with pytest.raises(ValueError, match="percentil"):
        AblationClaim.validate_options({"texts": TEXTS, "effect": "<= 0", "control": {"percentil": ">= 1"}})


def test_direction_controls_are_random_unit_directions_at_the_same_hook(lab) -> None:
    from neurontest.engine.units.direction import DirectionUnit

    width = int(lab.model.cfg.d_model)
    unit = DirectionUnit.from_vector(torch.arange(width, dtype=torch.float32) + 1, "blocks.0.hook_resid_post",
                                     name="probe")
    controls = [c[0] for c in draw_controls(lab.model, [unit], 8, seed=1)]
    assert [c.digest for c in controls] == [c[0].digest for c in draw_controls(lab.model, [unit], 8, seed=1)]
    assert len({c.digest for c in controls}) == 8 and unit not in controls
    assert all(c.hook == unit.hook and abs(float(c.vector.norm()) - 1) < 1e-5 for c in controls)
    # Zero-ablating each, batched, runs (directions edit the residual stream per row block).
    texts = ["we met in March 2020"]
    effects = ablate_each(lab.model, [{c: 0.0} for c in controls[:3]], texts)
    assert len(effects) == 3 and all(len(e) == 1 for e in effects)
