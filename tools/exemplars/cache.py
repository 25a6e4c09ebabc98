"""The exemplar cache: one streaming pass over a corpus for every unit of a site (or every latent of an
SAE: the site ``L{l}.sae[name]``, whose values are the SAE's encoding of the site it reads; its spec
carries the SAE's digest, so another SAE under the same name never reuses the cache).

Per unit it keeps the top-k contexts (by max activation), a uniform reservoir sample of activating
contexts from which contexts are drawn across 10 activation quantiles (the delphi scheme), and
statistics (count, mean, std, min, max, firing frequency, histogram). Memory is O(units × (k +
reservoir) × ctx_len), independent of the corpus length; context tokens stream to a file on disk.

Scoring skips the first ``skip_first`` positions of each window: the tokenizer's BOS when it adds
one, else position 0, which acts as an attention sink in most LMs (huge activations whatever its
token) and would otherwise fill every unit's top-k. Those positions still appear in the stored
per-token activations.

Files: ``<home>/caches/<model-digest>/<site>-<spec-key>.safetensors``. A build checkpoints its state
to ``<file>.partial/`` (atomic renames); a re-run with the same spec resumes from the checkpoint and
gives a result identical to an uninterrupted build. The final file appears only by an atomic rename.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from store.errors import CacheError
from tools.corpus.windows import TextSource, default_prefix, iter_windows
from tools.exemplars.stats import RunningStats, TopKBuffer
from tools.runtime.digests import sha256_file
from tools.runtime.model_runtime import ModelRuntime

CACHE_FORMAT = "autointerp-exemplars-2"
N_QUANTILES = 10


class CacheSpec(BaseModel):
    """Everything that determines a cache's content; its ``key`` names the file."""

    model_name: str
    model_digest: str
    site: str
    corpus: str
    corpus_digest: str
    ctx_len: int = Field(64, ge=4, le=4096)
    max_tokens: int = Field(200_000, ge=1)
    k: int = Field(20, ge=1, le=1000)
    reservoir: int = Field(200, ge=N_QUANTILES, le=5000)
    seed: int = 0
    skip_first: int = Field(1, ge=0)
    sae_digest: str | None = Field(None, description="For an SAE's latents (site L{l}.sae[name]): its digest.")

    def key(self) -> str:
        """sha256 of the file format and every field but the model's display name (``sae_digest`` only
        when set, so the keys of caches of model sites are what they were before SAEs)."""
        exclude = {"model_name"} if self.sae_digest is not None else {"model_name", "sae_digest"}
        payload = {**self.model_dump(exclude=exclude), "format": CACHE_FORMAT}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_path(home: Path, spec: CacheSpec) -> Path:
    """Where the cache for ``spec`` lives in the cache home."""
    return home / "caches" / spec.model_digest[:16] / f"{spec.site}-{spec.key()[:16]}.safetensors"


@dataclass
class BuildReport:
    """What a build did."""

    path: Path
    digest: str
    n_contexts: int
    n_tokens: int
    seconds: float
    resumed_from: int  # contexts already done by an earlier, interrupted build (0 if none)
    reused: bool  # the finished cache already existed


class _Checkpoint:
    """The ``.partial`` folder of a build in progress: state file + token stream."""

    def __init__(self, final: Path) -> None:
        self.dir = final.with_name(final.name + ".partial")
        self.state_file = self.dir / "state.safetensors"
        self.tokens_file = self.dir / "tokens.bin"

    def load(self, spec_key: str) -> tuple[dict[str, torch.Tensor], int] | None:
        if not self.state_file.is_file():
            return None
        try:
            with safe_open(str(self.state_file), framework="pt") as handle:
                meta = handle.metadata() or {}
            tensors = load_file(str(self.state_file))
        except (SafetensorError, OSError, ValueError):
            return None  # an unreadable checkpoint is discarded, never trusted
        if meta.get("spec_key") != spec_key:
            return None
        return tensors, int(meta["contexts_done"])

    def save(self, tensors: dict[str, torch.Tensor], spec_key: str, contexts_done: int) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata={"spec_key": spec_key, "contexts_done": str(contexts_done)})
        os.replace(tmp, self.state_file)

    def reset(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)


