"""Linear probes on pooled activations, trained as SAEBench trains them for SCR and TPP.

SAEBench (``sae_bench/evals/sparse_probing/probe_training.py``: ``Probe``, ``train_probe_gpu``,
``test_probe_gpu``; hyperparameters from ``sae_bench/evals/scr_and_tpp/eval_config.py``):

* ``Probe``: ``nn.Linear(d, 1)`` with a bias; the logit is its output, the prediction ``logit > 0``;
* loss: ``BCEWithLogitsLoss`` + ``l1_penalty · Σ|w|`` (the weight only, not the bias), ``l1_penalty = 1e-3``;
* optimiser: ``torch.optim.AdamW(lr=1e-3)`` with torch's defaults otherwise — so a weight decay of 0.01;
* 20 epochs of minibatches of 16 in a fresh random order each epoch (the batch size shapes how much of
  the spurious cue the biased probe learns: "DO NOT CHANGE", says the config);
* after each epoch the test accuracy is measured; the probe of the best epoch (strictly better than
  every earlier one) is kept, and that accuracy is the probe's. Early stopping's patience equals the
  number of epochs, so every run trains all 20.

Ours differs only in being reproducible and fast: the initialisation (the distribution of ``nn.Linear``'s:
``U(−1/√d, 1/√d)`` for weight and bias) and the order of each epoch come from a generator seeded by
``ProbeConfig.seed``, not from torch's global state, so the same data and seed give the same probe;
and the loss gradient and AdamW step are written out (``train_probe``), the same arithmetic as autograd
and ``torch.optim.AdamW``.
"""

from __future__ import annotations

import copy
import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from store.errors import InputError


class ProbeConfig(BaseModel):
    """Probe training hyperparameters (SAEBench's defaults for SCR and TPP)."""

    model_config = ConfigDict(frozen=True)

    lr: float = Field(1e-3, gt=0)
    l1_penalty: float = Field(1e-3, ge=0)
    weight_decay: float = Field(0.01, ge=0, description="torch AdamW's default, which SAEBench keeps")
    batch_size: int = Field(16, ge=1)
    epochs: int = Field(20, ge=1)
    seed: int = 0


class LinearProbe(nn.Module):
    """``Linear(d, 1)``: one logit per pooled activation vector."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [n] of pooled activations ``x`` [n, d]."""
        return self.net(x).squeeze(-1)

    @property
    def weight(self) -> torch.Tensor:
        """The probe direction ``w`` [d] (detached)."""
        return self.net.weight.detach()[0]

    @classmethod
    def from_weights(cls, weight: torch.Tensor, bias: float = 0.0) -> LinearProbe:
        """A probe with direction ``weight`` [d] and ``bias`` (hand-made probes, tests)."""
        probe = cls(weight.shape[0])
        with torch.no_grad():
            probe.net.weight.copy_(weight.float()[None, :])
            probe.net.bias.fill_(bias)
        return probe


class TrainedProbe(BaseModel):
    """A trained probe, its (best) test accuracy, the epoch it came from (1-based) and the test accuracy
    after every epoch."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    probe: LinearProbe
    test_accuracy: float
    epoch: int
    history: list[float]


def _check(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise InputError(f"{what}: need x [n, d] and y [n], got {list(x.shape)} and {list(y.shape)}")
    if x.shape[0] == 0:
        raise InputError(f"{what}: no examples")
    if not bool(((y == 0) | (y == 1)).all()):
        raise InputError(f"{what}: labels must be 0 or 1")


@torch.no_grad()
def accuracy(probe: LinearProbe, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows of ``x`` [n, d] whose prediction (``logit > 0``) equals the label ``y`` [n] (0/1)."""
    _check(x, y, "accuracy")
    predictions = (probe(x.float()) > 0).long()
    return float((predictions == y.long()).float().mean())


def train_probe(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    config: ProbeConfig | None = None,
) -> TrainedProbe:
    """Train a probe on ``x_train`` [n, d] / ``y_train`` [n] (0/1) and keep the epoch with the best
    accuracy on ``x_test`` / ``y_test`` (module docstring). Deterministic for a given seed.

    The gradient of the loss and the AdamW update are written out (``_AdamW``) rather than run through
    autograd and ``torch.optim.AdamW``: the same arithmetic (``tests/test_shift_metrics.py`` checks it
    against them), many times faster for a one-output probe on small batches."""
    config = config or ProbeConfig()
    _check(x_train, y_train, "probe training set")
    _check(x_test, y_test, "probe test set")
    if x_train.shape[1] != x_test.shape[1]:
        raise InputError(f"train and test activations differ in width ({x_train.shape[1]} vs {x_test.shape[1]})")
    dim = x_train.shape[1]
    # A column of ones folds the bias into one parameter vector theta = [w, b].
    x_aug = torch.cat([x_train.detach().float(), torch.ones(x_train.shape[0], 1)], dim=1)
    targets = y_train.detach().float()
    generator = torch.Generator().manual_seed(config.seed)
    bound = 1.0 / math.sqrt(dim)
    theta = torch.empty(dim + 1)
    theta[:dim].uniform_(-bound, bound, generator=generator)
    theta[dim:].uniform_(-bound, bound, generator=generator)
    l1_mask = torch.ones(dim + 1)
    l1_mask[dim] = 0.0  # the L1 penalty is on the weight only
    optimizer = _AdamW(theta, config.lr, config.weight_decay)
    probe = LinearProbe(dim)
    best: tuple[LinearProbe, float, int] | None = None
    history: list[float] = []
    with torch.no_grad():
        for epoch in range(1, config.epochs + 1):
            order = torch.randperm(x_aug.shape[0], generator=generator)
            x_epoch, y_epoch = x_aug[order], targets[order]
            for start in range(0, x_epoch.shape[0], config.batch_size):
                xb, yb = x_epoch[start : start + config.batch_size], y_epoch[start : start + config.batch_size]
                residual = (torch.sigmoid(xb @ theta) - yb) / xb.shape[0]  # d(mean BCE)/d(logit)
                grad = residual @ xb
                if config.l1_penalty:
                    grad += config.l1_penalty * torch.sign(theta) * l1_mask
                optimizer.step(grad)
            probe.net.weight.copy_(theta[:dim][None, :])
            probe.net.bias.copy_(theta[dim:])
            history.append(accuracy(probe, x_test, y_test))
            if best is None or history[-1] > best[1]:
                best = (copy.deepcopy(probe), history[-1], epoch)
    assert best is not None
    return TrainedProbe(probe=best[0], test_accuracy=best[1], epoch=best[2], history=history)


class _AdamW:
    """``torch.optim.AdamW``'s update (betas 0.9/0.999, eps 1e-8, decoupled weight decay, no amsgrad)
    on one parameter tensor, in place."""

    def __init__(self, param: torch.Tensor, lr: float, weight_decay: float) -> None:
        self.param, self.lr, self.weight_decay = param, lr, weight_decay
        self.beta1, self.beta2, self.eps = 0.9, 0.999, 1e-8
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = 0

    def step(self, grad: torch.Tensor) -> None:
        """One update with gradient ``grad``."""
        self.steps += 1
        self.param.mul_(1 - self.lr * self.weight_decay)
        self.exp_avg.lerp_(grad, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        step_size = self.lr / (1 - self.beta1**self.steps)
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(1 - self.beta2**self.steps)).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)
