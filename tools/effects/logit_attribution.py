"""Direct logit attribution: the tokens a unit's output direction pushes up and down through the
final norm's scale and the unembedding (W_U · (γ ⊙ w_out)); the norm's input-dependent scale is
left out, so it tells what a unit writes, whatever it reads.

Output directions: an MLP neuron's row of the down-projection; a residual coordinate's unit vector;
an SAE latent's decoder row ``W_dec[j]`` (what the latent adds to its site; for an SAE on MLP
neurons, that row through the down-projection)."""

from __future__ import annotations

import torch
from pydantic import BaseModel

from store.errors import InputError
from tools.runtime.model_runtime import ModelRuntime


class TokenScore(BaseModel):
    """A token and its direct-logit-attribution score."""

    token: str
    token_id: int
    score: float


def output_direction(runtime: ModelRuntime, subject: str) -> tuple[str, torch.Tensor]:
    """The canonical address and residual-stream write of an MLP neuron, a resid coordinate or an SAE latent."""
    target = runtime.resolve(subject)
    if target.index is None:
        raise InputError(
            f"{subject} has no single output direction; give an MLP neuron, a resid coordinate or an SAE latent"
        )
    with torch.no_grad():
        if target.sae is not None:
            direction = target.sae.sae.W_dec[target.index].float()
            if target.site.kind == "mlp":  # an SAE on the neurons writes through the down-projection
                direction = direction.to(runtime.device) @ runtime.adapter.mlp_out_weight(target.site.layer).float()
        elif target.site.kind == "mlp":
            direction = runtime.adapter.mlp_out_weight(target.site.layer)[target.index].float()
        else:
            direction = torch.zeros(runtime.shape.d_model)
            direction[target.index] = 1.0
    return target.address, direction


def logit_attribution(runtime: ModelRuntime, subject: str, k: int) -> tuple[str, list[TokenScore], list[TokenScore]]:
    """The unit's address and its ``k`` most promoted and ``k`` most suppressed tokens."""
    address, direction = output_direction(runtime, subject)
    adapter = runtime.adapter
    with torch.no_grad():
        gamma = adapter.final_norm_scale()  # the norm's gain: Gemma's is 1 + weight, not its weight
        if gamma is not None:
            direction = direction * gamma.float()
        scores = adapter.unembedding().float() @ direction
    up, down = scores.topk(k), (-scores).topk(k)

    def listed(ids: torch.Tensor) -> list[TokenScore]:
        decode = runtime.loaded.tokenizer.decode
        return [TokenScore(token=decode([int(i)]), token_id=int(i), score=float(scores[i])) for i in ids]

    return address, listed(up.indices), listed(down.indices)
