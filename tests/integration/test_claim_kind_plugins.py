"""Claim kinds are plugins (issue 22): a package names its kinds in the `neurontest.claim_kinds`
entry-point group, and hypothesis files use them like the built-in ones."""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

import pytest

from .planted_yaml import HEADER

PACKAGE = Path(__file__).resolve().parents[1] / "example_kind"


def install_example(site: Path) -> None:
    """Lay the example package out in `site` as pip installs it: the module and a .dist-info
    whose entry_points.txt comes from its pyproject.toml."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    shutil.copytree(PACKAGE / "neurontest_peak", site / "neurontest_peak")
    info = site / f"neurontest_peak-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n")
    points = project["entry-points"]["neurontest.claim_kinds"]
    (info / "entry_points.txt").write_text(
        "[neurontest.claim_kinds]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))


@pytest.fixture
def example_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from neurontest.format.kinds import CLAIM_KINDS

    site = tmp_path / "site"
    site.mkdir()
    install_example(site)
    monkeypatch.syspath_prepend(str(site))
    CLAIM_KINDS.refresh()
    yield
    monkeypatch.undo()
    sys.modules.pop("neurontest_peak", None)
    CLAIM_KINDS.refresh()


def test_a_third_party_kind_runs_from_yaml(pytester: pytest.Pytester, example_installed: None) -> None:
    pytester.makefile(".yaml", test_peak=HEADER + """\
  - id: L0N3
    claims:
      - kind: peak
        texts: ["we met in March", "the cat sat on the mat"]
        max: ">= 5"
      - kind: peak
        id: too-high
        texts: ["the cat sat on the mat"]
        max: ">= 5"
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--neurontest-report", "none")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*L0N3 (blocks.0.mlp.hook_post[[]3[]]) peak claim failed*",
                                 "*FAIL max = * (expected >= 5)*"])


def test_its_options_are_checked_like_a_built_in_kind(pytester: pytest.Pytester,
                                                      example_installed: None) -> None:
    pytester.makefile(".yaml", test_peak=HEADER + """\
  - id: L0N3
    claims:
      - kind: peak
        texts: ["we met in March"]
        maximum: ">= 5"
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--neurontest-report", "none")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_peak.yaml:8: L0N3: a 'peak' claim needs `max:`*"])


def test_without_the_package_the_kind_is_unknown(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", test_peak=HEADER + """\
  - id: L0N3
    claims: [{kind: peak, texts: ["we met in March"], max: ">= 5"}]
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--neurontest-report", "none")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown claim kind 'peak'*"])
