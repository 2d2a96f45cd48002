"""Where the report goes: one file per selection, a trailing slash for a folder, bad paths refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurontest.report.location import check_report_path, resolve_report_path, selection_name, write_failure
from neurontest.errors import ReportPathError


def test_whole_folders_get_the_suite_name(tmp_path: Path) -> None:
    (tmp_path / "hypotheses").mkdir()
    assert selection_name(["hypotheses"], tmp_path) == "neurontest.html"
    assert selection_name([str(tmp_path / "hypotheses")], tmp_path) == "neurontest.html"
    assert selection_name([str(tmp_path)], tmp_path) == "neurontest.html"


def test_narrower_selections_get_their_own_file(tmp_path: Path) -> None:
    (tmp_path / "hypotheses").mkdir()
    (tmp_path / "hypotheses" / "test_months.yaml").write_text("")
    assert selection_name(["hypotheses/test_months.yaml"], tmp_path) == "neurontest-test_months.html"
    by_k = selection_name(["hypotheses"], tmp_path, keyword="L0N972 and not noise")
    assert by_k.startswith("neurontest-hypotheses-k-L0N972-and-not-noise") and by_k.endswith(".html")
    node = selection_name(["hypotheses/test_months.yaml::L0N972::activation"], tmp_path)
    other = selection_name(["hypotheses/test_months.yaml::L0N972::noise"], tmp_path)
    assert node != other and node.startswith("neurontest-hypotheses-test_months.yaml-L0N972")
    long = selection_name([f"hypotheses/test_{'x' * 200}.yaml"], tmp_path)
    assert len(long) < 100


def test_resolve_and_check(tmp_path: Path) -> None:
    assert resolve_report_path("none", tmp_path, "neurontest.html") is None
    assert resolve_report_path(None, tmp_path, "n.html") == tmp_path / "reports" / "n.html"
    assert resolve_report_path("out/", tmp_path, "n.html") == tmp_path / "out" / "n.html"
    assert resolve_report_path("r.html", tmp_path, "n.html") == tmp_path / "r.html"
    (tmp_path / "dir").mkdir()
    with pytest.raises(ReportPathError, match="is a folder; end the path with /"):
        check_report_path(tmp_path / "dir", "dir")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReportPathError, match="is a file"):
        check_report_path(tmp_path / "file" / "sub" / "r.html", "file/sub/r.html")
    check_report_path(tmp_path / "new" / "r.html", None)  # a folder still to create is fine


def test_write_failure_is_one_line() -> None:
    line = write_failure(Path("/ro/r.html"), PermissionError(13, "Permission denied", "/ro/r.html"))
    assert "\n" not in line and line.startswith("report NOT written: Permission denied: /ro/r.html")