class _Builder:
    """The streaming state of one build."""

    def __init__(self, spec: CacheSpec, n_units: int) -> None:
        self.spec = spec
        self.top = TopKBuffer(n_units, spec.k, spec.ctx_len)
        self.res = TopKBuffer(n_units, spec.reservoir, spec.ctx_len)
        self.stats = RunningStats(n_units)
        self.gen = torch.Generator().manual_seed(spec.seed)

    def update(self, acts: torch.Tensor, first_id: int) -> None:
        """Fold in a batch of activations [B, T, U] for contexts first_id .. first_id + B - 1."""
        acts = acts.float()
        scored = acts[:, self.spec.skip_first :, :]
        maxes = scored.amax(dim=1)  # [B, U]
        ids = torch.arange(first_id, first_id + acts.shape[0])
        self.top.update(maxes, maxes, ids, acts)
        keys = torch.rand(maxes.shape, generator=self.gen)
        res_scores = torch.where(maxes > 0, -keys, torch.full_like(keys, float("-inf")))
        self.res.update(res_scores, maxes, ids, acts)
        self.stats.update(scored.reshape(-1, scored.shape[-1]))

    def state(self) -> dict[str, torch.Tensor]:
        return {
            **self.top.state("top"),
            **self.res.state("res"),
            **self.stats.state(),
            "gen": self.gen.get_state(),
        }

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.top.load_state("top", tensors)
        self.res.load_state("res", tensors)
        self.stats.load_state(tensors)
        self.gen.set_state(tensors["gen"])


