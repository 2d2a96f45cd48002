"""Display strings of tokens: characters split over byte pieces are merged, never shown as U+FFFD."""

from __future__ import annotations

import pytest

from neurontest.engine.data.tokens import display_tokens, merged_pieces

TEXT = "café – 月曜日 🙂 naïve"


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    """The embedded SmolLM2 tokenizer alone (no model weights): a byte-level BPE."""
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from neurontest.engine.models import loading as models
    from neurontest.errors import ModelUnavailableError

    try:
        folder = models._embedded_gguf_dir()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    return AutoTokenizer.from_pretrained(folder, gguf_file=models._EMBEDDED_GGUF)


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("text", [TEXT, "東京は日本の首都です。", "👨‍👩‍👧‍👦 🇫🇷", "안녕하세요, “quoted” …"])
def test_split_characters_are_merged_on_the_real_tokenizer(smollm2_tokenizer, text):
    ids = _ids(smollm2_tokenizer, text)
    shown = display_tokens(smollm2_tokenizer, ids)
    assert len(shown) == len(ids)
    assert "".join(shown) == smollm2_tokenizer.decode(ids) == text
    assert not any("\ufffd" in s for s in shown)


def test_per_token_decoding_would_show_replacement_characters(smollm2_tokenizer):
    # The premise of the merge: without it, 月曜日 shows as U+FFFD pieces.
    ids = _ids(smollm2_tokenizer, TEXT)
    assert any("\ufffd" in smollm2_tokenizer.decode([i]) for i in ids)


def test_a_character_shows_on_the_token_that_completes_it(smollm2_tokenizer):
    ids = _ids(smollm2_tokenizer, "月")
    assert len(ids) > 1  # SmolLM2 splits 月 into byte pieces
    assert display_tokens(smollm2_tokenizer, ids) == [""] * (len(ids) - 1) + ["月"]
    pieces = merged_pieces(smollm2_tokenizer, ids)
    assert all(p.startswith("<0x") for p in pieces)
    assert "".join(pieces) == "<0xE6><0x9C><0x88>"  # the UTF-8 bytes of 月, piece by piece


def test_whole_tokens_show_as_they_decode_alone(smollm2_tokenizer):
    ids = _ids(smollm2_tokenizer, "The capital of France, naïve – done")
    assert display_tokens(smollm2_tokenizer, ids) == [smollm2_tokenizer.decode([i]) for i in ids]
    assert merged_pieces(smollm2_tokenizer, ids) == []


def test_bytes_cut_by_the_edge_stay_visible_as_invalid(smollm2_tokenizer):
    ids = _ids(smollm2_tokenizer, "月")
    shown = display_tokens(smollm2_tokenizer, ids[:-1])  # the character's last byte is missing
    assert "".join(shown) == smollm2_tokenizer.decode(ids[:-1]) and "\ufffd" in "".join(shown)


def test_vocabulary_strings_give_the_same_display(smollm2_tokenizer):
    ids = _ids(smollm2_tokenizer, TEXT)
    strings = {i: smollm2_tokenizer.decode([i]) for i in ids}
    table = [strings.get(i, "") for i in range(max(ids) + 1)]
    assert display_tokens(smollm2_tokenizer, ids, strings=table) == display_tokens(smollm2_tokenizer, ids)


def test_long_junk_costs_a_bounded_number_of_short_decodes(smollm2_tokenizer):
    # Lone lead bytes never complete: each token leaves the text unfinished.
    lead = smollm2_tokenizer.convert_tokens_to_ids("æ")  # the byte 0xE6
    ids = [lead] * 2000
    calls = []
    decode = smollm2_tokenizer.decode

    class Counting:
        def __getattr__(self, name):
            return getattr(smollm2_tokenizer, name)

        def decode(self, token_ids, **kwargs):
            calls.append(len(token_ids))
            return decode(token_ids, **kwargs)

    shown = display_tokens(Counting(), ids)
    assert "".join(shown) == decode(ids)
    assert len(calls) <= len(ids) and max(calls) <= 16


