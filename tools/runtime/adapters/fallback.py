"""The structural fallback: sites of a causal LM that no family adapter covers, found by its structure.

``discover(model)`` looks for what every decoder-only transformer has, by shape and by name:

* **blocks** — the longest ``nn.ModuleList`` of identical composite modules (a list as long as the
  config's layer count first): ``resid_pre``/``resid_post`` are each block's input/output;
* **MLP output projection** — in the first block, a ``Linear`` (or transformers' ``Conv1D``) inside a
  child named like ``mlp``/``ffn``/``feed_forward`` that writes ``d_model`` values and reads more
  (or is named like one: ``down_proj``, ``dense_4h_to_h``, ``c_proj``, ``fc2``, ``w2``, ``out_proj`` …);
  its input holds the neurons (``mlp``), its output is ``mlp_out``;
* **attention output projection** — a ``Linear`` writing ``d_model`` inside a child named like
  ``attn``/``attention`` that is not a query/key/value projection (``o_proj``, ``dense``, ``c_proj`` …
  preferred); its input holds the heads (``head``, ``n_heads`` slices of ``in_features / n_heads``),
  its output is ``attn_out``;
* **final norm** — the last ``*Norm`` module outside the blocks (not an embedding norm);
* **unembedding** — ``model.get_output_embeddings().weight``.

Every block must have the same projections at the same relative paths (the blocks are one class).
``attn_out``/``mlp_out`` are the projections' *outputs*, not the attention/MLP modules': some blocks
add the residual inside the sub-module (BLOOM's ``BloomMLP`` returns ``residual + mlp``), and the
projection's output is what the sub-block adds to the residual in every block without post-sublayer
norms. Blocks that normalise a sub-block's output before adding it (Gemma 2-style) need an adapter.

What was found is logged as one warning line and kept on the adapter (``found``: site → where it is
read; ``found_sites``/``missing_sites``; ``report``); a request for a missing site is one InputError
line naming what was not found. When not even the block list is found, ``discover`` raises
ModelLoadError naming the architecture.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from store.errors import InputError, ModelLoadError
from tools.runtime.adapters.base import PARTS, ArchAdapter, HookPoint
from tools.runtime.addresses import ModelShape, Site

logger = logging.getLogger(__name__)

_MLP_PART = re.compile(r"mlp|ffn|feed_?forward|^ff$", re.IGNORECASE)
_ATTN_PART = re.compile(r"attn|attention", re.IGNORECASE)
_QKV_LEAF = re.compile(r"(^|_)(q|k|v|qk|kv|qkv|query|key|value|wq|wk|wv|wqkv|c_attn|in)(_|$)", re.IGNORECASE)
_DOWN_NAMES = ("down_proj", "dense_4h_to_h", "c_proj", "fc2", "w2", "out_proj", "wo", "fc_out", "proj_out", "dense")
_OUT_NAMES = ("o_proj", "out_proj", "dense", "c_proj", "wo", "o", "proj", "out", "dense_out", "out_lin")
_WHAT = {
    "mlp": "the MLP output projection (a Linear/Conv1D writing d_model inside a child named like mlp/ffn)",
    "attn": "the attention output projection (a Linear/Conv1D writing d_model inside a child named like attn)",
    "head": "heads (the attention output projection's input does not split into n_heads equal slices)",
    "final_norm": "the final norm (a *Norm module outside the blocks)",
    "unembedding": "the unembedding (model.get_output_embeddings())",
}
_NEEDS = {"mlp": "mlp", "mlp_out": "mlp", "attn_out": "attn", "head": "head"}


@dataclass(frozen=True)
class Projection:
    """A Linear-like module at the same ``path`` in every block, inside the child ``container``."""

    container: str  # relative to a block, e.g. "mlp"
    path: str  # relative to a block, e.g. "mlp.dense_4h_to_h"
    d_in: int
    transposed: bool  # weight stored [in, out] (transformers' Conv1D) rather than nn.Linear's [out, in]


@dataclass(eq=False)
class Structure:
    """What ``discover`` found in one model."""

    model_type: str
    blocks_path: str
    blocks: nn.ModuleList
    mlp: Projection | None
    attn: Projection | None
    heads_split: bool
    final_norm_path: str | None
    has_unembedding: bool


def _widths(module: nn.Module) -> tuple[int, int, bool] | None:
    """(in, out, transposed) of an nn.Linear or a transformers ``Conv1D`` (weight [in, out]); None otherwise."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features, False
    weight, nf = getattr(module, "weight", None), getattr(module, "nf", None)
    if isinstance(nf, int) and isinstance(weight, torch.Tensor) and weight.ndim == 2 and weight.shape[1] == nf:
        return int(weight.shape[0]), nf, True
    return None


