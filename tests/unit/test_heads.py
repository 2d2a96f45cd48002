"""scan_heads: attention mass on named positions, against patterns known by construction."""

from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from neurontest.engine.data.tokens import TokenBatch
from neurontest.measure.heads import pattern_masks, scan_heads, top_heads


class FakeModel:
    """Two layers of two heads: L0H0 previous-token, L0H1 BOS sink, L1H0 induction (falls back
    to BOS where no earlier occurrence), L1H1 uniform over the causal prefix."""

    cfg = SimpleNamespace(n_layers=2)

    def run_with_hooks(self, tokens, fwd_hooks, stop_at_layer=None):
        b, n = tokens.shape
        prev = torch.zeros(b, n, n)
        prev[:, 0, 0] = 1
        prev[:, torch.arange(1, n), torch.arange(n - 1)] = 1
        bos = torch.zeros(b, n, n)
        bos[:, :, 0] = 1
        induct = torch.zeros(b, n, n)
        for r in range(b):
            for q in range(n):
                hits = [j + 1 for j in range(q - 1) if tokens[r, j] == tokens[r, q] and j > 0]
                induct[r, q, hits[-1] if hits else 0] = 1
        uniform = torch.tril(torch.ones(n, n)) / torch.arange(1, n + 1).view(n, 1)
        patterns = {0: torch.stack([prev, bos], 1),
                    1: torch.stack([induct, uniform.expand(b, n, n)], 1)}
        for name, fn in fwd_hooks:
            fn(patterns[int(name.split(".")[1])])


def _batch(rows):
    tokens = torch.tensor(rows)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    mask[:, 0] = False
    return TokenBatch(tokens, mask)


def test_pattern_masks_by_hand():
    masks = pattern_masks(torch.tensor([[0, 5, 6, 7, 5, 7]]),
                          torch.tensor([[False, True, True, True, True, True]]))
    keys, queries = masks["duplicate_token"]
    assert queries.tolist() == [[False, False, False, False, True, True]]
    assert keys[0, 4].nonzero().flatten().tolist() == [1]
    keys, queries = masks["induction"]
    # query 4 (token 5): after the earlier 5 at 1 comes 2; query 5 (token 7): after the 7 at 3
    # comes 4, which is also the previous token: not counted as induction
    assert keys[0, 4].nonzero().flatten().tolist() == [2]
    assert queries.tolist() == [[False, False, False, False, True, False]]
    keys, queries = masks["previous_token"]
    assert queries.tolist() == [[False, False, True, True, True, True]]  # key 0 is BOS: never claimed


def test_scan_finds_the_constructed_heads():
    batch = _batch([[0, 7, 8, 9, 7, 8, 9, 7], [0, 3, 4, 3, 4, 5, 6, 3]])
    scores = scan_heads(FakeModel(), batch, batch_size=1)
    best = {p: top_heads(scores, p, 1)[0] for p in ("previous_token", "first_token", "induction")}
    assert (best["previous_token"].id, best["previous_token"].mass) == ("L0H0", pytest.approx(1.0))
    assert (best["first_token"].id, best["first_token"].mass) == ("L0H1", pytest.approx(1.0))
    assert (best["induction"].id, best["induction"].mass) == ("L1H0", pytest.approx(1.0))
    uniform = next(s for s in scores if s.id == "L1H1" and s.pattern == "previous_token")
    # queries at positions 2..7 of both rows: 1/(q+1) each
    expected = sum(1 / (q + 1) for q in range(2, 8)) / 6
    assert uniform.mass == pytest.approx(expected)
    assert uniform.queries == 12


def test_unknown_pattern_is_named():
    with pytest.raises(ValueError, match="unknown pattern 'x'; choose one of previous_token"):
        top_heads([], "x")
