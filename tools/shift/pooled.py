"""Mean-pooled site activations ``x̄`` [n, d] and SAE latents ``f̄`` [n, N] of a list of texts, captured
once per dataset and kept on disk.

**Pooling, as SAEBench does it** (``sae_bench/sae_bench_utils/activation_collection.py``:
``get_llm_activations(mask_bos_pad_eos_tokens=True)``, ``get_bos_pad_eos_mask``,
``create_meaned_model_activations``, ``get_sae_meaned_activations``; ``sae_bench/evals/scr_and_tpp/main.py``:
``get_effects_per_class_precomputed_acts``):

* a token is *counted* unless its id is the tokenizer's BOS, EOS or PAD id — SAEBench masks by id, so
  such an id inside a text is left out too; padding never counts (the runtime right-pads and cuts it);
* ``x̄ = Σ_counted x_t / n_counted``: SAEBench zeroes the masked positions and divides by the number
  of positions whose activation is not all zero, which is the number of counted tokens;
* ``f̄ = Σ_counted encode(x_t) / n_counted`` over the same tokens (SAEBench zeroes the codes of the
  masked positions before summing);
* texts are cut to their first ``ctx`` tokens (SAEBench's ``context_length``, 128).

**Ablation commutes with pooling.** Zeroing the latents S at every counted token with the SAE error
term kept (``tools.runtime.latents``) gives ``x'_t = x_t − Σ_{j∈S} f_{t,j} · W_dec[j]``; averaging over
the counted tokens, the pooled ablated activations are ``x̄ − f̄[:, S] @ W_dec[S]`` — exact, so one
capture per dataset serves every N and every selection with no model rerun (``Pooled.ablated``).
SAEBench (``ablated_precomputed_activations``) also runs the SAE over the zeroed BOS/pad positions
and subtracts their ablated writes before dividing; those positions carry no text, so we ablate the
counted tokens only (the two agree whenever ``encode(0)`` has none of S active).

**Cache.** ``pooled_activations`` stores the result under ``<home>/shift/<key>/pooled.safetensors``,
``key`` = sha256 of the model digest, SAE digest, site, the texts' digest and ``ctx`` (and the format
version); written to a temporary file and renamed (atomic), reused when present. ``f̄`` is stored
sparse (CSR: row pointers, int32 columns, float32 values — exact): a TopK SAE leaves most of it zero.
In memory both are dense float32 (``n × N × 4`` bytes: 7,500 texts × 4,608 latents ≈ 140 MB).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from store.errors import CacheError, InputError
from store.settings import Settings
from tools.runtime.latents import AttachedSAE
from tools.runtime.model_runtime import ModelRuntime, TruncationWarning

POOL_FORMAT = "autointerp-shift-pooled-1"
#: SAEBench's context length for SCR and TPP.
DEFAULT_CTX = 128


@dataclass(frozen=True)
class Pooled:
    """Mean-pooled activations of ``texts`` (row i is text i): the SAE's site ``x`` [n, d], its latents
    ``f`` [n, N], and ``counts`` [n], the tokens each mean is over."""

    texts: tuple[str, ...]
    x: torch.Tensor
    f: torch.Tensor
    counts: torch.Tensor

    def __len__(self) -> int:
        return len(self.texts)

    def rows(self, texts: Sequence[str]) -> torch.Tensor:
        """Row indices [m] of ``texts`` in this pool (a text listed twice here maps to its first row);
        InputError naming the first text that is not in it."""
        first: dict[str, int] = {}
        for i, text in enumerate(self.texts):
            first.setdefault(text, i)
        out: list[int] = []
        for i, text in enumerate(texts):
            if text not in first:
                raise InputError(f"text {i} ({text[:40]!r}…) is not among the {len(self.texts)} pooled texts")
            out.append(first[text])
        return torch.tensor(out, dtype=torch.long)

    def ablated(self, w_dec: torch.Tensor, latents: Sequence[int], rows: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled site activations [m, d] of ``rows`` (default all) after zeroing ``latents`` at every
        counted token with the error term kept: ``x̄ − f̄[:, S] @ W_dec[S]``."""
        x = self.x if rows is None else self.x[rows]
        if len(latents) == 0:
            return x
        cols = torch.as_tensor(list(latents), dtype=torch.long)
        f = self.f.index_select(1, cols)  # the few columns first, then the rows
        if rows is not None:
            f = f[rows]
        return x - f @ w_dec[cols].to(x.dtype)


