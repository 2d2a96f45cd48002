"""The HTML run report, on a hand-built session (no model): content, escaping, caps, atomicity."""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

import pytest

from neurontest.claims.base import Bound, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.engine.units.neuron import NeuronRef
from neurontest.report import build_report_context, write_run_report
from neurontest.report import render as render_module
from neurontest.report.pytest_html import extras_for
from neurontest.report.svg import LEVELS, bucket, diverging_colour
from neurontest.plugin.session import ClaimRecord, NeurontestSession

LAB_INFO = {
    "model": {"name": "fake-model", "revision": None, "fingerprint": "abc123def4567890",
              "n_layers": 4, "d_mlp": 64, "dtype": "float32"},
    "corpus": {"name": "fake-corpus", "fingerprint": "c0ffee", "window": 64, "n_tokens": 1000,
               "seed": 0, "rows": 16, "scorable_tokens": 1000},
}
# A heatmap token: <i> plain, <b> marked (outlined); class = colour bucket, title = the value.
SPAN = re.compile(r"<([ib]) class=h(\d+) title=([^ >]+)>([^<]*)</\1>")


def failing_result() -> ClaimResult:
    rows = [
        TokenRow([" We", " met", " in", " March", " 2020", "\n"], [0.0, -0.5, 0.1, 3.25, 0.7, 0.0],
                 marked=[3], label="activation 3.25; claim holds here"),
        TokenRow([" <script>", " &", " \"x\""], [-1.5, 0.0, 1.0], label="escaping"),
    ]
    return ClaimResult(
        kind="activation", neuron=NeuronRef(3, 12),
        measurements=[Measurement("f1", 0.41, Bound(">=", 0.7)), Measurement("precision", 0.8)],
        summary="token in ['March'] vs firing", evidence=[
            Evidence("false positives", rows),
            Evidence("promoted tokens", table=[(" 2020", 1.5), (" 2021", 0.75)], value_label="logit"),
        ])


def passing_result() -> ClaimResult:
    return ClaimResult("top_examples", NeuronRef(1, 5), [Measurement("share", 0.95, Bound(">=", 0.9))],
                       "19 of the top 20 activations are months")


def make_session(**kwargs) -> NeurontestSession:
    state = NeurontestSession(**kwargs)
    records = [
        ClaimRecord("hyp/test_a.yaml::L1N5::top_examples", "top_examples", "L1N5", "hyp/test_a.yaml", 7,
                    outcome="passed", result=passing_result(), duration=0.1, lab=LAB_INFO),
        ClaimRecord("hyp/test_a.yaml::L3N12::activation", "activation", "L3N12", "hyp/test_a.yaml", 12,
                    outcome="failed", result=failing_result(), message="f1 = 0.41 (expected >= 0.7)",
                    duration=0.2, lab=LAB_INFO),
        ClaimRecord("hyp/test_b.yaml::L2N9::ablation", "ablation", "L2N9", "hyp/test_b.yaml", 3,
                    outcome="error", message="RuntimeError: model <exploded>"),
        ClaimRecord("hyp/test_b.yaml::L2N9::examples", "examples", "L2N9", "hyp/test_b.yaml", 9,
                    outcome="xfailed", message="known: fires on May too"),
    ]
    for record in records:
        state.register(record)
    return state


