"""Interventions on activations: what to change, where, for which batch rows and positions.

An ``Intervention`` names a site (``L3.mlp_out``) or a unit (``L3.mlp.17``), an operation, and
optionally the batch rows and token positions it applies to. Several interventions, each on its own
rows, run in one forward — that is how ablation and patching sweeps are batched.

Operations (``cur`` is the current value at the selected rows/positions/columns):

=========  ==========================================================================
``zero``   0
``set``    ``value`` (a scalar, or a vector as wide as the target)
``add``    ``cur + value``
``scale``  ``cur * value``
``mean``   ``value`` when given (e.g. a dataset mean from the exemplar cache); otherwise the
           mean of the target over every real (non-padding) token of the current batch
``patch``  the activations of another run: ``source`` is a [T, width] tensor (same for every
           row) or a sequence of them, one per selected row, indexed by token position
=========  ==========================================================================

Positions may be negative: -1 is each row's last real token, whatever the padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from store.errors import InputError

InterventionOp = Literal["zero", "set", "add", "scale", "mean", "patch"]
OPS: tuple[str, ...] = ("zero", "set", "add", "scale", "mean", "patch")


@dataclass(frozen=True)
class Intervention:
    """One change to one site or unit, on some rows and positions of a batch."""

    target: str
    op: InterventionOp
    value: float | torch.Tensor | None = None
    rows: tuple[int, ...] | None = None
    positions: tuple[int, ...] | None = None
    source: torch.Tensor | Sequence[torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise InputError(f"unknown intervention op {self.op!r}; choose one of {', '.join(OPS)}")
        if self.op in ("set", "add", "scale") and self.value is None:
            raise InputError(f"intervention {self.op!r} on {self.target} needs a value")
        if self.op == "patch" and self.source is None:
            raise InputError(f"intervention 'patch' on {self.target} needs source activations from another run")


def select_positions(
    lengths: Sequence[int], rows: Sequence[int], positions: Sequence[int] | None, target: str
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Flattened (row, position) indices of the cells an intervention touches.

    Returns the row index tensor, the position index tensor, and how many cells each row got.
    Raises InputError when a position falls outside a row's real tokens.
    """
    row_idx: list[int] = []
    pos_idx: list[int] = []
    counts: list[int] = []
    for row in rows:
        length = lengths[row]
        wanted = range(length) if positions is None else positions
        resolved = [p + length if p < 0 else p for p in wanted]
        bad = [p for p, r in zip(wanted, resolved, strict=True) if not 0 <= r < length]
        if bad:
            raise InputError(
                f"intervention on {target}: position {bad[0]} is outside row {row}'s {length} tokens "
                f"(valid: 0..{length - 1} or -{length}..-1)"
            )
        row_idx.extend([row] * len(resolved))
        pos_idx.extend(resolved)
        counts.append(len(resolved))
    return torch.tensor(row_idx, dtype=torch.long), torch.tensor(pos_idx, dtype=torch.long), counts


def _as_vector(value: float | torch.Tensor, width: int, like: torch.Tensor, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if tensor.ndim == 0:
        return tensor
    tensor = tensor.reshape(-1)
    if tensor.numel() != width:
        raise InputError(f"{what}: value has {tensor.numel()} entries but the target is {width} wide")
    return tensor


def patch_values(
    iv: Intervention, counts: Sequence[int], pos_idx: torch.Tensor, width: int, like: torch.Tensor
) -> torch.Tensor:
    """The source activations for every selected cell of a ``patch`` intervention, as [cells, width]."""
    assert iv.source is not None
    sources: Sequence[torch.Tensor]
    if isinstance(iv.source, torch.Tensor):
        sources = [iv.source] * len(counts)
    else:
        sources = list(iv.source)
        if len(sources) != len(counts):
            raise InputError(f"patch on {iv.target}: {len(sources)} source runs for {len(counts)} rows")
    pieces: list[torch.Tensor] = []
    start = 0
    for source, count in zip(sources, counts, strict=True):
        src = source.to(device=like.device, dtype=like.dtype)
        if src.ndim == 1:
            src = src.unsqueeze(-1)
        if src.shape[-1] != width:
            raise InputError(f"patch on {iv.target}: source is {src.shape[-1]} wide, the target {width}")
        pos = pos_idx[start : start + count]
        if count and int(pos.max()) >= src.shape[0]:
            raise InputError(
                f"patch on {iv.target}: position {int(pos.max())} is beyond the source run's {src.shape[0]} tokens"
            )
        pieces.append(src[pos.to(src.device)])
        start += count
    return torch.cat(pieces) if pieces else like.new_zeros((0, width))


def apply_op(
    iv: Intervention,
    current: torch.Tensor,
    *,
    batch_mean: torch.Tensor | None,
    patch: torch.Tensor | None,
) -> torch.Tensor:
    """New values for the selected cells (``current`` is [cells, width])."""
    width = current.shape[-1]
    if iv.op == "zero":
        return torch.zeros_like(current)
    if iv.op == "set":
        assert iv.value is not None
        return _as_vector(iv.value, width, current, f"set on {iv.target}").expand_as(current).clone()
    if iv.op == "add":
        assert iv.value is not None
        return current + _as_vector(iv.value, width, current, f"add on {iv.target}")
    if iv.op == "scale":
        assert iv.value is not None
        return current * _as_vector(iv.value, width, current, f"scale on {iv.target}")
    if iv.op == "mean":
        mean = _as_vector(iv.value, width, current, f"mean on {iv.target}") if iv.value is not None else batch_mean
        assert mean is not None
        return mean.expand_as(current).clone()
    assert patch is not None
    return patch
