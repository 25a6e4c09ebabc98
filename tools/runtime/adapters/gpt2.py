"""GPT-2: ``transformer.h[i].attn.c_proj`` / ``.mlp.c_proj`` (Conv1D weights stored as [in, out])."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tools.runtime.adapters.base import ArchAdapter

#: Hugging Face ``model_type`` values served by ``GPT2Adapter``.
MODEL_TYPES = ("gpt2",)


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
