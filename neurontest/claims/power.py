"""How much corpus a claim needs, before it is claimed: the positions (and corpus tokens at the
predicate's base rate) that would pin a unit's precision and recall to +-`half_width`.

    from neurontest import Lab, NeuronRef
    from neurontest.claims.power import corpus_needed
    lab = Lab.load()
    for estimate in corpus_needed(lab, NeuronRef(0, 972), TokenSet(("March",)), Threshold(4.0)):
        print(estimate.describe())

`neurontest power L0N972 --fires-on "January February March" --threshold 4` prints the same.
Clustering is counted: the design effect (cluster-bootstrap variance over the binomial one, by
document where the corpus knows them) multiplies the positions a share needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from neurontest.claims.bounds import Threshold
from neurontest.claims.verdicts import cluster_ids, share_estimates
from neurontest.measure.intervals import DEFAULT_LEVEL, window_bootstrap_samples

if TYPE_CHECKING:
    from neurontest.claims.predicates import Predicate
    from neurontest.lab import Lab
    from neurontest.measure.power import PowerEstimate


def corpus_needed(lab: Lab, unit: Any, predicate: Predicate, threshold: Threshold, *,
                  half_width: float = 0.05, level: float = DEFAULT_LEVEL) -> list[PowerEstimate]:
    """Precision's and recall's estimates on `lab`'s corpus: where they stand now and what
    pins them to +-`half_width` at `level`."""
    predicate.check(lab.vocab)
    mask = lab.sample.batch.mask
    a, c = lab.activations(unit)[mask], lab.claimed(predicate)[mask]
    scores = lab.score(unit, predicate, threshold)
    samples = window_bootstrap_samples(a, c, cluster_ids(lab, mask), scores["tau"],
                                       {"precision": scores["precision"], "recall": scores["recall"]})
    return share_estimates(scores, samples, {"claimed", "firing"}, level=level, half_width=half_width)
