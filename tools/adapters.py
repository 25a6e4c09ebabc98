"""Architecture adapters: the one place that knows where each site lives in a Hugging Face model.

Everything else in the runtime speaks in sites (``tools.addresses``); an adapter maps a site to a
module and a hook kind:

* ``pre``  — the site is the *first positional input* of the module (a forward pre-hook sees it);
* ``post`` — the site is the module's output (or the first element of a tuple output).

Supported families: the Llama family (Llama, SmolLM2, Mistral, Qwen2/Qwen3, and other models with
``model.layers[i].self_attn.o_proj`` / ``.mlp.down_proj``) and GPT-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from store.errors import ModelLoadError
from tools.addresses import ModelShape, Site

HookKind = Literal["pre", "post"]


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

    def blocks(self) -> nn.ModuleList:
        """The transformer blocks, in order."""
        raise NotImplementedError

    def attention(self, layer: int) -> nn.Module:
        """The self-attention module of a block (its output's first element is the attention output)."""
        raise NotImplementedError

    def attn_out_proj(self, layer: int) -> nn.Module:
        """The attention output projection (its input is the concatenation of head outputs)."""
        raise NotImplementedError

    def mlp(self, layer: int) -> nn.Module:
        """The MLP module of a block."""
        raise NotImplementedError

    def mlp_down_proj(self, layer: int) -> nn.Module:
        """The MLP output projection (its input holds the neurons)."""
        raise NotImplementedError

    def mlp_out_weight(self, layer: int) -> torch.Tensor:
        """Down-projection weight as [d_mlp, d_model]: row i is neuron i's write to the residual."""
        raise NotImplementedError

    def final_norm(self) -> nn.Module:
        """The norm applied before the unembedding."""
        raise NotImplementedError

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
            return HookPoint(self.attention(layer), "post")
        if site.kind == "mlp_out":
            return HookPoint(self.mlp(layer), "post")
        if site.kind == "mlp":
            return HookPoint(self.mlp_down_proj(layer), "pre")
        if site.kind == "head":
            return HookPoint(self.attn_out_proj(layer), "pre")
        raise ValueError(f"unknown site kind {site.kind}")

    def site_slice(self, site: Site) -> slice | None:
        """Columns of the hook point's tensor that make up ``site`` (None: all of them)."""
        if site.kind == "head":
            assert site.head is not None
            start = site.head * self.shape.head_dim
            return slice(start, start + self.shape.head_dim)
        return None


class LlamaAdapter(ArchAdapter):
    """Llama, SmolLM2, Mistral, Qwen2/3 and look-alikes (gated MLP: ``act(gate(x)) * up(x)``)."""

    family = "llama"

    def _block(self, layer: int) -> Any:
        return self.blocks()[layer]

    def blocks(self) -> nn.ModuleList:
        """The transformer blocks, in order."""
        return self.model.model.layers

    def attention(self, layer: int) -> nn.Module:
        """The self-attention module of a block."""
        return self._block(layer).self_attn

    def attn_out_proj(self, layer: int) -> nn.Module:
        """``self_attn.o_proj``."""
        return self._block(layer).self_attn.o_proj

    def mlp(self, layer: int) -> nn.Module:
        """The gated MLP."""
        return self._block(layer).mlp

    def mlp_down_proj(self, layer: int) -> nn.Module:
        """``mlp.down_proj`` (nn.Linear, weight [d_model, d_mlp])."""
        return self._block(layer).mlp.down_proj

    def mlp_out_weight(self, layer: int) -> torch.Tensor:
        """Down-projection weight transposed to [d_mlp, d_model]."""
        return self._block(layer).mlp.down_proj.weight.T

    def final_norm(self) -> nn.Module:
        """``model.norm``."""
        return self.model.model.norm

    def unembedding(self) -> torch.Tensor:
        """``lm_head.weight`` [vocab, d_model]."""
        return self.model.lm_head.weight


class GPT2Adapter(ArchAdapter):
    """GPT-2 (Conv1D layers store weights as [in, out])."""

    family = "gpt2"

    def _block(self, layer: int) -> Any:
        return self.blocks()[layer]

    def blocks(self) -> nn.ModuleList:
        """``transformer.h``."""
        return self.model.transformer.h

    def attention(self, layer: int) -> nn.Module:
        """``attn``."""
        return self._block(layer).attn

    def attn_out_proj(self, layer: int) -> nn.Module:
        """``attn.c_proj``."""
        return self._block(layer).attn.c_proj

    def mlp(self, layer: int) -> nn.Module:
        """``mlp``."""
        return self._block(layer).mlp

    def mlp_down_proj(self, layer: int) -> nn.Module:
        """``mlp.c_proj`` (Conv1D, weight [d_mlp, d_model])."""
        return self._block(layer).mlp.c_proj

    def mlp_out_weight(self, layer: int) -> torch.Tensor:
        """Conv1D weight, already [d_mlp, d_model]."""
        return self._block(layer).mlp.c_proj.weight

    def final_norm(self) -> nn.Module:
        """``transformer.ln_f``."""
        return self.model.transformer.ln_f

    def unembedding(self) -> torch.Tensor:
        """``lm_head.weight`` [vocab, d_model]."""
        return self.model.lm_head.weight


LLAMA_FAMILY = ("llama", "mistral", "qwen2", "qwen3", "smollm3", "olmo", "olmo2", "granite")
ADAPTERS: dict[str, type[ArchAdapter]] = {
    **{model_type: LlamaAdapter for model_type in LLAMA_FAMILY},
    "gpt2": GPT2Adapter,
}


def shape_of(config: object) -> ModelShape:
    """Read layer count and widths from a Hugging Face config (GPT-2 and Llama naming both)."""

    def first(*names: str) -> int | None:
        for name in names:
            value = getattr(config, name, None)
            if value is not None:
                return int(value)
        return None

    n_layers = first("num_hidden_layers", "n_layer")
    d_model = first("hidden_size", "n_embd")
    n_heads = first("num_attention_heads", "n_head")
    if n_layers is None or d_model is None or n_heads is None:
        raise ModelLoadError("model config lacks layer count, hidden size or head count")
    d_mlp = first("intermediate_size", "n_inner") or 4 * d_model
    head_dim = first("head_dim") or d_model // n_heads
    return ModelShape(n_layers=n_layers, d_model=d_model, d_mlp=d_mlp, n_heads=n_heads, head_dim=head_dim)


def adapter_for(model: nn.Module) -> ArchAdapter:
    """The adapter for a loaded model; ModelLoadError names the supported families otherwise."""
    config = model.config
    model_type = getattr(config, "model_type", None)
    adapter_cls = ADAPTERS.get(str(model_type))
    if adapter_cls is None:
        raise ModelLoadError(
            f"architecture {model_type!r} is not supported yet; supported: {', '.join(sorted(ADAPTERS))}"
        )
    return adapter_cls(model, shape_of(config))
