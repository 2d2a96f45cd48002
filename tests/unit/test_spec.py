"""The YAML format: parsing, line numbers, did-you-mean, and the published schema."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from neurontest.errors import HypothesisFileError
from neurontest.format.schema import build_schema
from neurontest.format.spec import load_hypothesis_file

GOOD = """\
model: planted
neurons:
  - id: L0N3
    fires_on: {tokens: [March, May]}
    claims:
      - kind: activation
        f1: ">= 0.5"
      - kind: activation
        precision: ">= 0.9"
        xfail: too strict
  - layer: 0
    neuron: 7
    claims:
      - kind: examples
        fires: ["in [[2020]]"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test_h.yaml"
    path.write_text(text)
    return path


def test_parses_neurons_claims_lines_and_names(tmp_path):
    spec = load_hypothesis_file(write(tmp_path, GOOD))
    assert spec.model == "planted" and spec.corpus is None and spec.window == 64
    first, second = spec.neurons
    assert first.neuron.short_id == "L0N3" and second.neuron.short_id == "L0N7"
    assert [c.name for c in first.claims] == ["activation", "activation-2"]
    assert first.claims[1].xfail == "too strict"
    assert first.claims[0].line == 6 and first.claims[1].line == 8
    assert "xfail" not in first.claims[1].config


@pytest.mark.parametrize("text, fragment, line", [
    (GOOD.replace("model:", "modle:"), "did you mean 'model'", 1),
    (GOOD.replace("f1:", "f_1:"), "did you mean 'f1'", 7),  # the option's own line
    (GOOD.replace("kind: examples", "kind: exampels"), "did you mean 'examples'", 14),
    (GOOD.replace("id: L0N3", "id: neuron3"), "not a neuron id", 3),
    (GOOD.replace('">= 0.5"', '"about 0.5"'), "is not of the form", 7),
    ("neurons: []\n", "non-empty list", 1),
    ("neurons:\n  - id: L0N3\n    claims: [{kind: activation, f1: '>= 1'}]\n", "needs the neuron's `fires_on:`", 3),
    ("neurons: [\n", "not valid YAML", 2),
])
def test_errors_name_file_line_and_fix(tmp_path, text, fragment, line):
    path = write(tmp_path, text)
    with pytest.raises(HypothesisFileError) as info:
        load_hypothesis_file(path)
    message = str(info.value)
    assert fragment in message
    assert message.startswith(f"{path}:{line}:"), message
    assert "\n" not in message


def test_published_schema_is_in_sync_with_claim_kinds():
    published = Path(__file__).parents[2] / "neurontest" / "format" / "hypothesis.schema.json"
    assert json.loads(published.read_text()) == build_schema(), (
        "run: neurontest schema > neurontest/format/hypothesis.schema.json")


def test_schema_accepts_example_files_and_rejects_unknown_keys():
    schema = build_schema()
    jsonschema.validate(yaml.safe_load(GOOD), schema)
    for path in sorted((Path(__file__).parents[2] / "hypotheses").glob("test_*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(GOOD.replace("f1:", "f_1:")), schema)


def test_the_built_in_kind_table_is_the_one_pyproject_registers() -> None:
    """Two lists of one fact: the entry points third parties see and the table a checkout
    falls back on must not drift apart."""
    import tomllib

    from neurontest.format.kinds import BUILTIN_KINDS, ENTRY_POINT_GROUP

    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    registered = tomllib.loads(pyproject.read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert registered == BUILTIN_KINDS


def test_a_claim_is_validated_once_and_its_bounds_parsed_once(tmp_path, monkeypatch):
    # Options are typed when the file is parsed; building the claim reuses them, and a bound is
    # parsed on first use only (issue 22: "parse once").
    import neurontest.claims.base as base
    from neurontest.claims.bounds import Bound

    path = tmp_path / "test_once.yaml"
    path.write_text("neurons:\n  - id: L0N3\n    fires_on: {tokens: [March]}\n    claims:\n"
                    "      - {kind: activation, f1: '>= 0.5', precision: '>= 0.6'}\n")
    validations, parses = [], []
    real_validate, real_parse = base.validate_claim_options, Bound.parse.__func__
    monkeypatch.setattr(base, "validate_claim_options",
                        lambda *a, **k: validations.append(a[2]) or real_validate(*a, **k))
    monkeypatch.setattr(Bound, "parse", classmethod(lambda cls, raw: parses.append(raw) or real_parse(cls, raw)))
    entry = load_hypothesis_file(path).neurons[0]
    claim = entry.build(entry.claims[0])
    assert validations == ["activation"]
    assert claim.settings is entry.claims[0].options
    parses.clear()
    assert claim.bound("f1") is claim.bound("f1")
    assert parses == [">= 0.5"]
