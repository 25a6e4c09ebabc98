"""One run of texts over a whole site (an MLP layer, a residual stream, an SAE), kept for every unit.

Written once, read once per unit: ``acts.safetensors`` holds ``acts[unit, text, position]`` (float16,
each unit's block contiguous, so reading one unit touches only its own bytes) and ``texts.json`` the
texts and their token strings (`SiteTexts`). Positions past a text's length are padding: `read_unit`
cuts them off.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import torch
from pydantic import BaseModel
from safetensors import safe_open
from safetensors.torch import save_file

from store.errors import InputError
from tools.runtime.model_runtime import ModelRuntime

ACTS_FILE = "acts.safetensors"
TEXTS_FILE = "texts.json"
BATCH = 64
"""Texts per forward pass."""


class SiteTexts(BaseModel):
    """What a run holds besides the activations: the site, the texts and their tokens, the unit count."""

    site: str
    texts: list[str]
    tokens: list[list[str]]
    units: int


def capture_site_texts(
    runtime: ModelRuntime, site: str, texts: Sequence[str], folder: Path, *, progress: bool = False
) -> SiteTexts:
    """Run ``texts`` over ``site`` (a container address: ``L6.mlp``, ``L6.sae[name]``) and write the
    run into ``folder`` (module docstring). The forward passes stop after the site's layer."""
    if not texts:
        raise InputError("a shared run needs at least one text")
    address = runtime.resolve(site).address
    token_ids = runtime.tokenize(list(texts))
    width = max(len(ids) for ids in token_ids)
    blocks: list[torch.Tensor] = []
    starts = range(0, len(texts), BATCH)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"shared run {site}", unit="batch")
    for start in starts:
        result = runtime.run(list(texts[start : start + BATCH]), [address])
        for values in result.captures[address]:
            padded = torch.zeros((width, values.shape[-1]), dtype=torch.float16)
            padded[: values.shape[0]] = values.to(torch.float16)
            blocks.append(padded)
    acts = torch.stack(blocks).permute(2, 0, 1).contiguous()  # [unit, text, position]
    folder.mkdir(parents=True, exist_ok=True)
    meta = SiteTexts(
        site=address,
        texts=list(texts),
        tokens=[runtime.token_strings(ids) for ids in token_ids],
        units=int(acts.shape[0]),
    )
    save_file({"acts": acts}, str(folder / ACTS_FILE))
    (folder / TEXTS_FILE).write_text(json.dumps(meta.model_dump(), ensure_ascii=False))
    return meta


@lru_cache(maxsize=4)
def read_meta(folder: str) -> SiteTexts:
    """The texts and tokens of the run in ``folder`` (read once per process)."""
    path = Path(folder) / TEXTS_FILE
    try:
        return SiteTexts.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the shared run in {folder}: {exc}") from None


def read_unit(folder: str, unit: int) -> list[tuple[list[str], list[float]]]:
    """Each text's tokens and unit ``unit``'s activation at each token."""
    meta = read_meta(folder)
    if not 0 <= unit < meta.units:
        raise InputError(f"unit {unit} is not in the shared run of {meta.site} (0..{meta.units - 1})")
    with safe_open(str(Path(folder) / ACTS_FILE), framework="pt") as f:
        block = f.get_slice("acts")[unit].float()
    return [(tokens, block[i, : len(tokens)].tolist()) for i, tokens in enumerate(meta.tokens)]
