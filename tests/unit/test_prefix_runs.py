"""prefix_runs: the shared-prefix path gives the plain path's numbers, and falls back when it cannot."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from neurontest.engine.run import prefix_runs  # noqa: E402
from neurontest.engine.units.neuron import NeuronRef  # noqa: E402
from neurontest.measure.noise import noise_sensitivity  # noqa: E402
from neurontest.engine.models.planted import planted_model  # noqa: E402
from neurontest.engine.run.prefix_runs import Variant, plan_groups  # noqa: E402
from neurontest.measure.simplify import simplify  # noqa: E402
from neurontest.engine.data.tokens import encode  # noqa: E402

TEXT = "we met in March 2020 and the cat sat on the mat while it rained in May"


@pytest.fixture(scope="module")
def planted():
    return planted_model()


def _noise_and_deletion_variants(ids: list[int], d_model: int) -> list[Variant]:
    noise = torch.randn(d_model, generator=torch.Generator().manual_seed(0)) * 3
    clean = tuple(ids)
    noised = [Variant(clean, p, p, noise) for p in range(1, len(ids))]
    # Deleting token j and repeating the first token keeps every variant the same length.
    deleted = [Variant(tuple(ids[:j] + ids[j + 1 :] + ids[1:2]), j) for j in range(1, len(ids) - 1)]
    return [Variant(clean, len(ids))] + noised + deleted


@pytest.fixture(scope="module")
def scrambled():
    """The planted architecture with every weight random: attention mixes all earlier positions
    and depends on them, so a wrong prefix or position shows in every activation."""
    from transformer_lens.model_bridge import TransformerBridge

    from neurontest.engine.models.planted import _tokenizer, planted_hf_model

    hf = planted_hf_model(0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for weight in hf.parameters():
            weight.copy_(torch.randn(weight.shape, generator=generator) * 0.3)
    bridge = TransformerBridge.boot_transformers(
        "neurontest/scrambled", hf_model=hf, tokenizer=_tokenizer(), device="cpu", dtype=torch.float32)
    return bridge.eval()


@pytest.mark.parametrize("neuron", [NeuronRef(0, 3), NeuronRef(1, 5), NeuronRef(1, 20)], ids=str)
def test_shared_equals_plain(scrambled, neuron):
    ids = encode(scrambled.tokenizer, TEXT)
    variants = _noise_and_deletion_variants(ids, int(scrambled.cfg.d_model))
    shared = prefix_runs._shared_activations(scrambled, neuron, ids, variants, batch_size=7)
    plain = prefix_runs.plain_activations(scrambled, neuron, variants, batch_size=7)
    assert shared.shape == (len(variants),)
    assert torch.allclose(shared, plain, atol=1e-5, rtol=1e-5)
    assert plain.std() > 0  # the variants really differ, so equality is not vacuous


@pytest.mark.parametrize("pack_tokens", [24, 60, 10_000])
@pytest.mark.parametrize("neuron", [NeuronRef(0, 3), NeuronRef(1, 5)], ids=str)
def test_packed_equals_plain(scrambled, neuron, pack_tokens):
    ids = encode(scrambled.tokenizer, TEXT)
    variants = _noise_and_deletion_variants(ids, int(scrambled.cfg.d_model))
    packed = prefix_runs.packed_activations(scrambled, neuron, ids, variants, pack_tokens=pack_tokens)
    plain = prefix_runs.plain_activations(scrambled, neuron, variants)
    assert torch.allclose(packed, plain, atol=1e-5, rtol=1e-5) and plain.std() > 0
    assert prefix_runs._verdict(scrambled, neuron).packs


def test_short_texts_run_packed_in_one_call(planted, monkeypatch):
    neuron = planted.promoter.neuron
    assert prefix_runs._verdict(planted.model, neuron).packs  # the once-per-model check, done first
    packs = []
    real = prefix_runs._run_pack
    monkeypatch.setattr(prefix_runs, "_run_pack", lambda *a, **k: packs.append(1) or real(*a, **k))
    noise_sensitivity(planted.model, neuron, "we met in May and the cat sat", draws=2)
    assert packs == [1]
    packs.clear()
    noise_sensitivity(planted.model, neuron, " ".join([TEXT] * 2), draws=2)  # longer than a pack
    assert packs == []


def test_a_wrong_packed_path_is_not_used(planted, monkeypatch):
    neuron = planted.promoter.neuron
    reference = noise_sensitivity(planted.model, neuron, "we met in May", draws=2).change
    monkeypatch.setattr(prefix_runs, "_verdicts", prefix_runs.weakref.WeakKeyDictionary())
    real = prefix_runs.packed_activations
    monkeypatch.setattr(prefix_runs, "packed_activations", lambda *a, **k: real(*a, **k) + 1.0)
    assert noise_sensitivity(planted.model, neuron, "we met in May", draws=2).change == pytest.approx(
        reference, abs=1e-5)
    assert prefix_runs._verdicts[planted.model].packs is False


@pytest.mark.parametrize("neuron", [NeuronRef(0, 3), NeuronRef(1, 20)], ids=str)
def test_the_fast_plain_path_changes_nothing(scrambled, neuron):
    ids = encode(scrambled.tokenizer, TEXT)
    variants = _noise_and_deletion_variants(ids, int(scrambled.cfg.d_model))
    sliced = prefix_runs.plain_activations(scrambled, neuron, variants, fast=True)
    full = prefix_runs.plain_activations(scrambled, neuron, variants)
    assert torch.allclose(sliced, full, atol=1e-5, rtol=1e-5) and full.std() > 0
    assert prefix_runs._verdict(scrambled, neuron).fast


def test_a_wrong_fast_path_is_not_used(planted, monkeypatch):
    neuron = planted.promoter.neuron
    reference = noise_sensitivity(planted.model, neuron, "we met in May", draws=2).change
    monkeypatch.setattr(prefix_runs, "_verdicts", prefix_runs.weakref.WeakKeyDictionary())
    real = prefix_runs.plain_activations
    monkeypatch.setattr(prefix_runs, "plain_activations",
                        lambda *a, fast=False, **k: real(*a, **k) + (1.0 if fast else 0.0))
    assert noise_sensitivity(planted.model, neuron, "we met in May", draws=2).change == pytest.approx(
        reference, abs=1e-5)
    assert prefix_runs._verdicts[planted.model].fast is False


def test_long_texts_take_the_shared_path(planted, monkeypatch):
    neuron = planted.promoter.neuron
    calls = []
    real = prefix_runs._shared_activations
    monkeypatch.setattr(prefix_runs, "_shared_activations",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    noise_sensitivity(planted.model, neuron, TEXT + " " + TEXT, draws=2)
    assert calls, "a 30-token text with 60 noised rows should share its prefixes"
    calls.clear()
    noise_sensitivity(planted.model, neuron, "in May", draws=1)
    assert not calls, "three short rows are cheaper in one plain forward"


def test_a_failed_self_check_falls_back_to_plain(planted, monkeypatch):
    neuron = planted.promoter.neuron
    monkeypatch.setattr(prefix_runs, "_verdicts", prefix_runs.weakref.WeakKeyDictionary())
    real = prefix_runs._shared_activations
    monkeypatch.setattr(prefix_runs, "_shared_activations", lambda *a, **k: real(*a, **k) + 1.0)
    long_text = TEXT + " " + TEXT
    fallback = noise_sensitivity(planted.model, neuron, long_text, draws=2)
    assert prefix_runs._verdicts[planted.model].shares_prefixes is False
    monkeypatch.setattr(prefix_runs, "_verdicts", prefix_runs.weakref.WeakKeyDictionary())
    monkeypatch.setattr(prefix_runs, "_shared_activations", real)
    assert noise_sensitivity(planted.model, neuron, long_text, draws=2).change == pytest.approx(
        fallback.change, abs=1e-5)


def test_simplify_is_unchanged_by_sharing(scrambled, monkeypatch):
    neuron = NeuronRef(1, 20)
    text = " ".join([TEXT] * 3)
    assert prefix_runs._verdict(scrambled, neuron).shares_prefixes  # the once-per-model check, done first
    base_runs = []
    real_prefill = prefix_runs._prefill
    monkeypatch.setattr(prefix_runs, "_prefill",
                        lambda m, n, tokens, d, cache: base_runs.append(cache is None) or real_prefill(m, n, tokens, d, cache))
    shared = simplify(scrambled, neuron, text)
    assert base_runs.count(False) > 3, "several steps should take the shared path"
    assert base_runs.count(True) == 1, "later steps reuse the chosen candidate's prefix as their base"
    monkeypatch.setattr(prefix_runs, "shared_cost", lambda *a, **k: float("inf"))
    plain = simplify(scrambled, neuron, text)
    assert [s.str_tokens for s in shared.steps] == [s.str_tokens for s in plain.steps]
    assert [s.activation for s in shared.steps] == pytest.approx([s.activation for s in plain.steps], abs=1e-5)


@pytest.mark.parametrize("overhead, n_groups", [(0, 5), (10**9, 1)])
def test_plan_groups_trades_calls_against_recomputation(monkeypatch, overhead, n_groups):
    monkeypatch.setattr(prefix_runs, "CALL_OVERHEAD_TOKENS", overhead)
    starts = [0, 0, 1, 2, 2, 2, 5, 9, 9]
    groups = plan_groups(starts, length=12, layer=2, batch_size=100)
    assert [i for g in groups for i in g] == list(range(len(starts)))  # each row once, in order
    assert len(groups) == n_groups
    for g in groups:  # rows of one start never split across groups
        assert all(starts[i] != starts[g[0]] for i in range(len(starts)) if i not in g)


def test_cost_model_prefers_sharing_only_for_long_texts():
    long_starts = list(range(1, 64))
    assert prefix_runs.shared_cost(long_starts, 64, 3, 512) < prefix_runs.plain_cost(63, 64, 3, 512)
    assert prefix_runs.shared_cost([1, 2, 3], 4, 3, 512) >= prefix_runs.plain_cost(3, 4, 3, 512)
