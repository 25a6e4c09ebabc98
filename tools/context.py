"""What a tool runs with: settings, an explicit LRU cache of loaded models, the store, and the
file-access policy (``tools.files.FileAccess``) every file a tool reads for its caller goes through.

Every runtime the context hands out sees the SAEs registered for its model in the store
(``tools.sae.registry.store_sae_source``), attached lazily when an address first names an SAE."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from store.db import open_store
from store.settings import Settings
from tools.files import FileAccess
from tools.runtime.loading import load_model
from tools.runtime.model_runtime import ModelRuntime
from tools.sae.registry import store_sae_source

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel


class ModelCache:
    """Loaded models by reference, least recently used evicted beyond ``capacity`` (an explicit cache)."""

    def __init__(self, settings: Settings, capacity: int = 2, files: FileAccess | None = None) -> None:
        self.settings = settings
        self.capacity = capacity
        self.files = files  # a confined policy limits which local model folders may be loaded
        self._entries: OrderedDict[str, ModelRuntime] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: str) -> ModelRuntime:
        """The runtime for ``model``, loading it on first use."""
        key = model.strip()
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        runtime = ModelRuntime(load_model(key, self.settings, self.files))
        runtime.site_texts.max_bytes = self.settings.site_cache_mb * 2**20
        with self._lock:
            self._entries[key] = runtime
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return runtime

    def loaded(self) -> list[str]:
        """References of the models held, least recently used first."""
        with self._lock:
            return list(self._entries)


@dataclass
class ToolContext:
    """Everything a tool needs besides its arguments; one per executor (or worker process).

    ``files`` decides which files a tool may read for its caller (suite, pairs and corpus files):
    local (the default; the CLI, run by the machine's own user) or confined to the data roots (what
    the API, the jobs it submits and the workers build, from ``evals.suite.service_files``).

    ``chat_models`` makes a LangChain chat model from an LLM spec (``openai:gpt-4o``) for tools that
    ask an LLM (``shift_annotate`` with an LLM judge); the layers above ``tools`` inject it (tools
    never import ``agent``). None: no LLM is available here, and such tools say so.
    """

    settings: Settings = field(default_factory=Settings)
    models: ModelCache | None = None
    _engine: Engine | None = None
    files: FileAccess = field(default_factory=FileAccess)
    chat_models: Callable[[str], BaseChatModel] | None = None

    def __post_init__(self) -> None:
        if self.models is None:
            self.models = ModelCache(self.settings, files=self.files)

    def runtime(self, model: str) -> ModelRuntime:
        """The loaded model ``model`` (embedded name, folder, GGUF file or hub id), with the SAEs
        registered for it in the store (attached when an address first names an SAE)."""
        assert self.models is not None
        runtime = self.models.get(model)
        if runtime.sae_source is None:
            runtime.sae_source = store_sae_source(self.engine, home=self.settings.home)
        return runtime

    def engine(self) -> Engine:
        """The store (opened and migrated on first use)."""
        if self._engine is None:
            if self.settings.db is None:
                self.settings.ensure_home()
            self._engine = open_store(self.settings.db_url())
        return self._engine
