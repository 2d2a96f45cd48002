"""Attention mass mined as a unit equals the mass computed from the head's full patterns, for
every target form, across chunk boundaries (a source mask is indexed by corpus row)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neurontest.claims.predicates import predicate_from_dict
from neurontest.engine.run.activations import neuron_activations
from neurontest.engine.run.attention_mass import AttentionMass, mass_on
from neurontest.engine.units.head import HeadRef
from neurontest.engine.models.planted import MONTHS, PREVIOUS_HEAD
from neurontest.measure.attention import head_patterns


@pytest.mark.parametrize("batch_size", [7, 64])
def test_mined_mass_matches_the_full_patterns(lab, batch_size: int) -> None:
    head: HeadRef = PREVIOUS_HEAD
    batch = lab.sample.batch
    months = predicate_from_dict({"tokens": MONTHS})
    sources = lab.claimed(months)
    probes = {
        "previous": AttentionMass(head.layer, head.head, "offset-1"),
        "two back": AttentionMass(head.layer, head.head, "offset-2"),
        "self": AttentionMass(head.layer, head.head, "offset0"),
        "first": AttentionMass(head.layer, head.head, "first"),
        "months": AttentionMass(head.layer, head.head, "sources-months").with_sources(sources),
    }
    mined = neuron_activations(lab.model, batch, list(probes.values()), batch_size=batch_size)
    patterns = head_patterns(lab.model, batch, head)
    first = torch.zeros_like(batch.mask)
    first[:, 0] = True
    expected = {"previous": mass_on(patterns, offset=-1), "two back": mass_on(patterns, offset=-2),
                "self": mass_on(patterns, offset=0), "first": mass_on(patterns, sources=first),
                "months": mass_on(patterns, sources=sources)}
    # mass_on itself, against plain indexing: the previous token's weight, and the sum over sources.
    assert torch.equal(expected["previous"][:, 1:], torch.diagonal(patterns, offset=-1, dim1=1, dim2=2))
    assert torch.allclose(expected["months"], (patterns * sources[:, None, :].float()).sum(-1))
    real = batch.mask
    for name, probe in probes.items():
        assert torch.allclose(mined[probe][real], expected[name][real], atol=1e-5), name
    # The planted previous-token head: almost all its mass is on the previous token.
    assert float(mined[probes["previous"]][real].mean()) > 0.999


def test_a_probe_is_identified_by_head_and_target_not_by_its_mask() -> None:
    probe = AttentionMass(1, 1, "sources-abc")
    assert probe.with_sources(torch.ones(2, 3, dtype=torch.bool)) == probe
    assert probe.for_rows(slice(0, 1)) == probe
    assert probe.cache_key == "L1H1.attn-sources-abc"
    with pytest.raises(ValueError, match="not an attention target"):
        AttentionMass(1, 1, "offset2")


def test_a_source_probe_without_its_mask_is_refused(lab) -> None:
    probe = AttentionMass(1, 1, "sources-abc")
    with pytest.raises(ValueError, match="not bound before mining"):
        neuron_activations(lab.model, lab.sample.batch, [probe])