def _projection(
    blocks: nn.ModuleList, d_model: int, part: re.Pattern[str], names: tuple[str, ...], *, mlp: bool
) -> Projection | None:
    """The best Linear-like module of block 0 writing ``d_model`` under a child matching ``part``,
    present with the same widths in every block; None when there is none."""
    ranked: list[tuple[tuple[bool, bool, int], Projection]] = []
    for order, (name, module) in enumerate(blocks[0].named_modules()):
        parts = name.split(".")
        where = next((i for i, p in enumerate(parts[:-1]) if part.search(p)), None)
        widths = _widths(module)
        if where is None or widths is None or widths[1] != d_model or any("expert" in p.lower() for p in parts):
            continue
        named, wider = parts[-1] in names, widths[0] > d_model
        if mlp and not (named or wider):
            continue
        if not mlp and _QKV_LEAF.search(parts[-1]):
            continue
        found = Projection(".".join(parts[: where + 1]), name, widths[0], widths[2])
        ranked.append(((named, wider if mlp else True, order), found))
    if not ranked:
        return None
    best = max(ranked, key=lambda item: item[0])[1]
    for block in blocks:
        try:
            module = block.get_submodule(best.path)
        except AttributeError:
            return None
        widths = _widths(module)
        if widths is None or widths[:2] != (best.d_in, d_model):
            return None
    return best


