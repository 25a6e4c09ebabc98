"""Behavioural metrics read off a model's logits: loss, logit(token), logit_diff(target, foil), prob(token)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, Field, model_validator

from store.errors import InputError

MetricKind = Literal["loss", "logit", "logit_diff", "prob"]


class MetricSpec(BaseModel):
    """What to measure on each text.

    loss:        mean next-token cross-entropy over the text (nats)
    logit:       logit of ``token`` at the last position
    logit_diff:  logit(``target``) − logit(``foil``) at the last position
    prob:        probability of ``token`` at the last position
    Tokens are strings that must be exactly one token each (mind the leading space: " Paris").
    """

    kind: MetricKind = "loss"
    token: str | None = Field(None, description="For logit and prob.")
    target: str | None = Field(None, description="For logit_diff.")
    foil: str | None = Field(None, description="For logit_diff.")

    @model_validator(mode="after")
    def _needs(self) -> MetricSpec:
        if self.kind in ("logit", "prob") and not self.token:
            raise ValueError(f"metric {self.kind} needs 'token'")
        if self.kind == "logit_diff" and not (self.target and self.foil):
            raise ValueError("metric logit_diff needs 'target' and 'foil'")
        return self

    def describe(self) -> str:
        """Short human-readable form, e.g. logit_diff(' Mary', ' John')."""
        if self.kind == "loss":
            return "loss"
        if self.kind == "logit_diff":
            return f"logit_diff({self.target!r}, {self.foil!r})"
        return f"{self.kind}({self.token!r})"


def single_token(tokenizer: Any, text: str, role: str) -> int:
    """The id of ``text`` when it is exactly one token; InputError naming ``role`` otherwise."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        pieces = [tokenizer.decode([i]) for i in ids]
        raise InputError(f"{role} {text!r} is {len(ids)} tokens {pieces}, not one; pick a single-token string")
    return int(ids[0])


class MetricFn:
    """A metric resolved against a tokenizer, computed from one text's logits and token ids."""

    def __init__(self, spec: MetricSpec, tokenizer: Any) -> None:
        self.spec = spec
        self.token_id = single_token(tokenizer, spec.token, "token") if spec.token else None
        self.target_id = single_token(tokenizer, spec.target, "target") if spec.target else None
        self.foil_id = single_token(tokenizer, spec.foil, "foil") if spec.foil else None

    @property
    def needs_all_logits(self) -> bool:
        """Loss needs every position; the others only the last."""
        return self.spec.kind == "loss"

    def __call__(self, logits: torch.Tensor, token_ids: list[int]) -> float:
        """The metric for one text: ``logits`` is [T, vocab] (loss) or [vocab] (others)."""
        kind = self.spec.kind
        if kind == "loss":
            if len(token_ids) < 2:
                raise InputError("loss needs texts of at least two tokens")
            targets = torch.tensor(token_ids[1:], device=logits.device)
            return float(torch.nn.functional.cross_entropy(logits[:-1].float(), targets))
        last = logits if logits.ndim == 1 else logits[-1]
        last = last.float()
        if kind == "logit":
            assert self.token_id is not None
            return float(last[self.token_id])
        if kind == "prob":
            assert self.token_id is not None
            return float(last.softmax(-1)[self.token_id])
        assert self.target_id is not None and self.foil_id is not None
        return float(last[self.target_id] - last[self.foil_id])
