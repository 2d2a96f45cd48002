"""Units beyond MLP neurons on the planted model, whose SAE latents, direction and head are exact
by construction:

* layer 0's MLP writes only MONTH's activation / 8 into a spare dimension, so an SAE latent whose
  encoder column is 8 x that dimension reads MONTH's activation exactly, and its decoder row
  (that dimension / 8) is MONTH's write: ablating the latent = ablating the neuron downstream;
* layer 1's MLP writes only PROMOTER's activation x 0.4 along "2020": a sparsify TopK latent and
  a direction on that axis read it exactly, and their output direction is PROMOTER's W_out row;
* L1H1 is a previous-token head writing 0.01 right after a month.
The SAE files are written in the public layouts (SAELens cfg.json + sae_weights.safetensors;
sparsify cfg.json + sae.safetensors), in float32 and bfloat16.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file

from neurontest.claims.runner import ClaimRunner  # noqa: E402
from neurontest.claims.base import result_from_dict, result_to_dict
from neurontest.engine.units.head import HeadRef
from neurontest.engine.models.planted import (
    MONTHS,
    PREVIOUS_HEAD,
    PREVIOUS_HEAD_WRITE,
    PROMOTED,
    WORDS,
)
from neurontest.engine.units.sae_latent import read_sae_folder
from neurontest.engine.models.sae_loading import unit_from_dict
from neurontest.format.spec import load_hypothesis_file
from neurontest.measure.ablation import ablate
from neurontest.measure.attribution import logit_direction

D_MODEL, MONTH_DIM = 80, len(WORDS)
PROMOTED_DIM = WORDS.index(PROMOTED)


def _basis(dim: int) -> torch.Tensor:
    v = torch.zeros(D_MODEL)
    v[dim] = 1.0
    return v


def write_saelens(folder, *, hook="blocks.0.hook_mlp_out", dtype=torch.float32, jumprelu=False,
                  v6=True):
    """The MONTH latent (0) plus three latents with negative bias that never fire."""
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    w_enc = torch.randn(D_MODEL, 4, generator=gen) * 0.01
    w_enc[:, 0] = 8.0 * _basis(MONTH_DIM)
    w_dec = torch.randn(4, D_MODEL, generator=gen) * 0.01
    w_dec[0] = _basis(MONTH_DIM) / 8.0
    tensors = {"W_enc": w_enc, "b_enc": torch.tensor([0.0, -50.0, -50.0, -50.0]), "W_dec": w_dec,
               "b_dec": torch.zeros(D_MODEL)}
    if jumprelu:
        tensors["threshold"] = torch.tensor([2.0, 0.0, 0.0, 0.0])
    save_file({k: v.to(dtype).contiguous() for k, v in tensors.items()},
              str(folder / "sae_weights.safetensors"))
    arch = "jumprelu" if jumprelu else "standard"
    if v6:  # SAELens 6: hook and model under `metadata`
        cfg = {"architecture": arch, "d_in": D_MODEL, "d_sae": 4, "dtype": str(dtype).split(".")[-1],
               "device": "cpu", "apply_b_dec_to_input": not jumprelu, "normalize_activations": "none",
               "reshape_activations": "none",
               "metadata": {"model_name": "planted", "hook_name": hook, "hook_head_index": None,
                            "prepend_bos": True, "context_size": 32, "sae_lens_version": "6.18.0"}}
    else:  # the older flat config (Gemma Scope releases as SAELens converts them)
        cfg = {"architecture": arch, "d_in": D_MODEL, "d_sae": 4, "dtype": "float32",
               "model_name": "planted", "hook_name": hook, "hook_layer": 0, "hook_head_index": None,
               "activation_fn_str": "relu", "apply_b_dec_to_input": False,
               "finetuning_scaling_factor": False, "normalize_activations": None,
               "context_size": 1024, "prepend_bos": True, "sae_lens_training_version": None}
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return folder


def write_sparsify(root, *, dtype=torch.float32, transcode=False):
    """`layers.1.mlp`: latent 0 reads PROMOTER's write (x 0.4 along "2020"); a transcoder reads
    the MLP input of layer 0 and its latent 0 is 'this token is a month'."""
    folder = root / ("layers.0.mlp" if transcode else "layers.1.mlp")
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(1)
    enc = torch.randn(4, D_MODEL, generator=gen) * 0.01
    dec = torch.randn(4, D_MODEL, generator=gen) * 0.01
    if transcode:
        enc[0] = 0.0
        enc[0, [WORDS.index(m) for m in MONTHS]] = 1.0 / D_MODEL ** 0.5
        dec[0] = _basis(MONTH_DIM) * 0.5
    else:
        enc[0] = _basis(PROMOTED_DIM) / 0.4
        dec[0] = _basis(PROMOTED_DIM) * 0.4
    save_file({"encoder.weight": enc.to(dtype).contiguous(),
               "encoder.bias": torch.tensor([0.0, -50.0, -50.0, -50.0]).to(dtype),
               "W_dec": dec.to(dtype).contiguous(), "b_dec": torch.zeros(D_MODEL).to(dtype)},
              str(folder / "sae.safetensors"))
    cfg = {"activation": "topk", "expansion_factor": 32, "normalize_decoder": True,
           "num_latents": 4, "k": 2, "multi_topk": False, "skip_connection": False,
           "transcode": transcode, "d_in": D_MODEL}
    (folder / "cfg.json").write_text(json.dumps(cfg))
    return folder


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("v6", [True, False])
def test_saelens_latent_reads_the_planted_neuron_exactly(planted, lab, tmp_path, dtype, v6):
    sae = read_sae_folder(write_saelens(tmp_path / "sae", dtype=dtype, v6=v6))
    assert (sae.hook_in, sae.activation, sae.d_sae) == ("blocks.0.hook_mlp_out", "relu", 4)
    latent, never = sae.latent(0), sae.latent(1)
    month = lab.activations(planted.month.neuron)
    assert torch.allclose(lab.activations(latent), month, atol=1e-4)
    assert float(lab.activations(never).abs().max()) == 0.0


def test_jumprelu_threshold_cuts_below_it(planted, lab, tmp_path):
    sae = read_sae_folder(write_saelens(tmp_path / "sae", jumprelu=True))
    month = lab.activations(planted.month.neuron)
    expected = torch.where(month > 2.0, month, torch.zeros_like(month))
    assert torch.allclose(lab.activations(sae.latent(0)), expected, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_sparsify_topk_latent_and_its_output_direction(planted, lab, tmp_path, dtype):
    sae = read_sae_folder(write_sparsify(tmp_path, dtype=dtype))
    assert (sae.hook_in, sae.hook_out, sae.activation, sae.k) == (
        "blocks.1.hook_mlp_out", "blocks.1.hook_mlp_out", "topk", 2)
    latent = sae.latent(0)
    promoter = lab.activations(planted.promoter.neuron)
    # silu can go slightly negative; the latent is ReLU'd
    assert torch.allclose(lab.activations(latent), promoter.clamp_min(0), atol=1e-4)
    rtol = 1e-2 if dtype == torch.bfloat16 else 1e-5  # 0.4 is not exact in bfloat16
    assert torch.allclose(logit_direction(planted.model, latent),
                          logit_direction(planted.model, planted.promoter.neuron), rtol=rtol, atol=1e-6)


def test_sparsify_transcoder_reads_the_mlp_input_and_writes_its_output(planted, tmp_path):
    sae = read_sae_folder(write_sparsify(tmp_path, transcode=True))
    assert (sae.hook_in, sae.hook_out) == ("blocks.0.mlp.hook_in", "blocks.0.hook_mlp_out")
    latent = sae.latent(0)
    from neurontest.engine.units.protocol import edit_hooks

    tokens = planted.model.to_tokens("we met in March 2020")
    sink = {}

    def keep(value, hook=None):
        sink["out"] = value.detach().clone()

    planted.model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_mlp_out", keep)])
    clean = sink["out"]
    planted.model.run_with_hooks(tokens, fwd_hooks=edit_hooks(planted.model, {latent: 0.0})
                                 + [("blocks.0.hook_mlp_out", keep)])
    change = (sink["out"] - clean)[0, :, MONTH_DIM]
    words = planted.model.to_str_tokens(tokens)
    expected = torch.tensor([-0.5 if w == "March" else 0.0 for w in words])
    assert torch.allclose(change, expected, atol=1e-4)  # RMSNorm's eps: 1 - 5e-7, not 1


def test_ablating_the_latent_equals_ablating_the_neuron_downstream(planted, tmp_path):
    latent = read_sae_folder(write_saelens(tmp_path / "sae")).latent(0)
    texts = ["we met in March 2020 .", "the cat sat on the mat ."]
    by_latent = ablate(planted.model, latent, texts, targets=[PROMOTED])
    by_neuron = ablate(planted.model, planted.month.neuron, texts, targets=[PROMOTED])
    for a, b in zip(by_latent, by_neuron):
        assert a.target_logprob_diff[PROMOTED] == pytest.approx(b.target_logprob_diff[PROMOTED], abs=1e-4)
        assert a.kl == pytest.approx(b.kl, abs=1e-5)
    assert min(by_latent[0].target_logprob_diff[PROMOTED]) < -0.1  # the ablation does something


def test_previous_token_head_output_and_ablation(planted, lab):
    acts = lab.activations(PREVIOUS_HEAD)
    batch = lab.sample.batch
    ids = batch.tokens
    after_month = torch.zeros_like(ids, dtype=torch.bool)
    month_ids = torch.tensor([WORDS.index(m) for m in MONTHS])
    after_month[:, 1:] = torch.isin(ids[:, :-1], month_ids)
    real = batch.mask
    assert torch.allclose(acts[real], after_month[real].float() * PREVIOUS_HEAD_WRITE, atol=1e-6)
    # zero-ablating the head silences its write, and nothing else
    from neurontest.engine.units.protocol import edit_hooks

    tokens = planted.model.to_tokens("we met in March 2020")
    sink = {}

    def keep(value, hook=None):
        sink.setdefault("out", []).append(value.detach().clone())

    planted.model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.hook_attn_out", keep)])
    planted.model.run_with_hooks(tokens, fwd_hooks=edit_hooks(planted.model, {PREVIOUS_HEAD: 0.0})
                                 + [("blocks.1.hook_attn_out", keep)])
    clean, ablated = sink["out"]
    prev_dim = MONTH_DIM + 2  # the head's spare dimension
    assert float(clean[0, -1, prev_dim]) == pytest.approx(PREVIOUS_HEAD_WRITE, abs=1e-6)
    assert float(ablated[..., prev_dim].abs().max()) == 0.0
    others = [d for d in range(D_MODEL) if d != prev_dim]
    assert torch.equal(ablated[..., others], clean[..., others])
    with pytest.raises(ValueError, match="no single output direction"):
        logit_direction(planted.model, PREVIOUS_HEAD)
    with pytest.raises(ValueError, match="head 9 is out of range"):
        HeadRef(0, 9).check(planted.model)


HYPOTHESES = """\
neurons:
  - sae: saes/month
    latent: 0
    description: the MONTH write of layer 0's MLP
    fires_on: {tokens: [%(months)s]}
    threshold: 1.0
    claims:
      - kind: activation
        f1: ">= 0.99"
      - kind: examples
        fires: ["we met in [[March]] 2020 ."]
        silent: ["the cat sat on the mat ."]
      - kind: top_examples
        k: 10
        share: ">= 0.9"
      - kind: ablation
        texts: ["we met in [[March]] 2020 .", "she came in [[May]] 2021 .", "on 5 [[June]] 2020 .",
                "he left in [[April]] 2019 .", "the cat sat in [[July]] 2020 ."]
        target: "2020"
        effect: "<= -0.1"
      - kind: noise
        text: "we met in [[March]]"
      - kind: simplify
        text: "the cat sat , we met in [[March]]"
        max_tokens: "<= 2"
      - kind: invariant
        seed: 0
        texts: ["we met in [[March]] 2020 ."]
      - kind: necessary
        seed: 0
        examples: 20
        texts: ["we met in [[March]] 2020 ."]
      - kind: sufficient
        seed: 0
        examples: 20
        templates: ["we met in [[{month}]] {year} ."]
        slots: {year: ["2020", "2021"]}
      - kind: adversarial
        budget: 8
        n_prompts: 2
        length: 4
      - kind: activation
        id: false-claim
        fires_on: {tokens: [cat]}
        recall: ">= 0.5"
        xfail: "a month latent"
  - sae: saes/layers.1.mlp
    latent: 0
    fires_on: {tokens: [%(months)s]}
    threshold: 0.1
    claims:
      - kind: logit_attribution
        matches: {tokens: ["2020"]}
        k: 1
        share: ">= 1"
  - direction: promoted.npy
    hook: blocks.1.hook_mlp_out
    fires_on: {tokens: [%(months)s]}
    threshold: 0.05
    claims:
      - kind: activation
        f1: ">= 0.99"
      - kind: logit_attribution
        matches: {tokens: ["2020"]}
        k: 1
        share: ">= 1"
  - id: L1H1
    description: previous-token head; its write marks the token after a month
    fires_on: {regex: '.', preceded_by: {tokens: [%(months)s]}}
    threshold: 0.005
    claims:
      - kind: activation
        f1: ">= 0.99"
      - kind: top_examples
        k: 10
        share: ">= 0.9"
