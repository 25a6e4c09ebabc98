"""Exact activation patching that exploits causality instead of one full forward per cell.

Denoising patching puts a clean activation into the corrupt run. Two facts make most of that work
unnecessary:

* everything *before* the patched layer is unchanged, so a patched run can **resume** from the
  corrupt run's cached residual stream at the patched layer;
* every position *before* the patched one is unchanged at every layer, so a patched run only needs
  to compute positions ``p..T-1``; their attention reads the corrupt run's cached keys/values for
  positions ``< p`` (handed to the Hugging Face attention through a small duck-typed cache).

A run that resumes at layer ``s`` with a new residual for positions ``p..T-1`` is a **row**. Rows
of one position ``p`` are batched: at layer ``j`` only the rows that started at or before ``j`` are
computed (rows that start later are still the cached corrupt residual), so the batch grows layer by
layer. Only the last position goes through the final norm and the unembedding (of the target and
foil tokens).

Sub-block sites reduce to rows too. Patching ``attn_out`` or ``mlp_out`` of layer ``l`` at one
position changes nothing else in layer ``l`` (keys and values come from the block's input, and
everything after the attention output is position-wise), so layer ``l`` is run once on the corrupt
input with the sub-block's output replaced at *all* positions (a forward hook): its output at
position ``p`` is the residual entering layer ``l + 1`` when only ``p`` is patched. A head is
patched at all positions, so its rows resume at layer ``l + 1`` with the whole sequence (no prefix).

Cells whose clean and corrupt activations are bitwise equal (e.g. positions before the first token
that differs) are not run: patching them is a no-op, so their patched logit difference is the
corrupt one.

Supported model types: ``llama`` and ``gpt2`` (``EXACT_MODEL_TYPES``) with ``sdpa`` or ``eager``
attention; ``tools.patching.patch`` falls back to the naive loop otherwise, e.g. for the rest of the Llama
family, whose blocks may carry extras (sliding windows, layers without rotary embeddings, residual
multipliers) that this engine does not model, or for flash attention, which ignores explicit masks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tools.runtime.addresses import Site
from tools.runtime.loading import LoadedModel

EXACT_MODEL_TYPES = ("llama", "gpt2")
#: Attention implementations that honour the explicit additive mask the engine passes.
EXACT_ATTENTION = ("sdpa", "eager")
#: Upper bound on rows x positions of one batched pass (memory, not speed).
TOKEN_BUDGET = 16384


def supports_exact(loaded: LoadedModel) -> bool:
    """Whether the engine handles this model (its type, and an attention that takes explicit masks)."""
    config = loaded.model.config
    attention = getattr(config, "_attn_implementation", None) or "eager"
    return str(getattr(config, "model_type", "")) in EXACT_MODEL_TYPES and attention in EXACT_ATTENTION


class _RecordingCache:
    """Duck-typed HF cache for a full-sequence run: keeps each layer's keys/values, returns them unchanged."""

    def __init__(self) -> None:
        self.kv: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Record and pass through."""
        self.kv[layer_idx] = (key_states, value_states)
        return key_states, value_states


class _PrefixCache:
    """Duck-typed HF cache: the corrupt run's keys/values of positions ``< p`` before the new ones."""

    def __init__(self, kv: dict[int, tuple[torch.Tensor, torch.Tensor]], prefix: int) -> None:
        self.kv = kv
        self.prefix = prefix

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepend the cached prefix (expanded to the batch) to the keys/values of the new positions."""
        if self.prefix == 0:
            return key_states, value_states
        keys, values = self.kv[layer_idx]
        rows = key_states.shape[0]
        past_k = keys[:, :, : self.prefix].expand(rows, -1, -1, -1)
        past_v = values[:, :, : self.prefix].expand(rows, -1, -1, -1)
        return torch.cat([past_k, key_states], dim=2), torch.cat([past_v, value_states], dim=2)


@dataclass
class Trace:
    """One prompt's run: residual entering each block (plus the last block's output), the patched
    site's activations per layer, the per-layer keys/values, and the target-minus-foil logit difference."""

    resid: list[torch.Tensor]  # n_layers + 1 tensors [T, d_model]
    site: list[torch.Tensor] = field(default_factory=list)  # n_layers tensors [T, width] (empty for resid_pre)
    kv: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    ld: float = 0.0