def _block_list(model: nn.Module, n_layers: int | None) -> tuple[str, nn.ModuleList] | None:
    """The longest ModuleList of identical composite modules (one as long as ``n_layers`` first)."""
    best: tuple[tuple[bool, int, int], str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if len({type(child) for child in module}) != 1 or next(module[0].children(), None) is None:
            continue
        key = (len(module) == n_layers, len(module), -name.count("."))
        if best is None or key > best[0]:
            best = (key, name, module)
    return None if best is None else (best[1], best[2])


def _config_int(config: object, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _final_norm(model: nn.Module, blocks_path: str, d_model: int) -> str | None:
    """Path of the last norm module outside the blocks with a d_model-wide gain (or none)."""
    found = None
    for name, module in model.named_modules():
        if not name or name == blocks_path or name.startswith(blocks_path + ".") or "embed" in name.lower():
            continue
        if "norm" not in type(module).__name__.lower():
            continue
        weight = getattr(module, "weight", None)
        if weight is None or (isinstance(weight, torch.Tensor) and tuple(weight.shape) == (d_model,)):
            found = name
    return found


def _output_embeddings(model: Any) -> torch.Tensor | None:
    try:
        head = model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    weight = getattr(head, "weight", None)
    return weight if isinstance(weight, torch.Tensor) and weight.ndim == 2 else None


def discover(model: nn.Module) -> FallbackAdapter:
    """Find the sites of ``model`` by its structure (module docstring); log what was found and not.

    ModelLoadError naming the architecture when no block list is found.
    """
    config = getattr(model, "config", None)
    model_type = str(getattr(config, "model_type", type(model).__name__))
    n_layers = _config_int(config, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    located = _block_list(model, n_layers)
    if located is None:
        raise ModelLoadError(
            f"architecture {model_type!r} has no adapter, and its decoder blocks could not be found "
            "(no nn.ModuleList of identical blocks)"
        )
    blocks_path, blocks = located
    d_model = _config_int(config, "hidden_size", "n_embd", "d_model", "dim")
    if d_model is None:
        embeddings: Any = model.get_input_embeddings()  # type: ignore[operator]
        d_model = int(embeddings.weight.shape[1])
    mlp = _projection(blocks, d_model, _MLP_PART, _DOWN_NAMES, mlp=True)
    attn = _projection(blocks, d_model, _ATTN_PART, _OUT_NAMES, mlp=False)
    n_heads = _config_int(config, "num_attention_heads", "n_head", "num_heads")
    heads_split = attn is not None and n_heads is not None and attn.d_in % n_heads == 0
    unembedding = _output_embeddings(model)
    structure = Structure(
        model_type=model_type,
        blocks_path=blocks_path,
        blocks=blocks,
        mlp=mlp,
        attn=attn,
        heads_split=heads_split,
        final_norm_path=_final_norm(model, blocks_path, d_model),
        has_unembedding=unembedding is not None and int(unembedding.shape[1]) == d_model,
    )
    d_mlp = mlp.d_in if mlp else _config_int(config, "intermediate_size", "ffn_hidden_size", "n_inner") or 4 * d_model
    heads = n_heads or 1
    head_dim = attn.d_in // heads if attn is not None and heads_split else d_model // heads
    shape = ModelShape(n_layers=len(blocks), d_model=d_model, d_mlp=d_mlp, n_heads=heads, head_dim=head_dim)
    adapter = FallbackAdapter(model, shape, structure)
    logger.warning("%s", adapter.report)
    return adapter


class FallbackAdapter(ArchAdapter):
    """Sites found by structure (``discover``); a missing site is an InputError naming what was not found."""

    family = "fallback"

    def __init__(self, model: nn.Module, shape: ModelShape, structure: Structure) -> None:
        super().__init__(model, shape)
        self.structure = structure

    # ------------------------------------------------------------------ what was found
    @property
    def found(self) -> dict[str, str]:
        """Each found site or part → where it is read (``{l}`` stands for the layer)."""
        s = self.structure
        block = f"{s.blocks_path}.{{l}}"
        found = {"resid_pre": f"input of {block}", "resid_post": f"output of {block}"}
        if s.attn is not None:
            found["attn_out"] = f"output of {block}.{s.attn.path}"
            if s.heads_split:
                found["head"] = f"input of {block}.{s.attn.path} ({self.shape.n_heads} x {self.shape.head_dim})"
        if s.mlp is not None:
            found["mlp"] = f"input of {block}.{s.mlp.path} ({s.mlp.d_in} neurons)"
            found["mlp_out"] = f"output of {block}.{s.mlp.path}"
        if s.final_norm_path is not None:
            found["final_norm"] = s.final_norm_path
        if s.has_unembedding:
            found["unembedding"] = "get_output_embeddings().weight"
        return {part: found[part] for part in PARTS if part in found}

    @property
    def missing_sites(self) -> tuple[str, ...]:
        """Sites and parts not found (``PARTS`` order)."""
        found = self.found
        return tuple(part for part in PARTS if part not in found)

    @property
    def report(self) -> str:
        """One line: the architecture, the blocks, every found site with where it is read, what is missing."""
        s = self.structure
        listed = "; ".join(f"{part} = {where}" for part, where in self.found.items())
        missing = ", ".join(self.missing_sites) or "nothing"
        return (
            f"architecture {s.model_type!r} has no adapter; the structural fallback found {len(s.blocks)} blocks "
            f"at {s.blocks_path}: {listed}; not found: {missing}"
        )

    def _missing(self, part: str, asked: str) -> InputError:
        """The one-line error for ``asked`` (a site or a part) when ``part`` was not found."""
        return InputError(
            f"{asked} is unavailable: this {self.structure.model_type!r} model has no adapter and the structural "
            f"fallback found no {_WHAT[part].removeprefix('the ')}; found: {', '.join(self.found_sites)}"
        )

    def _block(self, layer: int) -> nn.Module:
        return self.structure.blocks[layer]

    def _mlp(self, asked: str) -> Projection:
        if self.structure.mlp is None:
            raise self._missing("mlp", asked)
        return self.structure.mlp

    def _attn(self, asked: str) -> Projection:
        if self.structure.attn is None:
            raise self._missing("attn", asked)
        return self.structure.attn

    # ------------------------------------------------------------------ the adapter
    def hook_point(self, site: Site) -> HookPoint:
        """As for any adapter; InputError naming what was not found when ``site`` is missing."""
        need = _NEEDS.get(site.kind)
        if need == "head" and self.structure.attn is None:
            need = "attn"
        if need is not None and site.kind in self.missing_sites:
            raise self._missing(need, str(site))
        return super().hook_point(site)

    def blocks(self) -> nn.ModuleList:
        """The discovered block list."""
        return self.structure.blocks

    def attention(self, layer: int) -> nn.Module:
        """The child of the block holding the attention output projection."""
        return self._block(layer).get_submodule(self._attn(f"L{layer} attention").container)

    def attn_out_proj(self, layer: int) -> nn.Module:
        """The discovered attention output projection."""
        return self._block(layer).get_submodule(self._attn(f"L{layer}.attn").path)

    def attn_out_module(self, layer: int) -> nn.Module:
        """The attention output projection (its output is what attention adds to the residual)."""
        return self.attn_out_proj(layer)

    def mlp(self, layer: int) -> nn.Module:
        """The child of the block holding the MLP output projection."""
        return self._block(layer).get_submodule(self._mlp(f"L{layer} MLP").container)

    def mlp_out_module(self, layer: int) -> nn.Module:
        """The MLP output projection (its output is what the MLP adds to the residual)."""
        return self.mlp_down_proj(layer)

    def mlp_down_proj(self, layer: int) -> nn.Module:
        """The discovered MLP output projection."""
        return self._block(layer).get_submodule(self._mlp(f"L{layer}.mlp").path)

    def mlp_out_weight(self, layer: int) -> torch.Tensor:
        """The MLP output projection's weight as [d_mlp, d_model]."""
        projection = self._mlp(f"L{layer}.mlp")
        weight: Any = self.mlp_down_proj(layer).weight
        return weight if projection.transposed else weight.T

    def final_norm(self) -> nn.Module:
        """The discovered final norm."""
        if self.structure.final_norm_path is None:
            raise self._missing("final_norm", "the final norm")
        return self.model.get_submodule(self.structure.final_norm_path)

    def unembedding(self) -> torch.Tensor:
        """``get_output_embeddings().weight`` [vocab, d_model]."""
        weight = _output_embeddings(self.model) if self.structure.has_unembedding else None
        if weight is None:
            raise self._missing("unembedding", "the unembedding")
        return weight
