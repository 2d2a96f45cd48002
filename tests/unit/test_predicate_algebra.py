"""The predicate language as an algebra: Hypothesis builds predicate trees from every form, and
each compiled (vectorised) mask must equal a slow reference written straight from the documented
meaning of the YAML keys, at every position of random token sequences; `describe()` must name
every part. A small fake vocabulary keeps it fast (no model)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurontest.claims.predicates import Vocabulary, predicate_from_dict
from neurontest.engine.data.tokens import TokenBatch

STRINGS = ["<s>", " a", "a", " b", "b", "1", "2", " 1", "(", ")", " ", "A", ","]
TOKEN_WORDS = ["a", "b", "1", "2", "(", ")", "A", ",", " "]
PATTERNS = [r"^ ?a$", r"\d", r"^\($", r"b", r"^ $", r"^\)", r"[aA]"]


class _Tokenizer:
    """Just enough tokenizer for a `Vocabulary` (no get_vocab(): nothing cached on disk)."""

    all_special_ids = [0]

    def __len__(self):
        return len(STRINGS)

    def batch_decode(self, ids):
        return [STRINGS[row[0]] for row in ids]


VOCAB = Vocabulary(_Tokenizer())
HELPERS = Path(tempfile.mkdtemp(prefix="neurontest-predicates-"))
(HELPERS / "fake_predicates.py").write_text(
    "def after_a(ids, position, vocab):\n"
    "    return position > 0 and vocab.strings[ids[position - 1]].strip() == 'a'\n")


# -- the reference: one position at a time, straight from docs/hypothesis-format.md ----------

def reference(d, strs: list[str], p: int) -> bool:
    """Does predicate `d` (its YAML form) hold at position `p` of the scorable tokens `strs`?"""
    if p < 0 or p >= len(strs):
        return False
    if isinstance(d, list):
        d = {"tokens": d}
    if not _base(d, strs, p):
        return False
    distance = d.get("at", d.get("within", 1))
    for key in ("preceded_by", "not_preceded_by", "followed_by", "not_followed_by"):
        if key in d:
            sign = -1 if key.endswith("preceded_by") else 1
            near = [distance] if "at" in d else range(1, distance + 1)
            seen = any(reference(d[key], strs, p + sign * k) for k in near)
            if seen == key.startswith("not_"):
                return False
    return True


def _base(d, strs, p):
    s = strs[p]
    if "tokens" in d:
        def norm(t):
            t = t if d.get("exact", False) else t.strip()
            return t if d.get("case_sensitive", True) else t.casefold()
        return norm(s) in {norm(t) for t in d["tokens"]}
    if "regex" in d:
        return bool(re.search(d["regex"], s))
    if "any_of" in d:
        return any(reference(part, strs, p) for part in d["any_of"])
    if "all_of" in d:
        return all(reference(part, strs, p) for part in d["all_of"])
    if "not" in d:
        return not reference(d["not"], strs, p)
    if "sequence" in d:
        items = d["sequence"]
        t = next(i for i, item in enumerate(items) if isinstance(item, dict) and "target" in item)
        return all(reference(item["target"] if i == t else item, strs, p + i - t)
                   for i, item in enumerate(items))
    if "in_run" in d:
        spec = d["in_run"]
        if not reference(spec["of"], strs, p):
            return False
        start, end = p, p
        while reference(spec["of"], strs, start - 1):
            start -= 1
        while reference(spec["of"], strs, end + 1):
            end += 1
        return _length_ok(spec.get("length"), end - start + 1) and _place_ok(
            spec.get("position"), p - start + 1, end - p + 1)
    if "inside" in d:
        opening, closing = d["inside"]["open"], d["inside"]["close"]
        if predicate_from_dict(opening, base_dir=HELPERS) == predicate_from_dict(
                closing, base_dir=HELPERS):  # quotes: toggle
            before = sum(reference(opening, strs, q) for q in range(p))
            return before % 2 == 1 and not reference(opening, strs, p)
        level = 0
        for q in range(p + 1):
            before = level
            level = max(level + reference(opening, strs, q) - reference(closing, strs, q), 0)
        return min(before, level) >= 1
    if "word" in d:
        return _in_word(d["word"], strs, p)
    if "python" in d:
        ids = [STRINGS.index(x) for x in strs]
        return (p > 0 and STRINGS[ids[p - 1]].strip() == "a")
    raise AssertionError(d)


def _length_ok(length, n):
    if length is None:
        return True
    if isinstance(length, int):
        return n == length
    return length.get("min", 1) <= n <= length.get("max", 10**9)


def _place_ok(places, from_start, from_end):
    if places is None:
        return True
    places = places if isinstance(places, list) else [places]
    return any(from_start == k if k > 0 else from_end == -k for k in places)


def _in_word(spec, strs, p):
    def piece(q):
        s = strs[q]
        return bool(re.fullmatch(r"\w+", s[1:] if s[:1].isspace() else s))

    def continues(q):
        return 0 < q < len(strs) and piece(q) and piece(q - 1) and not strs[q][:1].isspace()

    if not piece(p):
        return False
    start, end = p, p
    while continues(start):
        start -= 1
    while continues(end + 1):
        end += 1
    text = "".join(strs[start:end + 1])
    text = text[1:] if text[:1].isspace() else text
    if "regex" in spec:
        ok = bool(re.search(spec["regex"], text))
    elif spec.get("case_sensitive", True):
        ok = text in spec["words"]
    else:
        ok = text.casefold() in {w.casefold() for w in spec["words"]}
    return ok and _place_ok(spec.get("position"), p - start + 1, end - p + 1)


# -- generated predicate trees ----------------------------------------------------------------

places = st.one_of(st.sampled_from([1, 2, -1, -2]), st.lists(st.sampled_from([1, 2, 3, -1]),
                                                             min_size=1, max_size=2, unique=True))
token_leaf = st.builds(
    lambda tokens, exact, case: {"tokens": tokens} | ({"exact": exact} if exact is not None else {})
    | ({"case_sensitive": case} if case is not None else {}),
    st.lists(st.sampled_from(TOKEN_WORDS), min_size=1, max_size=3, unique=True),
    st.sampled_from([None, True, False]), st.sampled_from([None, True, False]))
leaves = st.one_of(
    token_leaf,
    st.lists(st.sampled_from(TOKEN_WORDS), min_size=1, max_size=2, unique=True),  # shorthand
    st.builds(lambda r: {"regex": r}, st.sampled_from(PATTERNS)),
    st.just({"python": "fake_predicates:after_a"}),
    st.builds(lambda w, case, pos: {"word": w | ({"case_sensitive": case} if "words" in w else {})
                                    | ({"position": pos} if pos is not None else {})},
              st.one_of(st.builds(lambda ws: {"words": ws}, st.lists(
                  st.sampled_from(["a", "ab", "a1", "12", "A", "b2a"]), min_size=1, max_size=3)),
                  st.builds(lambda r: {"regex": r}, st.sampled_from([r"^\d+$", r"a", r"^.{2}$"]))),
              st.booleans(), st.one_of(st.none(), places)),
)


def _extend(children):
    distance = st.one_of(st.just({}), st.builds(lambda n: {"within": n}, st.integers(1, 3)),
                         st.builds(lambda n: {"at": n}, st.integers(1, 3)))
    look = st.builds(
        lambda base, keys, others, dist: {"all_of": [base]} | dict(zip(keys, others)) | dist,
        children,
        st.lists(st.sampled_from(["preceded_by", "not_preceded_by", "followed_by",
                                  "not_followed_by"]), min_size=1, max_size=3, unique=True),
        st.lists(children, min_size=3, max_size=3), distance)
    legacy = st.builds(lambda t, key, other, n: t | {key: other, "within": n}, token_leaf,
                       st.sampled_from(["preceded_by", "not_preceded_by"]), children,
                       st.integers(1, 3))
    sequence = st.builds(
        lambda before, target, after: {"sequence": before + [{"target": target}] + after},
        st.lists(children, max_size=2), children, st.lists(children, max_size=2))
    length = st.one_of(st.integers(1, 4), st.builds(
        lambda lo, extra: {"min": lo} | ({"max": lo + extra} if extra is not None else {}),
        st.integers(1, 3), st.one_of(st.none(), st.integers(0, 2))))
    in_run = st.builds(lambda of, n, pos: {"in_run": {"of": of} | n | pos}, children,
                       st.one_of(st.just({}), st.builds(lambda x: {"length": x}, length)),
                       st.one_of(st.just({}), st.builds(lambda x: {"position": x}, places)))
    inside = st.one_of(
        st.builds(lambda o, c: {"inside": {"open": o, "close": c}}, children, children),
        st.builds(lambda q: {"inside": {"open": q, "close": q}}, children))
    return st.one_of(
        st.builds(lambda ps: {"any_of": ps}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda ps: {"all_of": ps}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda p: {"not": p}, children),
        look, legacy, sequence, in_run, inside)


trees = st.recursive(leaves, _extend, max_leaves=8)
texts = st.lists(st.lists(st.integers(1, len(STRINGS) - 1), min_size=1, max_size=14),
                 min_size=1, max_size=4)


def _batch(rows: list[list[int]]) -> TokenBatch:
    width = 1 + max(len(r) for r in rows)
    tokens = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, row in enumerate(rows):  # BOS (id 0, unscorable) then the text, right-padded
        tokens[i, 1:1 + len(row)] = torch.tensor(row)
        mask[i, 1:1 + len(row)] = True
    return TokenBatch(tokens, mask, has_bos=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, rows=texts)
def test_compiled_mask_equals_the_reference_meaning(tree, rows):
    predicate = predicate_from_dict(tree, base_dir=HELPERS)
    mask = predicate.mask(_batch(rows), VOCAB)
    for i, row in enumerate(rows):
        strs = [STRINGS[t] for t in row]
        expected = [False] + [reference(tree, strs, p) for p in range(len(row))]
        expected += [False] * (mask.shape[1] - len(expected))
        assert mask[i].tolist() == expected, (predicate.describe(), strs)
    assert hash(predicate) == hash(predicate_from_dict(tree, base_dir=HELPERS))


NAMES = {"preceded_by": "preceded by", "not_preceded_by": "not preceded by",
         "followed_by": "followed by", "not_followed_by": "not followed by",
         "sequence": "sequence", "in_run": "run of", "inside": "inside a span",
         "python": "python predicate fake_predicates:after_a", "not": "not ("}


def _parts(d, counts, leaves):
    """Count the structural keys of a tree and collect the strings its leaves must show."""
    if isinstance(d, list):
        leaves.extend(repr(t) for t in d)
        return
    for key, value in d.items():
        counts[key] = counts.get(key, 0) + 1
        if key == "tokens":
            leaves.extend(repr(t) for t in value)
        elif key == "regex":
            leaves.append(f"/{value}/")
        elif key == "word":
            leaves.extend([f"/{value['regex']}/"] if "regex" in value else
                          [repr(w) for w in value["words"]])
        elif key in ("any_of", "all_of"):
            for part in value:
                _parts(part, counts, leaves)
        elif key == "sequence":
            for item in value:
                _parts(item["target"] if "target" in item else item, counts, leaves)
        elif key in ("in_run", "inside"):
            for sub in ("of", "open", "close"):
                if sub in value:
                    _parts(value[sub], counts, leaves)
        elif isinstance(value, (dict, list)) and key != "python":
            _parts(value, counts, leaves)


@settings(max_examples=200, deadline=None)
@given(tree=trees)
def test_describe_names_every_part(tree):
    text = predicate_from_dict(tree, base_dir=HELPERS).describe()
    counts: dict[str, int] = {}
    leaves: list[str] = []
    _parts(tree, counts, leaves)
    for leaf in leaves:
        assert leaf in text, (leaf, text)
    for key, phrase in NAMES.items():
        if key in ("preceded_by", "followed_by"):  # "not preceded by" contains "preceded by"
            need = counts.get(key, 0) + counts.get("not_" + key, 0)
        else:
            need = counts.get(key, 0)
        assert text.count(phrase) >= need, (key, text)
    if "word" in counts:
        assert "token of a word" in text
