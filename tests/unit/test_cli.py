"""The `neurontest` command's own defects a new user meets first (issue 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neurontest.claims.base import claim_phrase
from neurontest.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_help_is_complete_and_names_every_command() -> None:
    text = build_parser().format_help()
    for command in ("inspect", "power", "schema", "bench"):
        assert command in text
    # The description is whole sentences, not a docstring cut at its first newline.
    description = build_parser().description or ""
    assert description.rstrip().endswith(".")
    assert "pytest hypotheses/" in text


def test_schema_into_a_closed_pipe_ends_quietly() -> None:
    # `neurontest schema | head -5`: the reader closes early; no BrokenPipeError traceback.
    code = ("import sys; from neurontest.cli import main; sys.exit(main(['schema']))")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.read(10)
    child.stdout.close()  # what `head` does after its lines
    err = child.stderr.read().decode()
    assert child.wait(timeout=60) == 0, err
    assert first.startswith(b"{")
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize(("kind", "phrase"), [
    ("activation", "an 'activation' claim"), ("examples", "an 'examples' claim"),
    ("noise", "a 'noise' claim"), ("top_examples", "a 'top_examples' claim"),
])
def test_claim_phrase_uses_the_right_article(kind: str, phrase: str) -> None:
    assert claim_phrase(kind) == phrase


def test_unknown_option_message_reads_an_activation_claim() -> None:
    from neurontest.format.kinds import get_claim_class

    with pytest.raises(ValueError, match=r"for an 'activation' claim"):
        get_claim_class("activation").validate_options({"kind": "activation", "f2": ">= 0.5"})


def test_power_says_what_corpus_a_claim_needs_before_it_is_claimed(capsys, tmp_path, monkeypatch) -> None:
    from neurontest.cli import main

    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path))
    assert main(["power", "L0N3", "--model", "planted", "--corpus", "planted", "--fires-on",
                 "January", "--threshold", "1"]) == 0
    out = capsys.readouterr().out
    # One month is rare: recall rests on few claimed positions and needs a much larger corpus
    # than precision, which rests on every month's firing.
    recall, precision = (line for line in out.splitlines() if line.startswith("  "))
    assert recall.startswith("  recall = 1.000 +- ") and "claimed positions; +-0.05 needs 35" in recall
    assert precision.startswith("  precision = 0.0") and "firing positions" in precision
    assert "corpus tokens at this rate" in recall


@pytest.mark.parametrize("args, message", [
    (["--fires-on", "{regex: [", "--threshold", "1"], "--fires-on is not a YAML mapping"),
    (["--fires-on", "March", "--threshold", "high"], "give a number (4.0) or a share of the max (0.25x)"),
    (["--fires-on", "March", "--half-width", "2"], "--half-width is a share's +-"),
])
def test_power_refuses_bad_arguments_in_one_line(capsys, args, message) -> None:
    from neurontest.cli import main

    assert main(["power", "L0N3", "--model", "planted", *args]) == 2
    assert message in capsys.readouterr().err
