"""A model and a tokenized corpus, with the activations mined so far: the library's entry point.

    lab = Lab.load()                                 # embedded SmolLM2 + Wikipedia sample
    lab.prepare([NeuronRef(1, 298), NeuronRef(3, 7)])  # one mining pass for both
    lab.score(NeuronRef(1, 298), TokenSet(("March",)), Threshold(1.0))

The lab holds data only; claims run on it through `neurontest.claims.runner.ClaimRunner`. The
pytest plugin keeps one Lab per (model, corpus) for a whole session; notebooks use it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Protocol

from neurontest.engine.data.corpus import load_corpus, stored_sample
from neurontest.engine.data.prep_cache import store_vocabulary_strings
from neurontest.engine.data.vocabulary import Vocabulary, vocabulary
from neurontest.engine.models.loading import describe_model, load_model, model_fingerprint
from neurontest.engine.progress import progress_task
from neurontest.engine.run.activation_cache import cached_activations, mine
from neurontest.engine.units.neuron import NeuronRef
from neurontest.engine.units.protocol import check_units
from neurontest.errors import MiningFailedError
from neurontest.measure.metrics import score_predicate

if TYPE_CHECKING:
    import torch

    from neurontest.engine.data.corpus import CorpusSample
    from neurontest.engine.units.protocol import UnitRef


class TokenPredicate(Protocol):
    """What the lab needs of a claim's predicate (neurontest.claims.predicates): a corpus mask."""

    def mask(self, batch: Any, vocab: Vocabulary) -> torch.Tensor: ...


class FiringThreshold(Protocol):
    """What the lab needs of a threshold (neurontest.claims.bounds.Threshold)."""

    value: float
    relative: bool


@dataclass(frozen=True)
class CorpusOptions:
    """How a corpus is cut into scored windows (part of the activation cache key)."""

    spec: str | None = None
    window: int = 64
    n_tokens: int | None = 100_000
    seed: int = 0
    #: `all`, or one half of the documents (`explore` to draft claims on, `confirm` to test them)
    split: str = "all"


