"""Corpus loading and windowing, with a tiny word-level tokenizer (no model, no network)."""

from __future__ import annotations

import importlib.util
import json
import math
import time

import pytest

from neurontest.engine.data import corpus as corpus_mod
from neurontest.engine.data.corpus import CorpusSample, TextCorpus, load_corpus, wiki_to_paragraphs
from neurontest.errors import CorpusUnavailableError

WORDS = [f"w{i}" for i in range(200)] + "the cat sat on a mat dog ran far away".split()


def make_tokenizer(*, bos: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<bos>"]
    vocab = {w: i for i, w in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    extra = {"bos_token": "<bos>"} if bos else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", **extra
    )


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURONTEST_CACHE_DIR", str(tmp_path / "cache"))


def words(start: int, n: int) -> str:
    return " ".join(f"w{i}" for i in range(start, start + n))


# ----------------------------------------------------------------- local files


def test_txt_paragraphs(tmp_path):
    f = tmp_path / "book.txt"
    f.write_text("First para\nwraps here.\n\n\n  Second one.  \n\n")
    c = load_corpus(f)
    assert c.name == "book"
    assert c.texts == ["First para wraps here.", "Second one."]


def test_txt_folder_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("bee")
    (tmp_path / "a.txt").write_text("ay\n\nay two")
    (tmp_path / "skip.md").write_text("not me")
    assert load_corpus(str(tmp_path)).texts == ["ay", "ay two", "bee"]


def test_jsonl_with_column_and_max_documents(tmp_path):
    f = tmp_path / "docs.jsonl"
    rows = [{"body": f"doc {i}", "id": i} for i in range(5)]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert load_corpus(f, text_column="body").texts == [f"doc {i}" for i in range(5)]
    assert load_corpus(f, text_column="body", max_documents=2).texts == ["doc 0", "doc 1"]


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["one", "two", ""], "n": [1, 2, 3]}), f)
    assert load_corpus(f).texts == ["one", "two"]
    with pytest.raises(CorpusUnavailableError, match=r"d\.parquet.*'body'.*text_column"):
        load_corpus(f, text_column="body")


@pytest.mark.parametrize(
    "name, content, kwargs, pattern",
    [
        ("missing.txt", None, {}, r"missing\.txt does not exist"),
        ("missing.jsonl", None, {}, r"missing\.jsonl does not exist"),
        ("empty.txt", "\n  \n", {}, r"empty\.txt holds no text"),
        ("bad.jsonl", '{"text": "ok"}\n{"text": oops}\n', {}, r"bad\.jsonl:2: bad JSON"),
        ("col.jsonl", '{"body": "x"}\n', {}, r"col\.jsonl:1: no string field 'text'.*text_column"),
        ("data.csv", "text\nx\n", {}, r"data\.csv has an unsupported type"),
        ("folder", "", {}, r"folder holds no text"),
    ],
)
def test_local_errors_name_the_file(tmp_path, name, content, kwargs, pattern):
    f = tmp_path / name
    if name == "folder":
        f.mkdir()
        (f / "notes.md").write_text("not a .txt file")
    elif content is not None:
        f.write_text(content)
    with pytest.raises(CorpusUnavailableError, match=pattern) as info:
        load_corpus(f, **kwargs)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------- hub (monkeypatched)


