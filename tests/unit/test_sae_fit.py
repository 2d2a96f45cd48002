"""Fitting a TopK SAE and saving it in the SAELens layout, on the planted model."""

import json
import threading
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import load_file

from neurontest.engine.models import sae_fit
from neurontest.engine.data.corpus import load_corpus
from neurontest.engine.models.planted import planted_model
from neurontest.engine.models.sae_fit import (
    SAE_CFG_FILE,
    SAE_WEIGHTS_FILE,
    TopKFit,
    fit_topk_sae,
    hook_activations,
    sae_config,
    save_sae_folder,
)

TINY = TopKFit(d_sae=64, k=4, epochs=3, batch_tokens=128, seed=0, dead_after_tokens=500)


@pytest.fixture(scope="module")
def acts():
    planted = planted_model()
    sample = load_corpus("planted").tokenize(planted.model.tokenizer, window=16, n_tokens=3000)
    return hook_activations(planted.model, sample.batch, "blocks.1.hook_mlp_out", 1)


@pytest.fixture(scope="module")
def fitted(acts):
    return fit_topk_sae(acts, TINY)


def _cfg(acts, fit=TINY):
    return sae_config(d_in=int(acts.shape[1]), fit=fit, model_name="planted",
                      hook_name="blocks.1.hook_mlp_out", hook_layer=1, context_size=17,
                      prepend_bos=True, dataset_path="planted")


def test_activations_skip_bos_and_padding(acts):
    assert acts.dtype == torch.float32 and acts.shape[1] == 80
    assert 2500 <= len(acts) <= 3100  # scorable positions only


def test_reconstructs_better_than_the_mean(fitted, acts):
    assert 0 <= fitted.fvu < 0.5  # the mean alone has FVU 1
    z = fitted.encode(acts[:50])
    assert int((z > 0).sum(dim=-1).max()) <= TINY.k
    assert torch.allclose(fitted.weights["W_dec"].norm(dim=1), torch.ones(TINY.d_sae), atol=1e-5)


def test_deterministic(acts, fitted):
    again = fit_topk_sae(acts, TINY)
    for name, value in fitted.weights.items():
        assert torch.equal(value, again.weights[name]), name
    other = fit_topk_sae(acts, TopKFit(**{**TINY.__dict__, "seed": 1}))
    assert not torch.equal(other.weights["W_enc"], fitted.weights["W_enc"])


def test_rejects_bad_k(acts):
    with pytest.raises(ValueError, match="k must be between 1 and d_sae"):
        fit_topk_sae(acts, TopKFit(d_sae=8, k=9, batch_tokens=128))


def test_saved_in_saelens_layout(tmp_path, fitted, acts):
    folder = save_sae_folder(tmp_path / "sae", fitted, _cfg(acts))
    weights = load_file(str(folder / SAE_WEIGHTS_FILE))
    d_in = int(acts.shape[1])
    assert {k: tuple(v.shape) for k, v in weights.items()} == {
        "W_enc": (d_in, 64), "b_enc": (64,), "W_dec": (64, d_in), "b_dec": (d_in,)}
    assert all(v.dtype == torch.float32 for v in weights.values())
    assert torch.equal(weights["W_enc"], fitted.weights["W_enc"])
    cfg = json.loads((folder / SAE_CFG_FILE).read_text())
    # SAELens 5.x flat fields
    assert cfg["architecture"] == "topk" and cfg["activation_fn_str"] == "topk"
    assert cfg["activation_fn_kwargs"] == {"k": 4}
    assert (cfg["d_in"], cfg["d_sae"], cfg["dtype"], cfg["device"]) == (d_in, 64, "float32", "cpu")
    assert (cfg["hook_name"], cfg["hook_layer"], cfg["hook_head_index"]) == ("blocks.1.hook_mlp_out", 1, None)
    for key in ("model_name", "context_size", "prepend_bos", "dataset_path", "normalize_activations",
                "apply_b_dec_to_input", "finetuning_scaling_factor", "sae_lens_training_version"):
        assert key in cfg, key
    # SAELens 6.x fields
    assert cfg["k"] == 4 and cfg["reshape_activations"] == "none"
    assert cfg["metadata"]["hook_name"] == "blocks.1.hook_mlp_out"
    assert cfg["metadata"]["model_name"] == "planted"
    # the saved encoder is the one that was measured
    loaded = sae_fit.FittedSAE(weights, 4, 0.0, 0, 0.0, 0)
    assert abs(sae_fit.fraction_unexplained(loaded, acts) - fitted.fvu) < 1e-6


def test_save_is_atomic_and_never_replaces(tmp_path, fitted, acts, monkeypatch):
    target = tmp_path / "sae"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    # fails after the weights file is written: no half folder and no staging folder remain
    with monkeypatch.context() as patched:
        patched.setattr(sae_fit, "json", SimpleNamespace(dumps=boom))
        with pytest.raises(OSError, match="disk full"):
            save_sae_folder(target, fitted, _cfg(acts))
    assert not target.exists() and list(tmp_path.iterdir()) == []
    save_sae_folder(target, fitted, _cfg(acts))
    with pytest.raises(OSError):
        save_sae_folder(target, fitted, _cfg(acts))  # a written SAE is never replaced


def test_embedded_folder_fits_once_under_the_lock(tmp_path, monkeypatch, fitted, acts):
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path))
    spec = sae_fit.EmbeddedSAE("planted", 1, "hook_mlp_out", TINY)
    monkeypatch.setitem(sae_fit.EMBEDDED_SAES, "planted/tiny", spec)
    calls = []

    def fake_fit(spec, folder, *, progress=True):
        calls.append(folder)
        # a slow fit: the other thread must wait on the lock, then find the folder
        threading.Event().wait(0.3)
        save_sae_folder(folder, fitted, _cfg(acts))
        return fitted

    monkeypatch.setattr(sae_fit, "fit_embedded", fake_fit)
    # a killed fit's staging folder is cleared first
    leftover = sae_fit.embedded_sae_path("planted/tiny").parent / ".planted--tiny-v1.abc.tmp"
    leftover.mkdir(parents=True)
    found = []
    threads = [threading.Thread(target=lambda: found.append(sae_fit.embedded_sae_folder("planted/tiny")))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert found == [sae_fit.embedded_sae_path("planted/tiny")] * 2
    assert not leftover.exists()
    assert sae_fit.embedded_sae_folder("no/such-sae") is None


def test_embedded_folder_real_fit_on_planted(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path))
    spec = sae_fit.EmbeddedSAE("planted", 1, "hook_mlp_out", TINY, corpus="planted", corpus_tokens=2000)
    monkeypatch.setitem(sae_fit.EMBEDDED_SAES, "planted/tiny", spec)
    folder = sae_fit.embedded_sae_folder("planted/tiny", progress=False)
    cfg = json.loads((folder / SAE_CFG_FILE).read_text())
    assert cfg["hook_name"] == "blocks.1.hook_mlp_out" and cfg["neurontest_fit"]["fvu"] < 0.5


def test_cli_names_the_known_saes(capsys):
    from neurontest.cli import main

    assert main(["fit-sae", "no/such-sae"]) == 2
    err = capsys.readouterr().err
    assert "unknown SAE name 'no/such-sae'" in err and "smollm2-135m/topk-mlp-out-L4" in err


def test_cli_refuses_an_existing_out_folder(tmp_path, capsys):
    from neurontest.cli import main

    assert main(["fit-sae", "--out", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