class Lab:
    """One model on one tokenized corpus; mines and caches neuron activations on demand.

    The model may be deferred: `Lab.deferred(load, identity)` knows the model's and corpus's
    fingerprints from an earlier run (neurontest.plugin.result_cache) and loads the model only when
    something needs it, so a run whose claim results are all remembered does no model work.
    """

    def __init__(
        self,
        model: Any = None,
        corpus_options: CorpusOptions | None = None,
        cache: bool | Path = True,
        batch_size: int | None = None,  # None: sized to the device (neurontest.engine.run.batching)
        progress: bool = True,
        sample: CorpusSample | None = None,
        *,
        device: str = "cpu",
        executor: Any = None,  # neurontest.engine.run.executors.Executor; None: mine in this process
    ) -> None:
        self._model = model
        self.corpus_options = corpus_options or CorpusOptions()
        self.cache = cache
        self.batch_size = batch_size
        self.progress = progress
        self.device = device  # part of a remembered result's key
        self.executor = executor
        self._mining_failed: dict[UnitRef, Exception] = {}  # a failed pass is not rerun per claim
        self._sample = sample
        self._load: Callable[[], Any] | None = None
        self._identity: dict[str, Any] | None = None  # describe() as an earlier run recorded it
        self._activations: dict[UnitRef, torch.Tensor] = {}
        self._claimed: dict[TokenPredicate, torch.Tensor] = {}
        self._vocab: Vocabulary | None = None

    @classmethod
    def deferred(cls, load: Callable[[], Any], identity: dict[str, Any], corpus_options: CorpusOptions,
                 **kwargs: Any) -> Lab:
        """A lab whose model `load()` returns on first use; `identity` is the `describe()` an
        earlier run recorded for the same model and corpus files."""
        lab = cls(None, corpus_options, **kwargs)
        lab._load, lab._identity = load, identity
        return lab

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
        split: str = "all",
        **kwargs: Any,
    ) -> Lab:
        """Load a model by name or path and pair it with a corpus spec (loaded lazily)."""
        bridge = load_model(model, device=device, dtype=dtype, revision=revision)
        return cls(bridge, CorpusOptions(corpus, window, n_tokens, seed, split), device=device, **kwargs)

    @property
    def model(self) -> Any:
        """The TransformerBridge (loaded now if the lab was deferred)."""
        if self._model is None and self._load is not None:
            self._model = self._load()
            if self._identity and self._identity["model"]["fingerprint"] != model_fingerprint(self._model):
                self._identity = None  # the files changed under the same stamp: trust the model
        return self._model

    @property
    def context_length(self) -> int | None:
        """The most tokens the model reads at once (None when the model is not loaded: texts are
        then checked when it is)."""
        if self._model is None:
            return None
        n_ctx = getattr(self._model.cfg, "n_ctx", None)
        return int(n_ctx) if n_ctx else None

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    @property
    def vocab(self) -> Vocabulary:
        """Each token id's string. A deferred lab reads them from the disk cache, so claims and
        tests that need only the strings do not load the model."""
        if self._vocab is None and not self.model_loaded and (self._identity or {}).get("vocab"):
            self._vocab = Vocabulary.stored(self._identity["vocab"], lambda: self.tokenizer)
        if self._vocab is None:
            self._vocab = vocabulary(self.tokenizer)
        return self._vocab

    @property
    def model_key(self) -> str:
        if not self.model_loaded and self._identity is not None:
            return self._identity["model"]["fingerprint"]
        return model_fingerprint(self.model)

    @property
    def sample(self) -> CorpusSample:
        """The tokenized corpus windows (loaded and tokenized on first use)."""
        if self._sample is None and self._identity is not None:
            corpus = self._identity["corpus"]
            self._sample = stored_sample(corpus["name"], corpus["fingerprint"], corpus["window"])
        if self._sample is None:
            opts = self.corpus_options
            tokenizer = self.tokenizer  # a deferred model loads first, as its own phase
            with progress_task(f"preparing corpus {opts.spec or 'wiki-sample'}", phase="corpus"):
                self._sample = load_corpus(opts.spec).tokenize(
                    tokenizer, window=opts.window, n_tokens=opts.n_tokens, seed=opts.seed,
                    split=opts.split)
        return self._sample

    def check_unit(self, unit: UnitRef) -> None:
        """ValueError naming the valid range (or the fix) if the model has no such unit."""
        if not self.model_loaded and self._identity is not None:
            model = self._identity["model"]
            if isinstance(unit, NeuronRef):
                unit.check_in_range(int(model["n_layers"]), int(model["d_mlp"]))
                return
            # Other units need the model's weights for a full check, which a warm run whose
            # results are remembered must not load: check the layer now; mining checks the rest.
            if not 0 <= unit.layer < int(model["n_layers"]):
                raise ValueError(f"{unit.short_id}: layer {unit.layer} is out of range; the "
                                 f"model has layers 0..{int(model['n_layers']) - 1}")
            return

        check_units(self.model, [unit])

    def prepare(self, neurons: Iterable[UnitRef]) -> None:
        """Mine every listed neuron not yet in memory, in one pass (or from the disk cache)."""
        missing = [n for n in dict.fromkeys(neurons) if n not in self._activations]
        if missing and self.cache and not self.model_loaded:
            # Whatever the disk cache holds needs no model: load the model only for the rest.
            self._read_cached(missing)
            missing = [n for n in missing if n not in self._activations]
        if not missing:
            return
        failed = next((self._mining_failed[n] for n in missing if n in self._mining_failed), None)
        if failed is not None:
            raise failed
        missing = [self._bound(unit) for unit in missing]
        try:
            mined = mine(
                self.model, self.sample.batch, missing,
                model_key=self.model_key, corpus_key=self.sample.fingerprint,
                cache=self.cache, batch_size=self.batch_size, progress=self.progress,
                executor=self.executor,
            )
        except MiningFailedError as exc:
            # Every claim reading these neurons fails with this message; the others still run.
            self._mining_failed.update(dict.fromkeys(missing, exc))
            raise
        self._activations.update(mined)

    def _bound(self, unit: Any) -> Any:
        """`unit`, holding the corpus mask of its predicate where it reads one (an attention
        probe's source tokens, neurontest.engine.run.attention_mass; a layer scan's claimed tokens,
        neurontest.engine.run.layer_scan)."""
        if getattr(unit, "needs_sources", False) and not hasattr(unit.sources, "shape"):
            return unit.with_sources(self.claimed(unit.sources), self.sample.batch.mask)
        return unit

    def mined(self, neuron: UnitRef) -> torch.Tensor | None:
        """`neuron`'s corpus activations if in memory or the disk cache, else None; never runs
        the model (reports use it)."""
        if (neuron not in self._activations and self.cache
                and (self._sample is not None or self._identity is not None)):
            self._read_cached([neuron])
        return self._activations.get(neuron)

    def _read_cached(self, neurons: list[UnitRef]) -> None:
        """Add whichever of `neurons` the disk activation cache holds (no model needed)."""
        self._activations.update(cached_activations(
            self.model_key, self.sample.fingerprint, neurons, tuple(self.sample.batch.tokens.shape),
            self.cache))

    def activations(self, neuron: UnitRef) -> torch.Tensor:
        """`[rows, pos]` activations of `neuron` over the corpus windows."""
        self.prepare([neuron])
        return self._activations[neuron]

    def scorable(self, neuron: UnitRef) -> torch.Tensor:
        """1-D activations at every scorable (non-pad, non-BOS) corpus position."""
        return self.activations(neuron)[self.sample.batch.mask]

    def tau(self, neuron: UnitRef, threshold: FiringThreshold) -> float:
        """The absolute firing threshold for `neuron` (relative ones scale the corpus max)."""
        if not threshold.relative:
            return threshold.value
        return threshold.value * float(self.scorable(neuron).max())

    def claimed(self, predicate: TokenPredicate) -> torch.Tensor:
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

    def score(self, neuron: UnitRef, predicate: TokenPredicate, threshold: FiringThreshold) -> dict[str, float]:
        """Precision, recall, F1, IoU, AUPRC, Pearson, variance explained of the predicate."""
        mask = self.sample.batch.mask
        c = self.claimed(predicate)[mask]
        return score_predicate(self.activations(neuron)[mask], c, self.tau(neuron, threshold))

    def resolved_identity(self) -> dict[str, Any] | None:
        """`describe()` if this run loaded the model and the corpus sample, else None; resolves
        nothing (what a later run may trust instead of loading them)."""
        if not self.model_loaded or self._sample is None:
            return None
        if self._vocab is not None and self._vocab.key is not None:
            # A vocabulary memoised in this process may predate this cache folder.
            store_vocabulary_strings(self._vocab.key, self._vocab.strings)
            return self.describe() | {"vocab": self._vocab.key}
        return self.describe()

    def identity(self) -> dict[str, Any]:
        """`describe()` with the corpus resolved: the fingerprints results are keyed by."""
        if self._sample is None and (self._identity is None or self.model_loaded):
            _ = self.sample
        return self.describe()

    def describe(self) -> dict[str, Any]:
        """Model and corpus identity, as reports and baselines record it."""
        if not self.model_loaded and self._identity is not None:
            return {"model": dict(self._identity["model"]), "corpus": dict(self._identity["corpus"])}
        opts = self.corpus_options
        corpus: dict[str, Any] = {"name": opts.spec or "wiki-sample", "fingerprint": None,
                                  "window": opts.window, "n_tokens": opts.n_tokens, "seed": opts.seed,
                                  "split": opts.split,
                                  "rows": None, "scorable_tokens": None}
        if self._sample is not None:
            corpus |= {"name": self._sample.name, "fingerprint": self._sample.fingerprint,
                       "rows": len(self._sample.batch),
                       "scorable_tokens": self._sample.n_tokens}
        info = {"model": describe_model(self.model), "corpus": corpus}
        return info
