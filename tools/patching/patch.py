"""Activation patching and attribution patching with a logit-difference metric.

``patch(runtime, clean, corrupt, site, target, foil, method)`` patches **clean activations into the
corrupt run** (denoising) one cell at a time and scores each cell by how much of the clean
behaviour it restores::

    LD = logit(target) - logit(foil)  at the last position
    score = (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt)

so 1 means the cell alone restores the clean logit difference and 0 means it does nothing.

Sites (cells): ``resid_pre``, ``attn_out`` and ``mlp_out`` are layers x token positions (one
position of one layer's vector replaced); ``heads`` is layers x heads (head ``h``'s output, the
o_proj input columns ``h*head_dim..``, replaced at **all** positions).

Methods:

* ``naive``: the reference, one full forward per cell through ``ModelRuntime.run`` with a ``patch``
  intervention;
* ``exact``: the same numbers without recomputing what causality leaves unchanged
  (``tools.patching.exact``; Llama and GPT-2 — other model types fall back to ``naive``);
* ``attribution``: the first-order estimate ``(a_clean - a_corrupt) · ∂LD/∂a`` on the corrupt run,
  for all cells from two forwards and one backward (``tools.patching.attribution``), normalised by the
  same denominator.

A dataset of pairs (lists) is supported when **every prompt of every pair has the same token length**
(group pairs by length otherwise). Targets and foils may be one string for all pairs or one per pair.
Over pairs, the patched LD (for attribution: the estimated change), the clean LD and the corrupt LD
of each cell are **averaged first**, then normalised: score = (mean patched - mean corrupt) /
(mean clean - mean corrupt).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from pydantic import BaseModel

from store.errors import InputError
from tools.patching.attribution import attribution_tables
from tools.patching.exact import ExactPatcher, exact_table, supports_exact
from tools.runtime.interventions import Intervention
from tools.runtime.model_runtime import ModelRuntime

PatchSite = Literal["resid_pre", "attn_out", "mlp_out", "heads"]
PatchMethod = Literal["exact", "attribution", "naive"]
SITES: tuple[str, ...] = get_args(PatchSite)
METHODS: tuple[str, ...] = get_args(PatchMethod)


class PatchResult(BaseModel):
    """Scores of a patching sweep.

    ``scores[i][j]`` is the normalised score of layer ``layers[i]`` and column ``positions[j]``: a
    token position for position sites, a head index for ``heads``, a latent index for an SAE's
    latents (``column_kind`` says which; ``tools.patching.latents``). ``tokens`` are the clean
    prompt's tokens (of the first pair for a dataset), decoded one by one.
    """

    site: str
    method: str
    layers: list[int]
    positions: list[int]
    tokens: list[str]
    scores: list[list[float]]
    clean_ld: float
    corrupt_ld: float
    n_pairs: int
    column_kind: Literal["position", "head", "latent"] = "position"


class PatchPairs(BaseModel):
    """Validated, tokenised prompt pairs with their target and foil token ids."""

    clean: list[str]
    corrupt: list[str]
    clean_ids: list[list[int]]
    corrupt_ids: list[list[int]]
    targets: list[int]
    foils: list[int]


def _as_list(value: str | Sequence[str], name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = list(value)
    if not items:
        raise InputError(f"{name} is an empty list; give at least one prompt")
    if not all(isinstance(x, str) for x in items):
        raise InputError(f"{name} must be a string or a list of strings")
    return items


def _single_token(runtime: ModelRuntime, text: str, name: str) -> int:
    if not isinstance(text, str) or not text:
        raise InputError(f"{name} must be a non-empty string naming one token, e.g. ' Mary'")
    ids = list(runtime.loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
    if len(ids) != 1:
        pieces = runtime.token_strings(ids)
        raise InputError(
            f"{name} {text!r} is {len(ids)} tokens ({pieces}); it must be exactly one token "
            "(mind the leading space, e.g. ' Mary')"
        )
    return ids[0]


def _per_pair(runtime: ModelRuntime, value: str | Sequence[str], name: str, count: int) -> list[int]:
    texts = [value] * count if isinstance(value, str) else list(value)
    if len(texts) != count:
        raise InputError(f"{len(texts)} {name}s for {count} pairs; give one {name} or one per pair")
    memo: dict[str, int] = {}
    for text in texts:
        if text not in memo:
            memo[text] = _single_token(runtime, text, name)
    return [memo[t] for t in texts]


def prepare_pairs(
    runtime: ModelRuntime,
    clean: str | Sequence[str],
    corrupt: str | Sequence[str],
    target: str | Sequence[str],
    foil: str | Sequence[str],
) -> PatchPairs:
    """Check and tokenise pairs: equal lengths within and across pairs, one-token targets and foils."""
    cleans, corrupts = _as_list(clean, "clean"), _as_list(corrupt, "corrupt")
    if len(cleans) != len(corrupts):
        raise InputError(f"{len(cleans)} clean prompts but {len(corrupts)} corrupt ones; give one corrupt per clean")
    clean_ids, corrupt_ids = runtime.tokenize(cleans), runtime.tokenize(corrupts)
    for i, (a, b) in enumerate(zip(clean_ids, corrupt_ids, strict=True)):
        if len(a) != len(b):
            which = f"pair {i}: " if len(cleans) > 1 else ""
            raise InputError(
                f"{which}clean and corrupt prompts must have the same token length, "
                f"but clean has {len(a)} tokens and corrupt has {len(b)}"
            )
        if len(a) != len(clean_ids[0]):
            raise InputError(
                f"all pairs must have the same token length: pair 0 has {len(clean_ids[0])} tokens, "
                f"pair {i} has {len(a)}; group the pairs by length and patch each group"
            )
    return PatchPairs(
        clean=cleans,
        corrupt=corrupts,
        clean_ids=clean_ids,
        corrupt_ids=corrupt_ids,
        targets=_per_pair(runtime, target, "target", len(cleans)),
        foils=_per_pair(runtime, foil, "foil", len(cleans)),
    )


def _address(layer: int, site: str, column: int) -> str:
    return f"L{layer}.attn.h{column}" if site == "heads" else f"L{layer}.{site}"


def _lds(logits: list[torch.Tensor] | None, pairs: PatchPairs) -> torch.Tensor:
    assert logits is not None
    return torch.tensor([float(row[t] - row[f]) for row, t, f in zip(logits, pairs.targets, pairs.foils, strict=True)])


def naive_tables(
    runtime: ModelRuntime,
    pairs: PatchPairs,
    site: str,
    cells: Sequence[tuple[int, int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reference: one full forward (of all pairs) per cell. Returns (patched [pairs, layers, cols], clean, corrupt).

    ``cells`` restricts the sweep to some (layer, column) cells; the others are left NaN.
    """
    shape = runtime.shape
    columns = shape.n_heads if site == "heads" else len(pairs.clean_ids[0])
    if cells is None:
        cells = [(layer, col) for layer in range(shape.n_layers) for col in range(columns)]
    needed = sorted({_address(layer, site, col) for layer, col in cells})
    clean_run = runtime.run(pairs.clean, capture=needed, logits="last")
    corrupt_run = runtime.run(pairs.corrupt, logits="last")
    table = torch.full((len(pairs.clean), shape.n_layers, columns), float("nan"))
    for layer, col in cells:
        address = _address(layer, site, col)
        iv = Intervention(
            address,
            "patch",
            source=clean_run.captures[address],
            positions=None if site == "heads" else (col,),
        )
        patched = runtime.run(pairs.corrupt, interventions=[iv], logits="last")
        table[:, layer, col] = _lds(patched.logits, pairs)
    return table, _lds(clean_run.logits, pairs), _lds(corrupt_run.logits, pairs)