class ExactPatcher:
    """Runs the blocks of a Llama or GPT-2 model directly, resuming cached corrupt runs."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model: Any = loaded.model
        self.adapter = loaded.adapter
        self.family = str(self.model.config.model_type)
        if not supports_exact(loaded):
            raise ValueError(f"the exact patching engine does not handle this {self.family!r} model")
        self.blocks = self.adapter.blocks()
        self.n_layers = len(self.blocks)
        self.device = next(self.model.parameters()).device
        self.dtype = next(self.model.parameters()).dtype
        self._masks: dict[tuple[int, int], torch.Tensor] = {}
        self._rotary: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    # ------------------------------------------------------------------ model pieces
    def embed(self, ids: Sequence[int]) -> torch.Tensor:
        """Residual stream entering block 0, as [1, T, d_model]."""
        tokens = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        if self.family == "gpt2":
            positions = torch.arange(tokens.shape[1], device=self.device).unsqueeze(0)
            return self.model.transformer.wte(tokens) + self.model.transformer.wpe(positions)
        return self.model.model.embed_tokens(tokens)

    def _mask(self, start: int, total: int) -> torch.Tensor:
        """Additive mask [1, 1, total - start, total]: query ``start + i`` sees keys ``0..start + i``."""
        key = (start, total)
        if key not in self._masks:
            queries = torch.arange(start, total, device=self.device)[:, None]
            keys = torch.arange(total, device=self.device)[None, :]
            mask = torch.zeros((total - start, total), dtype=self.dtype, device=self.device)
            mask.masked_fill_(keys > queries, torch.finfo(self.dtype).min)
            self._masks[key] = mask[None, None]
        return self._masks[key]

    def block(self, layer: int, hidden: torch.Tensor, start: int, cache: Any) -> torch.Tensor:
        """Block ``layer`` on positions ``start..T-1`` (``hidden``: [B, T - start, d]); ``cache`` holds the rest."""
        total = start + hidden.shape[1]
        mask = self._mask(start, total)
        module: Any = self.blocks[layer]
        if self.family == "gpt2":
            out = module(hidden, past_key_values=cache, attention_mask=mask)
        else:
            positions = torch.arange(start, total, device=self.device).unsqueeze(0)
            key = (start, total)
            if key not in self._rotary:
                self._rotary[key] = self.model.model.rotary_emb(hidden, positions)
            out = module(
                hidden,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                position_embeddings=self._rotary[key],
            )
        return out[0] if isinstance(out, tuple) else out

    def logit_diff(self, last: torch.Tensor, target: int, foil: int) -> torch.Tensor:
        """logit(target) - logit(foil) for final residuals ``last`` ([B, d_model]) → [B]."""
        normed = self.adapter.final_norm()(last)
        head = self.model.get_output_embeddings()
        rows = head.weight[[target, foil]]
        logits = normed @ rows.T
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[[target, foil]]
        return logits[:, 0] - logits[:, 1]

    # ------------------------------------------------------------------ hooks
    def _point(self, layer: int, site: str) -> tuple[nn.Module, str]:
        kind = {"attn_out": Site(layer, "attn_out"), "mlp_out": Site(layer, "mlp_out")}.get(
            site, Site(layer, "head", 0)
        )
        point = self.adapter.hook_point(kind)
        return point.module, point.kind

    @contextmanager
    def _hook(self, layer: int, site: str, fn: Callable[[torch.Tensor], torch.Tensor | None]) -> Iterator[None]:
        """Apply ``fn`` to the site tensor of ``layer`` (return a replacement, or None to only read it)."""
        module, kind = self._point(layer, site)
        if kind == "pre":

            def pre(mod: nn.Module, args: tuple[Any, ...]) -> Any:
                new = fn(args[0])
                return None if new is None else (new, *args[1:])

            handle = module.register_forward_pre_hook(pre)
        else:

            def post(mod: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
                is_tuple = isinstance(output, tuple)
                new = fn(output[0] if is_tuple else output)
                if new is None:
                    return None
                return (new, *output[1:]) if is_tuple else new

            handle = module.register_forward_hook(post)
        try:
            yield
        finally:
            handle.remove()

    # ------------------------------------------------------------------ runs
    def trace(self, ids: Sequence[int], site: str, target: int, foil: int) -> Trace:
        """Full run of one prompt recording residuals, ``site`` activations (unless resid_pre) and keys/values."""
        hidden = self.embed(ids)
        cache = _RecordingCache()
        result = Trace(resid=[])
        for layer in range(self.n_layers):
            result.resid.append(hidden[0])
            if site == "resid_pre":
                hidden = self.block(layer, hidden, 0, cache)
                continue

            def keep(x: torch.Tensor) -> None:
                result.site.append(x[0].clone())

            with self._hook(layer, site, keep):
                hidden = self.block(layer, hidden, 0, cache)
        result.resid.append(hidden[0])
        result.kv = cache.kv
        result.ld = float(self.logit_diff(hidden[:, -1], target, foil)[0])
        return result

    def resume(
        self,
        rows: Sequence[tuple[int, torch.Tensor]],
        start: int,
        kv: dict[int, tuple[torch.Tensor, torch.Tensor]],
        target: int,
        foil: int,
    ) -> torch.Tensor:
        """Logit differences of rows ``(first layer, residual [T - start, d] entering it)`` → [len(rows)].

        A row whose first layer is ``n_layers`` is already final. Rows are run in chunks of at most
        ``TOKEN_BUDGET`` tokens, each chunk growing its batch as its rows' first layers are reached.
        """
        out = torch.empty(len(rows), dtype=torch.float32)
        if not rows:
            return out
        width = max(1, rows[0][1].shape[0])
        per_chunk = max(1, TOKEN_BUDGET // width)
        order = sorted(range(len(rows)), key=lambda i: rows[i][0])
        cache = _PrefixCache(kv, start)
        for begin in range(0, len(order), per_chunk):
            chunk = order[begin : begin + per_chunk]
            active: torch.Tensor | None = None
            placed: list[int] = []
            cursor = 0
            for layer in range(self.n_layers + 1):
                joining = []
                while cursor < len(chunk) and rows[chunk[cursor]][0] == layer:
                    joining.append(chunk[cursor])
                    cursor += 1
                if joining:
                    fresh = torch.stack([rows[i][1] for i in joining])
                    active = fresh if active is None else torch.cat([active, fresh])
                    placed.extend(joining)
                if active is not None and layer < self.n_layers:
                    active = self.block(layer, active, start, cache)
            assert active is not None
            lds = self.logit_diff(active[:, -1], target, foil).float().cpu()
            out[torch.tensor(placed)] = lds
        return out

    def with_site(self, layer: int, site: str, hidden: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Block ``layer`` on full-sequence inputs ``hidden`` [B, T, d] with its ``site`` tensor replaced.

        ``values`` is [B, T, width]: the whole site tensor of each row (for heads, the whole o_proj input).
        """
        with self._hook(layer, site, lambda x: values.to(x.dtype)):
            return self.block(layer, hidden, 0, None)


