"""Find SAE latents a simple predicate explains: encode the suite's corpus with a fitted SAE
(neurontest fit-sae), screen every latent cheaply, then run neurontest's explanation search
(claims/explain.py, as `neurontest inspect` does for neurons) on the best few.

    PYTHONPATH=. python scripts/explain_sae_latents.py --top 6

Prints, per latent, the best explanation and its metrics, and a proposed YAML claim.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    import torch
    from safetensors.torch import load_file

    from neurontest.claims.explain import explain
    from neurontest.engine.models.sae_fit import (
        SAE_CFG_FILE,
        SAE_WEIGHTS_FILE,
        embedded_sae_folder,
        topk_encode,
    )
    from neurontest.lab import Lab

    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="smollm2-135m/topk-mlp-out-L4")
    ap.add_argument("--top", type=int, default=6)
    ap.add_argument("--skip", type=int, default=0, help="skip the first N screened latents")
    args = ap.parse_args()
    folder = embedded_sae_folder(args.name)
    cfg = json.loads((folder / SAE_CFG_FILE).read_text())
    weights = load_file(str(folder / SAE_WEIGHTS_FILE))
    lab = Lab.load()
    batch = lab.sample.batch
    layer = cfg["hook_layer"]
    chunks: list[torch.Tensor] = []

    def keep(value, hook=None):
        chunks.append(topk_encode(value.float(), weights, cfg["k"]).to(torch.float16))

    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(batch), 32):
            lab.model.run_with_hooks(batch.tokens[start:start + 32],
                                     fwd_hooks=[(cfg["hook_name"], keep)], stop_at_layer=layer + 1)
    z = torch.cat(chunks)  # [rows, pos, d_sae]
    print(f"encoded {int(batch.mask.sum())} tokens in {time.perf_counter() - started:.0f} s")
    flat = z[batch.mask].float()
    tokens = batch.tokens[batch.mask]
    total = torch.bincount(tokens, minlength=int(tokens.max()) + 1).float()
    ranked = []
    for latent in range(flat.shape[1]):
        acts = flat[:, latent]
        peak = float(acts.max())
        if peak <= 0:
            continue
        firing = acts > 0.25 * peak
        n_fire = int(firing.sum())
        if n_fire < 30 or n_fire > 0.1 * len(acts):
            continue
        hits = torch.bincount(tokens[firing], minlength=len(total)).float()
        cand = (hits >= 3).nonzero().flatten()
        if len(cand) == 0:
            continue
        order = cand[(hits[cand] / total[cand]).argsort(descending=True)][:24]
        f1 = 2 * hits[order].cumsum(0) / (total[order].cumsum(0) + n_fire)
        ranked.append((float(f1.max()), latent, n_fire))
    ranked.sort(reverse=True)
    print("screen:", ", ".join(f"{latent} ({f1:.2f}, {n})" for f1, latent, n in ranked[:20]))
    for _, latent, _ in ranked[args.skip:args.skip + args.top]:
        values = z[..., latent].float()
        e = explain(values, batch, lab.vocab)
        s = e.scores or {}
        print(f"\nlatent {latent}: {e.describe()}")
        if e.explained:
            print(f"  - sae: {args.name}\n    latent: {latent}\n    fires_on: {json.dumps(e.fires_on)}\n"
                  f"    threshold: {s['tau']:.3g}\n    claims:\n      - kind: activation\n"
                  + "".join(f"        {m}: \">= {max(s.get(m, 0) - 0.03, 0):.2f}\"\n"
                            for m in ("f1", "precision", "recall") if m in s))


if __name__ == "__main__":
    main()
