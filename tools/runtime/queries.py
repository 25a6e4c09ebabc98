"""Read-only queries over a loaded model: its description, and one unit's activations on a text."""

from __future__ import annotations

from store.errors import AddressError
from tools.runtime.addresses import all_sites
from tools.runtime.loading import LoadedModel
from tools.runtime.model_runtime import ModelRuntime, Target
from tools.schemas import ActivationsResult, ModelInfo


def model_info(loaded: LoadedModel) -> ModelInfo:
    """Identity, shape and site addresses of a loaded model."""
    shape = loaded.shape
    return ModelInfo(
        name=loaded.name,
        source=loaded.source,
        path=loaded.path,
        digest=loaded.digest,
        family=loaded.adapter.family,
        n_layers=shape.n_layers,
        d_model=shape.d_model,
        d_mlp=shape.d_mlp,
        n_heads=shape.n_heads,
        head_dim=shape.head_dim,
        sites=all_sites(shape),
    )


def unit_series(runtime: ModelRuntime, unit: str, texts: list[str]) -> tuple[str, list[list[int]], list[list[float]]]:
    """One batched run: the unit's canonical address, each text's token ids and per-token values.

    A head (``L{l}.attn.h{h}``) gives the norm of its output vector; an SAE latent its value in the
    SAE's encoding of its site; a whole site (or a whole SAE) is an AddressError.
    """
    target = runtime.resolve(unit)
    if target.sae is not None and target.index is None:
        raise AddressError(f"{unit} is a whole SAE, not a latent; name one, e.g. {target.address}.0")
    if target.index is None and target.site.kind != "head":
        layer = unit.strip().split(".")[0]
        raise AddressError(f"{unit} is a whole site, not a unit; name one coordinate, e.g. {layer}.mlp.0")
    if target.index is not None:
        return target.address, *_from_site(runtime, target, target.index, texts)
    result = runtime.run(texts, [target.address])
    series = []
    for values in result.captures[target.address]:
        flat = values.norm(dim=-1) if values.ndim == 2 else values
        series.append([float(v) for v in flat.float()])
    return target.address, result.tokens, series


def _from_site(
    runtime: ModelRuntime, target: Target, index: int, texts: list[str]
) -> tuple[list[list[int]], list[list[float]]]:
    """A unit's values on ``texts`` read from its whole site's activations: texts this runtime ran at the
    site before come from its `SiteTextCache`, the others run together in one batched pass (every unit
    of the site captured, so a later unit of the same site finds them too)."""
    site = target.container
    digest = target.sae.digest if target.sae is not None else ""
    cache = runtime.site_texts
    found = {text: cache.get(site, digest, text) for text in dict.fromkeys(texts)}
    missing = [text for text, entry in found.items() if entry is None]
    if missing:
        result = runtime.run(missing, [site])
        for text, ids, values in zip(missing, result.tokens, result.captures[site], strict=True):
            kept = values.float().clone()
            found[text] = (ids, kept)
            cache.put(site, digest, text, ids, kept)
    ids_out: list[list[int]] = []
    values_out: list[list[float]] = []
    for text in texts:
        stored = found[text]
        assert stored is not None
        ids_out.append(list(stored[0]))
        values_out.append(stored[1][:, index].tolist())
    return ids_out, values_out


def unit_activations(runtime: ModelRuntime, unit: str, text: str) -> ActivationsResult:
    """Per-token activations of one unit on one text (a head gives the norm of its output)."""
    address, tokens, series = unit_series(runtime, unit, [text])
    return ActivationsResult(
        model=runtime.loaded.name,
        unit=address,
        text=text,
        tokens=runtime.token_strings(tokens[0]),
        token_ids=tokens[0],
        activations=series[0],
    )
