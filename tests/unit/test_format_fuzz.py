"""Fuzzing the hypothesis format (issue 14): mutations of the example files in hypotheses/ must
parse to a HypothesisFile or fail with one-line HypothesisFileError naming the file, never
another exception. NEURONTEST_FUZZ_EXAMPLES raises the example count for a long run."""

import os
import random
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurontest.errors import HypothesisFileError
from neurontest.format.spec import load_hypothesis_file

EXAMPLES = sorted((Path(__file__).parents[2] / "hypotheses").glob("*.yaml"))
DOCS = [yaml.safe_load(p.read_text()) for p in EXAMPLES]
# Kinds the example files do not use yet: mutated like the rest.
DOCS.append(yaml.safe_load("""
model: planted
neurons:
  - id: L1H0
    claims:
      - kind: patching
        pairs:
          - {clean: "the cat was not very [[good]]", corrupt: "the cat was the very [[good]]"}
        target: {answer: good, foil: the}
        direction: noising
        units: [L1N5]
        recovered: ">= 0.9"
        effect: "<= 0"
        min_difference: 0.01
      - kind: mediation
        texts: ["it is not [[good]]"]
        target: next
        through: [L1N9, L1H1]
        mode: steer
        steer_by: 2.0
        mediated_share: ">= 0.5"
        total_effect: "<= -0.1"
      - kind: mediation
        pairs: [{clean: "we met in [[March]]", corrupt: "we met in [[the]]"}]
        target: "2020"
        through: [L1N5]
        direction: denoising
        mediated_share: ">= 0.9"
      - kind: patching
        templates: ["we met on {day} [[{month}]]", "the {noun} sat in [[{month}]]"]
        slots:
          day: [3, 12]
          noun: [cat, dog]
          month: {clean: [March, May], corrupt: [the, rain]}
        draws: 20
        seed: 0
        target: "2020"
        recovered: ">= 0.15"
      - kind: mediation
        templates: ["she saw {neg} a red [[good]]"]
        slots: {neg: {clean: [not], corrupt: [the]}}
        through: [L1N9]
        mediated_share: "<= 0.05"
"""))
FUZZ_EXAMPLES = int(os.environ.get("NEURONTEST_FUZZ_EXAMPLES", "200"))

# Values a hostile or careless user writes where anything else belongs.
NASTY = [None, True, False, 0, -1, 1.5, 10**12, float("inf"), float("nan"), "", "x", "false",
         ">= 0.7", ">= -1e999", "L1N298", [], [1], [[1]], {}, {"a": 1}, {1: 2}, "[[March]]",
         "sixty-four", {"tokens": {"a": 1}}, {"any_of": []}, {"relative": [0.2]}]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _mutate(doc, rng: random.Random, value, op: int):
    import copy
    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p]
    path = rng.choice(paths)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == 0:
        parent[last] = value                      # replace a value
    elif op == 1 and isinstance(parent, dict):
        del parent[last]                          # drop a key
    elif op == 2 and isinstance(parent, dict):
        parent[str(value)[:20] if not isinstance(value, (int, bool)) else value] = 1  # add a key
    elif op == 3 and isinstance(parent, list):
        parent.append(parent[last])               # duplicate an entry (neuron or claim)
    else:
        parent[last] = value
    return doc


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.integers(0, len(DOCS) - 1), seed=st.integers(0, 2**32 - 1),
       value=st.sampled_from(NASTY) | st.text(max_size=30) | st.integers() | st.floats(),
       op=st.integers(0, 3), rounds=st.integers(1, 3))
def test_mutated_examples_parse_or_fail_cleanly(tmp_path_factory, which, seed, value, op, rounds):
    rng = random.Random(seed)
    doc = DOCS[which]
    for _ in range(rounds):
        doc = _mutate(doc, rng, value, op)
    path = tmp_path_factory.mktemp("fuzz") / "test_fuzz.yaml"
    try:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    except (yaml.YAMLError, UnicodeEncodeError):  # surrogates: not a file a user can write
        return
    try:
        load_hypothesis_file(path)
    except HypothesisFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path)), str(exc)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_fail_cleanly(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("fuzz") / "test_bytes.yaml"
    path.write_bytes(raw)
    try:
        load_hypothesis_file(path)
    except HypothesisFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path)), str(exc)


def test_examples_exist():
    assert EXAMPLES, "the fuzz test mutates hypotheses/*.yaml"
    for path in EXAMPLES:
        load_hypothesis_file(path)


