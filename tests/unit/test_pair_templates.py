"""Counterfactual pairs drawn from `templates:` (issue 24): the format's checks at parse time, the
draws (seeded, deterministic, paired by index), and templated claims on the planted model.

On the planted model L1H0 carries "saw not" to the final position and nothing else there
differs between "... not very good" and "... the very good", so patching it at the final
position recovers exactly all of the difference; a template that marks "not" itself recovers
exactly none (the flag is written at the final position). MONTH (L0N3), patched at a month
swapped for a non-month, recovers about a quarter of log p("2020"): PROMOTER reads the month
token as well as MONTH's flag, so the rest moves through the token itself.
"""

from __future__ import annotations

import pytest

from neurontest.claims.mediation import MediationClaim
from neurontest.claims.patching import PatchingClaim
from neurontest.claims.templates import FilledPair

MONTHS = {"clean": ["March", "May", "June", "July"], "corrupt": ["the", "cat", "park", "rain"]}
MONTH_TEMPLATES = {"templates": ["we met in [[{month}]]", "on {day} [[{month}]]",
                                 "the {noun} sat in [[{month}]]"],
                   "slots": {"day": [3, 5, 7], "noun": ["cat", "dog", "park"], "month": MONTHS},
                   "target": "2020"}
NOT_TEMPLATES = {"templates": ["the {noun} was {neg} very [[good]]", "{who} saw {neg} a red [[good]]"],
                 "slots": {"noun": ["cat", "food", "movie"], "who": ["she", "we"],
                           "neg": {"clean": ["not", "not"], "corrupt": ["the", "a"]}},
                 "target": {"answer": "good", "foil": "the"}}


def _error(options, kind=PatchingClaim):
    with pytest.raises(ValueError) as info:
        kind.validate_options(options)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- the format ---------------------------------------------------------------------------------
def test_templates_parse_to_typed_options():
    options = PatchingClaim.validate_options(dict(MONTH_TEMPLATES, recovered=">= 0.15"))
    assert options.draws == 20 and options.seed == 0 and options.pairs is None
    month = options.slots["month"]
    assert month.clean == ("March", "May", "June", "July") and options.slots["day"] == ("3", "5", "7")


@pytest.mark.parametrize(("change", "expected"), [
    ({"templates": ["we met in {year} [[{month}]]"]},
     "`templates:` item 1 ('we met in {year} [[{month}]]') uses {year}, which `slots:` does not define"),
    ({"slots": {"month": {"clean": ["March", "May"], "corrupt": ["the"]}}},
     "`slots:` of a 'patching' claim, key 'month': has 2 `clean:` values and 1 `corrupt:`"),
    ({"templates": ["we met in {month}"]}, "('we met in {month}') has no [[mark]]"),
    ({"slots": {"month": ["March"]}}, "uses no slot with `clean:` and `corrupt:` values"),
    ({"pairs": [{"clean": "a", "corrupt": "b"}]}, "needs `pairs:` or `templates:` (not both"),
    ({"templates": None, "pairs": [{"clean": "a", "corrupt": "b"}]}, "`slots:` fill `templates:`"),
    ({"slots": {"month": {"clean": ["March"], "corrupt": ["the"]}, "year": ["2020"]}},
     "`slots:` defines {year}, which no template uses"),
    ({"slots": {"month": {"clean": ["March"], "wrong": ["the"]}}}, "takes `clean:` and `corrupt:` lists"),
    ({"templates": ["we { [[{month}]]"]}, "has an unmatched { or }"),
    ({"draws": 0}, "`draws:` of a 'patching' claim is 0; give a whole number 1..256"),
])
def test_parse_time_errors_name_the_option(change, expected):
    base = {"templates": ["we met in [[{month}]]"],
            "slots": {"month": {"clean": ["March"], "corrupt": ["the"]}}, "recovered": ">= 0.5"}
    options = {k: v for k, v in (base | change).items() if v is not None}
    assert expected in _error(options)


