"""Offline TopK SAE training on activations streamed from the runtime, resumable, with its metrics.

**Recipe** (OpenAI's TopK paper, Gao et al. 2024; EleutherAI sparsify): a TopK SAE (``k`` largest ReLU
pre-activations kept) trained on the FVU loss ``Σ‖x − x̂‖² / Σ‖x − x̄‖²`` of each batch, plus
``auxk_alpha`` × the AuxK loss: the ``d_in/2`` largest pre-activations among *dead* latents (no
activation in the last ``aux_dead_tokens`` training tokens) reconstruct the residual ``x − x̂``,
scaled down while few latents are dead. Decoder rows are kept unit-norm (the gradient's component
along each row is removed before the step, rows renormalised after it); the encoder starts as the
decoder's transpose, ``b_enc`` at 0 and ``b_dec`` at the geometric median of the first block's
activations. Inputs are divided by one constant, the root mean square norm of that sample (so the
learning rate does not depend on the site's scale; it is folded back into the saved SAE, whose
activations are in the site's own units). Adam (β = 0.9, 0.999, ε = 6.25e-10) with
``lr = 2e-4 / √(N / 2¹⁴)`` for N latents, a short linear warm-up and a linear decay to 0 over the
last ``decay_frac`` of the steps.

The backward pass is written out by hand and exploits sparsity: only ``k`` (and the AuxK) latents of
a token get a gradient, so the encoder's and decoder's weight gradients are sparse-dense products and
the only dense work per token is the encoder's forward matmul (done in bfloat16 where the CPU is
faster at it, checked once at start; weights, Adam and everything else stay float32).

**Data.** The corpus is cut into windows of ``ctx`` tokens (``tools.corpus.windows``, as the exemplar
cache does); the first ``skip`` positions of every window are left out (the BOS if the tokenizer adds
one, else position 0: an attention sink with a huge norm whatever its token, see
``tools.exemplars.cache.scoring_skip``). The first windows of the corpus are held out for evaluation
and never trained on. Training windows are read in *blocks* of about ``buffer_tokens`` tokens: a
block's activations are captured with early stop after the layer (``ModelRuntime.forward``), shuffled
with a permutation seeded by (seed, block), and consumed in batches; what is left over (less than a
batch) is carried into the next block. Only one block is ever in memory, never all activations. A
corpus shorter than the run is read again (another epoch; the held-out windows are skipped each time).

**Resuming.** Every ``checkpoint_every`` steps, on Ctrl-C and when training ends, the state (weights,
Adam moments, per-latent last-fired counters, the carried rows, the position: block and batch within
it, counters) is written atomically to ``<run>/checkpoint.safetensors``. A run of the same spec on
the same model and corpus resumes from it: the current block's activations are captured again and
its batches before the checkpoint skipped, so every training token is used exactly once
(``tokens_hash`` is an order-free hash of the global ids of the tokens trained on; a resumed run has
the same one as an uninterrupted run). A finished run is reused.

**Metrics** (on the held-out windows): FVU, L0 (mean number of active latents per token), the dead
fraction (latents that did not fire in the last 1M training tokens, or in the whole run when it is
shorter), and the cross-entropy loss recovered when the SAE's reconstruction is spliced into the
model at the site (a ``patch`` intervention), against zero-ablating it (a ``zero`` intervention),
both at every position but the skipped ones: ``1 − (CE_sae − CE_clean) / (CE_zero − CE_clean)``.

The finished SAE is written in the SAELens layout (``tools.sae.formats.save_saelens``) to
``<run>/sae/`` with ``metrics.json``; ``tools.sae.registry.register_sae`` registers it.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from store.errors import CacheError, InputError
from tools.corpus.base import Corpus
from tools.corpus.sources import BUILTIN_MIN_TOKENS, BuiltinCorpus, load_corpus
from tools.corpus.windows import iter_windows
from tools.exemplars.cache import scoring_skip
from tools.runtime.interventions import Intervention
from tools.runtime.model_runtime import ModelRuntime
from tools.runtime.sae import SAEShape, SparseAutoencoder
from tools.sae.formats import load_sae_folder, saelens_hook_name, save_saelens

__all__ = [
    "RUNS_FOLDER",
    "SAEMetrics",
    "TopKTrainer",
    "TrainReport",
    "TrainSpec",
    "bf16_matmul_is_faster",
    "ce_recovered",
    "dead_fraction",
    "evaluate_sae",
    "fvu",
    "l0",
    "run_dir_for",
    "token_hash",
    "train_sae",
]

TRAIN_FORMAT = "autointerp-sae-train-1"
RUNS_FOLDER = "sae-runs"
CHECKPOINT = "checkpoint.safetensors"
REPORT = "report.json"
SAE_SUBDIR = "sae"
DEAD_WINDOW_TOKENS = 1_000_000
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 6.25e-10
_PARAMS = ("W_enc_t", "b_enc", "W_dec", "b_dec")

TrainSite = Literal["resid_pre", "resid_post", "mlp_out", "attn_out"]


class TrainSpec(BaseModel):
    """Everything that determines a training run (with the model's weights and the corpus's content)."""

    layer: int = Field(ge=0)
    site: TrainSite = "resid_post"
    latents: int | None = Field(None, ge=2, description="number of latents; default 8 × the site's width")
    k: int = Field(32, ge=1)
    tokens: int = Field(2_000_000, ge=1, description="training tokens (held-out ones not counted)")
    batch: int = Field(4096, ge=1, description="tokens per step")
    lr: float | None = Field(None, gt=0, description="default 2e-4 / sqrt(latents / 2**14)")
    corpus: str = "builtin"
    ctx: int = Field(64, ge=4, le=4096)
    seed: int = 0
    buffer_tokens: int = Field(131_072, ge=1, description="tokens per shuffled block")
    auxk_alpha: float = Field(1 / 32, ge=0)
    aux_dead_tokens: int = Field(200_000, ge=1, description="AuxK: a latent silent this long counts as dead")
    warmup_steps: int = Field(20, ge=0)
    decay_frac: float = Field(0.2, ge=0, lt=1)
    eval_tokens: int = Field(16_384, ge=1, description="held-out tokens for FVU, L0")
    ce_tokens: int = Field(4_096, ge=0, description="held-out tokens for CE recovered (0: skip)")

    @property
    def address(self) -> str:
        """The site the SAE reads, e.g. ``L6.resid_post``."""
        return f"L{self.layer}.{self.site}"

    def width(self, d_in: int) -> int:
        """The number of latents for a site of width ``d_in``."""
        return self.latents if self.latents is not None else 8 * d_in

    def learning_rate(self, d_in: int) -> float:
        """The Adam learning rate (``2e-4 / √(N / 2¹⁴)`` unless given)."""
        return self.lr if self.lr is not None else 2e-4 / math.sqrt(self.width(d_in) / 2**14)

    def key(self, model_digest: str, corpus_digest: str) -> str:
        """sha256 of the training format, this spec, the model's weights and the corpus's content."""
        payload = {**self.model_dump(), "model": model_digest, "corpus_digest": corpus_digest, "format": TRAIN_FORMAT}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class SAEMetrics(BaseModel):
    """How good an SAE is on held-out tokens (the names ``sae list`` shows)."""

    fvu: float
    l0: float
    dead_fraction: float
    ce_clean: float | None = None
    ce_sae: float | None = None
    ce_zero: float | None = None
    ce_recovered: float | None = None
    eval_tokens: int
    ce_tokens: int = 0


class TrainReport(BaseModel):
    """What a training run did and reached."""

    model: str
    site: str
    run_dir: str
    sae_path: str
    corpus: str
    width: int
    k: int
    steps: int
    tokens: int
    tokens_hash: str
    epochs: int
    seconds: float
    tokens_per_second: float
    resumed_from_step: int
    reused: bool
    lr: float
    encoder_precision: str
    metrics: SAEMetrics


# ------------------------------------------------------------------------------------------- metrics
def fvu(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Fraction of variance unexplained: ``Σ‖x − x̂‖² / Σ‖x − x̄‖²`` over the rows of ``x`` [n, d]."""
    x, x_hat = x.double(), x_hat.double()
    return float((x - x_hat).pow(2).sum() / (x - x.mean(0)).pow(2).sum().clamp_min(1e-30))


