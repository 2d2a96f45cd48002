"""`inspect_neuron`, its HTML views and draft hypothesis, and the `neurontest` CLI, on the planted model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
yaml = pytest.importorskip("yaml")

from neurontest.cli import main  # noqa: E402
from neurontest.claims.explain import RELATIVE_THRESHOLDS  # noqa: E402
from neurontest.claims.runner import ClaimRunner  # noqa: E402
from neurontest.claims.predicates import TokenSet, predicate_from_dict  # noqa: E402
from neurontest.engine.units.neuron import NeuronRef  # noqa: E402
from neurontest.inspection import NeuronInspection, bound_below, inspect_neuron  # noqa: E402
from neurontest.lab import Lab  # noqa: E402
from neurontest.engine.models.planted import MONTHS  # noqa: E402
from neurontest.format.spec import parse_hypotheses  # noqa: E402


@pytest.fixture(scope="module")
def month_view(lab, planted) -> NeuronInspection:
    return inspect_neuron(lab, planted.month.neuron, k=8)


def test_top_examples_stats_and_histogram(month_view: NeuronInspection) -> None:
    assert len(month_view.top) == 8 and len(month_view.random) == 8
    assert all(e.token in MONTHS for e in month_view.top)
    stats = month_view.stats
    assert stats["max"] == pytest.approx(7.855, abs=0.01)
    assert 0 < stats["share_above"] < 0.2 and stats["mean"] > 0
    assert sum(month_view.histogram_counts) == stats["n"]
    assert len(month_view.histogram_edges) == len(month_view.histogram_counts) + 1
    assert len(month_view.promoted) == len(month_view.suppressed) == 10


def test_draft_yaml_lists_month_tokens_and_parses(month_view: NeuronInspection, lab: Lab) -> None:
    text = month_view.draft_yaml()
    data = yaml.safe_load(text)
    neuron = data["neurons"][0]
    assert neuron["id"] == "L0N3" and neuron["threshold"]["relative"] in RELATIVE_THRESHOLDS
    # Whatever form the search chose, it claims exactly the month tokens.
    claimed = lab.claimed(predicate_from_dict(neuron["fires_on"]))
    assert claimed.equal(lab.claimed(TokenSet(tuple(MONTHS))))
    claims = {c["kind"]: c for c in neuron["claims"]}
    assert claims["activation"]["f1"] == ">= 0.98"  # measured 1.0, bound 0.02 below
    assert claims["top_examples"]["share"] == ">= 0.98"
    fires, silent = claims["examples"]["fires"], claims["examples"]["silent"]
    assert len(fires) == 2 and len(silent) == 1
    assert all(re.search(r"\[\[(%s)\]\]" % "|".join(MONTHS), t) for t in fires)
    assert "[[" not in silent[0] and not any(m in silent[0].split() for m in MONTHS)
    parsed = parse_hypotheses(data, Path("draft.yaml"))  # a valid hypothesis file as written
    assert data["model"] == "planted" and parsed.window == 32 and parsed.corpus_tokens is None


def _raised_drafts(text: str):
    """For every `>= b` bound of a draft: (claim index, key, the draft with b raised by 0.1)."""
    for index, claim in enumerate(yaml.safe_load(text)["neurons"][0]["claims"]):
        for key, value in claim.items():
            if isinstance(value, str) and value.startswith(">= "):
                changed = yaml.safe_load(text)
                changed["neurons"][0]["claims"][index][key] = f">= {float(value[3:]) + 0.1:.2f}"
                yield index, key, changed


def _check_draft(view: NeuronInspection, lab: Lab) -> int:
    """Every drafted claim passes on `lab`, and fails with any one bound raised by 0.1; returns
    how many bounds were raised."""
    entry = parse_hypotheses(yaml.safe_load(view.draft_yaml()), Path("draft.yaml")).neurons[0]
    for claim in entry.claims:
        result = entry.build(claim).run(lab)
        assert result.passed, (claim.kind, result.summary, [str(m) for m in result.measurements])
    raised = 0
    for index, key, changed in _raised_drafts(view.draft_yaml()):
        entry = parse_hypotheses(changed, Path("draft.yaml")).neurons[0]
        result = entry.build(entry.claims[index]).run(lab)
        assert not result.passed, (view.neuron, key, result.summary)
        raised += 1
    return raised


def test_draft_fails_with_any_bound_raised_by_01(month_view: NeuronInspection, lab: Lab) -> None:
    assert _check_draft(month_view, lab) >= 2  # f1 and the top-examples share at least


def test_bound_below() -> None:
    assert bound_below(1.0) == ">= 0.98" and bound_below(0.5) == ">= 0.48"
    assert bound_below(0.9149) == ">= 0.89"  # 0.02-0.03 below: +0.1 is always above
    assert bound_below(0.02) is None and bound_below(0.0) is None  # no bound that cannot fail


class NoiseLab(Lab):
    """The planted lab, with one neuron's corpus activations replaced by Gaussian noise: a
    neuron nothing simple explains."""

    noisy = NeuronRef(1, 0)

    def activations(self, neuron):
        if neuron != self.noisy:
            return super().activations(neuron)
        shape = self.sample.batch.tokens.shape
        return torch.randn(shape, generator=torch.Generator().manual_seed(0))


def test_unexplained_neuron_drafts_no_claim(lab: Lab, planted) -> None:
    noisy = NoiseLab(planted.model, lab.corpus_options, cache=False, progress=False,
                     sample=lab.sample)
    view = inspect_neuron(noisy, NoiseLab.noisy, k=6)
    assert not view.explained and view.explanation.scores.get("f1", 0.0) < 0.5
    text = view.draft_yaml()
    assert all(line.startswith("#") for line in text.splitlines())
    assert "nothing simple explains L1N0" in text and yaml.safe_load(text) is None


def test_repr_html_shows_heatmaps_histogram_and_draft(month_view: NeuronInspection) -> None:
    html = month_view._repr_html_()
    assert html.startswith('<div class="nt nt-inspect">') and "<style>" in html
    assert html.count('<div class="hm">') == 2 and '<svg class="hist"' in html
    marked = re.findall(r"<b class=h(\d+) title=([^ >]+)>([^<]*)</b>", html)
    assert any(token in MONTHS and value == "7.855" for _, value, token in marked)
    assert "promoted (direct logit attribution)" in html and "Draft hypothesis" in html
    assert "fires_on: {\"regex\": " in html.replace("&#34;", '"')
    assert not re.search(r"https?://", html)


def test_save_html_is_a_standalone_page(month_view: NeuronInspection, tmp_path: Path) -> None:
    path = month_view.save_html(tmp_path / "sub" / "inspect.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and month_view._repr_html_() in page
    assert not re.search(r"""(src|href)=["']https?://""", page)


