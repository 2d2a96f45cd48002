"""NeuronEval's sanity checks of the activation metrics themselves (arXiv 2506.05774; issue 23,
part 4): a metric fit to bound a claim alone must score a claim lower when true labels are
taken out of it (missing-label) and lower when false ones are put in (extra-label).

On the planted model's MONTH neuron (exactly: it fires on month names and nowhere else) the
true labels are the month positions of the planted corpus. Seeded: each check removes (or adds)
a share of the claimed positions at random, for several seeds. What the checks find is written
in docs/metrics.md ("Which metrics may bound a claim alone"): precision ignores extra labels
and recall ignores missing ones, so neither may be a claim's only bound.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neurontest.measure.metrics import METRIC_NAMES, operating_point, score_predicate  # noqa: E402

SEEDS = range(5)
SHARE = 0.3  # of the true labels removed, or as many false labels added
#: a change smaller than this is no change (sums of float64 over ~10^4 positions)
EPS = 1e-9
OPERATING = {"recall_at_precision": 0.9, "precision_at_recall": 0.9}
ALL = (*METRIC_NAMES, *OPERATING)
#: what the checks find (docs/metrics.md): metric -> (missing-label lowers, extra-label lowers)
EXPECTED = {
    "precision": (True, False),
    "recall": (False, True),
    "f1": (True, True),
    "iou": (True, True),
    "auprc": (True, True),
    "pearson": (True, True),
    "variance_explained": (True, True),
    "balanced_accuracy": (True, True),
    "recall_at_precision": (True, True),
    "precision_at_recall": (True, True),
}


def scores(a: torch.Tensor, c: torch.Tensor, tau: float) -> dict[str, float]:
    found = score_predicate(a, c, tau)
    found |= {name: operating_point(name, a, c, level) for name, level in OPERATING.items()}
    return {name: found[name] for name in ALL}


def missing_labels(c: torch.Tensor, seed: int) -> torch.Tensor:
    """The claim with a random `SHARE` of its true labels taken out."""
    generator = torch.Generator().manual_seed(seed)
    claimed = c.nonzero()[:, 0]
    drop = claimed[torch.randperm(len(claimed), generator=generator)[: int(SHARE * len(claimed))]]
    out = c.clone()
    out[drop] = False
    return out


def extra_labels(c: torch.Tensor, seed: int) -> torch.Tensor:
    """The claim with as many false labels as `SHARE` of its true ones, at random elsewhere."""
    generator = torch.Generator().manual_seed(seed)
    unclaimed = (~c).nonzero()[:, 0]
    add = unclaimed[torch.randperm(len(unclaimed), generator=generator)[: int(SHARE * int(c.sum()))]]
    out = c.clone()
    out[add] = True
    return out


def sanity(a: torch.Tensor, c: torch.Tensor, tau: float) -> dict[str, tuple[bool, bool]]:
    """For each metric: (every seed's missing-label claim scores lower, every seed's extra-label
    claim scores lower) than the true claim."""
    true = scores(a, c, tau)
    missing = [scores(a, missing_labels(c, s), tau) for s in SEEDS]
    extra = [scores(a, extra_labels(c, s), tau) for s in SEEDS]
    return {name: (all(m[name] < true[name] - EPS for m in missing),
                   all(e[name] < true[name] - EPS for e in extra)) for name in ALL}


def month_labels(lab, neuron) -> tuple[torch.Tensor, torch.Tensor]:
    from neurontest.claims.predicates import predicate_from_dict
    from neurontest.engine.models.planted import MONTHS

    mask = lab.sample.batch.mask
    predicate = predicate_from_dict({"tokens": MONTHS})
    return lab.activations(neuron)[mask], lab.claimed(predicate)[mask]


def test_the_checks_can_fail() -> None:
    # A metric blind to the labels passes neither check; one that counts them passes both.
    a = torch.cat([torch.linspace(2.0, 3.0, 10), torch.zeros(30)])
    c = a > 1
    true = scores(a, c, 1.0)
    assert true["f1"] == 1.0 and true["recall"] == 1.0
    found = sanity(a, c, 1.0)
    assert found["f1"] == (True, True) and found["recall"] == (False, True)


def test_missing_and_extra_labels_on_the_planted_month_neuron() -> None:
    from neurontest.engine.models.planted import MONTH_NEURON, planted_model
    from neurontest.lab import CorpusOptions, Lab

    lab = Lab(planted_model().model, CorpusOptions("planted", 16, None), cache=False, progress=False)
    a, c = month_labels(lab, MONTH_NEURON)
    assert int(c.sum()) >= 50 and scores(a, c, 1.0)["f1"] == 1.0  # the labels are the truth
    assert sanity(a, c, 1.0) == EXPECTED


@pytest.mark.real_model
def test_missing_and_extra_labels_on_smollm2_month_neuron() -> None:
    # L0N972 of SmolLM2-135M (hypotheses/test_months.yaml, tau 4) is a good, not perfect, month
    # detector: its corpus activations come from the shared activation cache when warm.
    from neurontest.engine.models.loading import load_model
    from neurontest.engine.units.neuron import NeuronRef
    from neurontest.errors import ModelUnavailableError
    from neurontest.lab import CorpusOptions, Lab

    try:
        model = load_model()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    lab = Lab(model, CorpusOptions(None), progress=False)
    a, c = month_labels(lab, NeuronRef(0, 972))
    assert int(c.sum()) >= 100
    # The same verdicts as on the exact planted neuron (docs/metrics.md gives the numbers).
    assert sanity(a, c, 4.0) == EXPECTED
