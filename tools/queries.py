"""Read-only queries over a loaded model: its description, and one unit's activations on a text."""

from __future__ import annotations

from store.errors import AddressError
from tools.addresses import all_sites
from tools.model_loading import LoadedModel
from tools.runtime import ModelRuntime
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


def unit_activations(runtime: ModelRuntime, unit: str, text: str) -> ActivationsResult:
    """Per-token activations of one unit on one text (a head gives the norm of its output)."""
    target = runtime.resolve(unit)
    if target.index is None and target.site.kind != "head":
        layer = unit.strip().split(".")[0]
        raise AddressError(f"{unit} is a whole site, not a unit; name one coordinate, e.g. {layer}.mlp.0")
    result = runtime.run([text], [target.address])
    values = result.captures[target.address][0]
    if values.ndim == 2:
        values = values.norm(dim=-1)
    ids = result.tokens[0]
    return ActivationsResult(
        model=runtime.loaded.name,
        unit=target.address,
        text=text,
        tokens=runtime.token_strings(ids),
        token_ids=ids,
        activations=[float(v) for v in values.float()],
    )
