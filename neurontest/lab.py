"""A model and a tokenized corpus, with the activations mined so far: the library's entry point.

    lab = Lab.load()                                 # embedded SmolLM2 + Wikipedia sample
    lab.prepare([NeuronRef(1, 298), NeuronRef(3, 7)])  # one mining pass for both
    lab.score(NeuronRef(1, 298), TokenSet(("March",)), Threshold(1.0))

The pytest plugin keeps one Lab per (model, corpus) for a whole session; notebooks use it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from neurontest.neuron import NeuronRef

if TYPE_CHECKING:
    import torch

    from neurontest.claims.base import Threshold
    from neurontest.corpus import CorpusSample
    from neurontest.predicates import Predicate, Vocabulary


@dataclass(frozen=True)
class CorpusOptions:
    """How a corpus is cut into scored windows (part of the activation cache key)."""

    spec: str | None = None
    window: int = 64
    n_tokens: int | None = 100_000
    seed: int = 0


@dataclass
class Lab:
    """One model on one tokenized corpus; mines and caches neuron activations on demand."""

    model: Any
    corpus_options: CorpusOptions = field(default_factory=CorpusOptions)
    cache: bool | Path = True
    batch_size: int | None = None  # None: sized to the device (neurontest.batching)
    progress: bool = True
    _sample: CorpusSample | None = None
    _activations: dict[NeuronRef, torch.Tensor] = field(default_factory=dict)
    _claimed: dict[Predicate, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        model: str | None = None,
        corpus: str | None = None,
        *,
        device: str = "cpu",
        dtype: str | None = None,
        revision: str | None = None,
        window: int = 64,
        n_tokens: int | None = 100_000,
        seed: int = 0,
        **kwargs: Any,
    ) -> Lab:
        """Load a model by name or path and pair it with a corpus spec (loaded lazily)."""
        from neurontest.models import load_model

        bridge = load_model(model, device=device, dtype=dtype, revision=revision)
        return cls(bridge, CorpusOptions(corpus, window, n_tokens, seed), **kwargs)

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def vocab(self) -> Vocabulary:
        from neurontest.predicates import vocabulary

        return vocabulary(self.tokenizer)

    @property
    def model_key(self) -> str:
        from neurontest.models import model_fingerprint

        return model_fingerprint(self.model)

    @property
    def sample(self) -> CorpusSample:
        """The tokenized corpus windows (loaded and tokenized on first use)."""
        if self._sample is None:
            from neurontest.corpus import load_corpus

            opts = self.corpus_options
            self._sample = load_corpus(opts.spec).tokenize(
                self.tokenizer, window=opts.window, n_tokens=opts.n_tokens, seed=opts.seed
            )
        return self._sample

    def check_neuron(self, neuron: NeuronRef) -> None:
        from neurontest.activations import check_neurons

        check_neurons(self.model, [neuron])

    def prepare(self, neurons: Iterable[NeuronRef]) -> None:
        """Mine every listed neuron not yet in memory, in one pass (or from the disk cache)."""
        from neurontest.activation_cache import mine

        missing = [n for n in dict.fromkeys(neurons) if n not in self._activations]
        if not missing:
            return
        self._activations.update(
            mine(
                self.model, self.sample.batch, missing,
                model_key=self.model_key, corpus_key=self.sample.fingerprint,
                cache=self.cache, batch_size=self.batch_size, progress=self.progress,
            )
        )

    def activations(self, neuron: NeuronRef) -> torch.Tensor:
        """`[rows, pos]` activations of `neuron` over the corpus windows."""
        self.prepare([neuron])
        return self._activations[neuron]

    def scorable(self, neuron: NeuronRef) -> torch.Tensor:
        """1-D activations at every scorable (non-pad, non-BOS) corpus position."""
        return self.activations(neuron)[self.sample.batch.mask]

    def tau(self, neuron: NeuronRef, threshold: Threshold) -> float:
        """The absolute firing threshold for `neuron` (relative ones scale the corpus max)."""
        if not threshold.relative:
            return threshold.value
        return threshold.value * float(self.scorable(neuron).max())

    def claimed(self, predicate: Predicate) -> torch.Tensor:
        """Bool `[rows, pos]`: where the predicate holds on the corpus (False off-mask); a fresh
        copy, so callers may modify it."""
        # Memoised per predicate (the corpus and vocabulary of a lab never change): an activation
        # claim needs it twice, and several claims about one neuron share a predicate.
        try:
            mask = self._claimed.get(predicate)
        except TypeError:  # an unhashable (non-frozen) predicate: not memoised
            return predicate.mask(self.sample.batch, self.vocab)
        if mask is None:
            mask = self._claimed[predicate] = predicate.mask(self.sample.batch, self.vocab)
        return mask.clone()

    def score(self, neuron: NeuronRef, predicate: Predicate, threshold: Threshold) -> dict[str, float]:
        """Precision, recall, F1, IoU, AUPRC, Pearson, variance explained of the predicate."""
        from neurontest.metrics import score_predicate

        mask = self.sample.batch.mask
        c = self.claimed(predicate)[mask]
        return score_predicate(self.activations(neuron)[mask], c, self.tau(neuron, threshold))

    def describe(self) -> dict[str, Any]:
        """Model and corpus identity, as reports and baselines record it."""
        from neurontest.models import describe_model

        opts = self.corpus_options
        corpus: dict[str, Any] = {"name": opts.spec or "wiki-sample", "fingerprint": None,
                                  "window": opts.window, "n_tokens": opts.n_tokens, "seed": opts.seed,
                                  "rows": None, "scorable_tokens": None}
        if self._sample is not None:
            corpus |= {"name": self._sample.name, "fingerprint": self._sample.fingerprint,
                       "rows": len(self._sample.batch),
                       "scorable_tokens": self._sample.n_tokens}
        info = {"model": describe_model(self.model), "corpus": corpus}
        return info
