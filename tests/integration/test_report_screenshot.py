"""The report and the inspection page render in a real browser (headless Chromium, offline).

Skipped where no `chromium` is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from neurontest.claims.base import Bound, ClaimResult, Evidence, Measurement, TokenRow
from neurontest.engine.units.neuron import NeuronRef
from neurontest.report import write_run_report
from neurontest.plugin.session import ClaimRecord, NeurontestSession

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs the chromium browser")


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG: enough for a check."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def screenshot(page: Path, png: Path, tmp_path: Path) -> bytes:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={png}",
           "--window-size=1200,1600", page.resolve().as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.exists(), f"no screenshot; chromium said:\n{done.stderr[-2000:]}"
    return png.read_bytes()


def assert_not_blank(data: bytes) -> None:
    width, height, rows = read_png(data)
    assert (width, height) == (1200, 1600)
    bpp = len(rows[0]) // width
    colours, inked = set(), 0
    for row in rows[::4]:
        for x in range(0, len(row), bpp * 4):
            pixel = row[x : x + 3]
            colours.add(pixel)
            inked += max(pixel) - min(pixel) > 40 or max(pixel) < 160  # coloured or dark
    assert len(colours) > 50, f"only {len(colours)} colours: the page looks blank"
    assert inked > 500, "almost no ink on the page"


def session() -> NeurontestSession:
    state = NeurontestSession()
    row = TokenRow([" We", " met", " in", " March", " 2020", "."], [0.1, -0.8, 0.3, 3.25, 1.2, 0.0], [3],
                   "activation 3.25")
    failing = ClaimResult("activation", NeuronRef(3, 12), [Measurement("f1", 0.41, Bound(">=", 0.7))],
                          "token in ['March'] vs firing", [Evidence("false positives", [row] * 4)])
    passing = ClaimResult("top_examples", NeuronRef(1, 5), [Measurement("share", 1.0, Bound(">=", 0.9))],
                          "20 of the top 20", [Evidence("top-20", [row])])
    for i, (outcome, result, message) in enumerate([("failed", failing, "f1 too low"),
                                                    ("passed", passing, ""),
                                                    ("error", None, "RuntimeError: boom")]):
        state.register(ClaimRecord(f"h/test_x.yaml::L{i}N1::k{i}", f"k{i}", f"L{i}N1", "h/test_x.yaml", i,
                                   outcome, result, message))
    return state


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    page = write_run_report(session(), tmp_path / "report.html")
    assert_not_blank(screenshot(page, tmp_path / "report.png", tmp_path))


def test_inspection_page_renders_in_chromium(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from neurontest.engine.data.corpus import TextCorpus
    from neurontest.inspection import inspect_neuron
    from neurontest.lab import CorpusOptions, Lab
    from neurontest.engine.models.planted import planted_corpus_texts, planted_model

    planted = planted_model()
    sample = TextCorpus.from_texts("planted", planted_corpus_texts(60)).tokenize(
        planted.tokenizer, window=32, n_tokens=None)
    lab = Lab(planted.model, CorpusOptions(None, 32, None, 0), cache=False, progress=False, sample=sample)
    page = inspect_neuron(lab, planted.month.neuron, k=6).save_html(tmp_path / "inspect.html")
    assert_not_blank(screenshot(page, tmp_path / "inspect.png", tmp_path))


def test_blank_page_is_caught(tmp_path: Path) -> None:
    """The check itself: an empty page must not pass as a rendered report."""
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    data = screenshot(page, tmp_path / "blank.png", tmp_path)
    width, height, rows = read_png(data)
    assert rows[0][:3] == b"\xff\xff\xff" and rows[-1][-4:-1] == b"\xff\xff\xff"
    with pytest.raises(AssertionError, match="blank"):
        assert_not_blank(data)


def _pixels(data: bytes) -> tuple[int, list[list[tuple[int, int, int]]]]:
    width, _height, rows = read_png(data)
    bpp = len(rows[0]) // width
    return width, [[tuple(row[x : x + 3]) for x in range(0, len(row), bpp)] for row in rows]


def _rgb(bucket_index: int) -> tuple[int, int, int]:
    from neurontest.report.svg import LEVELS, diverging_colour

    colour = diverging_colour((bucket_index - LEVELS) / LEVELS)
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _page(tmp_path: Path, result: ClaimResult) -> bytes:
    state = NeurontestSession()
    state.register(ClaimRecord("h/test_x.yaml::L0N1::activation", "activation", "L0N1", "h/test_x.yaml",
                               1, "failed", result, "failed"))
    page = write_run_report(state, tmp_path / "report.html")
    return screenshot(page, tmp_path / "report.png", tmp_path)


def test_sub_words_are_drawn_joined_as_text(tmp_path: Path) -> None:
    # " Peptidogly can": four sub-word tokens at one mid value (dark ink on a mid red), and a
    # stronger token in another row setting the scale. Old boxes had white gaps between tokens.
    pieces = [" Pe", "pt", "id", "ogly", " can"]
    row = TokenRow(pieces, [5.0] * len(pieces), [], "the text")
    scale_row = TokenRow([" x"], [10.0], [], "scale")
    result = ClaimResult("activation", NeuronRef(0, 1), [Measurement("f1", 0.1, Bound(">=", 0.5))],
                         "summary", [Evidence("joined", [row, scale_row])])
    width, pixels = _pixels(_page(tmp_path, result))
    mid = _rgb(12)
    best = max(range(len(pixels)), key=lambda y: pixels[y].count(mid))
    line = pixels[best]
    xs = [x for x, p in enumerate(line) if p == mid]
    assert len(xs) > 60, "the token row was not found"
    between = line[xs[0] : xs[-1] + 1]
    white = [p for p in between if min(p) > 235]
    assert not white, f"{len(white)} white pixels between the tokens of one text: drawn as boxes"
    assert xs[-1] - xs[0] < 200  # about 15 characters wide, not five padded boxes


def test_one_colour_scale_across_a_claims_heatmaps(tmp_path: Path) -> None:
    # Equal values, equal colours: 0.37 in the second group is as pale as 0.37 in the first,
    # not stretched to the darkest red of a scale of its own.
    first = Evidence("first", [TokenRow([" strong", " weak"], [1.74, 0.37], [], "a")])
    second = Evidence("second", [TokenRow([" weak"], [0.37], [], "b")])
    result = ClaimResult("activation", NeuronRef(0, 1), [Measurement("f1", 0.1, Bound(">=", 0.5))],
                         "summary", [first, second], tau=1.0)
    _width, pixels = _pixels(_page(tmp_path, result))
    from neurontest.report.svg import LEVELS

    pale = _rgb(LEVELS + round(0.37 / 1.74 * LEVELS))
    rows_with_pale = [y for y, line in enumerate(pixels) if line.count(pale) > 10]
    # Two separate bands of pale pixels: the first group's " weak" and the second group's.
    bands = 1 + sum(1 for a, b in zip(rows_with_pale, rows_with_pale[1:]) if b - a > 3)
    assert bands >= 2, "the second group's 0.37 is not drawn in the first group's colour"
