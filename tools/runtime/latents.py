"""SAE latents in the runtime: an SAE *attached* to a model site, and what capturing or changing its
latents does to that site.

An ``AttachedSAE`` is a ``SparseAutoencoder`` bound to one site of one model (``L6.resid_post``) under
a name; ``ModelRuntime.attach_sae`` makes one, and ``ModelRuntime.resolve`` maps ``L6.sae.12`` /
``L6.sae[name].12`` (one latent) and ``L6.sae[name]`` (the whole code) onto the site it reads.

* **Capture**: the latents are the SAE's encoding of the site's vector, ``f = encode(x)``.
* **Intervention**: the operation (zero, set, add, scale, mean, patch; ``tools.runtime.interventions``)
  gives new values ``v`` for the chosen latents, and the site becomes

      x' = x − Σ_j (f_j − v_j) · W_dec[j]

  so the SAE's error term ``x − decode(f)`` is kept: changing nothing changes nothing, zeroing latent
  j removes exactly its write ``f_j · W_dec[j]``, and adding α to it (steering) adds ``α · W_dec[j]``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from tools.runtime.addresses import Site
from tools.runtime.sae import SparseAutoencoder

#: Model sites an SAE may read and write (an attention head is not one of them).
SAE_SITES: tuple[str, ...] = ("resid_pre", "resid_post", "attn_out", "mlp_out", "mlp")


@dataclass(frozen=True)
class AttachedSAE:
    """An SAE bound to a model site under a name (unique in the model)."""

    name: str
    site: Site
    sae: SparseAutoencoder
    digest: str

    @property
    def layer(self) -> int:
        """The layer of the site it reads."""
        return self.site.layer

    @property
    def address(self) -> str:
        """Its canonical site address, ``L{l}.sae[name]``; latent j is ``L{l}.sae[name].{j}``."""
        return f"L{self.site.layer}.sae[{self.name}]"

    @property
    def width(self) -> int:
        """Number of latents."""
        return self.sae.d_sae

    def describe(self) -> str:
        """``L6.sae[name] (resid_post, 4096 latents)``, for messages."""
        return f"{self.address} ({self.site.kind}, {self.width} latents)"


def weights_digest(sae: SparseAutoencoder) -> str:
    """sha256 of an SAE's architecture and weights (a stand-in digest for SAEs attached by hand)."""
    h = hashlib.sha256(f"{sae.shape.architecture}:{sae.shape.k}:{sae.shape.d_in}:{sae.shape.d_sae}".encode())
    for name in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold"):
        h.update(getattr(sae, name).detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def encode(attached: AttachedSAE, x: torch.Tensor, index: int | None = None) -> torch.Tensor:
    """Latent activations of site vectors ``x`` [..., d_in]: all of them [..., d_sae], or latent
    ``index`` alone [...]. One latent of a ReLU or JumpReLU SAE costs one column of the encoder; a
    TopK SAE needs every pre-activation to know whether the latent is among the k largest."""
    sae = attached.sae
    if index is None:
        return sae.encode(x)
    if sae.shape.architecture == "topk":
        return sae.encode(x)[..., index]
    pre = (x.to(sae.W_enc.dtype) - sae.b_dec) @ sae.W_enc[:, index] + sae.b_enc[index]
    if sae.shape.architecture == "relu":
        return torch.relu(pre)
    return pre * (pre > sae.threshold[index])


def latent_slice(index: int | None) -> slice:
    """The latent columns a target covers: one latent, or all of them."""
    return slice(None) if index is None else slice(index, index + 1)


def apply_latent_change(
    attached: AttachedSAE, x: torch.Tensor, old: torch.Tensor, new: torch.Tensor, index: int | None
) -> torch.Tensor:
    """``x + (new − old) · W_dec[cols]``: site vectors ``x`` [cells, d_in] after latents ``cols`` moved
    from ``old`` to ``new`` [cells, len(cols)], the error term kept."""
    w_dec = attached.sae.W_dec[latent_slice(index)]
    delta = (new.to(w_dec.dtype) - old.to(w_dec.dtype)) @ w_dec
    return x + delta.to(x.dtype)
