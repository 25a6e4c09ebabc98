"""The sparse autoencoder itself: weights, encoding, decoding (SAELens conventions).

Shapes follow SAELens: ``W_enc`` [d_in, d_sae], ``b_enc`` [d_sae], ``W_dec`` [d_sae, d_in] (row j is
latent j's write to the site), ``b_dec`` [d_in], and for JumpReLU a per-latent ``threshold`` [d_sae].

    pre  = (x - b_dec) @ W_enc + b_enc        (b_dec is subtracted from the input, as SAELens and sparsify do)
    f    = relu(pre)                           architecture "relu"
         = relu(pre) kept at its k largest     architecture "topk" (the rest set to 0)
         = pre * (pre > threshold)             architecture "jumprelu"
    x̂    = f @ W_dec + b_dec

``error(x) = x - decode(encode(x))`` is the part of the site the SAE does not explain; interventions
on latents keep it (``x' = x - Σ_j (f_j - v_j) · W_dec[j]``), so changing nothing changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Architecture = Literal["relu", "topk", "jumprelu"]
ARCHITECTURES: tuple[Architecture, ...] = ("relu", "topk", "jumprelu")


@dataclass(frozen=True)
class SAEShape:
    """What an SAE is, independent of its weights."""

    d_in: int
    d_sae: int
    architecture: Architecture
    k: int | None = None  # topk only


class SparseAutoencoder(nn.Module):
    """An SAE over one site's vectors. Build with ``SparseAutoencoder(shape)`` (zeros) or
    ``from_weights``; ``encode``/``decode`` work on any leading batch shape ``[..., d_in]``."""

    def __init__(self, shape: SAEShape) -> None:
        super().__init__()
        if shape.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown SAE architecture {shape.architecture!r}; known: {', '.join(ARCHITECTURES)}")
        if shape.architecture == "topk" and not (shape.k and 0 < shape.k <= shape.d_sae):
            raise ValueError(f"a topk SAE needs 0 < k <= d_sae ({shape.d_sae}), got k={shape.k}")
        self.shape = shape
        self.W_enc = nn.Parameter(torch.zeros(shape.d_in, shape.d_sae))
        self.b_enc = nn.Parameter(torch.zeros(shape.d_sae))
        self.W_dec = nn.Parameter(torch.zeros(shape.d_sae, shape.d_in))
        self.b_dec = nn.Parameter(torch.zeros(shape.d_in))
        self.threshold = nn.Parameter(torch.zeros(shape.d_sae), requires_grad=False)

    @classmethod
    def from_weights(
        cls,
        shape: SAEShape,
        W_enc: torch.Tensor,
        b_enc: torch.Tensor,
        W_dec: torch.Tensor,
        b_dec: torch.Tensor,
        threshold: torch.Tensor | None = None,
    ) -> SparseAutoencoder:
        """An SAE with these weights; ValueError naming the tensor whose shape is wrong."""
        sae = cls(shape)
        expected = {
            "W_enc": (W_enc, (shape.d_in, shape.d_sae)),
            "b_enc": (b_enc, (shape.d_sae,)),
            "W_dec": (W_dec, (shape.d_sae, shape.d_in)),
            "b_dec": (b_dec, (shape.d_in,)),
        }
        if threshold is not None:
            expected["threshold"] = (threshold, (shape.d_sae,))
        with torch.no_grad():
            for name, (tensor, want) in expected.items():
                if tuple(tensor.shape) != want:
                    raise ValueError(f"{name} has shape {list(tensor.shape)}, expected {list(want)}")
                getattr(sae, name).copy_(tensor.float())
        return sae

    @property
    def d_sae(self) -> int:
        """Number of latents."""
        return self.shape.d_sae

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - b_dec) @ W_enc + b_enc``."""
        return (x.to(self.W_enc.dtype) - self.b_dec) @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """The architecture's nonlinearity on pre-activations."""
        if self.shape.architecture == "relu":
            return torch.relu(pre)
        if self.shape.architecture == "jumprelu":
            return pre * (pre > self.threshold)
        assert self.shape.k is not None
        top = torch.relu(pre).topk(self.shape.k, dim=-1)
        return torch.zeros_like(pre).scatter(-1, top.indices, top.values)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent activations ``f`` [..., d_sae] of site vectors ``x`` [..., d_in]."""
        return self.activate(self.pre_activations(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``f @ W_dec + b_dec``."""
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``x``."""
        return self.decode(self.encode(x))
