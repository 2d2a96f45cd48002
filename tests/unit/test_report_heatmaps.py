"""Heatmaps that read like text, one colour scale per claim with tau, a histogram with axes,
and a causal claim's runs side by side."""

from __future__ import annotations

import re

import pytest

from neurontest.claims.base import ClaimResult, Evidence, Measurement, TokenRow
from neurontest.engine.units.neuron import NeuronRef
from neurontest.report.context import histogram_context, result_context
from neurontest.report.render import render
from neurontest.report.svg import LEVELS, nice_ticks


def two_groups(tau: float | None = 1.0) -> ClaimResult:
    big = Evidence("fires where it should not", [TokenRow([" Pe", "pt", "id", "ogly"], [0.1, 1.74, 0.2, 0.0], [1])])
    small = Evidence("silent where it should fire", [TokenRow([" squat", "ters"], [0.37, -0.1], [0])])
    change = Evidence("noise", [TokenRow([" a", " b"], [-0.05, 0.02])], value_label="activation change")
    return ClaimResult("activation", NeuronRef(0, 1), [Measurement("f1", 0.5)], "summary",
                       [big, small, change], tau=tau)


def test_one_colour_scale_per_claim_and_unit() -> None:
    ctx = result_context(two_groups())
    first, second, change = ctx["heatmaps"]
    assert first["scale"] == second["scale"] == "1.74"  # not ±1.74 in one and ±0.37 in the next
    # equal values would get equal colours: 0.37 is a pale bucket, not the darkest red
    assert second["rows"][0]["tokens"][0]["cls"] == f"h{LEVELS + round(0.37 / 1.74 * LEVELS)}"
    assert change["scale"] == "0.05"  # a change is another unit: its own scale


def test_tau_is_marked_on_activation_legends_only() -> None:
    first, _, change = result_context(two_groups(tau=1.0))["heatmaps"]
    assert first["tau"] == {"left": f"{50 + 50 * 1.0 / 1.74:.1f}%", "value": "1"}
    assert change["tau"] is None
    html = render("claim_fragment.html.j2", c=result_context(two_groups()) | {
        "histogram": None, "heading": "", "more": []})
    assert html.count('class="tau"') == 2 and "▲ tau 1" in html


def test_a_text_is_drawn_as_text() -> None:
    html = render("claim_fragment.html.j2", c=result_context(two_groups()) | {
        "histogram": None, "heading": "", "more": []})
    # Sub-words sit side by side with nothing between them; the leading space is kept.
    assert re.search(r"> Pe</i><b [^>]*>pt</b><i [^>]*>id</i><i [^>]*>ogly</i>", html)
    style = re.search(r"\.nt \.toks i,\.nt \.toks b\{([^}]*)\}", html).group(1)
    assert "display:inline;" in style and "margin:0" in style and "padding:1px 0" in style
    assert "white-space:pre-wrap" in style and "box-shadow:inset -1px 0 0" in style


def test_histogram_has_axes_ticks_tau_and_a_readable_caption() -> None:
    import torch

    values = torch.linspace(-0.5, 8.0, 100_000)
    hist = histogram_context(values, title="L0N972 on wiki-sample", tau=4.0)
    svg = hist["svg"]
    for tick in ("0", "2", "4", "6", "8"):
        assert f'text-anchor="middle">{tick}</text>' in svg  # x ticks
    assert ">1</text>" in svg and ">10</text>" in svg and ">1,000</text>" in svg  # y ticks
    assert "tokens (log)" in svg and ">activation</text>" in svg
    assert "tau 4</text>" in svg and 'stroke-dasharray="4,2"' in svg
    assert hist["stats_text"]["n"] == "100,000" and hist["stats_text"]["marker"] == "tau = 4"
    html = render("claim_fragment.html.j2", c={"summary": "", "measurements": [], "extra_failures": [],
                                               "heatmaps": [], "tables": [], "histogram": hist,
                                               "heading": "", "more": [], "inconclusive": ""})
    assert "100,000 tokens" in html and "1e+05" not in html


