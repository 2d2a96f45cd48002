"""Screen every MLP neuron of some layers for one a token set explains, cheaply, before
`neurontest inspect` runs the full explanation search on the few best.

    python scripts/screen_deep_neurons.py --layers 20-29 --rows 300 --top 15

One forward up to the deepest layer over the first `--rows` corpus windows (a sample of the
suite's corpus) keeps every listed layer's `hook_post` as float16. For each neuron, at a firing
threshold of `--rel` x its max on that sample, tokens are ranked by local precision (share of
their positions where it fires; at least 3 firing positions each) and the F1 of the best prefix
of that ranking (at most 24 tokens) is its score: an upper-ish bound on what the greedy token
sets of claims/explain.py reach, since it is fitted and scored on the same positions.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    import torch

    from neurontest.lab import Lab

    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", default="20-29")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--rel", type=float, default=0.3)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    lo, _, hi = args.layers.partition("-")
    layers = list(range(int(lo), int(hi or lo) + 1))
    lab = Lab.load()
    batch = lab.sample.batch.select(torch.arange(min(args.rows, len(lab.sample.batch))))
    model = lab.model
    store: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}

    def keep(layer: int):
        def hook(value, hook=None):
            store[layer].append(value[batch_mask_rows[0]].to(torch.float16))
        return hook

    batch_mask_rows: list[torch.Tensor] = [torch.empty(0)]
    hooks = [(f"blocks.{layer}.mlp.hook_post", keep(layer)) for layer in layers]
    t0 = time.time()
    with torch.inference_mode():
        for start in range(0, len(batch), 32):
            rows = batch.tokens[start:start + 32]
            batch_mask_rows[0] = batch.mask[start:start + 32]
            stop = max(layers) + 1
            model.run_with_hooks(rows, fwd_hooks=hooks,
                                 stop_at_layer=stop if stop < model.cfg.n_layers else None)
    print(f"forward to layer {max(layers)} over {int(batch.mask.sum())} tokens: {time.time() - t0:.1f}s")
    tokens = batch.tokens[batch.mask]
    n_vocab = int(tokens.max()) + 1
    token_total = torch.bincount(tokens, minlength=n_vocab).float()
    results = []
    for layer in layers:
        acts = torch.cat(store[layer]).float()  # [positions, d_mlp]
        peak = acts.max(dim=0).values
        for n in range(acts.shape[1]):
            if peak[n] <= 0:
                continue
            firing = acts[:, n] > args.rel * peak[n]
            n_fire = int(firing.sum())
            if n_fire < 20 or n_fire > 0.2 * len(firing):
                continue
            hits = torch.bincount(tokens[firing], minlength=n_vocab).float()
            cand = (hits >= 3).nonzero().flatten()
            if len(cand) == 0:
                continue
            prec = hits[cand] / token_total[cand]
            order = cand[prec.argsort(descending=True)][:24]
            tp = hits[order].cumsum(0)
            claimed = token_total[order].cumsum(0)
            f1 = 2 * tp / (claimed + n_fire)
            best = int(f1.argmax())
            results.append((float(f1[best]), layer, n, n_fire, best + 1,
                            [lab.vocab.strings[int(t)] for t in order[:best + 1][:6]]))
    results.sort(reverse=True)
    for f1, layer, n, n_fire, k, toks in results[:args.top]:
        print(f"L{layer}N{n}  f1~{f1:.2f}  firing {n_fire}  tokens {k}: {toks}")


if __name__ == "__main__":
    main()
