"""Every unit of a layer against one predicate, in the session's mining pass: is the claim about
this unit, or would its neighbours fit it as well?

    scan = LayerScan(NeuronRef(0, 972), "months").with_sources(claimed_mask)
    stats = neuron_activations(model, batch, [scan, NeuronRef(0, 972)])[scan]
    table = ScanTable(stats, n_claimed)           # every neuron of layer 0: f1, auprc, ...

The layer's units are the claimed unit's siblings: every neuron of its MLP layer, every head of
its attention layer, every latent of its SAE (a direction has none). Their activations are never
kept for the corpus: each chunk of the pass adds to a running summary per unit, `[units, F]`
float64 (so memory grows with units x bins, not with tokens):

* histograms of the unit's activations at claimed and at unclaimed positions over fixed edges,
  asinh-spaced (2.5% apart beyond 0.05 in size, 0.0013 apart below), plus the claim's absolute
  tau as an exact edge: counts above an absolute tau are exact; above a relative tau (a share of
  each unit's own corpus maximum) they are read at the next edge up;
* exact sums (activation, its square, activation at claimed positions) for Pearson's r, and each
  unit's maximum (for relative thresholds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch

from neurontest.engine.units.protocol import place_size, sibling

N_GRID = 1023
GRID_LIMIT = 1e4
GRID_SCALE = 0.05  # linear below it, logarithmic above: fine for small and large activations
# Columns after the two histograms.
SUM_X, SUM_X2, SUM_XY, MAX_X = range(4)
N_SUMS = 4

_BLOCK = 256  # positions summarised at once

SCAN_METRICS = ("f1", "iou", "auprc", "pearson", "precision", "recall")


def siblings(model: Any, unit: Any) -> list[Any]:
    """Every unit of `unit`'s kind in its layer (its MLP layer's neurons, its attention layer's
    heads, its SAE's latents); ValueError for a unit kind that has none."""
    size = place_size(model, unit) if unit.kind in ("neuron", "head", "latent") else None
    if size is None:
        raise ValueError(f"{unit.short_id}: a {unit.kind} has no layer of siblings to rank it "
                         "among; drop `rank_in_layer:` / `specificity:` for this unit")
    return [sibling(unit, i) for i in range(size)]


def scan_edges(tau: float | None) -> torch.Tensor:
    """The histogram edges (float64, increasing): the asinh grid, plus `tau` (absolute) exactly."""
    top = math.asinh(GRID_LIMIT / GRID_SCALE)
    grid = GRID_SCALE * torch.sinh(torch.linspace(-top, top, N_GRID, dtype=torch.float64))
    if tau is not None:
        grid = torch.unique(torch.cat([grid, torch.tensor([float(tau)], dtype=torch.float64)]))
    return grid