@pytest.fixture
def report(tmp_path: Path) -> str:
    path = write_run_report(make_session(), tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    return path.read_text(encoding="utf-8")


def test_failing_claim_heatmap_has_tokens_values_and_marks(report: str) -> None:
    spans = SPAN.findall(report)
    march = [s for s in spans if s[3] == " March"]
    assert march == [("b", str(2 * LEVELS), "3.25", " March")]  # the scale's max: darkest red
    assert ("i", str(LEVELS - 1), "-0.5", " met") in spans  # negative: blue side of the symmetric scale
    assert "title=3.25> March</b>" in report
    assert ">⏎</i>" in report
    assert "&lt;script&gt;" in report and "<script>\"" not in report and " &amp;<" in report
    assert "&lt;exploded&gt;" in report  # error messages are escaped too
    # legend: the scale is symmetric around 0, from -max|v| to max|v|
    assert "<span>-3.25</span><span class=\"bar\"></span><span>3.25</span>" in report


def test_counts_outcomes_and_layout(report: str) -> None:
    for outcome in ("passed", "failed", "error", "xfailed"):
        assert f'data-count="{outcome}">1 {outcome}</span>' in report
    assert "4 claims" in report
    assert "abc123def4567890" in report and "fake-corpus" in report
    cards = re.findall(r'<details class="card o-(\w+)"[^>]*?( open)?>', report)
    assert [c[0] for c in cards] == ["error", "failed", "passed", "xfailed"]  # failures first
    assert dict(cards) == {"error": " open", "failed": " open", "passed": "", "xfailed": ""}
    assert "share 0.95 (&gt;= 0.9)" in report  # collapsed cards still show their metrics
    assert "<pre>RuntimeError: model &lt;exploded&gt;</pre>" in report
    assert "<code>&#34; 2020&#34;</code>" not in report and "<code> 2020</code>" in report
    assert 'data-neuron="L3N12"' in report and 'data-kind="activation"' in report
    assert '<option>L1N5</option>' in report and '<option>ablation</option>' in report


def test_report_loads_no_network_resource(report: str) -> None:
    assert not re.search(r"""(src|href)=["']https?://""", report)
    assert not re.search(r"https?://", report)
    assert "<link" not in report and "@import" not in report and "url(" not in report


def test_context_is_plain_data() -> None:
    state = make_session()
    state.started = 100.0
    ctx = build_report_context(state, now=112.5)
    assert ctx["duration"] == "12.5 s"
    assert {c["outcome"]: c["n"] for c in ctx["counts"]} == {"passed": 1, "failed": 1, "error": 1, "xfailed": 1}
    failed = next(c for c in ctx["cards"] if c["outcome"] == "failed")
    assert [m["passed"] for m in failed["measurements"]] == [False, True]
    assert failed["tables"][0]["rows"][0] == {"token": " 2020", "value": "1.5"}
    assert ctx["models"] == [{"model": LAB_INFO["model"], "corpus": LAB_INFO["corpus"]}]


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.html"
    write_run_report(make_session(), path)
    before = path.read_bytes()

    def broken(context: dict) -> str:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(render_module, "render_report", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        write_run_report(make_session(), path)
    assert path.read_bytes() == before

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", broken_write)  # the shared writer (engine/files.py)
    with pytest.raises(OSError, match="disk full"):
        write_run_report(make_session(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left behind


def test_rows_and_tokens_are_capped() -> None:
    n = 500
    rows = [TokenRow([f" t{i}" for i in range(n)], [float(i) for i in range(n)], marked=[400])
            for _ in range(20)]
    result = ClaimResult("activation", NeuronRef(0, 1), [], "", [Evidence("big", rows)])
    state = NeurontestSession()
    state.register(ClaimRecord("x::L0N1::activation", "activation", "L0N1", "x", 1, "failed", result))
    heatmap = build_report_context(state)["cards"][0]["heatmaps"][0]
    assert len(heatmap["rows"]) == 8 and heatmap["hidden_rows"] == 12 and not heatmap["trimmed"]
    tokens = [t["text"] for t in heatmap["rows"][0]["tokens"]]
    assert len(tokens) == 64 and " t400" in tokens
    assert tokens.index(" t400") >= 40  # mostly context before the mark
    assert heatmap["rows"][0]["cut_left"] and heatmap["rows"][0]["cut_right"]


def test_suite_sized_report_stays_small(tmp_path: Path) -> None:
    state = NeurontestSession()
    rows = [TokenRow([f" word{i}" for i in range(200)], [i / 7 - 10 for i in range(200)], [150], "x")
            for _ in range(20)]
    for i in range(150):
        result = ClaimResult("activation", NeuronRef(i, 1), [Measurement("f1", 0.5, Bound(">=", 0.7))],
                             "s", [Evidence("fp", rows), Evidence("fn", rows), Evidence("top", rows)])
        state.register(ClaimRecord(f"f::L{i}N1::a", "activation", f"L{i}N1", "f", i, "failed", result))
    path = write_run_report(state, tmp_path / "big.html")
    assert path.stat().st_size < 5_000_000
    assert "trimmed to keep the report small" in path.read_text(encoding="utf-8")


class FakeLab:
    """What the report reads of a Lab: describe(), mined(), scorable()."""

    def __init__(self, info: dict, mined: dict) -> None:
        self.info, self._activations, self.scored = info, mined, []

    def describe(self) -> dict:
        return self.info

    def mined(self, neuron: NeuronRef):
        return self._activations.get(neuron)

    def scorable(self, neuron: NeuronRef):
        if neuron not in self._activations:
            raise AssertionError("the report must not mine new activations")
        self.scored.append(neuron)
        return self._activations[neuron].flatten()


def test_failing_neuron_gets_histogram_only_from_mined_activations(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    other = {"model": dict(LAB_INFO["model"], fingerprint="other"), "corpus": LAB_INFO["corpus"]}
    acts = torch.linspace(-0.5, 4.0, 1000).reshape(10, 100)
    decoy = FakeLab(other, {NeuronRef(3, 12): torch.zeros(10, 100)})
    lab = FakeLab(LAB_INFO, {NeuronRef(3, 12): acts})
    state = make_session()
    state.labs = {"decoy": decoy, "lab": lab}  # keys are LabKeys in real runs; unused here
    state.register(ClaimRecord("hyp/test_a.yaml::L3N12::examples", "examples", "L3N12", "hyp/test_a.yaml",
                               20, outcome="failed", result=failing_result(), lab=LAB_INFO))
    state.register(ClaimRecord("hyp/test_a.yaml::L1N5::activation", "activation", "L1N5",
                               "hyp/test_a.yaml", 30, outcome="failed", result=failing_result(),
                               lab=LAB_INFO))  # L1N5 is not mined: no histogram, no mining
    html = write_run_report(state, tmp_path / "r.html").read_text(encoding="utf-8")
    assert lab.scored == [NeuronRef(3, 12)] and decoy.scored == []
    assert html.count('<svg class="hist"') == 1  # once per neuron; its other cards link to it
    assert html.count('<a href="#claim-1">corpus histogram of L3N12</a>') == 1
    assert "L3N12 on fake-corpus" in html and "1,000 tokens" in html and "max 4" in html
    assert not re.search(r"https?://", html)


def test_colour_scale_is_symmetric() -> None:
    assert bucket(0.0, 2.0) == LEVELS and bucket(2.0, 2.0) == 2 * LEVELS and bucket(-2.0, 2.0) == 0
    assert bucket(float("nan"), 1.0) == LEVELS and bucket(5.0, 0.0) == LEVELS
    assert diverging_colour(0.0) == "#f7f7f7"
    assert diverging_colour(1.0) == "#b2182b" and diverging_colour(-1.0) == "#2166ac"


def test_pytest_html_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    record = make_session().records["hyp/test_a.yaml::L3N12::activation"]
    monkeypatch.setitem(sys.modules, "pytest_html", None)  # not installed
    assert extras_for(record) == []
    fake = types.ModuleType("pytest_html")
    fake.extras = types.SimpleNamespace(html=lambda content: {"format_type": "html", "content": content})
    monkeypatch.setitem(sys.modules, "pytest_html", fake)
    (extra,) = extras_for(record)
    assert "title=3.25> March</b>" in extra["content"] and "<style>" in extra["content"]
    error = make_session().records["hyp/test_b.yaml::L2N9::ablation"]
    assert extras_for(error) == []


def test_report_package_does_not_import_torch() -> None:
    import subprocess

    code = "import sys, neurontest.report; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_remembered_result_says_so_instead_of_a_run_time(tmp_path: Path) -> None:
    import dataclasses

    state = make_session()
    remembered = dataclasses.replace(passing_result(), cached=True)
    state.register(ClaimRecord("hyp/test_c.yaml::L1N5::top_examples", "top_examples", "L1N5",
                               "hyp/test_c.yaml", 4, outcome="passed", result=remembered, lab=LAB_INFO))
    html = write_run_report(state, tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.count("remembered from an earlier run") == 1
    assert "1 claim result(s) remembered" in "\n".join(state.summary_lines())
