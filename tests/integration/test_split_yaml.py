"""Explore/confirm (issue 23, part 3): a predicate fitted to tokens that occur only in the
explore half of the corpus passes there and does not pass on the confirm half; the summary and
the report say which split each verdict used."""

from __future__ import annotations

import textwrap

import pytest

from neurontest.engine.data.corpus import document_half
from neurontest.engine.models.planted import MONTHS

OFF = ("-p", "no:cacheprovider", "--neurontest-report", "none", "--neurontest-no-cache")


def documents() -> list[str]:
    """One document per month, each month in no other document (a one-off token of its half),
    25 times over so each half holds enough positions for a verdict; and month-free filler."""
    docs = [" ".join([f"we met in {month} 2020 . the cat sat on the mat ."] * 25) for month in MONTHS]
    docs += [" ".join(["the dog went to the park and the rain came ."] * 20) + f" {i}" for i in range(6)]
    return docs


def write_files(pytester: pytest.Pytester, split_line: str = "") -> list[str]:
    docs = documents()
    (pytester.path / "docs.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    # "Fitting" on explore: the months that fire there, the only ones ever seen while drafting.
    fitted = [m for m, d in zip(MONTHS, docs) if document_half(d) == "explore"]
    assert 0 < len(fitted) < len(MONTHS)  # both halves hold months
    pytester.makefile(".yaml", test_fitted=textwrap.dedent(f"""\
        model: planted
        corpus: docs.txt
        corpus_tokens: null
        window: 16
        {split_line}
        neurons:
          - id: L0N3
            fires_on: {{tokens: [{", ".join(fitted)}]}}
            threshold: 1.0
            claims:
              - kind: activation
                f1: ">= 0.9"
                precision: ">= 0.9"
                recall: ">= 0.9"
        """))
    return fitted


def test_a_predicate_fitted_on_explore_passes_there_and_not_on_confirm(pytester: pytest.Pytester) -> None:
    write_files(pytester)
    explore = pytester.runpytest(*OFF, "--neurontest-split", "explore")
    explore.assert_outcomes(passed=1)
    explore.stdout.fnmatch_lines(["*corpus split explore: 1 passed*",
                                  "*corpus docs*explore half of its documents*"])
    confirm = pytester.runpytest(*OFF, "--neurontest-split", "confirm")
    confirm.assert_outcomes(failed=1)
    confirm.stdout.fnmatch_lines(["*corpus split confirm: 1 failed*"])
    # On every document at once, the unseen months make it fail too: recall is about half.
    whole = pytester.runpytest(*OFF)
    whole.assert_outcomes(failed=1)
    assert "corpus split" not in whole.stdout.str()


def test_the_file_names_its_split(pytester: pytest.Pytester) -> None:
    write_files(pytester, "split: confirm")
    report = pytester.path / "report.html"
    result = pytester.runpytest("-p", "no:cacheprovider", "--neurontest-no-cache",
                                "--neurontest-report", str(report))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*corpus split confirm: 1 failed*"])
    page = report.read_text(encoding="utf-8")
    assert "corpus split <b>confirm</b>" in page and "(confirm half)" in page
    pytester.makefile(".yaml", test_bad=textwrap.dedent("""\
        model: planted
        split: half
        neurons:
          - id: L0N3
            claims: [{kind: ablation, texts: ["a"], effect: "<= 0"}]
        """))
    bad = pytester.runpytest(*OFF, "test_bad.yaml")
    bad.assert_outcomes(errors=1)
    bad.stdout.fnmatch_lines(["*split*all*explore*confirm*"])
