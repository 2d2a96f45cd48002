"""Hostile hypothesis files (issue 14): each ends in ONE-line HypothesisFileError naming the file
and the line, never a traceback, a hang or a silently accepted nonsense value."""

import time
from pathlib import Path

import pytest

from neurontest.errors import HypothesisFileError
from neurontest.format import safe_yaml
from neurontest.format.spec import load_hypothesis_file

HEAD = "model: planted\n"
NEURON = """\
neurons:
  - id: L0N3
    fires_on: {tokens: [March, May]}
    claims:
      - kind: activation
        f1: ">= 0.5"
"""
GOOD = HEAD + NEURON


def write_bytes(tmp_path: Path, raw: bytes) -> Path:
    path = tmp_path / "test_bad.yaml"
    path.write_bytes(raw)
    return path


def load_error(tmp_path: Path, raw: bytes | str) -> HypothesisFileError:
    path = write_bytes(tmp_path, raw.encode() if isinstance(raw, str) else raw)
    with pytest.raises(HypothesisFileError) as info:
        load_hypothesis_file(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(str(path)), message
    assert len(message) < 600, message[:200]
    return info.value


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
neurons: [*g]
"""

# (name, file content, fragment of the message, whether the line must be named)
CASES = [
    ("utf16", GOOD.encode("utf-16"), "UTF-16", False),
    ("latin1", (HEAD + "description: caf\xe9\n" + NEURON).encode("latin-1"), "not UTF-8", True),
    ("nul byte", (HEAD + "description: a\x00b\n" + NEURON).encode(), "NUL", True),
    ("control char", (HEAD + "description: a\x07b\n" + NEURON).encode(), "control character", True),
    ("duplicate key", HEAD + "model: other\n" + NEURON, "duplicate key 'model'", True),
    ("duplicate option", GOOD + '        f1: ">= 0.6"\n', "duplicate key 'f1'", True),
    ("billion laughs", BILLION_LAUGHS, "expands to more than", True),
    ("huge string", HEAD + "description: " + "x" * 30_000 + "\n" + NEURON, "characters", True),
    ("too big", HEAD + "# " + "x" * 1_100_000 + "\n" + NEURON, "bytes", False),
    ("threshold inf", GOOD.replace("fires_on:", "threshold: .inf\n    fires_on:"), "finite", True),
    ("threshold relative list", GOOD.replace("fires_on:", "threshold: {relative: [0.2]}\n    fires_on:"),
     "relative", True),
    ("int option key", GOOD + "        1: x\n", "key 1 is not a name", True),
    ("int key", HEAD + "1: x\n" + NEURON, "key 1 is not a name", True),
    ("window word", HEAD + "window: sixty-four\n" + NEURON, "`window:` is a whole number", True),
    ("window float", HEAD + "window: 1.5\n" + NEURON, "`window:` is a whole number", True),
    ("window zero", HEAD + "window: 0\n" + NEURON, "is 0; give a whole number 1..8192", True),
    ("window bool", HEAD + "window: true\n" + NEURON, "`window:` is a whole number", True),
    ("corpus_tokens inf", HEAD + "corpus_tokens: .inf\n" + NEURON, "whole number", True),
    ("corpus_tokens zero", HEAD + "corpus_tokens: 0\n" + NEURON, "is 0; give a whole number 1..", True),
    ("seed list", HEAD + "seed: [1]\n" + NEURON, "`seed:` is a whole number", True),
    ("corpus list", HEAD + "corpus: [planted]\n" + NEURON, "`corpus:` is a text", True),
    ("float layer", HEAD + "neurons:\n  - layer: 0.9\n    neuron: 3.7\n    claims:\n"
     "      - {kind: examples, fires: ['in [[2020]]']}\n", "`layer:` in entry 1 of `neurons:` is a whole number", True),
    ("duplicate neuron", GOOD + NEURON.replace("neurons:\n", ""), "L0N3 appears twice", True),
    ("id equals automatic id", GOOD + '      - kind: activation\n        precision: ">= 0.5"\n'
     '      - kind: activation\n        id: activation-2\n        recall: ">= 0.1"\n',
     "already taken", True),
    ("exact string", GOOD.replace("{tokens: [March, May]}", "{tokens: [March], exact: 'false'}"),
     "true or false", True),
    ("tokens mapping", GOOD.replace("{tokens: [March, May]}", "{tokens: {March: 1}}"),
     "non-empty list", True),
    ("any_of empty", GOOD.replace("{tokens: [March, May]}", "{any_of: []}"), "any_of", True),
    ("any_of int", GOOD.replace("{tokens: [March, May]}", "{any_of: 5}"), "any_of", True),
    ("within list", GOOD.replace("{tokens: [March, May]}",
                                 "{tokens: [March], preceded_by: [in], within: [1]}"), "within", True),
    ("within huge", GOOD.replace("{tokens: [March, May]}",
                                 "{tokens: [March], preceded_by: [in], within: 1000000000}"),
     "between 1 and", True),
]


def claim(body: str) -> str:
    """GOOD with one more claim, written as indented YAML lines."""
    return GOOD + "".join("      " + line + "\n" for line in body.splitlines())


# Claim options: each kind's typed `Options` model (neurontest/claims/options.py).
CASES += [
    ("silent string", claim("- kind: examples\n  silent: we met in March"), "is a list of values", True),
    ("text int", claim("- kind: noise\n  text: 5"), "`text:` of a 'noise' claim is a text", True),
    ("text null", claim("- kind: noise\n  text: null"), "`text:` of a 'noise' claim is a text", True),
    ("texts of ints", claim("- kind: ablation\n  texts: [5]"), "`texts:` of an 'ablation' claim, item 1 is a text", True),
    ("huge text", claim("- kind: noise\n  text: '" + "a " * 3000 + "[[March]]'"), "at most", True),
    ("draws zero", claim("- kind: noise\n  text: 'in [[March]]'\n  draws: 0"), "1..4096", True),
    ("draws huge", claim("- kind: noise\n  text: 'in [[March]]'\n  draws: 100000"), "1..4096", True),
    ("scale nan", claim("- kind: noise\n  text: 'in [[March]]'\n  scale: .nan"), "finite", True),
    ("scale word", claim("- kind: noise\n  text: 'in [[March]]'\n  scale: big"), "`scale:` of a 'noise' claim is a number", True),
    ("keep_share 5", claim("- kind: simplify\n  text: 'in [[March]]'\n  keep_share: 5"), "(0, 1]",
     True),
    ("bound -inf", claim('- kind: activation\n  recall: ">= -1e999"'), "finite", True),
    ("direction sideways", claim("- kind: logit_attribution\n  matches: [x]\n  direction: sideways"),
     "is 'promoted' or 'suppressed', got 'sideways'", True),
    ("k negative", claim("- kind: logit_attribution\n  matches: [x]\n  k: -1"), "1..10000", True),
    ("k huge", claim("- kind: logit_attribution\n  matches: [x]\n  k: 1000000"), "1..10000", True),
    ("mode unknown", claim("- kind: ablation\n  texts: ['in [[March]]']\n  mode: resample"),
     "is 'zero', 'mean' or 'steer', got 'resample'", True),
    ("also_ablate int", claim("- kind: ablation\n  texts: ['in [[March]]']\n  also_ablate: 5"),
     "is a list of values", True),
    ("examples bool", claim("- kind: invariant\n  texts: ['in [[March]]']\n  examples: true"),
     "whole number", True),
    ("nested perturbations", claim("- kind: invariant\n  texts: ['in [[March]]']\n"
                                   "  perturbations: [[case]]"), "item 1 is 'delete', 'insert'", True),
]


@pytest.mark.parametrize("name,raw,fragment,has_line", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_error(tmp_path, name, raw, fragment, has_line):
    started = time.perf_counter()
    error = load_error(tmp_path, raw)
    assert time.perf_counter() - started < 5, "a bad file must fail fast"
    assert fragment in str(error), str(error)
    if has_line:
        assert error.line is not None, str(error)


def test_good_file_still_parses(tmp_path):
    spec = load_hypothesis_file(write_bytes(tmp_path, GOOD.encode()))
    assert spec.window == 64 and spec.seed == 0 and spec.corpus_tokens == 100_000
    assert [c.name for c in spec.neurons[0].claims] == ["activation"]


def test_utf8_bom_and_null_corpus_tokens_are_fine(tmp_path):
    raw = b"\xef\xbb\xbf" + (HEAD + "corpus_tokens: null\n" + NEURON).encode()
    assert load_hypothesis_file(write_bytes(tmp_path, raw)).corpus_tokens is None


def test_a_few_aliases_are_fine():
    data = safe_yaml.load(b"a: &x [1, 2]\nb: *x\n")
    assert data == {"a": [1, 2], "b": [1, 2]}


def test_alias_count_is_capped():
    doc = "a: &x 1\nb: [" + ", ".join(["*x"] * (safe_yaml.MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(safe_yaml.YamlInputError, match="aliases"):
        safe_yaml.load(doc.encode())


def test_lines_are_kept():
    data = safe_yaml.load(b"a: 1\nb:\n  c: 2\n")
    assert data.key_lines == {"a": 1, "b": 2} and data["b"].line == 3
