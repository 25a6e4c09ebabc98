"""The probe's encoder: a small MLP from a model's summary vector (d_model) to a D-dimensional
hypervector's logits, and its training.

**Model.** Standardise (the training set's mean and standard deviation, kept as buffers) → Linear(d,
hidden) → GELU → Dropout → Linear(hidden, D). The hypervector is ``sign(logits)`` (ties to −1, as MAP's
``normalize``).

**Loss.** BCE-with-logits against ``(t + 1) / 2`` plus ``mse_weight`` (0.1) × the MSE between
``tanh(logits / 2)`` (= 2σ(logits) − 1, the expected ±1 value) and the bipolar target ``t``. AdamW;
the batch order of each epoch is a permutation seeded by (seed, epoch).

**Checkpoint selection.** After every epoch the mean cosine similarity between ``sign(logits)`` and
the target on the validation prompts is measured; the encoder kept is the best epoch's.

**Resuming.** After every epoch the whole state (weights, AdamW moments, epoch, best weights and
score, history) is written atomically to the checkpoint file; training with the same file continues
after the last finished epoch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from tqdm import tqdm

__all__ = ["Encoder", "EncoderConfig", "TrainOutcome", "bipolar", "cosine_to_targets", "train_encoder"]


class EncoderConfig(BaseModel):
    """How the encoder is shaped and trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: int = Field(1024, ge=8, le=16384, description="Width of the MLP's hidden layer.")
    epochs: int = Field(40, ge=1, le=1000)
    batch: int = Field(64, ge=1, le=4096)
    lr: float = Field(1e-3, gt=0, le=1.0)
    weight_decay: float = Field(0.01, ge=0)
    mse_weight: float = Field(0.1, ge=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    seed: int = Field(0, ge=0)


class Encoder(nn.Module):
    """Standardise, then Linear → GELU → Dropout → Linear: summary vector → hypervector logits."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, d_in: int, dim: int, hidden: int = 1024, dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(d_in))
        self.register_buffer("std", torch.ones(d_in))
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def set_scale(self, x: torch.Tensor) -> None:
        """Standardise inputs with the mean and standard deviation of ``x`` [N, d_in]."""
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp(min=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, D] of the hypervector of each summary vector in ``x`` [N, d_in]."""
        out: torch.Tensor = self.net((x - self.mean) / self.std)
        return out


def bipolar(logits: torch.Tensor) -> torch.Tensor:
    """``sign(logits)`` with ties to −1 (MAP's normalize)."""
    return torch.where(logits > 0, 1.0, -1.0)


def cosine_to_targets(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cosine similarity between ``sign(logits)`` and the bipolar targets (rows)."""
    v = bipolar(logits)
    return float(torch.nn.functional.cosine_similarity(v, targets.float(), dim=-1).mean())


def _loss(logits: torch.Tensor, targets: torch.Tensor, mse_weight: float) -> torch.Tensor:
    bce = nn.functional.binary_cross_entropy_with_logits(logits, (targets + 1) / 2)
    mse = nn.functional.mse_loss(torch.tanh(logits / 2), targets)
    return bce + mse_weight * mse


class TrainOutcome(BaseModel):
    """How training went: the best epoch and its validation cosine, the per-epoch history, timing."""

    best_epoch: int
    best_val_cosine: float
    epochs: int
    resumed_from_epoch: int = 0
    history: list[dict[str, float]]
    seconds: float


def _save_atomic(state: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _predict(encoder: Encoder, x: torch.Tensor, batch: int = 1024) -> torch.Tensor:
    encoder.eval()
    with torch.no_grad():
        return torch.cat([encoder(x[i : i + batch]) for i in range(0, x.shape[0], batch)])


def train_encoder(
    x_train: torch.Tensor,
    t_train: torch.Tensor,
    x_val: torch.Tensor,
    t_val: torch.Tensor,
    config: EncoderConfig,
    *,
    checkpoint: Path | None = None,
    progress: bool = False,
    on_epoch: Callable[[int, int], None] | None = None,
) -> tuple[Encoder, TrainOutcome]:
    """Train an encoder on (summary vector, target hypervector) rows; return the best epoch's encoder.

    ``checkpoint``: the file the state is saved to after every epoch and resumed from when it exists.
    ``on_epoch(done, total)`` is called after every epoch (a job's progress).
    """
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    encoder = Encoder(x_train.shape[1], t_train.shape[1], config.hidden, config.dropout)
    encoder.set_scale(x_train)
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    first_epoch = 0
    best_state = {k: v.clone() for k, v in encoder.state_dict().items()}
    best_val, best_epoch = float("-inf"), 0
    history: list[dict[str, float]] = []
    if checkpoint is not None and checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=False)
        encoder.load_state_dict(saved["encoder"])
        optimizer.load_state_dict(saved["optimizer"])
        first_epoch, best_state = int(saved["epoch"]), saved["best_state"]
        best_val, best_epoch, history = float(saved["best_val"]), int(saved["best_epoch"]), list(saved["history"])
    resumed = first_epoch
    n = x_train.shape[0]
    with tqdm(
        total=config.epochs, initial=first_epoch, unit="epoch", desc="hdprobe encoder", disable=not progress
    ) as bar:
        for epoch in range(first_epoch, config.epochs):
            encoder.train()
            order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch))
            total = 0.0
            for at in range(0, n, config.batch):
                rows = order[at : at + config.batch]
                loss = _loss(encoder(x_train[rows]), t_train[rows], config.mse_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(rows)
            val = cosine_to_targets(_predict(encoder, x_val), t_val)
            history.append({"epoch": epoch + 1, "loss": total / n, "val_cosine": val})
            if val > best_val:
                best_val, best_epoch = val, epoch + 1
                best_state = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
            if checkpoint is not None:
                _save_atomic(
                    {
                        "encoder": encoder.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "epoch": epoch + 1,
                        "best_state": best_state,
                        "best_val": best_val,
                        "best_epoch": best_epoch,
                        "history": history,
                    },
                    checkpoint,
                )
            bar.set_postfix(loss=f"{total / n:.4f}", val_cos=f"{val:.3f}")
            bar.update(1)
            if on_epoch is not None:
                on_epoch(epoch + 1, config.epochs)
    encoder.load_state_dict(best_state)
    encoder.eval()
    outcome = TrainOutcome(
        best_epoch=best_epoch,
        best_val_cosine=best_val,
        epochs=config.epochs,
        resumed_from_epoch=resumed,
        history=history,
        seconds=time.perf_counter() - started,
    )
    return encoder, outcome
