"""GPT-NeoX (Pythia and look-alikes): ``gpt_neox.layers[i].attention.dense`` / ``.mlp.dense_4h_to_h``.

Blocks use a **parallel residual** by default (``use_parallel_residual``)::

    h = h + attention(input_layernorm(h)) + mlp(post_attention_layernorm(h))

so the MLP reads the block's input, not the residual after attention; with the flag off the block is
sequential like GPT-2. Either way the attention module's first output is what attention adds to the
residual (``attn_out``) and the MLP module's output what the MLP adds (``mlp_out``); both dropouts
around them are identities in eval mode. The attention module computes before the MLP in both
layouts, so the runtime's site order within a block (heads, attn_out, mlp, mlp_out) still holds for
stopping the forward early. The final norm is ``gpt_neox.final_layer_norm``; the unembedding
``embed_out`` (``lm_head`` in recent transformers; ``get_output_embeddings`` finds either).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tools.runtime.adapters.base import ArchAdapter

#: Hugging Face ``model_type`` values served by ``GPTNeoXAdapter``.
MODEL_TYPES = ("gpt_neox",)


class GPTNeoXAdapter(ArchAdapter):
    """GPT-NeoX / Pythia (fused ``query_key_value``; ``dense`` out-projection; plain GELU MLP)."""

    family = "gpt_neox"

    def _block(self, layer: int) -> Any:
        return self.blocks()[layer]

    def blocks(self) -> nn.ModuleList:
        """``gpt_neox.layers``."""
        return self.model.gpt_neox.layers

    def attention(self, layer: int) -> nn.Module:
        """``attention``."""
        return self._block(layer).attention

    def attn_out_proj(self, layer: int) -> nn.Module:
        """``attention.dense`` (nn.Linear; its input is the heads, ``n_heads * head_dim`` wide)."""
        return self._block(layer).attention.dense

    def mlp(self, layer: int) -> nn.Module:
        """``mlp``."""
        return self._block(layer).mlp

    def mlp_down_proj(self, layer: int) -> nn.Module:
        """``mlp.dense_4h_to_h`` (nn.Linear, weight [d_model, d_mlp])."""
        return self._block(layer).mlp.dense_4h_to_h

    def mlp_out_weight(self, layer: int) -> torch.Tensor:
        """``dense_4h_to_h.weight`` transposed to [d_mlp, d_model]."""
        return self._block(layer).mlp.dense_4h_to_h.weight.T

    def final_norm(self) -> nn.Module:
        """``gpt_neox.final_layer_norm``."""
        return self.model.gpt_neox.final_layer_norm

    def unembedding(self) -> torch.Tensor:
        """The output embedding's weight (``embed_out`` or ``lm_head``) [vocab, d_model]."""
        return self.model.get_output_embeddings().weight
