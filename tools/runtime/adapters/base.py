"""The adapter base class: where each site lives in a model, as a module and a hook kind.

* ``pre``  — the site is the *first positional input* of the module (a forward pre-hook sees it);
* ``post`` — the site is the module's output (or the first element of a tuple output).

A family subclasses ``ArchAdapter`` and fills in its module paths (``llama.py``, ``gpt2.py``, ...).
``attn_out`` and ``mlp_out`` are what the sub-block *adds to the residual stream*: by default the
attention and MLP modules' outputs; a family whose blocks normalise a sub-block's output before the
residual add (Gemma 2/3) points ``attn_out_module``/``mlp_out_module`` at those norms instead, and a
family whose sub-blocks add the residual themselves (BLOOM, in the structural fallback) at the
output projections. An adapter that cannot serve every site (the structural fallback) lists what it
found in ``found_sites`` and ``missing_sites``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from tools.runtime.addresses import ModelShape, Site

HookKind = Literal["pre", "post"]

#: The model sites every adapter maps (``L{l}.<kind>``; ``head`` stands for ``L{l}.attn.h{h}``).
SITE_KINDS: tuple[str, ...] = ("resid_pre", "resid_post", "attn_out", "mlp_out", "mlp", "head")
#: What ``found_sites``/``missing_sites`` list: the sites, then the parts logits are computed with.
PARTS: tuple[str, ...] = (*SITE_KINDS, "final_norm", "unembedding")


@dataclass(frozen=True)
class HookPoint:
    """Where a site is read or written: a module and whether it is the module's input or output."""

    module: nn.Module
    kind: HookKind


class ArchAdapter:
    """Maps sites of one architecture family to modules; subclasses fill in the module paths."""

    family: str = ""

    def __init__(self, model: nn.Module, shape: ModelShape) -> None:
        # Typed as Any: module paths differ per family and torch types submodules as Tensor | Module.
        self.model: Any = model
        self.shape = shape

    @property
    def found_sites(self) -> tuple[str, ...]:
        """Sites and parts (``PARTS``) this adapter serves; a family adapter serves all of them."""
        return tuple(part for part in PARTS if part not in self.missing_sites)

    @property
    def missing_sites(self) -> tuple[str, ...]:
        """Sites and parts (``PARTS``) this adapter could not locate; none for a family adapter."""
        return ()

    def blocks(self) -> nn.ModuleList:
        """The transformer blocks, in order."""
        raise NotImplementedError

    def attention(self, layer: int) -> nn.Module:
        """The self-attention module of a block (its output's first element is the attention output)."""
        raise NotImplementedError

    def attn_out_proj(self, layer: int) -> nn.Module:
        """The attention output projection (its input is the concatenation of head outputs)."""
        raise NotImplementedError

    def attn_out_module(self, layer: int) -> nn.Module:
        """The module whose output is ``attn_out``, what attention adds to the residual (default: ``attention``)."""
        return self.attention(layer)

    def mlp(self, layer: int) -> nn.Module:
        """The MLP module of a block."""
        raise NotImplementedError

    def mlp_out_module(self, layer: int) -> nn.Module:
        """The module whose output is ``mlp_out``, what the MLP adds to the residual (default: ``mlp``)."""
        return self.mlp(layer)

    def mlp_down_proj(self, layer: int) -> nn.Module:
        """The MLP output projection (its input holds the neurons)."""
        raise NotImplementedError

    def mlp_out_weight(self, layer: int) -> torch.Tensor:
        """Down-projection weight as [d_mlp, d_model]: row i is neuron i's write to the residual."""
        raise NotImplementedError

    def final_norm(self) -> nn.Module:
        """The norm applied before the unembedding."""
        raise NotImplementedError

    def final_norm_scale(self) -> torch.Tensor | None:
        """The final norm's elementwise gain γ [d_model] (None when it has none): what direct logit
        attribution multiplies a direction by. Default: the norm's ``weight``."""
        weight = getattr(self.final_norm(), "weight", None)
        return weight if isinstance(weight, torch.Tensor) else None

    def unembedding(self) -> torch.Tensor:
        """Unembedding matrix as [vocab, d_model]."""
        raise NotImplementedError

    def hook_point(self, site: Site) -> HookPoint:
        """The module and hook kind at which ``site`` is read or written."""
        layer = site.layer
        if site.kind == "resid_pre":
            return HookPoint(self.blocks()[layer], "pre")
        if site.kind == "resid_post":
            return HookPoint(self.blocks()[layer], "post")
        if site.kind == "attn_out":
            return HookPoint(self.attn_out_module(layer), "post")
        if site.kind == "mlp_out":
            return HookPoint(self.mlp_out_module(layer), "post")
        if site.kind == "mlp":
            return HookPoint(self.mlp_down_proj(layer), "pre")
        if site.kind == "head":
            return HookPoint(self.attn_out_proj(layer), "pre")
        raise ValueError(f"unknown site kind {site.kind}")

    def site_slice(self, site: Site) -> slice | None:
        """Columns of the hook point's tensor that make up ``site`` (None: all of them).

        A head is ``head_dim`` columns of the attention output projection's input, which is
        ``n_heads * head_dim`` wide (not necessarily ``d_model``: Gemma's heads are wider).
        """
        if site.kind == "head":
            assert site.head is not None
            start = site.head * self.shape.head_dim
            return slice(start, start + self.shape.head_dim)
        return None
