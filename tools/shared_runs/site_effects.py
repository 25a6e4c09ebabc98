"""Every unit's zero-ablation effect on a fixed set of texts, estimated once for a whole site.

Written once, read once per unit: ``effects.safetensors`` holds ``effects[unit, text]`` (float32: the
estimated change of the text's mean next-token loss, in nats, when the unit is zeroed;
``tools.effects.ablation_estimates``) and ``loss[text]`` (the unmodified losses); ``effects.json`` the
texts (`SiteEffects`). `read_unit_effect` gives one unit's mean effect and its rank in the site.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import torch
from pydantic import BaseModel
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from store.errors import InputError
from tools.effects.ablation_estimates import zero_ablation_estimates
from tools.runtime.model_runtime import ModelRuntime

EFFECTS_FILE = "effects.safetensors"
META_FILE = "effects.json"


class SiteEffects(BaseModel):
    """What an effects run holds besides the numbers: the site, its texts, the unit count."""

    site: str
    texts: list[str]
    units: int
    estimate: str = "attribution"


class UnitEffect(BaseModel):
    """One unit's estimated zero-ablation effect on the site's texts."""

    mean_effect: float
    """Mean over the texts of the change of their loss (nats); positive: the model does worse without it."""
    max_effect: float
    """The largest change on one text."""
    rank: int
    """1 for the unit whose zeroing raises the loss most, of ``units``."""
    units: int
    texts: int


def capture_site_effects(
    runtime: ModelRuntime, site: str, texts: Sequence[str], folder: Path, *, progress: bool = False
) -> SiteEffects:
    """Estimate every unit's zero-ablation effect on ``texts`` (one forward and backward per batch) and
    write the run into ``folder`` (module docstring)."""
    if not texts:
        raise InputError("an effects run needs at least one text")
    address = runtime.resolve(site).address
    if progress:
        print(f"estimating every unit's ablation effect of {address} on {len(texts)} texts", flush=True)
    effects, losses = zero_ablation_estimates(runtime, address, texts)
    folder.mkdir(parents=True, exist_ok=True)
    meta = SiteEffects(site=address, texts=list(texts), units=int(effects.shape[1]))
    save_file({"effects": effects.T.contiguous(), "loss": losses.contiguous()}, str(folder / EFFECTS_FILE))
    (folder / META_FILE).write_text(json.dumps(meta.model_dump(), ensure_ascii=False))
    return meta


@lru_cache(maxsize=4)
def _load(folder: str) -> tuple[SiteEffects, torch.Tensor, torch.Tensor]:
    """The run's metadata, every unit's mean effect and every unit's largest effect (read once)."""
    try:
        meta = SiteEffects.model_validate_json((Path(folder) / META_FILE).read_text())
        effects = load_file(str(Path(folder) / EFFECTS_FILE))["effects"]
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        raise InputError(f"cannot read the shared effects run in {folder}: {exc}") from None
    return meta, effects.mean(dim=1), effects.max(dim=1).values


def read_meta(folder: str) -> SiteEffects:
    """The metadata of the effects run in ``folder``."""
    return _load(folder)[0]


def read_unit_effect(folder: str, unit: int) -> UnitEffect:
    """Unit ``unit``'s mean and largest effect and its rank by mean effect (1: zeroing it hurts most)."""
    meta, means, maxima = _load(folder)
    if not 0 <= unit < meta.units:
        raise InputError(f"unit {unit} is not in the shared effects run of {meta.site} (0..{meta.units - 1})")
    value = float(means[unit])
    return UnitEffect(
        mean_effect=value,
        max_effect=float(maxima[unit]),
        rank=int((means > means[unit]).sum()) + 1,
        units=meta.units,
        texts=len(meta.texts),
    )
