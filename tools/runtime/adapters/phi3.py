"""Phi-3: Llama's module paths (``model.layers[i].self_attn.o_proj`` / ``.mlp.down_proj``, ``model.norm``,
``lm_head``) with fused projections.

The attention's query, key and value come from one ``qkv_proj``, and the MLP's gate and up
projections from one ``gate_up_proj`` whose output is split in two: ``down_proj`` receives
``act(gate) * up``, ``intermediate_size`` wide. A neuron is still one column of ``down_proj``'s input
(read by a pre-hook, as for Llama), and ``mlp_out_weight`` is ``down_proj.weight`` transposed. The
blocks' ``resid_attn_dropout``/``resid_mlp_dropout`` are identities in eval mode, so the attention and
MLP modules' outputs are what the block adds to the residual.
"""

from __future__ import annotations

from tools.runtime.adapters.llama import LlamaAdapter

#: Hugging Face ``model_type`` values served by ``Phi3Adapter``.
MODEL_TYPES = ("phi3",)


class Phi3Adapter(LlamaAdapter):
    """Phi-3 (fused ``qkv_proj`` and ``gate_up_proj``; every site at Llama's module paths)."""

    family = "phi3"
