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
``L{l}.sae[N].{j}``    unit: latent j of the SAE named N (on layer l)         scalar
``L{l}.sae``           all latents of the SAE of layer l (its code)           d_sae
``L{l}.sae[N]``        all latents of the SAE named N                         d_sae
=====================  =====================================================  ==========

**SAE latents.** An SAE is registered for one site of a model (``autointerp sae add``) under a name
unique in that model (letters, digits, ``_``, ``.``, ``-``; 64 at most). ``L6.sae.123`` is latent 123
of the SAE of layer 6 when the layer has exactly one; when it has several, name one in brackets:
``L6.sae[res-16k].123`` (without a name the address is refused, listing the names). A runtime
resolves latents against the SAEs attached to it (``ModelRuntime.attach_sae``) and always gives the
canonical address *with* the name, so stored subjects and job items stay unambiguous when another
SAE is added to the layer later. Here only the syntax and the layer range are checked; the SAE and
the latent's range are the runtime's to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from store.errors import AddressError

SiteKind = Literal["resid_pre", "resid_post", "attn_out", "mlp_out", "mlp", "head", "sae"]

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

#: An SAE's name: what may stand between the brackets of ``L{l}.sae[NAME]``.
SAE_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_SITE_RE = re.compile(r"^L(\d+)\.(resid_pre|resid_post|attn_out|mlp_out|mlp)$")
_HEAD_RE = re.compile(r"^L(\d+)\.attn\.h(\d+)$")
_UNIT_RE = re.compile(r"^L(\d+)\.(mlp|resid)\.(\d+)$")
_SAE_RE = re.compile(rf"^L(\d+)\.sae(?:\[({SAE_NAME_PATTERN})\])?(?:\.(\d+))?$")

ADDRESS_FORMS = (
    "L{l}.mlp.{i}, L{l}.resid.{i}, L{l}.sae.{j}, L{l}.sae[NAME].{j}, L{l}.attn.h{h}, "
    "L{l}.resid_pre, L{l}.resid_post, L{l}.attn_out, L{l}.mlp_out, L{l}.mlp, L{l}.sae[NAME]"
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
    """A whole vector at one point of the forward pass (``head`` is set only for kind ``head``).

    Kind ``sae`` is the code of an SAE (``sae`` its name, or None for "the layer's only SAE"): an
    address-level site that a runtime maps onto the model site the SAE reads (``Target.site``).
    """

    layer: int
    kind: SiteKind
    head: int | None = None
    sae: str | None = None

    def __str__(self) -> str:
        if self.kind == "head":
            return f"L{self.layer}.attn.h{self.head}"
        if self.kind == "sae":
            return f"L{self.layer}.sae[{self.sae}]" if self.sae else f"L{self.layer}.sae"
        return f"L{self.layer}.{self.kind}"

    @property
    def stage(self) -> tuple[int, int]:
        """(layer, position within the block) — larger means reached later in the forward."""
        return (self.layer, SITE_STAGE[self.kind])

    def width(self, shape: ModelShape) -> int:
        """Number of coordinates of this site's vector (an SAE's: ask the runtime, ``ModelRuntime.width``)."""
        if self.kind == "sae":
            raise AddressError(
                f"the width of {self} is its SAE's number of latents; resolve it with the model's runtime"
            )
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
        if self.kind == "sae":
            return f"{self.site}.{self.index}"
        return f"L{self.site.layer}.{self.kind}.{self.index}"


def parse_site(text: str) -> Site:
    """Parse a site address such as ``L3.mlp_out``, ``L3.attn.h2`` or ``L3.sae[name]`` (no model checks)."""
    address = text.strip()
    if (m := _SAE_RE.match(address)) and m.group(3) is None:
        return Site(int(m.group(1)), "sae", sae=m.group(2))
    if m := _SITE_RE.match(address):
        return Site(int(m.group(1)), m.group(2))  # type: ignore[arg-type]
    if m := _HEAD_RE.match(address):
        return Site(int(m.group(1)), "head", int(m.group(2)))
    raise AddressError(f"malformed site address {text!r}; expected one of {ADDRESS_FORMS}")


def parse_unit(text: str) -> Unit:
    """Parse a unit address such as ``L12.mlp.303``, ``L5.resid.7``, ``L4.attn.h1`` or ``L6.sae[name].12``
    (no model checks)."""
    address = text.strip()
    if (m := _SAE_RE.match(address)) and m.group(3) is not None:
        return Unit(Site(int(m.group(1)), "sae", sae=m.group(2)), int(m.group(3)), "sae")
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
    """Raise AddressError naming the valid range when ``unit`` does not exist in a model of ``shape``.

    An SAE latent is checked for its layer only: which SAE it names and the latent's range are known
    to the runtime the SAE is attached to (``ModelRuntime.resolve``).
    """
    check_site(unit.site, shape)
    if unit.kind == "sae":
        return unit
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