def l0(f: torch.Tensor) -> float:
    """Mean number of non-zero latents per row of ``f`` [n, N]."""
    return float((f != 0).sum(-1).double().mean())


def dead_fraction(last_fired: torch.Tensor, tokens_seen: int, window: int = DEAD_WINDOW_TOKENS) -> float:
    """Share of latents that did not fire in the last ``window`` tokens (the whole run when shorter).

    ``last_fired[j]`` is the training-token count at latent j's last activation, -1 if never.
    """
    span = min(window, tokens_seen)
    return float((last_fired < tokens_seen - span + 1).double().mean()) if tokens_seen > 0 else 1.0


def ce_recovered(ce_clean: float, ce_sae: float, ce_zero: float) -> float:
    """``1 − (CE_sae − CE_clean) / (CE_zero − CE_clean)``: 1 = the SAE loses nothing, 0 = as bad as zero-ablation."""
    denominator = ce_zero - ce_clean
    if abs(denominator) < 1e-12:
        return float("nan")
    return 1.0 - (ce_sae - ce_clean) / denominator


def token_hash(ids: torch.Tensor) -> int:
    """Order-free hash of a set of global token ids: Σ mix(id) mod 2⁶⁴ (a repeated or missed id changes it)."""
    x = ids.to(torch.int64) * -7046029254386353131  # 0x9E3779B97F4A7C15 as int64 (wrapping)
    x = (x ^ (x >> 30)) * -4658895280553007687
    x = (x ^ (x >> 27)) * -7723592293110705685
    x = x ^ (x >> 31)
    return int(x.sum()) % 2**64


