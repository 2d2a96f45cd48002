"""A tiny Llama-family model, built in code, whose neurons behave exactly as planted.

Unit tests check every primitive against this ground truth instead of against a real model's
fuzzy neurons. Construction (d_model = 80, 2 layers, d_mlp = 32, word-level vocabulary):

* embeddings are one-hot, so after RMSNorm a token is `sqrt(d_model) * e_token`;
* L0 attention writes nothing; L0 MONTH (and DIGIT) has its gate on the month (digit) one-hot
  directions and a constant up row, so `silu(gate) * up` is large on those tokens and exactly 0
  elsewhere (`silu(0) = 0`); MONTH writes a flag into a spare residual dimension;
* L1 head 0 puts its query and key in the slowest rotary pair (rope_theta 1e6, so position
  barely matters) with keys only on "not": every position attends almost entirely to earlier
  "not"s if there are any, and copies a "saw not" flag into a second spare dimension;
* L1 head 1 (`PREVIOUS_HEAD`) is a previous-token head: constant queries and keys in the five
  fastest rotary pairs, phased so every score peaks at offset -1 (>= 0.9999 of the attention on
  the previous token at any position up to 512; BOS attends to itself); its value is "is a month"
  and it writes 0.01 of it into a third spare dimension that nothing reads, so its output norm is
  0.01 right after a month and 0 elsewhere (L1's neurons move by < 1e-4 relative through the norm);
* L1 PROMOTER gates on MONTH's flag and writes along the unembedding of "2020";
* L1 CONTEXT reads "good" in its up row and `flag - threshold` in its gate: large on "good"
  after a "not", about -1e-12 on "good" without one, exactly 0 on every other token.

Every other neuron has small random gate/up rows (so activations are not trivially sparse) and a
zero down-projection column, so it changes nothing downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import torch

# The planted model's words (re-exported: tests and callers read them here).
from neurontest.engine.data.planted_texts import (  # noqa: F401
    DIGITS,
    MONTHS,
    NEGATION,
    NEUTRAL,
    PROMOTED,
    PUNCT,
    SPECIALS,
    TARGET,
    WORDS,
    planted_corpus_texts,
)
from neurontest.engine.units.head import HeadRef
from neurontest.engine.units.neuron import NeuronRef

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

MONTH_NEURON = NeuronRef(0, 3)
DIGIT_NEURON = NeuronRef(0, 7)
PROMOTER_NEURON = NeuronRef(1, 5)
CONTEXT_NEURON = NeuronRef(1, 9)
PREVIOUS_HEAD = HeadRef(1, 1)
PREVIOUS_HEAD_WRITE = 0.01  # its output norm right after a month

_D_MODEL, _D_MLP, _N_HEADS = 80, 32, 4
# spare residual dims: no token embeds there
_MONTH_DIM, _NOT_DIM, _PREV_DIM = len(WORDS), len(WORDS) + 1, len(WORDS) + 2
_BACKGROUND = 0.05  # scale of the random rows of unplanted neurons: activations stay well below 2

_CACHE: dict[int, PlantedModel] = {}


@dataclass(frozen=True)
class PlantedNeuron:
    """A planted neuron and its exact behaviour.

    It fires (activation > 1) on a token in `fires_on`, and, when `requires_before` is set, only
    if that word occurs at an earlier position of the same text; elsewhere its activation is
    exactly 0 (or below 1e-6 for a `fires_on` token lacking its `requires_before`).
    """

    neuron: NeuronRef
    fires_on: frozenset[str]
    description: str
    promotes: str | None = None
    requires_before: str | None = None

    def fires_at(self, words: Sequence[str]) -> list[bool]:
        """Ground truth for each token of one text (decoded tokens, BOS included or not)."""
        seen = False
        out = []
        for word in words:
            ok = word in self.fires_on and (self.requires_before is None or seen)
            out.append(ok)
            seen = seen or word == self.requires_before
        return out


@dataclass
class PlantedModel:
    """The bridge plus its planted neurons. Shared between callers: never mutate `model`."""

    model: TransformerBridge
    month: PlantedNeuron
    digit: PlantedNeuron
    promoter: PlantedNeuron
    context: PlantedNeuron | None
    neurons: list[PlantedNeuron] = field(default_factory=list)
    vocabulary: list[str] = field(default_factory=list)

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def token_id(self, word: str) -> int:
        return WORDS.index(word)


def planted_model(seed: int = 0) -> PlantedModel:
    """The planted model for `seed` (which only moves the unplanted noise), cached per seed.

    The cached bridge is shared by every caller: do not change its weights or hooks in place.
    """
    if seed not in _CACHE:
        _CACHE[seed] = _build(seed)
    return _CACHE[seed]


def _planted_neurons() -> dict[str, PlantedNeuron]:
    months = frozenset(MONTHS)
    return {
        "month": PlantedNeuron(MONTH_NEURON, months, "fires on month names"),
        "digit": PlantedNeuron(DIGIT_NEURON, frozenset(DIGITS), "fires on digits and years"),
        "promoter": PlantedNeuron(
            PROMOTER_NEURON, months, f"fires on month names and promotes {PROMOTED!r} next",
            promotes=PROMOTED,
        ),
        "context": PlantedNeuron(
            CONTEXT_NEURON, frozenset({TARGET}),
            f"fires on {TARGET!r} only after {NEGATION!r} earlier in the text",
            requires_before=NEGATION,
        ),
    }


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()  # splits "2020." into "2020" "."
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        unk_token="<unk>", add_bos_token=True,
    )
    # TransformerLens reloads a tokenizer from `name_or_path` unless add_bos_token is already
    # set, and reads that key unconditionally; an in-memory tokenizer has none.
    tok.init_kwargs["name_or_path"] = "neurontest/planted"
    tok.init_kwargs["add_bos_token"] = True
    return tok


def _build(seed: int) -> PlantedModel:
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import LlamaConfig, LlamaForCausalLM

    n_vocab, head_dim = len(WORDS), _D_MODEL // _N_HEADS
    config = LlamaConfig(
        vocab_size=n_vocab, hidden_size=_D_MODEL, intermediate_size=_D_MLP,
        num_hidden_layers=2, num_attention_heads=_N_HEADS, num_key_value_heads=_N_HEADS,
        head_dim=head_dim, max_position_embeddings=512, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6},
        tie_word_embeddings=False, bos_token_id=0, pad_token_id=1, eos_token_id=3,
    )
    hf = LlamaForCausalLM(config)
    gen = torch.Generator().manual_seed(seed)
    ids = {w: i for i, w in enumerate(WORDS)}
    month_ids = [ids[w] for w in MONTHS]
    digit_ids = [ids[w] for w in DIGITS]
    root = _D_MODEL ** 0.5  # a lone one-hot token reads as `root` after RMSNorm

    with torch.no_grad():
        for p in hf.parameters():
            p.zero_()
        for name, p in hf.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
        hf.model.embed_tokens.weight[:, :n_vocab] = torch.eye(n_vocab)

        for layer in hf.model.layers:
            mlp = layer.mlp
            mlp.gate_proj.weight.normal_(0.0, _BACKGROUND, generator=gen)
            mlp.up_proj.weight.normal_(0.0, _BACKGROUND, generator=gen)
            mlp.gate_proj.weight[:, n_vocab:] = 0.0  # background ignores the spare dims
            mlp.up_proj.weight[:, n_vocab:] = 0.0

        # Layer 0: MONTH and DIGIT; a month token gives gate 4, up 2, activation ~7.86.
        mlp0 = hf.model.layers[0].mlp
        for ref, members in ((MONTH_NEURON, month_ids), (DIGIT_NEURON, digit_ids)):
            mlp0.gate_proj.weight[ref.index] = 0.0
            mlp0.gate_proj.weight[ref.index, members] = 4.0 / root
            mlp0.up_proj.weight[ref.index] = 0.0
            mlp0.up_proj.weight[ref.index, :n_vocab] = 2.0 / root
        mlp0.down_proj.weight[_MONTH_DIM, MONTH_NEURON.index] = 1.0 / 8.0

        # Layer 1 head 0: "saw not" flag. The slowest rotary pair turns < 1e-3 rad over 512 tokens.
        attn = hf.model.layers[1].self_attn
        slow = head_dim // 2 - 1
        attn.q_proj.weight[slow, :n_vocab] = 2.0
        attn.k_proj.weight[slow, ids[NEGATION]] = 2.0  # score >= ~40 on "not", 0 elsewhere
        attn.v_proj.weight[0, ids[NEGATION]] = 1.0 / root
        attn.o_proj.weight[_NOT_DIM, 0] = 1.0

        # Layer 1 head 1: previous token. Pair j of a head (dims j, j + head_dim/2) rotates by
        # theta_j * position; a query of phase -theta_j against a real key scores
        # A cos(theta_j (offset - 1)) per pair, largest at offset 1 in every pair at once. Layer
        # 1's input is a one-hot token plus, on a month, MONTH's flag f = silu(4) * 2 / 8; reading
        # the flag dim with weight r = (sqrt(1 + f^2) - 1) / f makes queries and keys the same
        # constant after RMSNorm on every token. (In layer 0 its write would reach MONTH through
        # the norm, and layer 0 must stay free of attention: noise tests rely on it.)
        import math

        flag = torch.nn.functional.silu(torch.tensor(4.0)).item() * 2.0 / 8.0
        norm_fix = (math.sqrt(1 + flag ** 2) - 1) / flag
        base, half = PREVIOUS_HEAD.head * head_dim, head_dim // 2
        amplitude = 80.0 * head_dim ** 0.5  # 80 per pair after the 1/sqrt(head_dim) scaling
        for j in range(5):
            theta = 1e6 ** (-2 * j / head_dim)
            for row, value in ((base + j, amplitude * math.cos(theta)),
                               (base + j + half, -amplitude * math.sin(theta)), ):
                attn.q_proj.weight[row, :n_vocab] = value / root
                attn.q_proj.weight[row, _MONTH_DIM] = value * norm_fix / root
            attn.k_proj.weight[base + j, :n_vocab] = 1.0 / root
            attn.k_proj.weight[base + j, _MONTH_DIM] = norm_fix / root
        # value 1 on a month: its one-hot coordinate reads 1 / sqrt(1 + f^2) after the norm
        attn.v_proj.weight[base, month_ids] = math.sqrt(1 + flag ** 2) / root
        attn.o_proj.weight[_PREV_DIM, base] = PREVIOUS_HEAD_WRITE

        mlp1 = hf.model.layers[1].mlp
        pro, ctx = PROMOTER_NEURON.index, CONTEXT_NEURON.index
        mlp1.gate_proj.weight[pro] = 0.0
        mlp1.gate_proj.weight[pro, _MONTH_DIM] = 0.6
        mlp1.up_proj.weight[pro] = 0.0
        mlp1.up_proj.weight[pro, month_ids] = 0.3
        mlp1.down_proj.weight[ids[PROMOTED], pro] = 0.4
        # CONTEXT: with the flag, gate = 6.3 * (4.5 - 3.5); without it, gate = -3.5 * 8.9 = -31.
        mlp1.gate_proj.weight[ctx] = 0.0
        mlp1.gate_proj.weight[ctx, _NOT_DIM] = 4.5
        mlp1.gate_proj.weight[ctx, ids[TARGET]] = -3.5
        mlp1.up_proj.weight[ctx] = 0.0
        mlp1.up_proj.weight[ctx, ids[TARGET]] = 0.2

        # Unembedding: identity on token dims plus noise; the spare dims never reach the logits.
        unembed = hf.lm_head.weight
        unembed[:, :n_vocab] = torch.eye(n_vocab)
        unembed[:, :n_vocab] += torch.randn(n_vocab, n_vocab, generator=gen) * 0.05

    hf.eval()
    bridge = TransformerBridge.boot_transformers(
        "neurontest/planted", hf_model=hf, tokenizer=_tokenizer(), device="cpu",
        dtype=torch.float32,
    )
    bridge.eval()
    bridge.requires_grad_(False)
    bridge.neurontest_name = "planted"  # type: ignore[attr-defined]
    bridge.neurontest_revision = None  # type: ignore[attr-defined]
    planted = _planted_neurons()
    return PlantedModel(
        model=bridge, month=planted["month"], digit=planted["digit"],
        promoter=planted["promoter"], context=planted["context"],
        neurons=list(planted.values()), vocabulary=WORDS[len(SPECIALS):],
    )


# -- variants for checkpoint tests (baselines, neuron matching) -------------------------------

def planted_hf_model(seed: int = 0) -> Any:
    """A fresh, unbridged HF copy of the planted weights, free to perturb, permute or save."""
    from transformers import LlamaForCausalLM

    source = planted_model(seed).model.original_model
    copy = LlamaForCausalLM(source.config)
    target = copy.state_dict()
    # The bridge wraps HF modules in place, so its parameter names carry `._original_component`
    # segments (several aliases per tensor); stripping them gives the plain HF names.
    with torch.no_grad():
        for name, value in source.state_dict().items():
            plain = name.replace("._original_component", "")
            if plain in target:
                target[plain].copy_(value)
    copy.eval()
    return copy


def permute_layer_neurons(hf: Any, layer: int, perm: Sequence[int]) -> None:
    """Reorder one layer's MLP neurons in place (new neuron i = old neuron perm[i]): gate/up
    rows and down-projection columns move together, so the network computes the same function."""
    mlp = hf.model.layers[layer].mlp
    index = torch.as_tensor(list(perm))
    with torch.no_grad():
        mlp.gate_proj.weight.copy_(mlp.gate_proj.weight[index].clone())
        mlp.up_proj.weight.copy_(mlp.up_proj.weight[index].clone())
        mlp.down_proj.weight.copy_(mlp.down_proj.weight[:, index].clone())


def permute_layer_heads(hf: Any, layer: int, perm: Sequence[int]) -> None:
    """Reorder one layer's attention heads in place (new head i = old head perm[i]): each head's
    query, key and value rows and its output columns move together, so the network computes the
    same function (every head of a layer shares the rotary frequencies)."""
    attn = hf.model.layers[layer].self_attn
    head_dim = attn.head_dim
    rows = torch.cat([torch.arange(h * head_dim, (h + 1) * head_dim) for h in perm])
    with torch.no_grad():
        for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
            proj.weight.copy_(proj.weight[rows].clone())
        attn.o_proj.weight.copy_(attn.o_proj.weight[:, rows].clone())


def planted_model_permuted(seed: int = 0, *, month_to: int = 20,
                           previous_head_to: int | None = None) -> PlantedModel:
    """The planted model with layer 0's MONTH neuron swapped with neuron `month_to` (and, with
    `previous_head_to`, the previous-token head swapped with that head of layer 1): the same
    network with units at other indices (as a re-trained checkpoint might have them)."""
    import dataclasses

    from transformer_lens.model_bridge import TransformerBridge

    perm = list(range(_D_MLP))
    perm[MONTH_NEURON.index], perm[month_to] = month_to, MONTH_NEURON.index
    hf = planted_hf_model(seed)
    permute_layer_neurons(hf, 0, perm)
    if previous_head_to is not None:
        heads = list(range(_N_HEADS))
        heads[PREVIOUS_HEAD.head], heads[previous_head_to] = previous_head_to, PREVIOUS_HEAD.head
        permute_layer_heads(hf, PREVIOUS_HEAD.layer, heads)
    bridge = TransformerBridge.boot_transformers(
        "neurontest/planted", hf_model=hf, tokenizer=_tokenizer(), device="cpu", dtype=torch.float32)
    bridge.eval()
    bridge.requires_grad_(False)
    bridge.neurontest_name = "planted-permuted"  # type: ignore[attr-defined]
    bridge.neurontest_revision = None  # type: ignore[attr-defined]

    def moved(neuron: PlantedNeuron) -> PlantedNeuron:
        if neuron.neuron.layer != 0:
            return neuron
        return dataclasses.replace(neuron, neuron=NeuronRef(0, perm.index(neuron.neuron.index)))

    planted = {k: moved(v) for k, v in _planted_neurons().items()}
    return PlantedModel(
        model=bridge, month=planted["month"], digit=planted["digit"],
        promoter=planted["promoter"], context=planted["context"],
        neurons=list(planted.values()), vocabulary=WORDS[len(SPECIALS):],
    )


def save_planted_folder(folder: Any, hf: Any = None, *, seed: int = 0) -> Any:
    """Save the planted model (or a perturbed `planted_hf_model` copy) as an HF folder that
    `load_model(folder)` and `--neurontest-model folder` read; returns the folder's Path."""
    from pathlib import Path

    folder = Path(folder)
    (hf if hf is not None else planted_hf_model(seed)).save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    return folder
