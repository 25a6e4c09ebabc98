"""Unit and site addresses (DESIGN §2): parsing, validation against a model's shape, canonical strings.

A **site** is a whole vector at one point of the forward pass; a **unit** is one coordinate of a
site (or, for attention heads, the head's whole output vector).

=====================  =====================================================  ==========
address                meaning                                                width
=====================  =====================================================  ==========
``L{l}.resid_pre``     residual stream entering block l                       d_model
``L{l}.resid_post``    residual stream leaving block l                        d_model
``L{l}.attn_out``      attention output of block l (after its out-projection) d_model
``L{l}.mlp_out``       MLP output of block l                                  d_model
``L{l}.mlp``           all MLP neurons of block l (input of the down-proj)    d_mlp
``L{l}.attn.h{h}``     head h of block l, before the out-projection           head_dim
``L{l}.mlp.{i}``       unit: MLP neuron i                                     scalar
``L{l}.resid.{i}``     unit: coordinate i of the residual after block l       scalar
``L{l}.sae.{j}``       unit: latent j of the SAE registered for layer l       scalar
=====================  =====================================================  ==========
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from store.errors import AddressError

SiteKind = Literal["resid_pre", "resid_post", "attn_out", "mlp_out", "mlp", "head"]

# Order in which sites of one block are reached during the forward pass; the runtime stops the
# forward right after the last site (in this order) that a request needs.
SITE_STAGE: dict[str, int] = {
    "resid_pre": 0,
    "head": 1,
    "attn_out": 2,
    "mlp": 3,
    "mlp_out": 4,
    "resid_post": 5,
}

_SITE_RE = re.compile(r"^L(\d+)\.(resid_pre|resid_post|attn_out|mlp_out|mlp)$")
_HEAD_RE = re.compile(r"^L(\d+)\.attn\.h(\d+)$")
_UNIT_RE = re.compile(r"^L(\d+)\.(mlp|resid|sae)\.(\d+)$")

ADDRESS_FORMS = (
    "L{l}.mlp.{i}, L{l}.resid.{i}, L{l}.sae.{j}, L{l}.attn.h{h}, "
    "L{l}.resid_pre, L{l}.resid_post, L{l}.attn_out, L{l}.mlp_out, L{l}.mlp"
)


@dataclass(frozen=True)
class ModelShape:
    """The sizes an address is validated against."""

    n_layers: int
    d_model: int
    d_mlp: int
    n_heads: int
    head_dim: int


@dataclass(frozen=True, order=True)
class Site:
    """A whole vector at one point of the forward pass (``head`` is set only for kind ``head``)."""

    layer: int
    kind: SiteKind
    head: int | None = None

    def __str__(self) -> str:
        if self.kind == "head":
            return f"L{self.layer}.attn.h{self.head}"
        return f"L{self.layer}.{self.kind}"

    @property
    def stage(self) -> tuple[int, int]:
        """(layer, position within the block) — larger means reached later in the forward."""
        return (self.layer, SITE_STAGE[self.kind])

    def width(self, shape: ModelShape) -> int:
        """Number of coordinates of this site's vector."""
        if self.kind == "mlp":
            return shape.d_mlp
        if self.kind == "head":
            return shape.head_dim
        return shape.d_model


@dataclass(frozen=True)
class Unit:
    """One subject inside a model: a coordinate ``index`` of ``site``, or a whole head (index None)."""

    site: Site
    index: int | None
    kind: Literal["mlp", "resid", "sae", "head"]

    def __str__(self) -> str:
        if self.kind == "head":
            return str(self.site)
        return f"L{self.site.layer}.{self.kind}.{self.index}"


def parse_site(text: str) -> Site:
    """Parse a site address such as ``L3.mlp_out`` or ``L3.attn.h2`` (no model checks)."""
    address = text.strip()
    if m := _SITE_RE.match(address):
        return Site(int(m.group(1)), m.group(2))  # type: ignore[arg-type]
    if m := _HEAD_RE.match(address):
        return Site(int(m.group(1)), "head", int(m.group(2)))
    raise AddressError(f"malformed site address {text!r}; expected one of {ADDRESS_FORMS}")


def parse_unit(text: str) -> Unit:
    """Parse a unit address such as ``L12.mlp.303``, ``L5.resid.7`` or ``L4.attn.h1`` (no model checks)."""
    address = text.strip()
    if m := _UNIT_RE.match(address):
        layer, kind, index = int(m.group(1)), m.group(2), int(m.group(3))
        site_kind: SiteKind = "mlp" if kind == "mlp" else "resid_post"
        return Unit(Site(layer, site_kind), index, kind)  # type: ignore[arg-type]
    if m := _HEAD_RE.match(address):
        return Unit(Site(int(m.group(1)), "head", int(m.group(2))), None, "head")
    raise AddressError(f"malformed unit address {text!r}; expected one of {ADDRESS_FORMS}")


def parse_target(text: str) -> Site | Unit:
    """Parse either a unit or a site address (units first: ``L1.mlp.3`` is a unit, ``L1.mlp`` a site)."""
    try:
        return parse_unit(text)
    except AddressError:
        pass
    try:
        return parse_site(text)
    except AddressError:
        raise AddressError(f"malformed address {text!r}; expected one of {ADDRESS_FORMS}") from None


def check_site(site: Site, shape: ModelShape) -> Site:
    """Raise AddressError naming the valid range when ``site`` does not exist in a model of ``shape``."""
    if not 0 <= site.layer < shape.n_layers:
        raise AddressError(f"layer {site.layer} out of range in {site}: the model has layers 0..{shape.n_layers - 1}")
    if site.kind == "head" and not (site.head is not None and 0 <= site.head < shape.n_heads):
        raise AddressError(f"head {site.head} out of range in {site}: the model has heads 0..{shape.n_heads - 1}")
    return site


def check_unit(unit: Unit, shape: ModelShape) -> Unit:
    """Raise AddressError naming the valid range when ``unit`` does not exist in a model of ``shape``."""
    check_site(unit.site, shape)
    if unit.kind == "sae":
        raise AddressError(
            f"{unit}: no SAE is registered for layer {unit.site.layer} of this model "
            "(SAE latents need a registered SAE)"
        )
    if unit.index is not None:
        width = unit.site.width(shape)
        if not 0 <= unit.index < width:
            raise AddressError(f"index {unit.index} out of range in {unit}: valid indices are 0..{width - 1}")
    return unit


def all_sites(shape: ModelShape) -> list[str]:
    """Every site address of a model, block by block, in forward order."""
    sites: list[str] = []
    for layer in range(shape.n_layers):
        sites.append(f"L{layer}.resid_pre")
        sites.extend(f"L{layer}.attn.h{h}" for h in range(shape.n_heads))
        sites.extend(f"L{layer}.{kind}" for kind in ("attn_out", "mlp", "mlp_out", "resid_post"))
    return sites
