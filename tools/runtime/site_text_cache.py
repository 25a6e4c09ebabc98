"""A process's memory of whole-site activations on texts it has run, so units that ask for the same
text share one forward pass.

One forward pass that stops after layer L yields every unit of layer L. When a label job explains the
units of a layer, their hypothesis tests often use the same texts (a test frame with a control word,
a category's fixed texts, a common word in the generic frames), so ``unit_series`` keeps the whole
site's activations of each text it runs here and serves a later unit of the same site from them.
Entries are keyed by the site's address, the SAE weights behind it (if any) and the text; the model is
fixed per runtime. Least recently used entries go first once ``max_bytes`` is reached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch

MAX_BYTES = 256 * 2**20
"""Default budget of a runtime's cache (float32 values: a 20-token text of a 1,536-wide MLP is 120 KB)."""


class SiteTextCache:
    """An LRU of ``(token ids, [T, width] activations)`` by (site, SAE digest, text), bounded in bytes."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[str, str, str], tuple[list[int], torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, site: str, sae_digest: str, text: str) -> tuple[list[int], torch.Tensor] | None:
        """The stored token ids and activations of ``text`` at ``site``, or None."""
        key = (site, sae_digest, text)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, site: str, sae_digest: str, text: str, ids: list[int], values: torch.Tensor) -> None:
        """Keep ``text``'s activations at ``site`` (an entry larger than the whole budget is not kept)."""
        size = values.numel() * values.element_size()
        if size > self.max_bytes:
            return
        key = (site, sae_digest, text)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1].numel() * old[1].element_size()
            self._entries[key] = (list(ids), values)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.bytes -= dropped.numel() * dropped.element_size()

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        with self._lock:
            self._entries.clear()
            self.bytes = 0
