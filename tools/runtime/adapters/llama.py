"""The Llama family: Llama, SmolLM2, Mistral, Qwen2/3, OLMo, Granite and other models with
``model.layers[i].self_attn.o_proj`` / ``.mlp.down_proj``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tools.runtime.adapters.base import ArchAdapter

#: Hugging Face ``model_type`` values served by ``LlamaAdapter``.
MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3", "smollm3", "olmo", "olmo2", "granite")


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