# ------------------------------------------------------------------------------------------- the trainer
def _geometric_median(x: torch.Tensor, iters: int = 50) -> torch.Tensor:
    """Weiszfeld's algorithm on the rows of ``x``."""
    median = x.median(dim=0).values
    for _ in range(iters):
        weights = 1.0 / (x - median).norm(dim=-1).clamp_min(1e-8)
        median = (weights[:, None] * x).sum(0) / weights.sum()
    return median


def bf16_matmul_is_faster(d_in: int, width: int) -> bool:
    """Whether this CPU multiplies bfloat16 faster than float32 (AMX/AVX512-BF16), timed once."""
    a, b = torch.randn(512, d_in), torch.randn(width, d_in)
    ab, bb = a.bfloat16(), b.bfloat16()

    def best(fn: Callable[[], torch.Tensor]) -> float:
        fn()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    return best(lambda: ab @ bb.T) < 0.6 * best(lambda: a @ b.T)


class StepStats(BaseModel):
    """One training step's numbers."""

    fvu: float
    auxk: float
    n_dead: int


class TopKTrainer:
    """A TopK SAE under training, in normalised units (inputs divided by ``scale``).

    Parameters are float32: ``W_enc_t`` [N, d] (the encoder, one row per latent, as sparsify stores it),
    ``b_enc`` [N], ``W_dec`` [N, d] (unit-norm rows), ``b_dec`` [d]. ``step(x)`` does one Adam step on
    a batch of raw site vectors; ``to_sae()`` gives the ``SparseAutoencoder`` in the site's units.
    """

    def __init__(
        self,
        d_in: int,
        width: int,
        k: int,
        *,
        lr: float,
        auxk_alpha: float = 1 / 32,
        aux_dead_tokens: int = 200_000,
        seed: int = 0,
        encoder_precision: Literal["float32", "bfloat16"] = "float32",
    ) -> None:
        if not 0 < k <= width:
            raise InputError(f"k must be in 1..{width} (the number of latents), got {k}")
        self.d_in, self.width, self.k = d_in, width, k
        self.lr = lr
        self.auxk_alpha = auxk_alpha
        self.aux_dead_tokens = aux_dead_tokens
        self.k_aux = max(1, d_in // 2)
        self.encoder_precision = encoder_precision
        gen = torch.Generator().manual_seed(seed)
        W_dec = torch.randn(width, d_in, generator=gen)
        W_dec /= W_dec.norm(dim=-1, keepdim=True)
        self.params: dict[str, torch.Tensor] = {
            "W_enc_t": W_dec.clone(),
            "b_enc": torch.zeros(width),
            "W_dec": W_dec,
            "b_dec": torch.zeros(d_in),
        }
        self.m = {name: torch.zeros_like(p) for name, p in self.params.items()}
        self.v = {name: torch.zeros_like(p) for name, p in self.params.items()}
        self.adam_t = 0
        self.scale = 1.0
        self.tokens_seen = 0
        self.last_fired = torch.full((width,), -1, dtype=torch.int64)

    # -------------------------------------------------------------- init and state
    @torch.no_grad()
    def init_from_sample(self, sample: torch.Tensor) -> None:
        """Set the input scale (RMS norm) and ``b_dec`` (geometric median) from raw site vectors."""
        sample = sample.float()
        self.scale = float(sample.pow(2).sum(-1).mean().sqrt().clamp_min(1e-12))
        self.params["b_dec"].copy_(_geometric_median(sample / self.scale))

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors to checkpoint."""
        out = {f"p.{n}": t for n, t in self.params.items()}
        out |= {f"m.{n}": t for n, t in self.m.items()} | {f"v.{n}": t for n, t in self.v.items()}
        out["last_fired"] = self.last_fired
        return out

    def meta(self) -> dict[str, Any]:
        """Scalars to checkpoint."""
        return {"adam_t": self.adam_t, "scale": self.scale, "tokens_seen": self.tokens_seen}

    def load(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore ``state()`` and ``meta()``."""
        for name in _PARAMS:
            self.params[name] = tensors[f"p.{name}"].float().clone()
            self.m[name] = tensors[f"m.{name}"].float().clone()
            self.v[name] = tensors[f"v.{name}"].float().clone()
        self.last_fired = tensors["last_fired"].to(torch.int64).clone()
        self.adam_t = int(meta["adam_t"])
        self.scale = float(meta["scale"])
        self.tokens_seen = int(meta["tokens_seen"])

    # -------------------------------------------------------------- forward/backward
    def _pre(self, xc: torch.Tensor) -> torch.Tensor:
        """Pre-activations [B, N] (bfloat16 under that precision: only the selected ones are used as float32)."""
        W, b = self.params["W_enc_t"], self.params["b_enc"]
        if self.encoder_precision == "bfloat16":
            return torch.addmm(b.bfloat16(), xc.bfloat16(), W.bfloat16().T)
        return torch.addmm(b, xc, W.T)

    def _decode(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding_bag(indices, self.params["W_dec"], per_sample_weights=values, mode="sum")

    def _value_grads(
        self, indices: torch.Tensor, grad_out: torch.Tensor, W_dec_lp: torch.Tensor | None, chunk: int = 1024
    ) -> torch.Tensor:
        """``grad_out[b] · W_dec[indices[b, i]]`` for every (b, i): the gradient of a decoded value.

        With a bfloat16 copy of the decoder, one dense product (fast on such CPUs) and a gather;
        otherwise the rows are gathered and multiplied in chunks (float32, no dense [B, N] product).
        """
        if W_dec_lp is not None:
            return (grad_out.bfloat16() @ W_dec_lp.T).gather(1, indices).float()
        W = self.params["W_dec"]
        out = torch.empty(indices.shape, dtype=grad_out.dtype)
        for start in range(0, indices.shape[0], chunk):
            rows = W[indices[start : start + chunk]]  # [c, k, d]
            out[start : start + chunk] = torch.bmm(rows, grad_out[start : start + chunk, :, None]).squeeze(-1)
        return out

    def _sparse_t_mm(self, indices: torch.Tensor, values: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """``Sᵀ @ dense`` for the sparse [B, N] matrix S with ``values`` at (b, indices[b, i]): [N, d]."""
        rows = torch.arange(indices.shape[0]).repeat_interleave(indices.shape[1])
        sparse = torch.sparse_coo_tensor(
            torch.stack([indices.reshape(-1), rows]),
            values.reshape(-1),
            (self.width, indices.shape[0]),
            check_invariants=False,
        )
        return torch.sparse.mm(sparse, dense)

    @torch.no_grad()
    def loss_and_grads(self, x_raw: torch.Tensor) -> tuple[dict[str, torch.Tensor], StepStats, torch.Tensor]:
        """Loss terms, parameter gradients and the latents that fired, for a batch of raw vectors [B, d]."""
        x = x_raw.float() / self.scale
        p = self.params
        xc = x - p["b_dec"]
        pre = self._pre(xc)
        top_v, top_i = pre.topk(self.k, dim=-1, sorted=False)
        top_v = top_v.float()
        act = top_v.clamp_min(0)
        W_dec_lp = p["W_dec"].bfloat16() if self.encoder_precision == "bfloat16" else None
        x_hat = self._decode(act, top_i) + p["b_dec"]
        err = x_hat - x
        total_var = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
        loss = float(err.pow(2).sum() / total_var)
        g_out = err * (2.0 / total_var)  # dL/dx̂
        grad_W_dec = self._sparse_t_mm(top_i, act, g_out)
        grad_act = self._value_grads(top_i, g_out, W_dec_lp) * (top_v > 0)
        all_i, all_g = top_i, grad_act

        fired = top_i[act > 0]
        dead = self.last_fired < self.tokens_seen - self.aux_dead_tokens + 1
        if self.tokens_seen < self.aux_dead_tokens:
            dead = torch.zeros_like(dead)
        n_dead = int(dead.sum())
        aux = 0.0
        if self.auxk_alpha > 0 and n_dead > 0:
            dead_idx = dead.nonzero().squeeze(-1)
            k_aux = min(self.k_aux, n_dead)
            scale = min(n_dead / self.k_aux, 1.0)
            a_v, a_local = pre[:, dead_idx].topk(k_aux, dim=-1, sorted=False)
            a_i = dead_idx[a_local]
            a_v = a_v.float()
            a_act = a_v.clamp_min(0)
            residual = -err  # x − x̂, a constant for this loss
            a_err = self._decode(a_act, a_i) - residual
            aux = float(scale * a_err.pow(2).sum() / total_var)
            g_aux = a_err * (self.auxk_alpha * scale * 2.0 / total_var)
            grad_W_dec += self._sparse_t_mm(a_i, a_act, g_aux)
            grad_a = self._value_grads(a_i, g_aux, W_dec_lp) * (a_v > 0)
            all_i, all_g = torch.cat([top_i, a_i], dim=1), torch.cat([grad_act, grad_a], dim=1)

        grad_b_enc = torch.zeros(self.width).index_add_(0, all_i.reshape(-1), all_g.reshape(-1))
        grads = {
            "W_enc_t": self._sparse_t_mm(all_i, all_g, xc),
            "b_enc": grad_b_enc,
            "W_dec": grad_W_dec,
            "b_dec": g_out.sum(0) - grad_b_enc @ p["W_enc_t"],
        }
        return grads, StepStats(fvu=loss, auxk=aux, n_dead=n_dead), fired

    @torch.no_grad()
    def step(self, x_raw: torch.Tensor, lr_mult: float = 1.0) -> StepStats:
        """One Adam step on a batch of raw site vectors [B, d]."""
        grads, stats, fired = self.loss_and_grads(x_raw)
        W_dec = self.params["W_dec"]
        g = grads["W_dec"]
        g -= (g * W_dec).sum(-1, keepdim=True) * W_dec  # no change of the rows' norms
        self.adam_t += 1
        b1, b2 = _ADAM_BETAS
        lr = self.lr * lr_mult
        c1, c2 = 1 - b1**self.adam_t, 1 - b2**self.adam_t
        for name in _PARAMS:
            m, v, grad = self.m[name], self.v[name], grads[name]
            m.mul_(b1).add_(grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            denom = (v / c2).sqrt_().add_(_ADAM_EPS)
            self.params[name].addcdiv_(m, denom, value=-lr / c1)
        W_dec.div_(W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-12))
        self.tokens_seen += x_raw.shape[0]
        self.last_fired[fired] = self.tokens_seen
        return stats

    def to_sae(self) -> SparseAutoencoder:
        """The SAE in the site's own units: ``b_enc`` and ``b_dec`` times the input scale (TopK and ReLU
        are positively homogeneous), encoder and unit-norm decoder unchanged."""
        p = self.params
        shape = SAEShape(self.d_in, self.width, "topk", self.k)
        return SparseAutoencoder.from_weights(
            shape, p["W_enc_t"].T.contiguous(), p["b_enc"] * self.scale, p["W_dec"], p["b_dec"] * self.scale
        )


# ------------------------------------------------------------------------------------------- data
def _training_corpus(spec: TrainSpec, windows_needed: int) -> Corpus:
    """The corpus of ``spec``; a plain ``builtin`` one is generated long enough for the run."""
    corpus = load_corpus(spec.corpus)
    if isinstance(corpus, BuiltinCorpus) and corpus.min_tokens == BUILTIN_MIN_TOKENS:
        wanted = int(windows_needed * spec.ctx * 1.05) + 10_000
        if wanted > corpus.min_tokens:
            corpus = BuiltinCorpus(seed=corpus.seed, min_tokens=wanted)
    return corpus


class _Stream:
    """The corpus's windows: the first ``n_eval`` held out; training windows numbered 0, 1, … across epochs."""

    def __init__(self, corpus: Corpus, tokenizer: Any, ctx: int, n_eval: int) -> None:
        self.corpus, self.tokenizer, self.ctx, self.n_eval = corpus, tokenizer, ctx, n_eval
        self.epochs = 1

    def held_out(self) -> list[list[int]]:
        windows = list(itertools.islice(iter_windows(self.corpus, self.tokenizer, self.ctx), self.n_eval))
        if len(windows) < self.n_eval:
            raise InputError(
                f"the corpus {self.corpus.spec!r} has only {len(windows)} windows of {self.ctx} tokens; "
                f"{self.n_eval} are held out for evaluation and more are needed for training: use a larger corpus"
            )
        return windows

    def training(self, start: int) -> Iterator[list[int]]:
        """Training windows from number ``start`` on (epochs repeat the corpus, held-out windows skipped)."""
        skip = start
        while True:
            produced = 0
            for window in itertools.islice(iter_windows(self.corpus, self.tokenizer, self.ctx), self.n_eval, None):
                produced += 1
                if skip:
                    skip -= 1
                    continue
                yield window
            if produced == 0:
                raise InputError(
                    f"the corpus {self.corpus.spec!r} has no windows of {self.ctx} tokens beyond the "
                    f"{self.n_eval} held out; use a larger corpus or fewer --eval-tokens"
                )
            self.epochs += 1


def _capture(
    runtime: ModelRuntime, windows: Sequence[list[int]], site: str, skip: int, batch: int = 32
) -> torch.Tensor:
    """The site's vectors of every window, first ``skip`` positions left out: [len(windows) × (ctx − skip), d]."""
    out = []
    for start in range(0, len(windows), batch):
        ids = torch.tensor(windows[start : start + batch], dtype=torch.long, device=runtime.device)
        captured, _ = runtime.forward(ids, None, [site])
        out.append(captured[site][:, skip:].reshape(-1, captured[site].shape[-1]).float().cpu())
    return torch.cat(out)


# ------------------------------------------------------------------------------------------- evaluation
def _next_token_ce(logits: torch.Tensor, ids: torch.Tensor, skip: int) -> tuple[float, int]:
    """Summed next-token cross-entropy of predictions made at positions ≥ skip, and their count."""
    pred = logits[:, skip:-1].float()
    target = ids[:, skip + 1 :]
    loss = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1).to(pred.device), reduction="sum")
    return float(loss), target.numel()


@torch.no_grad()
def evaluate_sae(
    runtime: ModelRuntime,
    sae: SparseAutoencoder,
    site: str,
    windows: Sequence[list[int]],
    *,
    skip: int,
    ce_windows: int,
    last_fired: torch.Tensor | None = None,
    tokens_seen: int = 0,
    batch: int = 8,
) -> SAEMetrics:
    """FVU and L0 on ``windows`` (positions ≥ ``skip``), CE recovered on the first ``ce_windows`` of them.

    The dead fraction comes from the training counters (``last_fired``, ``tokens_seen``), else from
    these windows (latents that never fire on them).
    """
    x = _capture(runtime, windows, site, skip)
    sae = sae.to(torch.float32)
    f = torch.cat([sae.encode(x[i : i + 4096]) for i in range(0, x.shape[0], 4096)])
    x_hat = sae.decode(f)
    if last_fired is not None:
        dead = dead_fraction(last_fired, tokens_seen)
    else:
        dead = float(((f != 0).sum(0) == 0).double().mean())
    metrics = SAEMetrics(fvu=fvu(x, x_hat), l0=l0(f), dead_fraction=dead, eval_tokens=x.shape[0])
    if ce_windows <= 0:
        return metrics
    sums = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    count = 0
    for start in range(0, min(ce_windows, len(windows)), batch):
        chunk = windows[start : min(start + batch, ce_windows)]
        ids = torch.tensor(chunk, dtype=torch.long, device=runtime.device)
        positions = tuple(range(skip, ids.shape[1]))
        captured, logits = runtime.forward(ids, None, [site], logits=True)
        assert logits is not None
        acts = captured[site].float()
        recon = sae(acts.cpu()).to(acts.device, captured[site].dtype)
        loss, n = _next_token_ce(logits, ids, skip)
        sums["clean"] += loss
        count += n
        for name, iv in (
            ("sae", Intervention(site, "patch", positions=positions, source=[recon[r] for r in range(len(chunk))])),
            ("zero", Intervention(site, "zero", positions=positions)),
        ):
            _, logits = runtime.forward(ids, None, [], [iv], logits=True)
            assert logits is not None
            sums[name] += _next_token_ce(logits, ids, skip)[0]
    ce = {name: total / max(count, 1) for name, total in sums.items()}
    metrics.ce_clean, metrics.ce_sae, metrics.ce_zero = ce["clean"], ce["sae"], ce["zero"]
    metrics.ce_recovered = ce_recovered(ce["clean"], ce["sae"], ce["zero"])
    metrics.ce_tokens = count
    return metrics


# ------------------------------------------------------------------------------------------- checkpoints
class _Checkpoint:
    """``<run>/checkpoint.safetensors``: tensors + JSON metadata, replaced atomically."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / CHECKPOINT

    def load(self, spec_key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        if not self.path.is_file():
            return None
        try:
            with safe_open(str(self.path), framework="pt") as handle:
                raw = (handle.metadata() or {}).get("state", "{}")
            tensors = load_file(str(self.path))
            meta = json.loads(raw)
        except (SafetensorError, OSError, ValueError):
            return None  # an unreadable checkpoint is discarded, never trusted
        if meta.get("spec_key") != spec_key:
            return None
        return tensors, meta

    def save(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{CHECKPOINT}.{os.getpid()}.tmp")
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"state": json.dumps(meta)})
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """One training process per run folder; a second one fails clearly."""
    with (run_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheError(f"another process is training in {run_dir} right now; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_dir_for(home: Path, spec: TrainSpec, runtime: ModelRuntime) -> Path:
    """``<home>/sae-runs/<key>/`` for this spec on this model and corpus."""
    corpus = load_corpus(spec.corpus)
    return home / RUNS_FOLDER / spec.key(runtime.loaded.digest, corpus.digest())[:16]


# ------------------------------------------------------------------------------------------- training
def _lr_mult(step: int, total: int, warmup: int, decay_frac: float) -> float:
    mult = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    decay_start = total * (1 - decay_frac)
    if decay_frac > 0 and step >= decay_start:
        mult *= max(0.0, (total - step) / (total - decay_start))
    return mult


def train_sae(
    runtime: ModelRuntime,
    spec: TrainSpec,
    run_dir: Path,
    *,
    progress: bool = True,
    resume: bool = True,
    checkpoint_every: int = 50,
    encoder_precision: Literal["auto", "float32", "bfloat16"] = "auto",
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> TrainReport:
    """Train (or resume, or reuse) the SAE of ``spec`` in ``run_dir``; the module docstring says how.

    ``on_step(step, token_ids)`` is called after each step with the global ids of the batch's tokens
    (window number × ctx + position): progress hooks and tests. ``resume=False`` starts over.
    """
    started = time.perf_counter()
    address = runtime.resolve(spec.address).address
    d_in = runtime.resolve(spec.address).site.width(runtime.shape)
    width = spec.width(d_in)
    if spec.k > width:
        raise InputError(f"k={spec.k} is larger than the number of latents ({width})")
    tokenizer = runtime.loaded.tokenizer
    skip = scoring_skip(tokenizer)
    per_window = spec.ctx - skip
    if per_window < 1:
        raise InputError(f"--ctx {spec.ctx} leaves no tokens after the {skip} skipped first position(s)")
    total_steps = max(1, spec.tokens // spec.batch)
    n_eval = math.ceil(spec.eval_tokens / per_window)
    ce_windows = math.ceil(spec.ce_tokens / per_window) if spec.ce_tokens else 0
    block_windows = max(1, math.ceil(max(spec.buffer_tokens, spec.batch) / per_window))
    corpus = _training_corpus(spec, n_eval + math.ceil(total_steps * spec.batch / per_window) + block_windows)
    spec_key = spec.key(runtime.loaded.digest, load_corpus(spec.corpus).digest())
    run_dir.mkdir(parents=True, exist_ok=True)
    report_path = run_dir / REPORT
    with _exclusive(run_dir):
        if resume and report_path.is_file() and (run_dir / SAE_SUBDIR).is_dir():
            try:
                raw = json.loads(report_path.read_text())
                done = TrainReport.model_validate(raw)
                load_sae_folder(done.sae_path)
                if raw.get("spec_key") == spec_key:
                    return done.model_copy(update={"reused": True})
            except (ValueError, InputError):
                pass  # an unreadable report or SAE: train again
        precision: Literal["float32", "bfloat16"]
        if encoder_precision == "auto":
            precision = "bfloat16" if bf16_matmul_is_faster(d_in, width) else "float32"
        else:
            precision = encoder_precision
        trainer = TopKTrainer(
            d_in,
            width,
            spec.k,
            lr=spec.learning_rate(d_in),
            auxk_alpha=spec.auxk_alpha,
            aux_dead_tokens=spec.aux_dead_tokens,
            seed=spec.seed,
            encoder_precision=precision,
        )
        checkpoint = _Checkpoint(run_dir)
        stream = _Stream(corpus, tokenizer, spec.ctx, n_eval)
        held_out = stream.held_out()
        state: dict[str, Any] = {"step": 0, "block": 0, "offset": 0, "tokens_hash": 0, "elapsed": 0.0, "fvu_ema": None}
        carry_x = torch.zeros(0, d_in)
        carry_ids = torch.zeros(0, dtype=torch.int64)
        restored = checkpoint.load(spec_key) if resume else None
        if restored is not None:
            tensors, meta = restored
            trainer.load(tensors, meta["trainer"])
            state = meta["loop"]
            carry_x, carry_ids = tensors["carry_x"].float(), tensors["carry_ids"].to(torch.int64)
        resumed_from = int(state["step"])

        def save(block_carry_x: torch.Tensor, block_carry_ids: torch.Tensor) -> None:
            state["elapsed"] = elapsed_before + (time.perf_counter() - loop_started)
            meta = {"spec_key": spec_key, "trainer": trainer.meta(), "loop": state, "epochs": stream.epochs}
            checkpoint.save({**trainer.state(), "carry_x": block_carry_x, "carry_ids": block_carry_ids}, meta)

        elapsed_before = float(state["elapsed"])
        loop_started = time.perf_counter()
        bar = tqdm(
            total=total_steps * spec.batch,
            initial=int(state["step"]) * spec.batch,
            unit="tok",
            unit_scale=True,
            desc=f"sae {address}",
            disable=not progress,
        )
        windows = stream.training(int(state["block"]) * block_windows)
        block_carry_x, block_carry_ids = carry_x, carry_ids  # the carry at the current block's start
        try:
            while state["step"] < total_steps:
                block = int(state["block"])
                block_list = list(itertools.islice(windows, block_windows))
                x = _capture(runtime, block_list, address, skip)
                first = block * block_windows
                ids = (
                    (torch.arange(first, first + len(block_list))[:, None] * spec.ctx + torch.arange(skip, spec.ctx))
                    .reshape(-1)
                    .to(torch.int64)
                )
                if trainer.adam_t == 0 and state["step"] == 0:
                    trainer.init_from_sample(x[torch.randperm(x.shape[0], generator=_gen(spec.seed, -1))[:16384]])
                perm = torch.randperm(x.shape[0], generator=_gen(spec.seed, block))
                order_x = torch.cat([block_carry_x, x[perm]])
                order_ids = torch.cat([block_carry_ids, ids[perm]])
                del x
                n_batches = order_x.shape[0] // spec.batch
                j = int(state["offset"])
                while j < n_batches and state["step"] < total_steps:
                    batch_x = order_x[j * spec.batch : (j + 1) * spec.batch]
                    batch_ids = order_ids[j * spec.batch : (j + 1) * spec.batch]
                    mult = _lr_mult(int(state["step"]), total_steps, spec.warmup_steps, spec.decay_frac)
                    stats = trainer.step(batch_x, mult)
                    state["tokens_hash"] = (int(state["tokens_hash"]) + token_hash(batch_ids)) % 2**64
                    state["step"] = int(state["step"]) + 1
                    j += 1
                    state["offset"] = j
                    ema = state["fvu_ema"]
                    state["fvu_ema"] = stats.fvu if ema is None else 0.9 * ema + 0.1 * stats.fvu
                    bar.update(spec.batch)
                    if bar.n % (spec.batch * 5) == 0 or state["step"] == total_steps:
                        dead = dead_fraction(trainer.last_fired, trainer.tokens_seen)
                        bar.set_postfix_str(f"fvu {state['fvu_ema']:.3f} dead {100 * dead:.1f}%", refresh=False)
                    if on_step is not None:
                        on_step(int(state["step"]), batch_ids)
                    if state["step"] % checkpoint_every == 0 and state["step"] < total_steps:
                        save(block_carry_x, block_carry_ids)
                if state["step"] >= total_steps:
                    break
                block_carry_x = order_x[n_batches * spec.batch :].clone()
                block_carry_ids = order_ids[n_batches * spec.batch :].clone()
                state["block"], state["offset"] = block + 1, 0
                del order_x, order_ids
            save(block_carry_x, block_carry_ids)
        except KeyboardInterrupt:
            save(block_carry_x, block_carry_ids)
            bar.close()
            raise
        bar.close()
        session_seconds = time.perf_counter() - loop_started
        train_seconds = elapsed_before + session_seconds
        sae = trainer.to_sae()
        metrics = evaluate_sae(
            runtime,
            sae,
            address,
            held_out,
            skip=skip,
            ce_windows=ce_windows,
            last_fired=trainer.last_fired,
            tokens_seen=trainer.tokens_seen,
        )
        tokens = int(state["step"]) * spec.batch
        lr = spec.learning_rate(d_in)
        info = {
            "spec": spec.model_dump(),
            "corpus": corpus.spec,
            "steps": int(state["step"]),
            "tokens": tokens,
            "train_seconds": round(train_seconds, 1),
            "lr": lr,
            "input_scale": trainer.scale,
            "skipped_positions": skip,
            "encoder_precision": precision,
        }
        sae_path = save_saelens(
            sae,
            run_dir / SAE_SUBDIR,
            hook_name=saelens_hook_name(spec.layer, spec.site),
            model_name=runtime.loaded.name,
            extra_cfg={"context_size": spec.ctx, "dataset_path": corpus.spec, "autointerp_training": info},
            metrics=metrics.model_dump(),
        )
        report = TrainReport(
            model=runtime.loaded.name,
            site=address,
            run_dir=str(run_dir),
            sae_path=str(sae_path),
            corpus=corpus.spec,
            width=width,
            k=spec.k,
            steps=int(state["step"]),
            tokens=tokens,
            tokens_hash=f"{int(state['tokens_hash']):016x}",
            epochs=stream.epochs,
            seconds=round(time.perf_counter() - started, 1),
            tokens_per_second=round((tokens - resumed_from * spec.batch) / max(session_seconds, 1e-9), 1),
            resumed_from_step=resumed_from,
            reused=False,
            lr=lr,
            encoder_precision=precision,
            metrics=metrics,
        )
        tmp = report_path.with_name(f".{REPORT}.tmp")
        tmp.write_text(json.dumps({**report.model_dump(), "spec_key": spec_key}, indent=2))
        os.replace(tmp, report_path)
        return report


def _gen(seed: int, block: int) -> torch.Generator:
    """The generator of block ``block``'s permutation (-1: the initialisation sample)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + block + 1) % 2**63)