def test_draws_and_seed_belong_to_templates_and_mediation_takes_one_source():
    pairs = [{"clean": "we met in [[March]]", "corrupt": "we met in [[the]]"}]
    assert "`seed:` is for `templates:`" in _error({"pairs": pairs, "seed": 3, "effect": ">= 0"})
    through = {"through": ["L1N5"], "mediated_share": ">= 0.5"}
    assert "needs `texts:` or `pairs:` or `templates:` (one of them)" in _error(through, MediationClaim)
    assert "`mode:` is for `texts:`; with `templates:`" in _error(
        dict(MONTH_TEMPLATES, mode="mean", **through), MediationClaim)


# -- the draws ------------------------------------------------------------------------------------
def test_the_same_seed_draws_the_same_pairs_paired_by_index():
    from neurontest.claims.draws import seeded_draws, template_pairs

    options = PatchingClaim.validate_options(dict(MONTH_TEMPLATES, recovered=">= 0.15"))
    strategy = template_pairs(options.templates, options.slots)
    first = seeded_draws(strategy, 20, seed=0)
    assert first == seeded_draws(template_pairs(options.templates, options.slots), 20, seed=0)
    assert first != seeded_draws(strategy, 20, seed=1)
    assert len(first) == 20 and all(isinstance(p, FilledPair) for p in first)
    for pair in first:
        values = {name: (c, x) for name, c, x in pair.values}
        c, x = values["month"]
        assert MONTHS["clean"].index(c) == MONTHS["corrupt"].index(x)  # the same index
        assert all(c == x for name, (c, x) in values.items() if name != "month")  # shared slots
        assert pair.clean.replace(f"[[{c}]]", f"[[{x}]]") == pair.corrupt
    # a small space: every pair once, then Hypothesis stops
    small = seeded_draws(template_pairs(["in [[{m}]]"], {"m": {"clean": ["May", "June"],
                                                                "corrupt": ["a", "the"]}}), 20, seed=0)
    assert sorted(p.texts for p in small) == [("in [[June]]", "in [[the]]"), ("in [[May]]", "in [[a]]")]


def test_shrinking_goes_to_the_first_template_and_first_values():
    from neurontest.claims.draws import seeded_shrink, template_pairs

    strategy = template_pairs(MONTH_TEMPLATES["templates"], MONTH_TEMPLATES["slots"])
    found = seeded_shrink(strategy, lambda p: "park" in p.corrupt, 20, seed=0)
    assert found.texts == ("we met in [[June]]", "we met in [[park]]")
    shared = seeded_shrink(strategy, lambda p: p.template.startswith("the"), 20, seed=0)
    assert shared.texts == ("the cat sat in [[March]]", "the cat sat in [[the]]")
    assert shared.describe() == "{noun} 'cat', {month} 'March' / 'the'"


# -- claims on the planted model --------------------------------------------------------------------
def _claim(kind, unit, **options):
    from neurontest.claims.base import Subject

    return kind(Subject(unit, None), options, kind.validate_options(options))


def test_a_templated_claim_that_holds(lab):
    from neurontest.claims.runner import ClaimRunner
    from neurontest.engine.models.planted import MONTH_NEURON
    from neurontest.engine.units.head import HeadRef

    runner = ClaimRunner(lab)
    exact = _claim(PatchingClaim, HeadRef(1, 0), recovered=">= 0.95", confidence=0.95, **NOT_TEMPLATES)
    runner.check(exact)
    held = runner.run(exact)
    assert held.passed, held.summary
    assert held.metrics()["recovered"] == pytest.approx(1.0, abs=1e-5)
    assert "10 pair(s) drawn by Hypothesis from 2 template(s) (seed 0, 20 draws, 10 distinct)" in held.summary
    month = runner.run(_claim(PatchingClaim, MONTH_NEURON, recovered=">= 0.15", effect=">= 1", **MONTH_TEMPLATES))
    assert month.passed, month.summary
    assert 0.2 < month.metrics()["recovered"] < 0.35 and len(month.evidence[0].table) == 3 * 20
    # the same flag route, with CONTEXT (which writes nothing) held: none of it goes through
    mediated = runner.run(_claim(MediationClaim, HeadRef(1, 0), through=["L1N9"],
                                 mediated_share="<= 0.05", total_effect="<= -0.2", **NOT_TEMPLATES))
    assert mediated.passed, mediated.summary


