"""What a causal claim reads off the model's prediction at a position: its target.

Three forms, as the patching literature uses them:

* a token (`" 2020"`): its log-prob;
* an answer and a foil (`{answer: " April", foil: " May"}`): the logit difference answer - foil
  (the same as the log-prob difference, and blind to the rest of the distribution);
* `next`: the log-prob of the token that really comes next in the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from neurontest.engine.data.tokens import single_token_id


@dataclass(frozen=True)
class Target:
    """A token (`token`), an answer/foil pair, or neither: the true next token."""

    token: str | None = None
    answer: str | None = None
    foil: str | None = None

    def __post_init__(self) -> None:
        if (self.answer is None) != (self.foil is None):
            raise ValueError("a target pair needs both `answer:` and `foil:`")
        if self.token is not None and self.answer is not None:
            raise ValueError("a target is a token or an answer/foil pair, not both")

    @property
    def is_next(self) -> bool:
        return self.token is None and self.answer is None

    @property
    def label(self) -> str:
        """How a report names the number: `log p(' 2020')`, `logit(' April') - logit(' May')`."""
        if self.token is not None:
            return f"log p({self.token!r})"
        if self.answer is not None:
            return f"logit({self.answer!r}) - logit({self.foil!r})"
        return "log p(true next token)"

    def check(self, tokenizer: Any) -> None:
        """ValueError naming the split when a target token is not one token."""
        for token in (self.token, self.answer, self.foil):
            if token is not None:
                single_token_id(tokenizer, token)


def target_series(tokenizer: Any, target: Target, logits: torch.Tensor,
                  labels: torch.Tensor) -> torch.Tensor:
    """`[batch, pos]` float32 CPU: the target read off the prediction made at each position.
    `labels` (`[batch, pos]` token ids) give the true next tokens; with `next`, the last
    position has none and reads NaN."""
    logits = logits.float()
    if target.answer is not None:
        a, f = single_token_id(tokenizer, target.answer), single_token_id(tokenizer, target.foil or "")
        return (logits[..., a] - logits[..., f]).cpu()
    logp = logits.log_softmax(-1)
    if target.token is not None:
        return logp[..., single_token_id(tokenizer, target.token)].cpu()
    out = torch.full(labels.shape, float("nan"))
    out[:, :-1] = logp[:, :-1].gather(-1, labels[:, 1:, None].to(logp.device))[..., 0].cpu()
    return out