def test_planted_tokenizer_shows_each_token_as_it_decodes():
    pytest.importorskip("transformers")
    from neurontest.engine.models.planted import _tokenizer

    tokenizer = _tokenizer()
    ids = _ids(tokenizer, "the cat sat in March 2020 .")
    assert display_tokens(tokenizer, ids) == [tokenizer.decode([i]) for i in ids]
    assert merged_pieces(tokenizer, ids) == []


def test_sentencepiece_byte_fallback_is_merged_too():
    # A SentencePiece-style tokenizer writes bytes as <0xE2> tokens and decodes an unfinished
    # character to one U+FFFD per byte.
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, **{f"<0x{b:02X}>": 1 + b for b in range(256)}, "▁": 257, "x": 258}
    core = Tokenizer(models.BPE(vocab, [], unk_token="<unk>", byte_fallback=True))
    core.pre_tokenizer = pre_tokenizers.Metaspace()
    core.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                      decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>")
    ids = _ids(tokenizer, "x – x")
    shown = display_tokens(tokenizer, ids)
    assert "–" in shown and not any("\ufffd" in s for s in shown)
    assert [p for p in merged_pieces(tokenizer, ids) if p] == ["<0xE2>", "<0x80>", "<0x93>"]


def test_corpus_examples_and_readouts_show_characters_not_pieces(smollm2_tokenizer):
    torch = pytest.importorskip("torch")
    from neurontest.engine.data.tokens import encode_texts
    from neurontest.measure.readout import split_rows
    from neurontest.measure.top_examples import top_examples

    batch = encode_texts(smollm2_tokenizer, ["Heute ist 月曜日, sagt sie."])
    ids = batch.tokens[0].tolist()
    pieces = [i for i, t in enumerate(ids) if "\ufffd" in smollm2_tokenizer.decode([t])]
    # Fire on the piece that completes 曜; the window's start cuts 月 after its first piece.
    focus = pieces[3]
    values = torch.zeros(batch.tokens.shape)
    values[0, focus] = 1.0
    (example,) = top_examples(values, batch, smollm2_tokenizer, k=1, context_before=2)
    assert example.focus == 2 and example.str_tokens[:3] == ["月", "", "曜"]
    assert example.pieces[:3] == ["<0x88>", "<0xE6><0x9B>", "<0x9C>"]
    assert "".join(example.str_tokens) == "月曜日,"

    (read,) = split_rows(batch, values, smollm2_tokenizer)
    assert "".join(read.str_tokens) == "Heute ist 月曜日, sagt sie." and "\ufffd" not in read.str_tokens
    assert len(read.pieces) == len(read.str_tokens) == len(read.values)


def test_split_characters_in_errors_are_named_by_their_pieces_forms(smollm2_tokenizer) -> None:
    from neurontest.claims.marked import mark_positions
    from neurontest.engine.data.tokens import single_token_id

    tokenizer = smollm2_tokenizer
    with pytest.raises(ValueError) as info:
        single_token_id(tokenizer, "月曜日")
    assert "\ufffd" not in str(info.value) and "<0x" in str(info.value)
    with pytest.raises(ValueError) as info:
        mark_positions(tokenizer, "we met on [[月曜日]]")
    assert "\ufffd" not in str(info.value)


def test_perturbation_texts_keep_split_characters_whole(smollm2_tokenizer) -> None:
    # Byte pieces decode alone to U+FFFD; cut into one piece each, a perturbed text re-encoded
    # the first piece's id for every one of them and fed the model the wrong bytes.
    from neurontest.perturb.sources import Encoder

    source = "on [[Monday]] 月曜日 we met 🙂 again"
    encoder = Encoder(smollm2_tokenizer)
    text = encoder.token_text(source)
    assert "\ufffd" not in "".join(text.tokens) and text.trigger_token == " Monday"
    ids, trigger = encoder.encode(text)
    assert list(ids) == _ids(smollm2_tokenizer, source.replace("[[", "").replace("]]", ""))
    assert smollm2_tokenizer.decode([ids[trigger]]) == " Monday"