def test_cli_inspect(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, lab: Lab,
                     tmp_path: Path) -> None:
    calls = []

    def fake_load(cls, model=None, corpus=None, **kwargs):
        calls.append((model, corpus, kwargs))
        return lab

    monkeypatch.setattr(Lab, "load", classmethod(fake_load))
    out = tmp_path / "page.html"
    assert main(["inspect", "l0n3", "--model", "planted", "--corpus-tokens", "500", "--k", "5",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert calls == [("planted", None, {"n_tokens": 500, "device": "cpu", "split": "explore"})]
    draft = yaml.safe_load(captured.out)
    claimed = lab.claimed(predicate_from_dict(draft["neurons"][0]["fires_on"]))
    assert claimed.equal(lab.claimed(TokenSet(tuple(MONTHS))))
    assert "loading model planted" in captured.err and f"wrote {out}" in captured.err
    assert "L0N3: drafted from the best simple explanation" in captured.err
    assert out.exists() and "L0N3" in out.read_text(encoding="utf-8")

    monkeypatch.chdir(tmp_path)
    assert main(["inspect", "L0N3", "--k", "3"]) == 0
    assert (tmp_path / "reports" / "inspect-L0N3.html").exists()


def test_cli_checks_the_neuron_id_before_loading(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture, lab: Lab) -> None:
    loads, mined = [], []
    monkeypatch.setattr(Lab, "load", classmethod(lambda cls, *a, **k: loads.append(a) or lab))
    monkeypatch.setattr(Lab, "prepare", lambda self, neurons: mined.append(neurons))
    assert main(["inspect", "L0-N3"]) == 2 and loads == []  # malformed: nothing loaded
    assert "L<layer>N<index>" in capsys.readouterr().err
    assert main(["inspect", "L7N3", "--k", "3"]) == 1 and mined == []  # out of range: nothing mined
    assert "layers 0..1" in capsys.readouterr().err
    assert main(["inspect", "L0N99"]) == 1 and mined == []
    assert "neurons 0..31" in capsys.readouterr().err


def test_cli_errors_and_schema(capsys: pytest.CaptureFixture) -> None:
    assert main(["inspect", "neuron-3"]) == 2
    assert "L<layer>N<index>" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([])
    capsys.readouterr()
    pytest.importorskip("neurontest.format.schema")
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert isinstance(schema, dict) and schema


# -- the embedded SmolLM2: neurons outside the example suite (hypotheses/*.yaml) ------------------
EXPLAINED = ["L0N344", "L0N1169", "L1N786"]  # found by a scan of layers 0-1; not in the suite
UNEXPLAINED = "L2N100"  # the example: its old draft passed at f1 0.009


@pytest.fixture(scope="module")
def smollm2() -> Lab:
    from neurontest.errors import ModelUnavailableError

    try:
        return Lab.load(n_tokens=20_000, progress=False)
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.mark.real_model
@pytest.mark.parametrize("neuron", EXPLAINED)
def test_smollm2_drafts_pass_and_fail_when_raised(smollm2: Lab, neuron: str) -> None:
    hypotheses = Path(__file__).resolve().parents[2] / "hypotheses"
    suite = " ".join(p.read_text(encoding="utf-8") for p in hypotheses.glob("*.y*ml"))
    assert f"id: {neuron}" not in suite
    view = inspect_neuron(smollm2, neuron, k=8)
    assert view.explained, view.explanation.describe()
    assert _check_draft(view, smollm2) >= 1


@pytest.mark.real_model
def test_smollm2_neuron_without_simple_explanation_is_flagged(smollm2: Lab) -> None:
    view = inspect_neuron(smollm2, UNEXPLAINED, k=8)
    assert not view.explained and view.explanation.scores["f1"] < 0.5
    text = view.draft_yaml()
    assert all(line.startswith("#") for line in text.splitlines()) and yaml.safe_load(text) is None
    assert f"nothing simple explains {UNEXPLAINED}" in text


def test_heads_and_latents_are_inspected_and_drafted_in_their_own_form(lab: Lab, tmp_path: Path) -> None:
    from neurontest.engine.models.planted import PREVIOUS_HEAD
    from .test_units import write_saelens

    head = inspect_neuron(lab, "L1H1", k=6)
    assert head.neuron == PREVIOUS_HEAD and head.stats["max"] > 0
    assert "no single output direction" in head.attribution_error  # the rest of the view stands
    # Its output norm marks the token after a month: the search finds that context form.
    entry = yaml.safe_load(head.draft_yaml())["neurons"][0]
    assert entry["id"] == "L1H1" and "preceded_by" in entry["fires_on"]

    folder = write_saelens(tmp_path / "saes" / "month")
    latent = inspect_neuron(lab, f"{folder}#0", k=6)
    assert latent.explained, latent.explanation.describe()
    draft = yaml.safe_load(latent.draft_yaml())
    entry = draft["neurons"][0]
    assert entry["sae"] == str(folder.resolve()) and entry["latent"] == 0
    assert entry["hook"] == "blocks.0.hook_mlp_out"
    parsed = parse_hypotheses(draft, tmp_path / "draft.yaml")  # loads as written, latent and all
    assert parsed.neurons[0].neuron == latent.neuron
    claimed = lab.claimed(predicate_from_dict(entry["fires_on"]))
    assert claimed.equal(lab.claimed(TokenSet(tuple(MONTHS))))  # the latent reads the month write
    with pytest.raises(ValueError, match="latent 9 is out of range"):
        inspect_neuron(lab, f"{folder}#9")


@pytest.mark.real_model
def test_logit_attribution_tables_name_byte_pieces_by_their_form(smollm2: Lab) -> None:
    # L0N387's top-30 promoted tokens hold a lone byte piece of a split character: it decodes
    # alone to U+FFFD, so the table shows its own form (<0xB2>) instead.
    from neurontest.claims.base import Subject
    from neurontest.claims.logit_attribution import LogitAttributionClaim

    claim = LogitAttributionClaim(Subject(NeuronRef(0, 387), None),
                                  {"matches": {"regex": "^[,.;:]"}, "k": 30})
    result = ClaimRunner(smollm2).run(claim)
    names = [name for evidence in result.evidence for name, _ in evidence.table]
    assert names and not any("\ufffd" in name for name in names)
    assert any(name.startswith("<0x") for name in names)
