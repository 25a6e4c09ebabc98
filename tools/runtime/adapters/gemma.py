"""Gemma 1, 2 and 3 (text): ``model.layers[i].self_attn.o_proj`` / ``.mlp.down_proj``, gated GELU MLP.

What differs from Llama:

* **Norms scale by ``1 + weight``** (``GemmaRMSNorm``), so the final norm's gain, used by direct
  logit attribution, is ``1 + model.norm.weight`` (``final_norm_scale``).
* **Heads are wider than ``d_model / n_heads``**: ``config.head_dim`` (256 in the released models),
  so ``o_proj``'s input — where heads are read — is ``n_heads * head_dim`` wide (``ModelShape``).
* **Gemma 2/3 normalise each sub-block's output before the residual add**::

      h = h + post_attention_layernorm(self_attn(input_layernorm(h)))
      h = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))

  Our ``attn_out`` and ``mlp_out`` are what the sub-block adds to the residual stream, i.e. the
  outputs of ``post_attention_layernorm`` and ``post_feedforward_layernorm`` — not the attention or
  MLP module's raw output. This keeps ``resid_post = resid_pre + attn_out + mlp_out`` as for every
  other family, makes ``scale``/``add`` interventions act on what reaches the residual (scaling the
  input of an RMSNorm would do nothing), and matches TransformerLens's ``hook_attn_out`` /
  ``hook_mlp_out`` for Gemma 2, which the Gemma Scope SAEs (SAELens names
  ``blocks.L.hook_mlp_out`` …) read. (A sparsify SAE on the module path ``layers.L.mlp`` of a
  Gemma 2/3 model read the raw MLP output instead.) A neuron's write (``mlp_out_weight``) includes the
  post-norm's gain ``1 + weight`` but not its input-dependent 1/RMS factor, just as direct logit
  attribution leaves out the final norm's. Gemma 1 has no post-norms: its sites are Llama's.
* **Final logits are soft-capped** in Gemma 2 (``final_logit_softcapping``: ``cap * tanh(z / cap)``)
  inside the model's own forward, so every logit the runtime returns is capped. Nothing in the
  runtime computes Gemma logits from the residual itself (the exact patching engine, which does,
  serves only Llama and GPT-2); direct logit attribution scores the linear pre-cap contribution,
  whose ranking the monotonic cap preserves.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tools.runtime.adapters.llama import LlamaAdapter

#: Hugging Face ``model_type`` values served by ``GemmaAdapter``.
MODEL_TYPES = ("gemma", "gemma2", "gemma3_text")


class GemmaAdapter(LlamaAdapter):
    """Gemma 1/2/3 text models (Llama's module paths; Gemma's norms, wide heads and post-norms)."""

    family = "gemma"

    def _post_norm(self, layer: int, name: str) -> nn.Module | None:
        """The block's ``name`` norm when it has one (Gemma 2/3), else None (Gemma 1)."""
        module = getattr(self._block(layer), name, None)
        return module if isinstance(module, nn.Module) else None

    def attn_out_module(self, layer: int) -> nn.Module:
        """``post_attention_layernorm`` in Gemma 2/3 (what attention adds to the residual); else ``self_attn``.

        Gemma 1's ``post_attention_layernorm`` is the MLP's *input* norm (Llama's naming), so the
        choice is by the presence of ``post_feedforward_layernorm``, which only Gemma 2/3 have.
        """
        if self._post_norm(layer, "post_feedforward_layernorm") is not None:
            return self._block(layer).post_attention_layernorm
        return self.attention(layer)

    def mlp_out_module(self, layer: int) -> nn.Module:
        """``post_feedforward_layernorm`` in Gemma 2/3 (what the MLP adds to the residual); else ``mlp``."""
        post = self._post_norm(layer, "post_feedforward_layernorm")
        return post if post is not None else self.mlp(layer)

    def mlp_out_weight(self, layer: int) -> torch.Tensor:
        """``down_proj.weight`` as [d_mlp, d_model], times the post-feed-forward norm's gain ``1 + w`` (Gemma 2/3)."""
        weight: torch.Tensor = self._block(layer).mlp.down_proj.weight.T
        post = self._post_norm(layer, "post_feedforward_layernorm")
        if post is None:
            return weight
        gain: Any = post.weight
        return weight * (1.0 + gain).to(weight.dtype)

    def final_norm_scale(self) -> torch.Tensor:
        """``1 + model.norm.weight`` (Gemma's RMSNorm stores the gain minus one)."""
        return 1.0 + self.model.model.norm.weight