def exact_table(
    engine: ExactPatcher,
    clean_ids: Sequence[int],
    corrupt_ids: Sequence[int],
    site: str,
    target: int,
    foil: int,
    *,
    skip_noop: bool = True,
) -> tuple[torch.Tensor, float, float]:
    """Patched logit differences of every cell ([layers, positions], or [layers, heads] for ``heads``),
    with the clean and corrupt logit differences.

    Cells that are no-ops are not run (their patched LD is the corrupt LD): positions before the first
    token where the prompts differ (identical by causality at every layer, whatever the floating-point
    noise of the two runs) and cells whose clean and corrupt activations are bitwise equal.
    ``skip_noop=False`` runs them anyway (for benchmarks that want the cost of the resumption alone).
    """
    with torch.inference_mode():
        clean = engine.trace(clean_ids, site, target, foil)
        corrupt = engine.trace(corrupt_ids, site, target, foil)
        if site == "heads":
            table = _heads(engine, clean, corrupt, target, foil, skip_noop)
        else:
            differ = [i for i, (a, b) in enumerate(zip(clean_ids, corrupt_ids, strict=True)) if a != b]
            first = (differ[0] if differ else len(clean_ids)) if skip_noop else 0
            table = _positions(engine, clean, corrupt, site, target, foil, skip_noop, first)
    return table, clean.ld, corrupt.ld


