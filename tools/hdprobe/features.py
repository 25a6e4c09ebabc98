"""What a hyperdimensional probe reads from a model: the last-token residual states of a range of
layers, summarised into one vector, and the baselines' readings of the same states.

- **States**: ``L{l}.resid_post`` at the last token of each prompt, for layers ``start..stop-1``
  (default: the later half, ``n/2..n-1``), in one batched run (with the next-token logits).
- **Summary**: a small deterministic k-means over a prompt's layer states (k = 5; centroids start at
  evenly spaced layers; at most ``iters`` Lloyd steps), the centroids summed into one d_model vector.
- **Logit lens**: each layer's last-token state through the final norm and the unembedding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from tqdm import tqdm

from store.errors import InputError
from tools.runtime.model_runtime import ModelRuntime

__all__ = [
    "LayerStates",
    "answer_token",
    "capture_states",
    "kmeans_summary",
    "logit_lens_topk",
    "parse_layers",
    "top_tokens",
]

_LAYERS = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
#: Texts per batch of a capture (one runtime.run each).
CHUNK = 64


def parse_layers(spec: str | None, n_layers: int) -> tuple[int, int]:
    """``"15:30"`` → (15, 30), half-open; None → the later half of the model, ``(n/2, n)``.
    InputError (one line) for a malformed or out-of-range range."""
    if spec is None or not spec.strip():
        return n_layers // 2, n_layers
    match = _LAYERS.match(spec)
    if match is None:
        raise InputError(f"bad layers {spec!r}; give START:STOP (e.g. 15:30, STOP excluded)")
    start, stop = int(match[1]), int(match[2])
    if not 0 <= start < stop <= n_layers:
        raise InputError(
            f"bad layers {spec!r}: the model has layers 0..{n_layers - 1}; give START < STOP <= {n_layers}"
        )
    return start, stop


@dataclass
class LayerStates:
    """Last-token states [N, L, d_model] of layers ``start..stop-1`` and next-token logits [N, vocab]."""

    start: int
    stop: int
    states: torch.Tensor
    logits: torch.Tensor | None


def capture_states(
    runtime: ModelRuntime,
    texts: list[str],
    layers: tuple[int, int],
    *,
    logits: bool = True,
    progress: bool = False,
    desc: str = "hdprobe states",
) -> LayerStates:
    """Every text's last-token ``resid_post`` at each layer of ``layers`` (and its next-token logits)."""
    start, stop = layers
    addresses = [f"L{layer}.resid_post" for layer in range(start, stop)]
    states: list[torch.Tensor] = []
    rows: list[torch.Tensor] = []
    with tqdm(total=len(texts), unit="prompt", desc=desc, disable=not progress) as bar:
        for at in range(0, len(texts), CHUNK):
            chunk = texts[at : at + CHUNK]
            result = runtime.run(chunk, addresses, logits="last" if logits else "none")
            for i in range(len(chunk)):
                states.append(torch.stack([result.captures[a][i][-1].float().cpu() for a in addresses]))
            if result.logits is not None:
                rows += [row.float().cpu() for row in result.logits]
            bar.update(len(chunk))
    return LayerStates(start, stop, torch.stack(states), torch.stack(rows) if rows else None)


def kmeans_summary(states: torch.Tensor, k: int = 5, iters: int = 25) -> torch.Tensor:
    """[N, L, d] layer states → [N, d]: per prompt, k-means (k ≤ L) over its L states, centroids summed.

    Deterministic: the centroids start at evenly spaced layers and Lloyd's steps run until no
    assignment changes (at most ``iters``); a cluster left empty keeps its centroid.
    """
    n, layers, _ = states.shape
    k = max(1, min(k, layers))
    x = states.float()
    start = torch.linspace(0, layers - 1, k).round().long()
    centroids = x[:, start, :].clone()
    assign = torch.full((n, layers), -1, dtype=torch.long)
    for _ in range(iters):
        new = torch.cdist(x, centroids).argmin(dim=-1)  # [N, L]
        if torch.equal(new, assign):
            break
        assign = new
        onehot = torch.nn.functional.one_hot(assign, k).float()  # [N, L, k]
        counts = onehot.sum(dim=1)  # [N, k]
        sums = onehot.transpose(1, 2) @ x  # [N, k, d]
        filled = counts > 0
        centroids = torch.where(filled.unsqueeze(-1), sums / counts.clamp(min=1).unsqueeze(-1), centroids)
    return centroids.sum(dim=1)


def logit_lens_topk(runtime: ModelRuntime, states: torch.Tensor, k: int = 5, batch: int = 256) -> torch.Tensor:
    """[N, L, d] states → [N, L, k] token ids: each layer's top-k tokens through final norm + unembedding."""
    norm = runtime.adapter.final_norm()
    unembedding = runtime.adapter.unembedding()
    param = next(runtime.model.parameters())
    out = []
    with torch.inference_mode():
        for at in range(0, states.shape[0], batch):
            chunk = states[at : at + batch].to(device=param.device, dtype=param.dtype)
            logits = norm(chunk) @ unembedding.T
            out.append(logits.float().topk(k, dim=-1).indices.cpu())
    return torch.cat(out)


def top_tokens(runtime: ModelRuntime, logits: torch.Tensor, k: int = 5) -> list[tuple[int, str, float]]:
    """The ``k`` most likely next tokens of one row of logits: (id, text, probability), best first."""
    probs = logits.float().softmax(dim=-1)
    top = probs.topk(k)
    ids = [int(i) for i in top.indices]
    return [(i, s, float(p)) for i, s, p in zip(ids, runtime.token_strings(ids), top.values, strict=True)]


def answer_token(runtime: ModelRuntime, concept: str) -> int:
    """The first token of ``" " + concept``: the token a model says to begin the concept after a prompt."""
    ids = list(runtime.loaded.tokenizer(" " + concept, add_special_tokens=False)["input_ids"])
    if not ids:
        raise InputError(f"concept {concept!r} has no tokens")
    return int(ids[0])