"""


def test_every_claim_kind_runs_on_latents_directions_and_heads(planted, lab, tmp_path):
    import numpy as np

    write_saelens(tmp_path / "saes" / "month")
    write_sparsify(tmp_path / "saes")
    np.save(tmp_path / "promoted.npy", _basis(PROMOTED_DIM).numpy() * 3.0)  # any scale: unit-normed
    path = tmp_path / "test_units.yaml"
    path.write_text(HYPOTHESES % {"months": ", ".join(MONTHS)})
    spec = load_hypothesis_file(path)
    ids = [entry.neuron.short_id for entry in spec.neurons]
    assert ids == ["saes/month#0", "saes/layers.1.mlp#0", "dir:promoted@blocks.1.hook_mlp_out", "L1H1"]
    outcomes = {}
    for entry in spec.neurons:
        for claim_entry in entry.claims:
            claim = entry.build(claim_entry)
            claim.check(lab)
            result = ClaimRunner(lab).run(claim)
            outcomes[f"{entry.neuron.short_id}::{claim_entry.name}"] = result.passed
            # results survive the result cache / xdist round trip with their unit
            back = result_from_dict(json.loads(json.dumps(result_to_dict(result))))
            assert back.neuron == result.neuron and back.passed == result.passed
    failed = [k for k, ok in outcomes.items() if not ok]
    assert failed == ["saes/month#0::false-claim"], outcomes


def test_units_round_trip_and_cache_keys(planted, tmp_path):
    sae = read_sae_folder(write_saelens(tmp_path / "sae"), source=str(tmp_path / "sae"))
    for unit in (planted.month.neuron, PREVIOUS_HEAD, sae.latent(3)):
        assert unit_from_dict(unit.to_dict()) == unit
    assert planted.month.neuron.cache_key == "L0N3"  # caches written before units stay valid
    assert sae.latent(3).cache_key.startswith("sae-") and "/" not in sae.latent(3).cache_key


@pytest.mark.parametrize("entry, message", [
    ("sae: saes/month\n    latent: 9", "latent 9 is out of range; saes/month has latents 0..3"),
    ("sae: saes/nowhere\n    latent: 0", "no such folder"),
    ("direction: missing.npy\n    hook: blocks.1.hook_mlp_out", "does not exist"),
    ("direction: promoted.npy", "needs `hook:`"),
    ("id: L0X1", "not a neuron id"),
    ("id: L0N3\n    sae: saes/month", "one unit per entry"),
])
def test_unit_errors_are_one_line_with_the_fix(tmp_path, entry, message):
    import numpy as np

    from neurontest.errors import HypothesisFileError

    write_saelens(tmp_path / "saes" / "month")
    np.save(tmp_path / "promoted.npy", np.ones(D_MODEL, dtype="float32"))
    path = tmp_path / "test_bad.yaml"
    path.write_text("neurons:\n  - " + entry.replace("\n    ", "\n    ")
                    + "\n    claims:\n      - kind: top_examples\n        k: 5\n")
    with pytest.raises(HypothesisFileError, match=message) as info:
        load_hypothesis_file(path)
    assert "\n" not in str(info.value)


def test_wrong_shapes_and_hooks_are_named(planted, tmp_path):
    folder = write_saelens(tmp_path / "sae", hook="blocks.0.hook_nope")
    with pytest.raises(ValueError, match="not in the model"):
        read_sae_folder(folder).latent(0).check(planted.model)
    bad = tmp_path / "bad"
    write_saelens(bad)
    cfg = json.loads((bad / "cfg.json").read_text())
    cfg["d_sae"] = 5
    (bad / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"W_enc has shape \(80, 4\), expected \(80, 5\)"):
        read_sae_folder(bad)


ATTENDS = """\
neurons:
  - id: L1H1
    claims:
      - kind: attends
        to: previous
        mass: ">= 0.999"
      - kind: attends
        id: from-years
        to: {tokens: [%(months)s]}
        from: {tokens: ["2020", "1999", "2000", "2019", "2021", "2024"], preceded_by: {tokens: [%(months)s]}}
        mass: ">= 0.999"
      - kind: attends
        id: self
        to: self
        mass: ">= 0.5"
        xfail: "a previous-token head"
      - kind: attends
        id: first
        to: first
        mass: ">= 0.5"
