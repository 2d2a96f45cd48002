"""Text corpora for mining neuron activations, and their cut into fixed-size token windows.

The default corpus is embedded: a Wikipedia dump excerpt shipped inside the `gensim` wheel, so
corpus mining works offline and in CI. Local files and `datasets` hub names are also accepted.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import html
import importlib.util
import json
import os
import random
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurontest.engine.data.planted_texts import planted_corpus_texts
from neurontest.engine.data.prep_cache import load_sample, store_sample
from neurontest.engine.data.tokens import batch_from_ids, bos_id, tokenizer_identity
from neurontest.engine.store import paths
from neurontest.engine.store.files import write_cache_entry
from neurontest.errors import CorpusUnavailableError

if TYPE_CHECKING:
    from neurontest.engine.data.tokens import TokenBatch

WIKI_SAMPLE = "wiki-sample"
PLANTED = "planted"  # sentences over the planted model's vocabulary (neurontest.engine.data.planted_texts)
LEE = "lee"
_WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_LEE_FILE = "lee_background.cor"
_CLEANER_VERSION = 1  # part of the cache name: bump it when the cleaner's output changes
_MIN_TAIL = 8  # a trailing window piece shorter than this carries too little context to score
#: `split:` values: every sampled window, or those of one half of the documents.
SPLITS = ("all", "explore", "confirm")
_OFFLINE_FIX = "pass a local .txt/.jsonl/.parquet file or use the embedded default 'wiki-sample'"


@dataclass
class TextCorpus:
    """A named list of documents; `fingerprint` identifies the texts (stable across runs)."""

    name: str
    texts: list[str]
    fingerprint: str

    @classmethod
    def from_texts(cls, name: str, texts: list[str]) -> TextCorpus:
        return cls(name, list(texts), _texts_fingerprint(texts))

    def __len__(self) -> int:
        return len(self.texts)

    def tokenize(
        self,
        tokenizer: Any,
        *,
        window: int = 64,
        n_tokens: int | None = 100_000,
        seed: int = 0,
        prepend_bos: bool = True,
        split: str = "all",
    ) -> CorpusSample:
        """Cut each document into windows of `window` tokens; keep rows until `n_tokens` real
        tokens (BOS and padding not counted) are reached.

        Each row is `[BOS] + window ids` (BOS when asked and the tokenizer has one), right-padded.
        Rows are drawn by `random.Random(seed)` and kept in corpus order; `n_tokens=None` keeps all.
        `split` keeps the sampled rows of one half of the documents (`document_half`): `explore`
        to fit a claim on, `confirm` to test it on; `all` (default) keeps every row.
        """
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: use one of {', '.join(SPLITS)}")
        if window < 1 or (n_tokens is not None and n_tokens < 1):
            raise ValueError(f"window and n_tokens must be >= 1, got {window} and {n_tokens}")
        if not self.texts:
            raise CorpusUnavailableError(f"corpus {self.name!r} has no texts; pass a non-empty one")
        bos = bos_id(tokenizer)
        has_bos = prepend_bos and bos is not None
        ident = tokenizer_identity(tokenizer)
        # `all` keeps the fingerprint samples had before splits existed (their caches stay valid).
        fingerprint = _sha16([self.fingerprint, ident, window, n_tokens, seed, prepend_bos]
                             + ([split] if split != "all" else []))
        cached = stored_sample(self.name, fingerprint, window)  # re-tokenizing costs about 2 s
        if cached is not None:
            return cached
        rows: list[list[int]] = []
        documents: list[int] = []
        for offset in range(0, len(self.texts), 256):  # batched for speed, chunked for memory
            chunk = self.texts[offset : offset + 256]
            # verbose=False silences the "longer than model_max_length" warning: we window anyway.
            encoded = tokenizer(chunk, add_special_tokens=False, verbose=False)["input_ids"]
            for i, ids in enumerate(encoded, start=offset):
                pieces = [list(ids[s : s + window]) for s in range(0, len(ids), window)]
                if len(pieces) > 1 and len(pieces[-1]) < _MIN_TAIL:
                    pieces.pop()
                rows += [[bos, *p] for p in pieces] if has_bos else pieces
                documents += [i] * len(pieces)
        if not rows:
            raise CorpusUnavailableError(f"corpus {self.name!r} tokenizes to no tokens; pass text")
        if n_tokens is not None and sum(len(r) for r in rows) - has_bos * len(rows) > n_tokens:
            # Shuffle with the seed, take rows until n_tokens real tokens, keep corpus order.
            order = list(range(len(rows)))
            random.Random(seed).shuffle(order)
            keep, total = [], 0
            for j in order:
                if total >= n_tokens:
                    break
                keep.append(j)
                total += len(rows[j]) - has_bos
            keep.sort()
            rows, documents = [rows[j] for j in keep], [documents[j] for j in keep]
        if split != "all":
            halves = {d: document_half(self.texts[d]) for d in set(documents)}
            keep = [j for j, d in enumerate(documents) if halves[d] == split]
            if not keep:
                raise CorpusUnavailableError(f"corpus {self.name!r} has no sampled window in its "
                                             f"{split!r} half; sample more (corpus_tokens) or use split: all")
            rows, documents = [rows[j] for j in keep], [documents[j] for j in keep]
        batch = batch_from_ids(rows, tokenizer, has_bos=has_bos)
        store_sample(fingerprint, batch, documents)
        batch.meta.update(corpus=self.name, corpus_fingerprint=fingerprint, window=window)
        return CorpusSample(self.name, batch, fingerprint, window, documents)


def document_half(text: str) -> str:
    """`explore` or `confirm`: the half a document belongs to, by a hash of its text, so the same
    document is in the same half whatever else the corpus holds and whichever rows are sampled."""
    return "explore" if hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0 else "confirm"


@dataclass
class CorpusSample:
    """Token windows of a corpus: `documents[i]` is the index in `TextCorpus.texts` of row i."""

    name: str
    batch: TokenBatch
    fingerprint: str
    window: int
    documents: list[int]

    def __len__(self) -> int:
        return len(self.batch)

    @functools.cached_property
    def n_tokens(self) -> int:
        """Number of scorable tokens (BOS and padding excluded)."""
        # Computed once: reports and baselines ask for it after every claim, and a sample's
        # windows never change once cut.
        return int(self.batch.mask.sum())


def stored_sample(name: str, fingerprint: str, window: int) -> CorpusSample | None:
    """The sample an earlier run tokenized under `fingerprint`, from the on-disk prep cache."""
    cached = load_sample(fingerprint)
    if cached is None:
        return None
    batch, documents = cached
    batch.meta.update(corpus=name, corpus_fingerprint=fingerprint, window=window)
    return CorpusSample(name, batch, fingerprint, window, documents)


def _sha16(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, ensure_ascii=False).encode()).hexdigest()[:16]


def _texts_fingerprint(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))  # length prefix: ["ab", "c"] != ["a", "bc"]
        h.update(b)
    return h.hexdigest()[:16]


def load_corpus(
    spec: str | os.PathLike[str] | None = None,
    *,
    text_column: str = "text",
    split: str = "train",
    max_documents: int | None = None,
) -> TextCorpus:
    """Load None/'wiki-sample' or 'lee' (embedded), a local .txt/.jsonl/.parquet file or folder
    of .txt files, or a `datasets` hub name. `max_documents` keeps the first documents.
    """
    if max_documents is not None and max_documents < 1:
        raise ValueError(f"max_documents must be >= 1 or None, got {max_documents}")
    if spec is None or spec == WIKI_SAMPLE:
        name, texts = WIKI_SAMPLE, _wiki_sample()
    elif spec == PLANTED:
        name, texts = PLANTED, planted_corpus_texts()
    elif spec == LEE:
        lines = _read_text(embedded_corpus_file(LEE)).splitlines()
        name, texts = LEE, [line.strip() for line in lines if line.strip()]
    elif is_local(spec):
        path = Path(spec).expanduser()
        name, texts = path.stem or str(path), _read_local(path, text_column)
    else:
        name, texts = str(spec), _read_hub(str(spec), text_column, split, max_documents)
    return TextCorpus.from_texts(name, texts[:max_documents])


def is_local(spec: str | os.PathLike[str]) -> bool:
    if not isinstance(spec, str):
        return True
    # A hub name looks like "owner/name"; a path exists, has a known suffix or starts like one.
    known = spec.lower().endswith((".txt", ".jsonl", ".parquet"))
    return known or spec.startswith(("/", ".", "~")) or os.path.exists(os.path.expanduser(spec))


def _read_local(path: Path, text_column: str) -> list[str]:
    fix = "pass an existing .txt/.jsonl/.parquet file or folder of .txt files, or use 'wiki-sample'"
    suffix = path.suffix.lower()
    if path.is_dir():
        texts = [p for f in sorted(path.glob("*.txt")) for p in _read_txt(f)]
    elif not path.exists():
        raise CorpusUnavailableError(f"corpus file {path} does not exist; {fix}")
    elif suffix == ".txt":
        texts = _read_txt(path)
    elif suffix in (".jsonl", ".parquet"):
        texts = (_read_jsonl if suffix == ".jsonl" else _read_parquet)(path, text_column)
    else:
        raise CorpusUnavailableError(f"corpus file {path} has an unsupported type; {fix}")
    if not texts:
        raise CorpusUnavailableError(f"corpus {path} holds no text; {fix}")
    return texts


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        msg = f"cannot read corpus file {path}: {_first_line(e)}; pass a readable UTF-8 file"
        raise CorpusUnavailableError(msg) from e


def _read_txt(path: Path) -> list[str]:
    # Paragraphs are blank-line separated; hard line wraps inside one become spaces.
    paras = re.split(r"\n\s*\n", _read_text(path))
    return [re.sub(r"\s*\n\s*", " ", p).strip() for p in paras if p.strip()]


def _read_jsonl(path: Path, text_column: str) -> list[str]:
    texts = []
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            msg = f"{path}:{lineno}: bad JSON ({e.msg}); write one JSON object per line"
            raise CorpusUnavailableError(msg) from e
        if not isinstance(row, dict) or not isinstance(row.get(text_column), str):
            found = sorted(row) if isinstance(row, dict) else type(row).__name__
            msg = f"{path}:{lineno}: no string field {text_column!r} (found {found}); "
            raise CorpusUnavailableError(msg + "pass text_column= naming the text field")
        if row[text_column].strip():
            texts.append(row[text_column])
    return texts


def _read_parquet(path: Path, text_column: str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        names = file.schema_arrow.names
        table = file.read(columns=[text_column]) if text_column in names else None
    except Exception as e:  # pyarrow raises several unrelated types for unreadable files
        msg = f"cannot read parquet file {path}: {_first_line(e)}; pass a readable .parquet file"
        raise CorpusUnavailableError(msg) from e
    if table is None:
        msg = f"{path}: no column {text_column!r} (found {names}); "
        raise CorpusUnavailableError(msg + "pass text_column= naming the text column")
    return [t for t in table.column(text_column).to_pylist() if isinstance(t, str) and t.strip()]


def _read_hub(spec: str, text_column: str, split: str, max_documents: int | None) -> list[str]:
    try:
        import datasets

        ds = datasets.load_dataset(spec, split=split)
        if text_column not in ds.column_names:
            found = ", ".join(ds.column_names)
            raise ValueError(f"no column {text_column!r} (columns: {found}); pass text_column=")
        if max_documents is not None and max_documents < len(ds):
            ds = ds.select(range(max_documents))
        texts = [t for t in ds[text_column] if isinstance(t, str) and t.strip()]
    except Exception as e:  # no network, unknown name, bad split or column: one clear error
        msg = f"cannot load data set {spec!r}: {_first_line(e)}. Offline, {_OFFLINE_FIX}"
        raise CorpusUnavailableError(msg) from e
    if not texts:
        raise CorpusUnavailableError(f"data set {spec!r} has no text in {text_column!r}")
    return texts


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def _gensim_data(filename: str, corpus: str) -> Path:
    spec = importlib.util.find_spec("gensim")  # not imported: gensim pulls in scipy, slowly
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "test" / "test_data" / filename
        if path.is_file():
            return path
    raise CorpusUnavailableError(
        f"the embedded corpus {corpus!r} needs the gensim wheel, which is not installed; "
        f"run `pip install --no-deps gensim==4.4.0` or pass a local .txt/.jsonl/.parquet file"
    )


def embedded_corpus_file(name: str) -> Path:
    """The file inside the gensim wheel that an embedded corpus (wiki-sample, lee) is read from."""
    return _gensim_data(_WIKI_FILE if name == WIKI_SAMPLE else _LEE_FILE, name)


def _wiki_sample() -> list[str]:
    source = embedded_corpus_file(WIKI_SAMPLE)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    cache = paths.cache_root() / "corpora" / f"{WIKI_SAMPLE}-v{_CLEANER_VERSION}-{digest}.json"
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(cached, list) and cached:
            return cached
    except (OSError, ValueError):
        pass  # missing or corrupt: rebuild
    print(f"neurontest: preparing embedded corpus {WIKI_SAMPLE!r} into {cache}", file=sys.stderr)
    texts = _wiki_paragraphs(source)
    # Atomic, and an unwritable cache only costs a re-parse next time (one warning).
    write_cache_entry(cache, json.dumps(texts, ensure_ascii=False))
    return texts


def _wiki_paragraphs(dump: Path) -> list[str]:
    """Prose paragraphs of the main-namespace, non-redirect articles of a .xml.bz2 wiki dump."""
    texts: list[str] = []
    page: dict[str, str | None] = {}
    with bz2.open(dump, "rb") as f:
        for _, elem in ET.iterparse(f, events=("end",)):
            tag = elem.tag.rsplit("}", 1)[-1]  # strip the export namespace
            if tag in ("ns", "text", "redirect"):
                page[tag] = elem.text or ""
            elif tag == "page":
                if page.get("ns") == "0" and "redirect" not in page and page.get("text"):
                    texts.extend(wiki_to_paragraphs(page["text"] or ""))
                page = {}
                elem.clear()
    return texts


_BLOCK_TAGS = "ref|math|gallery|timeline|score|syntaxhighlight|source|pre|imagemap|chem"
_DROP_BLOCKS = re.compile(rf"<({_BLOCK_TAGS})\b[^>]*?(?:/>|>.*?</\1\s*>)", re.S | re.I)
_BACK_MATTER_TITLES = (
    "see also|references|notes|further reading|external links|bibliography|sources|footnotes"
)
_BACK_MATTER = re.compile(rf"^\s*==+\s*(?:{_BACK_MATTER_TITLES})\s*==+\s*$", re.M | re.I)
_NESTED = re.compile(r"\{\{\{|\}\}\}|\{\{|\}\}|\{\||\|\}")
_CLOSER = {"{{{": "}}}", "{{": "}}", "{|": "|}"}
_INNER_LINK = re.compile(r"\[\[((?:[^\[\]]|\[(?!\[)|\](?!\]))*)\]\]")  # may hold single [ ]
_DROP_LINK = re.compile(r"^:?\s*(file|image|media|category|[a-z]{2,3}(-[a-z]+)?)\s*:", re.I)
_EXTERNAL = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]*\s*([^\]]*)\]")
_HEADING = re.compile(r"^\s*=+[^=\n].*?=+\s*$", re.M)
_NOT_LETTER = re.compile(r"[^\w\s]|[\d_]")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")


def _strip_nested(text: str) -> str:
    """Drop nested `{{templates}}`, `{{{params}}}`, `{| tables |}`; unclosed ones eat the rest."""
    out: list[str] = []
    stack: list[str] = []
    pos = i = 0
    while m := _NESTED.search(text, i):
        tok, at = m.group(), m.start()
        if tok in _CLOSER:
            if not stack:
                out.append(text[pos:at])
            stack.append(_CLOSER[tok])
            i = m.end()
        elif stack and tok.startswith(stack[-1]):  # "}}}" may close a "{{" and leave one "}"
            i = at + len(stack.pop())
            pos = i
        else:
            i = at + 1  # e.g. the "|}" of "{{x|}}": only "}}" closes a template
    if not stack:
        out.append(text[pos:])
    return "".join(out)


def _link(m: re.Match[str]) -> str:
    # Images, categories and interlanguage links are not prose; [[a|b]] shows b.
    target = m.group(1)
    return "" if _DROP_LINK.match(target) else target.rsplit("|", 1)[-1].lstrip(":")


def _clean_wiki_markup(text: str) -> str:
    text = re.sub(r"<!--.*?(?:-->|$)", "", text, flags=re.S)
    text = _BACK_MATTER.split(text, maxsplit=1)[0]  # references and link lists are not prose
    text = _strip_nested(_DROP_BLOCKS.sub("", text))
    n = 1
    while n:  # innermost links first, so a file caption's links go before the file link
        text, n = _INNER_LINK.subn(_link, text)
    text = _EXTERNAL.sub(r"\1", text)
    text = _HEADING.sub("\n", re.sub(r"'{2,}", "", text))
    text = html.unescape(re.sub(r"<[^<>\n]*>", "", text)).replace("\u00a0", " ")
    lines = []
    for line in text.split("\n"):
        if re.match(r"\s*(?:[|!]|#redirect|__\w+__)", line, re.I):
            line = ""  # table remnants and magic words
        item = re.sub(r"^[*#:;]+\s*", "", line)
        lines.append(item if item == line else item + "\n")  # each list item stands alone
    return "\n".join(lines)


def wiki_to_paragraphs(wikitext: str) -> list[str]:
    """Plain-text prose paragraphs (at least 40 characters) of one article's wiki markup."""
    out = []
    for p in re.split(r"\n\s*\n", _clean_wiki_markup(wikitext)):
        p = re.sub(r"\s+", " ", p).strip()
        p = re.sub(r"\(\s*[,;]?\s*\)|\s+(?=[,.;:])", "", p)  # "( )" and " ," of removed markup
        p = p.lstrip(".,;: ")
        letters = len(p) - len(_NOT_LETTER.findall(p))
        # Prose: long, mostly letters, and ends a sentence (list fragments rarely do).
        if len(p) >= 40 and len(p.split()) >= 6 and letters >= 0.8 * len(p):
            if _SENTENCE_END.search(p):
                out.append(p)
    return out