@dataclass(frozen=True)
class LayerScan:
    """The claimed unit's layer (`member` names it) scored against the predicate `key` names,
    at the absolute threshold `tau` (None: relative thresholds, read per unit afterwards).
    `sources`: the predicate until the lab binds it (`with_sources`) to the corpus's codes:
    0 not scorable (BOS, padding), 1 scorable, 2 claimed."""

    kind: ClassVar[str] = "layer scan"
    mlp_tail: ClassVar[bool] = False
    reads_rows: ClassVar[bool] = True
    #: the pass sums each chunk's summary instead of keeping `[rows, pos]` columns
    accumulates: ClassVar[bool] = True

    member: Any
    key: str
    tau: float | None = None
    sources: Any = field(default=None, compare=False, repr=False)

    needs_sources: ClassVar[bool] = True

    @property
    def layer(self) -> int:
        return self.member.layer

    @property
    def hook_name(self) -> str:
        return self.member.hook_name

    @property
    def short_id(self) -> str:
        return f"{self.member.short_id}:layer"

    @property
    def address(self) -> str:
        return f"every unit beside {self.member.address}"

    @property
    def cache_key(self) -> str:
        unit = self.member.cache_key
        tau = "rel" if self.tau is None else f"{self.tau:.6g}".replace("-", "m").replace(".", "p")
        return f"{unit}.scan-{self.key}-{tau}"

    @property
    def group(self) -> tuple[str, str]:
        return (self.kind, self.cache_key)  # each scan is read on its own

    def __str__(self) -> str:
        return self.short_id

    def check(self, model: Any) -> None:
        self.member.check(model)
        siblings(model, self.member)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "scan", "member": self.member.to_dict(), "key": self.key, "tau": self.tau}

    def with_sources(self, mask: torch.Tensor, scorable: torch.Tensor | None = None) -> LayerScan:
        """This scan holding the corpus codes (claimed `mask`, within `scorable`)."""
        if scorable is None:
            raise ValueError(f"{self.short_id}: a layer scan needs the corpus's scorable mask")
        codes = scorable.to(torch.uint8) + (mask & scorable).to(torch.uint8)
        return replace(self, sources=codes)

    def for_rows(self, rows: slice) -> LayerScan:
        return self if not hasattr(self.sources, "shape") else replace(self, sources=self.sources[rows])

    @classmethod
    def reader(cls, model: Any, units: Sequence[LayerScan]) -> Callable[..., torch.Tensor]:
        """`(value, first_row) -> [units, F, 1]` float64: one chunk's summary of the layer."""
        (scan,) = units  # one scan per group
        if not hasattr(scan.sources, "shape"):
            raise ValueError(f"{scan.short_id}: its predicate mask was not bound before mining "
                             "(Lab.prepare binds it from the claim's predicate)")
        members = siblings(model, scan.member)
        read_all = type(scan.member).reader(model, members)
        edges = scan_edges(scan.tau)
        n_bins = len(edges) + 1

        def read(value: torch.Tensor, first_row: int = 0) -> torch.Tensor:
            acts = read_all(value)  # [batch, pos, n_units]
            batch, width, n_units = acts.shape
            codes = scan.sources[first_row:first_row + batch, :width].to(acts.device)
            keep = codes > 0
            scored = acts[keep]  # [scorable positions, n_units]
            claimed = (codes[keep] == 2).cpu()
            # Per unit: the claimed histogram, then the other one; then the sums.
            hist = torch.zeros(n_units, 2 * n_bins, dtype=torch.float64)
            sums = torch.zeros(n_units, N_SUMS, dtype=torch.float64)
            sums[:, MAX_X] = -math.inf
            offsets = torch.arange(n_units).view(1, -1) * (2 * n_bins)
            # A few hundred positions at a time: the float64 copies and bin indices of a whole
            # chunk of a wide layer would cost more memory than the mining pass itself.
            for start in range(0, len(scored), _BLOCK):
                x = scored[start:start + _BLOCK].double().cpu()
                c = claimed[start:start + _BLOCK]
                index = torch.bucketize(x, edges) + offsets + (~c).view(-1, 1).long() * n_bins
                hist.view(-1).index_add_(0, index.flatten(),
                                         torch.ones(index.numel(), dtype=torch.float64))
                sums[:, SUM_X] += x.sum(0)
                sums[:, SUM_X2] += (x * x).sum(0)
                sums[:, SUM_XY] += x[c].sum(0)
                sums[:, MAX_X] = torch.maximum(sums[:, MAX_X], x.max(0).values)
            return torch.cat([hist, sums], dim=1).unsqueeze(-1)

        return read

    @staticmethod
    def combine(chunks: Sequence[torch.Tensor]) -> torch.Tensor:
        """The pass's summary from its chunks' (sums, and the maximum of the maxima)."""
        stacked = torch.stack(list(chunks))
        total = stacked.sum(0)
        total[:, -N_SUMS + MAX_X] = stacked[:, :, -N_SUMS + MAX_X].max(0).values
        return total

    @classmethod
    def editors(cls, model: Any, values: Any, *, add: bool = False) -> list:
        raise ValueError("a layer scan is read, not edited")

    def output_direction(self, model: Any) -> torch.Tensor:
        raise ValueError(f"{self.short_id}: a layer scan has no output direction")
