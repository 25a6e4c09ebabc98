"""Patching an SAE's latents: which latents carry the clean behaviour into the corrupt run.

A cell is one latent ``j`` of the SAE (``L6.sae[name]``), patched at **every** position: the corrupt
run's site becomes ``x + (f_clean[:, j] − f_corrupt[:, j]) · W_dec[j]`` (the SAE's error term and
every other latent kept, ``tools.runtime.latents``), scored like a site's cells::

    score = (LD_patched − LD_corrupt) / (LD_clean − LD_corrupt)

An SAE has thousands of latents, so every one is first scored by attribution patching (one forward
and one backward of the corrupt prompts: ``Σ_t (f_clean[t, j] − f_corrupt[t, j]) · (∂LD/∂x[t] ·
W_dec[j])``) and the ``top`` latents with the largest |estimate| are kept; ``exact`` (and ``naive``,
the same here) then patches each of them for real, one forward of all pairs per latent, while
``attribution`` reports the estimates. Columns come strongest first; ``PatchResult.positions`` holds
their latent indices and ``column_kind`` is ``latent``. Pairs are averaged as for sites.
"""

from __future__ import annotations

import torch

from store.errors import InputError
from tools.patching.attribution import site_gradient
from tools.patching.patch import PatchPairs, PatchResult, _check_effect, _lds
from tools.runtime.interventions import Intervention
from tools.runtime.model_runtime import ModelRuntime, Target

#: Latents kept by default (after ranking every latent by attribution).
DEFAULT_TOP = 32


def latent_target(runtime: ModelRuntime, sae: str) -> Target:
    """The SAE's code ``sae`` resolves to (``L6.sae`` or ``L6.sae[name]``); InputError for anything else."""
    target = runtime.resolve(sae)
    if target.sae is None or target.index is not None:
        raise InputError(f"{sae} is not an SAE's latents; give the SAE, e.g. L6.sae or L6.sae[NAME]")
    return target


def latent_attribution(
    runtime: ModelRuntime, target: Target, pairs: PatchPairs, clean: list[torch.Tensor], corrupt: list[torch.Tensor]
) -> torch.Tensor:
    """Attribution estimates of LD_patched − LD_corrupt for every latent of every pair: [pairs, d_sae]."""
    assert target.sae is not None
    _, grad, _ = site_gradient(runtime.loaded, pairs.corrupt_ids, target.site, pairs.targets, pairs.foils)
    w_dec = target.sae.sae.W_dec  # [d_sae, d_in]
    rows = []
    for i, (f_clean, f_corrupt) in enumerate(zip(clean, corrupt, strict=True)):
        per_latent_grad = grad[i].to(w_dec.device) @ w_dec.T  # [T, d_sae]
        rows.append(((f_clean.float() - f_corrupt.float()) * per_latent_grad).sum(dim=0))
    return torch.stack(rows).cpu()


def patch_latents(
    runtime: ModelRuntime, pairs: PatchPairs, sae: str, method: str = "exact", top: int = DEFAULT_TOP
) -> PatchResult:
    """Score the SAE's latents (module docstring). InputError when ``sae`` is not an SAE's code, or the
    pairs have no effect to explain."""
    if top < 1:
        raise InputError(f"top must be at least 1, got {top}")
    target = latent_target(runtime, sae)
    address = target.address
    clean = runtime.run(pairs.clean, [address], logits="last")
    corrupt = runtime.run(pairs.corrupt, [address], logits="last")
    clean_lds, corrupt_lds = _lds(clean.logits, pairs), _lds(corrupt.logits, pairs)
    _check_effect(clean_lds, corrupt_lds)
    attr = latent_attribution(runtime, target, pairs, clean.captures[address], corrupt.captures[address])
    mean_attr = attr.mean(dim=0)
    chosen = mean_attr.abs().argsort(descending=True)[: min(top, mean_attr.numel())].tolist()
    if method == "attribution":
        numerator = mean_attr[chosen]
    else:
        values = []
        for j in chosen:
            sources = [f[:, j] for f in clean.captures[address]]
            iv = Intervention(f"{address}.{j}", "patch", source=sources)
            patched = runtime.run(pairs.corrupt, interventions=[iv], logits="last")
            values.append(float(_lds(patched.logits, pairs).mean() - corrupt_lds.mean()))
        numerator = torch.tensor(values)
        order = numerator.abs().argsort(descending=True).tolist()
        chosen, numerator = [chosen[i] for i in order], numerator[order]
    clean_ld, corrupt_ld = float(clean_lds.mean()), float(corrupt_lds.mean())
    scores = numerator / (clean_ld - corrupt_ld)
    return PatchResult(
        site=address,
        method=method,
        layers=[target.site.layer],
        positions=[int(j) for j in chosen],
        tokens=runtime.token_strings(pairs.clean_ids[0]),
        scores=[scores.tolist()],
        clean_ld=clean_ld,
        corrupt_ld=corrupt_ld,
        n_pairs=len(pairs.clean),
        column_kind="latent",
    )