def test_nice_ticks() -> None:
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(-0.5, 8.0) == [0, 2, 4, 6, 8]
    assert nice_ticks(3, 3) == [3]


def test_a_split_character_shows_whole_and_hover_names_its_pieces() -> None:
    # 月 is two SmolLM2 tokens: display_tokens shows it on the piece that completes it.
    row = TokenRow(["The", " ", "", "月", " is"], [0.1, 0.2, 0.5, 1.5, 0.0], [3],
                   pieces=["", "", "<0xE6><0x9C>", "<0x88>", ""])
    result = ClaimResult("activation", NeuronRef(0, 1), [], "summary", [Evidence("rows", [row])])
    html = render("claim_fragment.html.j2", c=result_context(result) | {
        "histogram": None, "heading": "", "more": []})
    assert "月" in html and "\ufffd" not in html and "∅" not in html
    # Each token keeps its own cell; a merged one's hover gives its value and the token itself.
    assert re.search(r'<i class=h\d+ title="0.5 &lt;0xE6&gt;&lt;0x9C&gt;"></i>'
                     r'<b class=h\d+ title="1.5 &lt;0x88&gt;">月</b>', html)
    assert re.search(r"<i class=h\d+ title=0.1>The</i>", html)  # whole tokens stay terse
    assert ":empty::before" in html  # the empty piece still shows its colour


def test_failure_text_names_a_byte_piece_that_shows_nothing() -> None:
    from neurontest.claims.evidence import describe_rows

    row = TokenRow([" ", "", "月"], [0.2, 0.5, 1.5], [2], "fires", pieces=["", "<0xE6><0x9C>", "<0x88>"])
    assert describe_rows([row]) == ["    fires:  [0.20]<0xE6><0x9C>[0.50]*月[1.50]*"]


def test_a_patching_claim_shows_three_heatmap_rows_per_pair(request: pytest.FixtureRequest) -> None:
    """Each pair: its clean, corrupt and patched runs on the target's diverging scale (a logit
    difference goes negative: blue), as the report gets them from a worker's record."""
    pytest.importorskip("torch")
    lab = request.getfixturevalue("lab")  # the planted model's, once torch is there
    from neurontest.claims.base import Subject
    from neurontest.claims.patching import PatchingClaim
    from neurontest.claims.runner import ClaimRunner
    from neurontest.engine.units.head import HeadRef
    from neurontest.report.records import ClaimRecord, record_from_dict, record_to_dict

    from .test_patching import PAIRS

    config = {"pairs": [{"clean": c, "corrupt": x} for c, x in PAIRS],
              "target": {"answer": "good", "foil": "the"}, "recovered": ">= 0.9"}
    result = ClaimRunner(lab).run(PatchingClaim(Subject(HeadRef(1, 0), None), config))
    record = ClaimRecord("t.yaml::L1H0::patching", "patching", "L1H0", "t.yaml", 1, result=result)
    shipped = record_from_dict(record_to_dict(record)).result
    assert shipped is not None
    ctx = result_context(shipped)
    assert len(ctx["heatmaps"]) == len(PAIRS) and len(ctx["tables"]) == 1
    html = render("claim_fragment.html.j2", c=ctx | {"histogram": None, "heading": "", "more": []})
    groups = html.split('<div class="hm">')[1:]
    assert len(groups) == len(PAIRS)
    for number, group in enumerate(groups, 1):
        labels = re.findall(r'<div class="row"><span class="lbl">([^<]*)</span>', group)
        assert [label.split(":")[0] for label in labels] == [
            f"pair {number} clean", f"pair {number} corrupt", f"pair {number} patched (clean into corrupt)"]
        assert "logit(&#39;good&#39;) - logit(&#39;the&#39;)" in group  # the value label
        assert len(re.findall(r"<b class=h\d+", group)) == 3  # the patched position, outlined
    # "the" scores far below 0 on good - the: the darkest blue, on one scale for every pair
    classes = [int(c) for c in re.findall(r"class=h(\d+) title=-", html)]
    assert classes and min(classes) == 0 and max(classes) <= LEVELS  # near 0: white
    assert len({h["scale"] for h in ctx["heatmaps"]}) == 1