"""


def test_attends_claims_on_the_planted_previous_token_head(planted, lab, tmp_path):
    path = tmp_path / "test_attends.yaml"
    path.write_text(ATTENDS % {"months": ", ".join(MONTHS)})
    entry = load_hypothesis_file(path).neurons[0]
    results = {}
    for claim_entry in entry.claims:
        claim = entry.build(claim_entry)
        claim.check(lab)
        results[claim_entry.name] = ClaimRunner(lab).run(claim)
    assert results["attends"].passed and results["attends"].metrics()["mass"] > 0.9999
    assert results["from-years"].passed
    wrong = results["self"]
    assert not wrong.passed and wrong.metrics()["mass"] < 1e-3
    heat = wrong.evidence[0].rows[0]
    assert heat.values[heat.marked[0] - 1] > 0.999  # the evidence shows it went to the previous token
    # The first token is the previous one only for position 1 (position 0 is not scored), so
    # the mass on it is about one position per window's worth.
    first = results["first"]
    assert not first.passed and 0 < first.metrics()["mass"] < 0.1


def test_attends_refuses_units_that_are_not_heads(tmp_path, lab):
    path = tmp_path / "test_bad_attends.yaml"
    path.write_text("neurons:\n  - id: L0N3\n    claims:\n      - kind: attends\n"
                    "        to: previous\n        mass: '>= 0.5'\n")
    entry = load_hypothesis_file(path).neurons[0]
    with pytest.raises(ValueError, match="about an attention head"):
        entry.build(entry.claims[0]).check(lab)