def exact_tables(
    runtime: ModelRuntime, pairs: PatchPairs, site: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Like ``naive_tables`` (all cells), computed by ``tools.patching.exact`` pair by pair."""
    engine = ExactPatcher(runtime.loaded)
    tables, cleans, corrupts = [], [], []
    for c_ids, x_ids, t, f in zip(pairs.clean_ids, pairs.corrupt_ids, pairs.targets, pairs.foils, strict=True):
        table, clean_ld, corrupt_ld = exact_table(engine, c_ids, x_ids, site, t, f)
        tables.append(table)
        cleans.append(clean_ld)
        corrupts.append(corrupt_ld)
    return torch.stack(tables), torch.tensor(cleans), torch.tensor(corrupts)


def _check_effect(clean_lds: torch.Tensor, corrupt_lds: torch.Tensor) -> None:
    clean_ld, corrupt_ld = float(clean_lds.mean()), float(corrupt_lds.mean())
    if abs(clean_ld - corrupt_ld) < 1e-6:
        which = "the pair has" if clean_lds.numel() == 1 else f"the {clean_lds.numel()} pairs have (on average)"
        raise InputError(
            f"{which} no effect to explain: the clean and corrupt logit differences are both {clean_ld:.6g}; "
            "choose a corruption that changes the target-minus-foil logit difference"
        )


def _plain_lds(runtime: ModelRuntime, pairs: PatchPairs) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean and corrupt LDs of unpatched runs (a cheap check before a sweep)."""
    logits = runtime.run([*pairs.clean, *pairs.corrupt], logits="last").logits
    assert logits is not None
    count = len(pairs.clean)
    return _lds(logits[:count], pairs), _lds(logits[count:], pairs)


def _check(site: str, method: str) -> None:
    if site not in SITES:
        raise InputError(f"unknown site {site!r}; choose one of {', '.join(SITES)}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def patch(
    runtime: ModelRuntime,
    clean: str | Sequence[str],
    corrupt: str | Sequence[str],
    site: str,
    target: str | Sequence[str],
    foil: str | Sequence[str],
    method: str = "exact",
) -> PatchResult:
    """Patch clean activations into the corrupt run at every cell of ``site``; score each cell (module docstring).

    Raises InputError for an unknown site or method, prompts of unequal token length (the message gives
    both lengths), a target or foil that is not exactly one token, or a pair whose clean and corrupt
    logit differences are equal (nothing to explain).
    """
    _check(site, method)
    pairs = prepare_pairs(runtime, clean, corrupt, target, foil)
    if method == "attribution":
        attr, clean_lds, corrupt_lds = attribution_tables(
            runtime.loaded, pairs.clean_ids, pairs.corrupt_ids, site, pairs.targets, pairs.foils
        )
        numerator = attr.mean(dim=0)
    else:
        _check_effect(*_plain_lds(runtime, pairs))  # fail before a long sweep
        if method == "exact" and supports_exact(runtime.loaded):
            patched, clean_lds, corrupt_lds = exact_tables(runtime, pairs, site)
        else:
            patched, clean_lds, corrupt_lds = naive_tables(runtime, pairs, site)
        numerator = patched.mean(dim=0) - corrupt_lds.mean()
    _check_effect(clean_lds, corrupt_lds)
    clean_ld, corrupt_ld = float(clean_lds.mean()), float(corrupt_lds.mean())
    scores = numerator / (clean_ld - corrupt_ld)
    columns = runtime.shape.n_heads if site == "heads" else len(pairs.clean_ids[0])
    return PatchResult(
        site=site,
        method=method,
        layers=list(range(runtime.shape.n_layers)),
        positions=list(range(columns)),
        tokens=runtime.token_strings(pairs.clean_ids[0]),
        scores=scores.tolist(),
        clean_ld=clean_ld,
        corrupt_ld=corrupt_ld,
        n_pairs=len(pairs.clean),
        column_kind="head" if site == "heads" else "position",
    )
