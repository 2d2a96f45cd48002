"""`neurontest screen`: attribution patching ranks the units a patch would move, on the planted
model, and drafts patching claims that load as a hypothesis file.

Between "we met in March" and "we met in 1999" the "2020" - "the" logit difference moves
almost wholly through PROMOTER (L1N5: patching it alone recovers 0.85-1.07 of it): it must rank
first. (The first-order estimate misses effects that act only through a norm, such as L1H0's
flag: that limit is why the drafts must be measured.)"""

from __future__ import annotations

import pytest
import yaml

pytest.importorskip("torch")

from neurontest.cli import main  # noqa: E402
from neurontest.engine.models.planted import planted_model  # noqa: E402
from neurontest.measure.attribution_patching import attribution_patching  # noqa: E402
from neurontest.measure.targets import Target  # noqa: E402

CLEAN = ["we met in March", "on 3 May", "they went in June"]
CORRUPT = ["we met in 1999", "on 3 the", "they went in it"]


def test_the_promoter_ranks_first_with_the_sign_of_its_patch():
    ranked = attribution_patching(planted_model().model, CLEAN, CORRUPT, Target(answer="2020", foil="the"))
    assert ranked[0].unit.short_id == "L1N5" and ranked[0].effect > 1 and ranked[0].share > 0
    assert all(abs(a.effect) < 1e-6 for a in ranked[1:])  # nothing else writes to the target


def test_cli_prints_the_ranking_and_drafts_that_load(tmp_path, capsys):
    from neurontest.format.spec import load_hypothesis_file

    pairs = tmp_path / "pairs.yaml"
    pairs.write_text(yaml.safe_dump([{"clean": c, "corrupt": x} for c, x in zip(CLEAN, CORRUPT)]))
    assert main(["screen", "--pairs", str(pairs), "--answer", "2020", "--foil", "the",
                 "--model", "planted", "--top", "3", "--drafts", "1"]) == 0
    out = capsys.readouterr().out
    ranking, draft = out.split("neurons:\n")
    assert "  1. L1N5" in ranking
    path = tmp_path / "test_draft.yaml"
    path.write_text("model: planted\nneurons:\n" + draft)
    spec = load_hypothesis_file(path)
    assert spec.neurons[0].claims[0].kind == "patching"


def test_cli_refuses_bad_pairs_files_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("[{clean: a}]")
    assert main(["screen", "--pairs", str(bad), "--model", "planted"]) == 2
    err = capsys.readouterr().err
    assert "a list of {clean:, corrupt:}" in err and len(err.strip().splitlines()) == 1
    assert main(["screen", "--pairs", str(bad), "--answer", "x", "--model", "planted"]) == 2
