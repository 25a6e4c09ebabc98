"""Architecture adapters: the one place that knows where each site lives in a Hugging Face model.

Everything else in the runtime speaks in sites (``tools.runtime.addresses``); an adapter maps a site
to a module and a hook kind (``base.py``). One file per architecture family (``llama.py``,
``gpt2.py``, ``gemma.py``, ``gpt_neox.py``, ``phi3.py``), and this factory: ``adapter_for(model)``
picks the family by the config's ``model_type``. A model of any other type gets the structural
fallback (``fallback.py``), which finds the blocks and projections by shape and name, logs which
sites it found, and refuses the others one line each. To support a new family fully, add a file with
an ``ArchAdapter`` subclass and its ``MODEL_TYPES``, and list it in ``FAMILIES``.
"""

from __future__ import annotations

from torch import nn

from store.errors import ModelLoadError
from tools.runtime.adapters import fallback, gemma, gpt2, gpt_neox, llama, phi3
from tools.runtime.adapters.base import PARTS, SITE_KINDS, ArchAdapter, HookKind, HookPoint
from tools.runtime.adapters.fallback import FallbackAdapter
from tools.runtime.addresses import ModelShape

__all__ = [
    "ADAPTERS",
    "PARTS",
    "SITE_KINDS",
    "ArchAdapter",
    "FallbackAdapter",
    "HookKind",
    "HookPoint",
    "adapter_for",
    "shape_of",
]

FAMILIES: tuple[tuple[tuple[str, ...], type[ArchAdapter]], ...] = (
    (llama.MODEL_TYPES, llama.LlamaAdapter),
    (gpt2.MODEL_TYPES, gpt2.GPT2Adapter),
    (gemma.MODEL_TYPES, gemma.GemmaAdapter),
    (gpt_neox.MODEL_TYPES, gpt_neox.GPTNeoXAdapter),
    (phi3.MODEL_TYPES, phi3.Phi3Adapter),
)
ADAPTERS: dict[str, type[ArchAdapter]] = {
    model_type: adapter for model_types, adapter in FAMILIES for model_type in model_types
}


def shape_of(config: object) -> ModelShape:
    """Read layer count and widths from a Hugging Face config (GPT-2, Llama, Gemma, GPT-NeoX, Falcon naming).

    ``head_dim`` is the config's own when it has one (Gemma's heads are wider than d_model / n_heads),
    else ``d_model // n_heads``.
    """

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
    d_mlp = first("intermediate_size", "n_inner", "ffn_hidden_size") or 4 * d_model
    head_dim = first("head_dim") or d_model // n_heads
    return ModelShape(n_layers=n_layers, d_model=d_model, d_mlp=d_mlp, n_heads=n_heads, head_dim=head_dim)


def adapter_for(model: nn.Module) -> ArchAdapter:
    """The family adapter for a loaded model, else the structural fallback (which logs what it found).

    ModelLoadError naming the architecture and the supported families when not even the fallback
    finds the model's blocks.
    """
    config = model.config
    model_type = getattr(config, "model_type", None)
    adapter_cls = ADAPTERS.get(str(model_type))
    if adapter_cls is not None:
        return adapter_cls(model, shape_of(config))
    try:
        return fallback.discover(model)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{exc}; adapters exist for: {', '.join(sorted(ADAPTERS))}") from None