def ablate(x: torch.Tensor, f: torch.Tensor, w_dec: torch.Tensor, latents: Sequence[int]) -> torch.Tensor:
    """``x − f[:, S] @ W_dec[S]`` for pooled ``x`` [n, d], ``f`` [n, N] and decoder ``W_dec`` [N, d]:
    the pooled activations with latents ``S`` zeroed at every token (module docstring). No latents:
    ``x`` itself."""
    if len(latents) == 0:
        return x
    cols = torch.as_tensor(list(latents), dtype=torch.long)
    return x - f[:, cols] @ w_dec[cols].to(x.dtype)


def texts_digest(texts: Sequence[str]) -> str:
    """sha256 of the texts in order (each length-prefixed, so no two lists collide)."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def attached_sae(runtime: ModelRuntime, sae: AttachedSAE | str) -> AttachedSAE:
    """The attached SAE ``sae`` names (``L6.sae[name]``); InputError for an address that is not a whole SAE."""
    if isinstance(sae, AttachedSAE):
        return sae
    target = runtime.resolve(sae)
    if target.sae is None or target.index is not None:
        raise InputError(f"{sae!r} is not an SAE; give its address, e.g. L6.sae[name]")
    return target.sae


def pooled_key(runtime: ModelRuntime, sae: AttachedSAE | str, texts: Sequence[str], ctx: int = DEFAULT_CTX) -> str:
    """The cache key of the pooled activations of ``texts`` (module docstring)."""
    attached = attached_sae(runtime, sae)
    parts = {
        "format": POOL_FORMAT,
        "model": runtime.loaded.digest,
        "sae": attached.digest,
        "site": str(attached.site),
        "texts": texts_digest(texts),
        "ctx": ctx,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _special_ids(tokenizer: object) -> list[int]:
    ids = {getattr(tokenizer, name, None) for name in ("bos_token_id", "eos_token_id", "pad_token_id")}
    return sorted(i for i in ids if isinstance(i, int))


@torch.no_grad()
def capture_pooled(
    runtime: ModelRuntime,
    sae: AttachedSAE | str,
    texts: Sequence[str],
    *,
    ctx: int = DEFAULT_CTX,
    batch_size: int = 32,
    progress: bool = False,
) -> Pooled:
    """Capture and pool ``texts`` (no cache): one forward per batch, stopped right after the SAE's
    site; texts are batched by length so padding costs little. ``sae`` is an attached SAE or its
    address (``L6.sae[name]``). InputError for no texts, an empty one, a bad ``ctx``, or a text with
    no token left once BOS/EOS/PAD are masked."""
    if ctx < 1:
        raise InputError(f"ctx must be a positive number of tokens, got {ctx}")
    if batch_size < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    attached = attached_sae(runtime, sae)
    with warnings.catch_warnings():
        # Texts are cut to ctx tokens here, as SAEBench cuts them; no need to warn about the model's limit.
        warnings.simplefilter("ignore", TruncationWarning)
        token_lists = [ids[:ctx] for ids in runtime.tokenize(list(texts))]
    special = torch.tensor(_special_ids(runtime.loaded.tokenizer), dtype=torch.long)
    order = sorted(range(len(token_lists)), key=lambda i: len(token_lists[i]))
    site = str(attached.site)
    d_in, d_sae = attached.sae.shape.d_in, attached.sae.d_sae
    x_sum = torch.zeros(len(token_lists), d_in)
    f_sum = torch.zeros(len(token_lists), d_sae)
    counts = torch.zeros(len(token_lists), dtype=torch.long)
    bar = tqdm(total=len(order), unit="text", desc=f"pool {site}", disable=not progress)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = [token_lists[i] for i in idx]
        lengths = [len(ids) for ids in batch]
        input_ids, mask = runtime.pad(batch)
        captured, _ = runtime.forward(input_ids, mask, [site], lengths=lengths)
        acts = captured[site].float().cpu()
        ids = input_ids.cpu()
        counted = mask.cpu().bool() & ~torch.isin(ids, special)
        rows, positions = counted.nonzero(as_tuple=True)
        x_tok = acts[rows, positions].clone()  # a normal tensor, not an inference-mode one
        f_tok = attached.sae.encode(x_tok.to(attached.sae.W_enc.device)).float().cpu()
        out_rows = torch.tensor(idx, dtype=torch.long)[rows]
        x_sum.index_add_(0, out_rows, x_tok)
        f_sum.index_add_(0, out_rows, f_tok)
        counts.index_add_(0, out_rows, torch.ones_like(out_rows))
        bar.update(len(idx))
    bar.close()
    empty = (counts == 0).nonzero().flatten().tolist()
    if empty:
        raise InputError(f"text {empty[0]} has no token left once BOS/EOS/PAD tokens are masked")
    denom = counts.to(torch.float32)[:, None]
    return Pooled(tuple(texts), x_sum / denom, f_sum / denom, counts)


def pool_path(settings: Settings, key: str) -> Path:
    """Where the pooled activations of ``key`` live: ``<home>/shift/<key>/pooled.safetensors``."""
    return settings.home / "shift" / key / "pooled.safetensors"


def save_pooled(pooled: Pooled, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``pooled`` to ``path`` atomically (temporary file, then rename); ``f̄`` as exact CSR."""
    rows, cols = pooled.f.nonzero(as_tuple=True)  # row-major order: CSR without the sparse API
    per_row = torch.bincount(rows, minlength=pooled.f.shape[0])
    tensors = {
        "x": pooled.x.contiguous(),
        "counts": pooled.counts.contiguous(),
        "f_crow": torch.cat([torch.zeros(1, dtype=torch.int64), per_row.cumsum(0)]),
        "f_col": cols.to(torch.int32).contiguous(),
        "f_val": pooled.f[rows, cols].to(torch.float32).contiguous(),
        "f_shape": torch.tensor(list(pooled.f.shape), dtype=torch.int64),
    }
    meta = {"format": POOL_FORMAT, "texts": texts_digest(pooled.texts), **(metadata or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_pooled(path: Path, texts: Sequence[str]) -> Pooled:
    """Read pooled activations saved by ``save_pooled`` for these ``texts``; CacheError when the file
    is unreadable or was written for other texts."""
    try:
        tensors = load_file(str(path))
        n, width = (int(v) for v in tensors["f_shape"].tolist())
        rows = torch.repeat_interleave(torch.arange(n), tensors["f_crow"].diff())
        f = torch.zeros(n, width)
        f[rows, tensors["f_col"].to(torch.int64)] = tensors["f_val"]
        x, counts = tensors["x"], tensors["counts"]
    except (OSError, SafetensorError, KeyError, RuntimeError, ValueError) as exc:
        raise CacheError(f"pooled activations {path} are unreadable ({exc}); delete the folder to recompute") from None
    if n != len(texts) or x.shape[0] != n or counts.shape[0] != n:
        raise CacheError(f"pooled activations {path} hold {n} rows, not the {len(texts)} texts asked for")
    return Pooled(tuple(texts), x, f, counts)


def pooled_activations(
    runtime: ModelRuntime,
    sae: AttachedSAE | str,
    texts: Sequence[str],
    *,
    settings: Settings,
    ctx: int = DEFAULT_CTX,
    batch_size: int = 32,
    progress: bool = False,
) -> Pooled:
    """The pooled activations of ``texts`` from the cache home, captured (``capture_pooled``) and
    stored on first use; a corrupt cache file is recaptured and replaced."""
    attached = attached_sae(runtime, sae)
    key = pooled_key(runtime, attached, texts, ctx)
    path = pool_path(settings, key)
    if path.is_file():
        try:
            return load_pooled(path, texts)
        except CacheError:
            pass
    pooled = capture_pooled(runtime, attached, texts, ctx=ctx, batch_size=batch_size, progress=progress)
    meta = {"model": runtime.loaded.name, "sae": attached.address, "site": str(attached.site), "ctx": str(ctx)}
    save_pooled(pooled, path, meta)
    return pooled
