"""readout: per-token activations of planted neurons on a few texts."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")

from neurontest.engine.models.planted import MONTHS, planted_model  # noqa: E402
from neurontest.measure.readout import activations_on_texts, activations_on_texts_multi  # noqa: E402

TEXTS = ["we met in March", "on 3 May the cat sat , in June 2020 .", "the dog was very good"]


@pytest.fixture(scope="module")
def planted():
    return planted_model()


def test_month_neuron_fires_on_months_only(planted):
    results = activations_on_texts(planted.model, planted.month.neuron, TEXTS, batch_size=2)
    assert [r.text for r in results] == TEXTS
    for r in results:
        assert r.str_tokens == r.text.split()  # BOS excluded, one word per token
        assert len(r.values) == len(r.str_tokens)
        for word, value in zip(r.str_tokens, r.values):
            if word in MONTHS:
                assert value > 1.0, (word, value)
            else:
                assert abs(value) < 1e-6, (word, value)


def test_padding_does_not_change_values(planted):
    alone = activations_on_texts(planted.model, planted.promoter.neuron, TEXTS[:1])[0]
    batched = activations_on_texts(planted.model, planted.promoter.neuron, TEXTS)[0]
    assert alone.values == pytest.approx(batched.values, abs=1e-6)


def test_multi_shares_one_pass_and_matches_single(planted):
    neurons = [planted.month.neuron, planted.digit.neuron]
    multi = activations_on_texts_multi(planted.model, neurons, TEXTS)
    assert set(multi) == set(neurons)
    single = activations_on_texts(planted.model, planted.digit.neuron, TEXTS)
    for a, b in zip(multi[planted.digit.neuron], single):
        assert a.values == pytest.approx(b.values, abs=1e-6)
    best, value = multi[planted.digit.neuron][1].max()
    assert multi[planted.digit.neuron][1].str_tokens[best] in {"3", "2020"} and value > 1


def test_single_string_is_rejected(planted):
    with pytest.raises(TypeError, match=r"\[text\]"):
        activations_on_texts(planted.model, planted.month.neuron, "we met in March")


def test_the_package_exports_its_primitives_without_importing_torch():
    # The measures import torch at module level (issue 22: no local imports where a module
    # needs torch anyway); what stays free is `import neurontest`, whose names load on first use.
    code = ("import sys, neurontest; free = 'torch' not in sys.modules; "
            "neurontest.ablate; print(free, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