def test_hub_success(monkeypatch):
    import datasets

    calls = []

    def fake_load(name, split):
        calls.append((name, split))
        return datasets.Dataset.from_dict({"text": ["a b", "", "c d", "e f"], "meta": [1, 2, 3, 4]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    c = load_corpus("someone/pile-tiny", split="validation", max_documents=3)
    assert calls == [("someone/pile-tiny", "validation")]
    assert c.name == "someone/pile-tiny"
    assert c.texts == ["a b", "c d"]
    with pytest.raises(CorpusUnavailableError, match=r"no column 'body' \(columns: text, meta\)"):
        load_corpus("someone/pile-tiny", text_column="body")


def test_hub_failure_is_one_line(monkeypatch):
    import datasets

    def offline(name, split):
        raise ConnectionError("Couldn't reach 'NeelNanda/pile-10k' on the Hub\nsecond line")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(CorpusUnavailableError) as info:
        load_corpus("NeelNanda/pile-10k")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("cannot load data set 'NeelNanda/pile-10k': Couldn't reach")
    assert "second line" not in msg
    assert "'wiki-sample'" in msg and ".jsonl" in msg


# ----------------------------------------------------------------- embedded corpora


def test_wiki_markup_cleaner():
    wiki = """{{Infobox thing|name={{nested|x}}|a={{{1}}}}}
'''Foo''' is a [[bar (thing)|bar]] made of [[baz]]s.<ref name="r">Cite {{cite|x}}</ref>
<ref name="r2"/>See [http://example.com the site] or <!-- hidden --> <span>this</span>.

[[File:Foo.jpg|thumb|A [[caption]] [with brackets]]]
{| class="wikitable"
| cell || {{tpl}}
|}
== History ==
* A list item that is long enough to be a real sentence.
* [[Category:Short]]
Plain &amp; simple prose that goes on for more than forty characters.

[[Category:Things]]
[[de:Foo]]
== References ==
Everything after the references heading is dropped, even long prose.
"""
    paras = wiki_to_paragraphs(wiki)
    assert paras == [
        "Foo is a bar made of bazs. See the site or this.",
        "A list item that is long enough to be a real sentence.",
        "Plain & simple prose that goes on for more than forty characters.",
    ]


def test_wiki_sample_real(capsys, tmp_path):
    start = time.perf_counter()
    c = load_corpus()
    first = time.perf_counter() - start
    assert "preparing embedded corpus 'wiki-sample'" in capsys.readouterr().err
    assert c.name == "wiki-sample"
    assert len(c.texts) > 3000
    assert sum(map(len, c.texts)) > 2_000_000
    assert any(t.startswith("Anarchism is a political philosophy") for t in c.texts)
    assert any("Apollo 11" in t for t in c.texts)
    for t in c.texts:
        assert "{{" not in t and "[[" not in t and "}}" not in t and "]]" not in t, t[:200]
    assert list((tmp_path / "cache" / "corpora").glob("wiki-sample-*.json"))
    start = time.perf_counter()
    again = load_corpus("wiki-sample")
    assert time.perf_counter() - start < min(1.0, first)
    assert capsys.readouterr().err == ""
    assert again == c
    assert load_corpus("wiki-sample", max_documents=10).texts == c.texts[:10]


def test_lee_real():
    c = load_corpus("lee")
    assert len(c.texts) > 250 and "bushfire" in c.texts[0]


def test_missing_gensim_names_the_fix(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "gensim" else real(name, *args)

    monkeypatch.setattr(corpus_mod.importlib.util, "find_spec", find_spec)
    with pytest.raises(CorpusUnavailableError, match=r"pip install --no-deps gensim==4\.4\.0"):
        load_corpus("wiki-sample")


# ----------------------------------------------------------------- windows and sampling


def test_windows_and_mask(tok):
    # window 10: 25 tokens -> 10, 10 (tail of 5 < 8 dropped); 28 -> 10, 10, 8; 5 -> 5 (only piece)
    c = TextCorpus.from_texts("t", [words(0, 25), words(30, 28), words(100, 5), ""])
    s = c.tokenize(tok, window=10, n_tokens=None)
    assert isinstance(s, CorpusSample) and s.window == 10
    assert s.documents == [0, 0, 1, 1, 1, 2]
    lengths = [10, 10, 10, 10, 8, 5]
    bos, pad = tok.bos_token_id, tok.pad_token_id
    b = s.batch
    assert b.has_bos and tuple(b.tokens.shape) == (6, 11)
    assert b.tokens[:, 0].tolist() == [bos] * 6
    first = tok.convert_tokens_to_ids(["w0", "w10", "w30", "w40", "w50", "w100"])
    assert b.tokens[:, 1].tolist() == first
    for row, n in enumerate(lengths):
        assert b.mask[row].tolist() == [False] + [True] * n + [False] * (10 - n)
        assert (b.tokens[row, 1 + n :] == pad).all()
    assert not b.mask[b.tokens == pad].any() and not b.mask[:, 0].any()
    assert s.n_tokens == sum(lengths)


def test_no_bos(tok):
    c = TextCorpus.from_texts("t", [words(0, 20)])  # window 8 -> 8, 8, 4 (tail dropped)
    no_bos = make_tokenizer(bos=False)
    for s in (c.tokenize(tok, window=8, prepend_bos=False), c.tokenize(no_bos, window=8)):
        assert not s.batch.has_bos
        assert s.batch.mask.tolist() == [[True] * 8, [True] * 8]
        assert s.batch.tokens[:, 0].tolist() == tok.convert_tokens_to_ids(["w0", "w8"])


def test_deterministic_sampling(tok):
    c = TextCorpus.from_texts("t", [words(i, 40) for i in range(0, 160, 4)])  # 40 docs x 5 rows
    a = c.tokenize(tok, window=8, n_tokens=100, seed=1)
    b = c.tokenize(tok, window=8, n_tokens=100, seed=1)
    d = c.tokenize(tok, window=8, n_tokens=100, seed=2)
    assert len(a) == math.ceil(100 / 8)
    assert a.documents == b.documents and (a.batch.tokens == b.batch.tokens).all()
    assert a.documents == sorted(a.documents)
    assert a.documents != d.documents
    assert len(c.tokenize(tok, window=8, n_tokens=None)) == 200
    assert len(c.tokenize(tok, window=8, n_tokens=10_000)) == 200


def test_fingerprints(tok):
    ab_c = TextCorpus.from_texts("x", ["ab", "c"]).fingerprint
    assert ab_c == "43ee655579de01ca"  # pinned: must be stable across runs and machines
    assert TextCorpus.from_texts("x", ["a", "bc"]).fingerprint != ab_c
    c = TextCorpus.from_texts("t", [words(i, 30) for i in range(0, 100, 5)])
    base = dict(window=8, n_tokens=40, seed=0, prepend_bos=True)
    fp = c.tokenize(tok, **base).fingerprint
    assert len(fp) == 16 and fp == c.tokenize(tok, **base).fingerprint
    for change in ({"window": 9}, {"seed": 1}, {"n_tokens": 48}, {"n_tokens": None}):
        assert c.tokenize(tok, **{**base, **change}).fingerprint != fp, change
    assert c.tokenize(tok, **{**base, "prepend_bos": False}).fingerprint != fp
    other = TextCorpus.from_texts("t", c.texts[:-1] + ["the cat sat on a mat"])
    assert other.tokenize(tok, **base).fingerprint != fp
    assert c.tokenize(make_tokenizer(bos=False), **base).fingerprint != fp


def test_empty_corpus_errors(tok):
    with pytest.raises(CorpusUnavailableError, match="no texts"):
        TextCorpus.from_texts("e", []).tokenize(tok)
    with pytest.raises(CorpusUnavailableError, match="tokenizes to no tokens"):
        TextCorpus.from_texts("e", ["", " "]).tokenize(tok)
    with pytest.raises(ValueError):
        TextCorpus.from_texts("e", ["w1"]).tokenize(tok, window=0)
