"""Every unit's zero-ablation effect on the loss at once: the attribution-patching estimate.

Zeroing unit ``j`` changes its activation by ``−a_j(t)`` at every position ``t``; to first order the
text's loss (the mean next-token cross-entropy, as ``ablate``'s ``loss`` metric) changes by::

    ΔL ≈ Σ_t −a_j(t) · ∂L/∂a_j(t)

One forward with gradients and one backward per batch of texts give that estimate for **every** unit of
a site, where exact ablation needs one forward per unit (REFERENCES: Nanda, attribution patching;
Syed et al. 2023). For an SAE latent the gradient is the one with respect to the site the SAE reads,
projected on the latent's decoder row (``∂L/∂f_j = ∂L/∂x · W_dec[j]``; the error term is kept, as the
runtime's own latent ablation does). `exact_zero_effects` measures the same quantity for real, one
forward per unit, to check the estimate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tools.effects.ablation import measure
from tools.effects.metrics import MetricFn, MetricSpec
from tools.patching.attribution import keep_site
from tools.runtime.interventions import Intervention
from tools.runtime.model_runtime import ModelRuntime

BATCH = 8
"""Texts per forward-and-backward pass (memory grows with it: activations are kept for the backward)."""


def _text_losses(logits: torch.Tensor, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each row's mean next-token cross-entropy over its real tokens: [rows]."""
    targets = input_ids[:, 1:]
    losses = nn.functional.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets, reduction="none"
    )  # [rows, T-1]
    keep = mask[:, 1:].float()
    return (losses * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)


def zero_ablation_estimates(
    runtime: ModelRuntime, site: str, texts: Sequence[str], *, batch: int = BATCH
) -> tuple[torch.Tensor, torch.Tensor]:
    """The estimated change of each text's loss when each unit of ``site`` (a container: ``L6.mlp``,
    ``L6.sae[name]``) is zeroed, ``[texts, units]``, and each text's loss, ``[texts]`` (module
    docstring). Texts need at least two tokens each."""
    target = runtime.resolve(site)
    address = target.address
    sae = target.sae
    cols = runtime.loaded.adapter.site_slice(target.site) or slice(None)
    token_lists = runtime.tokenize(list(texts))
    rows: list[torch.Tensor] = []
    losses: list[torch.Tensor] = []
    for start in range(0, len(token_lists), batch):
        chunk = token_lists[start : start + batch]
        input_ids, mask = runtime.pad(chunk)
        kept: list[torch.Tensor] = []
        with keep_site(runtime.loaded, target.site, kept), torch.enable_grad():
            logits = runtime.loaded.model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
            loss = _text_losses(logits, input_ids, mask)
            (grad,) = torch.autograd.grad(loss.sum(), [kept[0]])
        real = mask.unsqueeze(-1).float()
        if sae is None:
            acts = kept[0].detach()[..., cols].float()
            grad_units = grad[..., cols].float()
        else:  # the latents, and the gradient reaching each through its decoder row
            latents = runtime.run(list(texts[start : start + len(chunk)]), [address]).captures[address]
            acts = torch.nn.utils.rnn.pad_sequence([t.float() for t in latents], batch_first=True)
            w_dec = sae.sae.W_dec.float()  # [d_sae, d_in]
            grad_units = grad.float().to(w_dec.device) @ w_dec.T
        rows.append(-(acts * grad_units * real).sum(dim=1).cpu())
        losses.append(loss.detach().float().cpu())
    return torch.cat(rows), torch.cat(losses)


def exact_zero_effects(runtime: ModelRuntime, units: Sequence[str], texts: Sequence[str]) -> torch.Tensor:
    """The real change of each text's loss when each unit is zeroed alone, ``[texts, units]``: one
    forward per unit (the check of `zero_ablation_estimates`)."""
    metric = MetricFn(MetricSpec(kind="loss"), runtime.loaded.tokenizer)
    baseline = torch.tensor(measure(runtime, metric, list(texts), []))
    columns = [torch.tensor(measure(runtime, metric, list(texts), [Intervention(u, "zero")])) - baseline for u in units]
    return torch.stack(columns, dim=1) if columns else torch.zeros((len(texts), 0))