def _positions(
    engine: ExactPatcher,
    clean: Trace,
    corrupt: Trace,
    site: str,
    target: int,
    foil: int,
    skip_noop: bool,
    first: int,
) -> torch.Tensor:
    n_layers = engine.n_layers
    length = clean.resid[0].shape[0]
    table = torch.full((n_layers, length), corrupt.ld, dtype=torch.float32)
    # The residual leaving block l when that block's sub-block output is clean at every position.
    leaving: list[torch.Tensor] = []
    if site != "resid_pre":
        for layer in range(n_layers):
            leaving.append(engine.with_site(layer, site, corrupt.resid[layer][None], clean.site[layer][None])[0])
    for pos in range(first, length):
        rows: list[tuple[int, torch.Tensor]] = []
        cells: list[int] = []
        for layer in range(n_layers):
            if site == "resid_pre":
                new, old, start_layer = clean.resid[layer][pos], corrupt.resid[layer][pos], layer
                replacement = new
            else:
                new, old, start_layer = clean.site[layer][pos], corrupt.site[layer][pos], layer + 1
                replacement = leaving[layer][pos]
            if skip_noop and torch.equal(new, old):
                continue
            hidden = corrupt.resid[start_layer][pos:].clone()
            hidden[0] = replacement
            rows.append((start_layer, hidden))
            cells.append(layer)
        if rows:
            table[cells, pos] = engine.resume(rows, pos, corrupt.kv, target, foil)
    return table


def _heads(engine: ExactPatcher, clean: Trace, corrupt: Trace, target: int, foil: int, skip_noop: bool) -> torch.Tensor:
    n_layers, n_heads = engine.n_layers, engine.adapter.shape.n_heads
    head_dim = engine.adapter.shape.head_dim
    table = torch.full((n_layers, n_heads), corrupt.ld, dtype=torch.float32)
    rows: list[tuple[int, torch.Tensor]] = []
    cells: list[tuple[int, int]] = []
    for layer in range(n_layers):
        heads = [
            h
            for h in range(n_heads)
            if not skip_noop
            or not torch.equal(
                clean.site[layer][:, h * head_dim : (h + 1) * head_dim],
                corrupt.site[layer][:, h * head_dim : (h + 1) * head_dim],
            )
        ]
        if not heads:
            continue
        values = corrupt.site[layer].unsqueeze(0).repeat(len(heads), 1, 1)
        for row, h in enumerate(heads):
            cols = slice(h * head_dim, (h + 1) * head_dim)
            values[row, :, cols] = clean.site[layer][:, cols]
        hidden = corrupt.resid[layer].unsqueeze(0).expand(len(heads), -1, -1)
        leaving = engine.with_site(layer, "heads", hidden, values)
        for row, h in enumerate(heads):
            rows.append((layer + 1, leaving[row]))
            cells.append((layer, h))
    if rows:
        lds = engine.resume(rows, 0, corrupt.kv, target, foil)
        for (layer, h), value in zip(cells, lds.tolist(), strict=True):
            table[layer, h] = value
    return table