def test_a_failing_templated_claim_names_its_shrunk_counterexample(lab):
    from neurontest.claims.runner import ClaimRunner
    from neurontest.engine.units.head import HeadRef

    # One template marks "not", where L1H0 writes nothing the final position reads: its pairs
    # recover nothing, and the claim fails on them.
    templates = dict(NOT_TEMPLATES, templates=NOT_TEMPLATES["templates"] + ["the {noun} was [[{neg}]] very good"])
    result = ClaimRunner(lab).run(_claim(PatchingClaim, HeadRef(1, 0), recovered=">= 0.9", **templates))
    assert result.verdict == "failed"
    assert ("minimal counterexample (shrunk by Hypothesis): 'the cat was [[not]] very good' / "
            "'the cat was [[the]] very good' [{noun} 'cat', {neg} 'not' / 'the'] recovered 0") in result.summary
    evidence = result.evidence[0]
    assert evidence.title.startswith("counterexample (recovered expected >= 0.9)")
    assert evidence.table[0][0] == "shrunk clean: the cat was [[not]] very good"
    assert evidence.table[2][1] == pytest.approx(evidence.table[1][1], abs=1e-6)  # patched = corrupt


def test_pairs_of_unequal_length_are_skipped_and_too_few_left_is_one_line(lab):
    from neurontest.claims.runner import ClaimRunner
    from neurontest.engine.models.planted import MONTH_NEURON

    runner = ClaimRunner(lab)
    two_words = {"clean": ["March", "May", "June", "July"], "corrupt": ["the cat", "a dog", "park", "rain"]}
    some = _claim(PatchingClaim, MONTH_NEURON, recovered=">= 0.15",
                  **dict(MONTH_TEMPLATES, slots=dict(MONTH_TEMPLATES["slots"], month=two_words)))
    runner.check(some)  # enough pairs are left
    result = runner.run(some)
    assert result.passed, result.summary
    assert "skipped: clean and corrupt texts must tokenize to the same length, but {month} 'March' is " \
           "1 token, 'the cat' is 2" in result.summary
    none = _claim(PatchingClaim, MONTH_NEURON, recovered=">= 0.15", templates=["on {day} [[{month}]]"],
                  slots={"day": [3, 5], "month": {"clean": ["March", "May"], "corrupt": ["the cat", "a dog"]}},
                  target="2020")
    for call in (runner.check, runner.run):
        with pytest.raises(ValueError) as info:
            call(none)
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith("`templates:` of a 'patching' claim: 4 of the 4 pairs drawn cannot be "
                                  "used, leaving 0 (a verdict needs 5)")
        assert "{month} 'March' is 1 token, 'the cat' is 2" in message
        assert "{month} 'May' is 1 token, 'a dog' is 2" in message
        assert message.endswith("give `clean:` and `corrupt:` values of the same token length at the same index")


def test_a_claim_failing_on_its_interval_alone_names_only_the_worst_pair(lab):
    """No pair's own value breaks the bound (the interval's end does): nothing to shrink, and
    the evidence says so and names the worst pair instead of inventing a counterexample."""
    from neurontest.claims.base import ClaimResult, Measurement
    from neurontest.claims.bounds import Bound
    from neurontest.claims.drawn_pairs import with_draws
    from neurontest.engine.models.planted import MONTH_NEURON

    claim = _claim(PatchingClaim, MONTH_NEURON, recovered=">= 0.2", **MONTH_TEMPLATES)
    failed = ClaimResult("patching", MONTH_NEURON, [Measurement("recovered", 0.19, Bound(">=", 0.2))], "s")
    result = with_draws(claim, lab, failed, claim.target)
    assert "no drawn pair has its own recovered outside >= 0.2 (the claim fails on its interval)" in result.summary
    assert "minimal counterexample" not in result.summary
    assert "; worst drawn pair: 'we met in [[March]]' / 'we met in [[the]]'" in result.summary
    assert result.evidence[0].title.startswith("counterexample (recovered expected >= 0.2): the worst pair drawn")