def _batches(windows: Iterator[list[int]], size: int) -> Iterator[list[list[int]]]:
    batch: list[list[int]] = []
    for window in windows:
        batch.append(window)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def build_exemplar_cache(
    runtime: ModelRuntime,
    spec: CacheSpec,
    corpus: TextSource,
    path: Path,
    *,
    batch_size: int = 32,
    checkpoint_every: int = 20,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> BuildReport:
    """Build (or resume, or reuse) the exemplar cache for ``spec`` at ``path``.

    ``checkpoint_every``: batches between checkpoints. ``on_batch(contexts_done)`` is called after
    each batch (progress reporting, tests that interrupt a build).
    """
    started = time.perf_counter()
    if path.is_file():
        ExemplarCache(path)  # raises CacheError when the file is not a valid cache
        return BuildReport(path, sha256_file(path), 0, 0, 0.0, 0, reused=True)
    target = runtime.resolve(spec.site)
    n_units = runtime.width(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(f"cannot create cache folder {path.parent}: {exc.strerror}") from exc
    with _exclusive(path):
        if path.is_file():  # finished by another process while this one was starting
            return BuildReport(path, sha256_file(path), 0, 0, 0.0, 0, reused=True)
        return _build(runtime, spec, corpus, path, n_units, batch_size, checkpoint_every, progress, on_batch, started)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for building ``path``; a second concurrent build fails clearly."""
    lock_path = path.with_name(path.name + ".lock")
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheError(f"another process is building {path} right now; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(
    runtime: ModelRuntime,
    spec: CacheSpec,
    corpus: TextSource,
    path: Path,
    n_units: int,
    batch_size: int,
    checkpoint_every: int,
    progress: bool,
    on_batch: Callable[[int], None] | None,
    started: float,
) -> BuildReport:
    spec_key = spec.key()
    checkpoint = _Checkpoint(path)
    builder = _Builder(spec, n_units)
    restored = checkpoint.load(spec_key)
    done = 0
    if restored is not None and checkpoint.tokens_file.is_file():
        tensors, done = restored
        builder.load_state(tensors)
        with checkpoint.tokens_file.open("r+b") as handle:
            handle.truncate(done * spec.ctx_len * 4)
    else:
        checkpoint.reset()
    resumed_from = done
    windows = iter_windows(corpus, runtime.loaded.tokenizer, spec.ctx_len, spec.max_tokens)
    total = spec.max_tokens // spec.ctx_len
    bar = tqdm(total=total, initial=done, unit="ctx", desc=f"cache {spec.site}", disable=not progress)
    batches_since_checkpoint = 0
    with checkpoint.tokens_file.open("ab") as token_sink:
        # Windows are deterministic, so the ones finished before an interruption are skipped.
        for batch in _batches(itertools.islice(windows, done, None), batch_size):
            input_ids = torch.tensor(batch, dtype=torch.long, device=runtime.device)
            captured, _ = runtime.forward(input_ids, None, [spec.site])
            builder.update(captured[spec.site].cpu(), done)
            token_sink.write(np.asarray(batch, dtype=np.int32).tobytes())
            done += len(batch)
            bar.update(len(batch))
            batches_since_checkpoint += 1
            if batches_since_checkpoint >= checkpoint_every:
                token_sink.flush()
                os.fsync(token_sink.fileno())
                checkpoint.save(builder.state(), spec_key, done)
                batches_since_checkpoint = 0
            if on_batch is not None:
                on_batch(done)
    bar.close()
    if done == 0:
        raise CacheError(
            f"the corpus {spec.corpus!r} gave no full {spec.ctx_len}-token context; use more text or a shorter --ctx"
        )
    digest = _finish(builder, spec, checkpoint, path, done)
    return BuildReport(path, digest, done, done * spec.ctx_len, time.perf_counter() - started, resumed_from, False)


def _finish(builder: _Builder, spec: CacheSpec, checkpoint: _Checkpoint, path: Path, n_contexts: int) -> str:
    """Write the final file atomically and remove the checkpoint; return the file's sha256."""
    all_tokens = np.memmap(checkpoint.tokens_file, dtype=np.int32, mode="r", shape=(n_contexts, spec.ctx_len))
    ids = torch.cat([builder.top.ids.reshape(-1), builder.res.ids.reshape(-1)])
    used = torch.unique(ids[ids >= 0])
    remap = torch.full((n_contexts,), -1, dtype=torch.long)
    remap[used] = torch.arange(used.numel())

    def remapped(buffer_ids: torch.Tensor) -> torch.Tensor:
        return torch.where(buffer_ids >= 0, remap[buffer_ids.clamp_min(0)], buffer_ids)

    tensors = {
        "contexts": torch.from_numpy(np.array(all_tokens[used.numpy()], dtype=np.int32)),
        "top.values": builder.top.values,
        "top.ids": remapped(builder.top.ids),
        "top.acts": builder.top.acts,
        "res.values": builder.res.values,
        "res.ids": remapped(builder.res.ids),
        "res.acts": builder.res.acts,
        **builder.stats.summary(),
    }
    del all_tokens
    metadata = {"format": CACHE_FORMAT, "spec": spec.model_dump_json(), "n_contexts": str(n_contexts)}
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    shutil.rmtree(checkpoint.dir, ignore_errors=True)
    return sha256_file(path)


@dataclass
class Exemplar:
    """One context with its per-token activations for one unit."""

    token_ids: list[int]
    activations: list[float]
    max: float


@dataclass
class QuantileSample:
    """Contexts drawn from one activation quantile (0 = weakest activating, 9 = strongest)."""

    quantile: int
    low: float
    high: float
    exemplars: list[Exemplar]


class ExemplarCache:
    """Read access to a finished cache file; only the requested unit's rows are loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                keys = set(handle.keys())
        except (SafetensorError, OSError, ValueError) as exc:
            raise CacheError(f"exemplar cache {path} is unreadable or corrupt ({exc}); rebuild it") from exc
        if meta.get("format") != CACHE_FORMAT or "top.values" not in keys:
            raise CacheError(f"{path} is not an autointerp exemplar cache ({CACHE_FORMAT}); rebuild it")
        self.spec = CacheSpec.model_validate_json(meta["spec"])
        self.n_contexts = int(meta["n_contexts"])

    def _rows(self, names: list[str], unit: int) -> dict[str, torch.Tensor]:
        with safe_open(str(self.path), framework="pt") as handle:
            n_units = handle.get_slice("top.values").get_shape()[0]
            if not 0 <= unit < n_units:
                raise CacheError(f"unit index {unit} out of range for {self.spec.site}: 0..{n_units - 1}")
            return {name: handle.get_slice(name)[unit] for name in names}

    def _contexts(self, ids: list[int]) -> list[list[int]]:
        with safe_open(str(self.path), framework="pt") as handle:
            table = handle.get_slice("contexts")
            return [table[i].tolist() for i in ids]

    @property
    def n_units(self) -> int:
        """Number of units (columns of the site)."""
        with safe_open(str(self.path), framework="pt") as handle:
            return int(handle.get_slice("top.values").get_shape()[0])

    def _exemplars(
        self, values: torch.Tensor, ids: torch.Tensor, acts: torch.Tensor, order: list[int]
    ) -> list[Exemplar]:
        contexts = self._contexts([int(ids[j]) for j in order])
        return [
            Exemplar(tokens, [round(float(a), 5) for a in acts[j].float()], float(values[j]))
            for j, tokens in zip(order, contexts, strict=True)
        ]

    def top(self, unit: int, k: int | None = None) -> list[Exemplar]:
        """The unit's strongest contexts, strongest first (at most the k the cache was built with)."""
        rows = self._rows(["top.values", "top.ids", "top.acts"], unit)
        valid = [j for j in range(rows["top.ids"].numel()) if int(rows["top.ids"][j]) >= 0]
        return self._exemplars(rows["top.values"], rows["top.ids"], rows["top.acts"], valid[: k or len(valid)])

    def quantiles(self, unit: int, per_quantile: int = 4, seed: int = 0) -> list[QuantileSample]:
        """Activating contexts across 10 equal-count activation quantiles of the reservoir sample."""
        rows = self._rows(["res.values", "res.ids", "res.acts"], unit)
        valid = [j for j in range(rows["res.ids"].numel()) if int(rows["res.ids"][j]) >= 0]
        valid.sort(key=lambda j: float(rows["res.values"][j]))
        gen = torch.Generator().manual_seed(seed * 100_003 + unit)
        samples: list[QuantileSample] = []
        for q in range(N_QUANTILES):
            members = valid[len(valid) * q // N_QUANTILES : len(valid) * (q + 1) // N_QUANTILES]
            if not members:
                continue
            pick = torch.randperm(len(members), generator=gen)[:per_quantile].tolist()
            chosen = sorted((members[i] for i in pick), key=lambda j: -float(rows["res.values"][j]))
            samples.append(
                QuantileSample(
                    quantile=q,
                    low=float(rows["res.values"][members[0]]),
                    high=float(rows["res.values"][members[-1]]),
                    exemplars=self._exemplars(rows["res.values"], rows["res.ids"], rows["res.acts"], chosen),
                )
            )
        return samples

    def stat_column(self, name: str) -> torch.Tensor:
        """One statistic for every unit: mean, std, min, max or frac_firing, as a [units] tensor."""
        allowed = ("mean", "std", "min", "max", "frac_firing")
        if name not in allowed:
            raise CacheError(f"unknown statistic {name!r}; choose one of {', '.join(allowed)}")
        with safe_open(str(self.path), framework="pt") as handle:
            return handle.get_tensor(f"stats.{name}")

    def stats(self, unit: int) -> dict[str, Any]:
        """The unit's statistics: count, mean, std, min, max, frac_firing, histogram (counts, range)."""
        names = [
            "stats.mean",
            "stats.std",
            "stats.min",
            "stats.max",
            "stats.frac_firing",
            "stats.hist",
            "stats.hist_range",
        ]
        rows = self._rows(names, unit)
        with safe_open(str(self.path), framework="pt") as handle:
            count = int(handle.get_tensor("stats.count")[0])
        r = float(rows["stats.hist_range"])
        return {
            "count": count,
            "mean": float(rows["stats.mean"]),
            "std": float(rows["stats.std"]),
            "min": float(rows["stats.min"]),
            "max": float(rows["stats.max"]),
            "frac_firing": float(rows["stats.frac_firing"]),
            "histogram": {"low": -r, "high": r, "counts": [int(c) for c in rows["stats.hist"].tolist()]},
        }


def scoring_skip(tokenizer: Any) -> int:
    """Leading positions of each window left out of scoring (the BOS if any, else position 0)."""
    return max(len(default_prefix(tokenizer)), 1)
