"""One settings object for the whole service (env prefix ``AUTOINTERP_``), overridable by CLI flags."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from store.errors import ConfigError


def _default_home() -> Path:
    return Path(platformdirs.user_cache_dir("autointerp"))


class Settings(BaseSettings):
    """Service settings. Every field can be set as ``AUTOINTERP_<NAME>`` in the environment.

    home:   cache home: fetched and converted models, exemplar caches, the default SQLite database.
    db:     SQLAlchemy URL of the store; default ``sqlite:///<home>/autointerp.db``.
    device: torch device models run on (``cpu`` unless asked otherwise).
    dtype:  torch dtype models run in (``float32`` unless asked otherwise).
    llm:    the agent's brain: ``builtin`` (no LLM), ``openai:<model>`` or ``anthropic:<model>``.
    results: folder where tool results are kept for reuse by identical calls (default ``<home>/results``).
    site_cache_mb: memory (MiB) each loaded model keeps whole-site activations of texts it ran in, so
            units of one layer asking for the same text share a forward pass (0: off).

    Workers (Celery, workers/):

    broker_url:          Celery broker (``AUTOINTERP_BROKER_URL``, default the local Redis, db 0).
    result_backend:      where task results wait for their caller (default: the broker URL).
    broker_prefix:       prefix of every Redis key the broker and result backend use (isolates
                         deployments, and test runs, sharing one Redis).
    task_time_limit:     hard limit in seconds of one task (a label unit, a batch of tool calls).
    visibility_timeout:  seconds before Redis hands an unacknowledged task to another worker; must
                         exceed ``task_time_limit`` or a slow task would run twice.
    max_attempts:        tries of a job item (a unit) before it is marked failed (poisoned).
    sweep_interval:      seconds between beat's sweeps that re-send tasks lost with the broker.

    Untrusted suite-function code (``tools.functions.sandbox``):

    sandbox:        ``bwrap`` (default): run it in a bubblewrap sandbox (namespaces, no capabilities),
                    and refuse to run it where bubblewrap or namespaces are missing; ``unsafe-hook``:
                    the operator opts in to an in-process audit hook as the only fence (not a boundary).
    sandbox_bwrap:  path of the ``bwrap`` executable (default: ``bwrap`` found on ``PATH``).

    Files a request names (``tools.files.FileAccess``; the CLI, run by the machine's own user, reads
    any regular file it names, uncapped):

    data_roots:      folders the API, API-submitted jobs and the workers may read suite, pairs and
                     corpus files from (``AUTOINTERP_DATA_ROOTS``: a JSON list, or folders separated
                     by ``os.pathsep``; empty: none, only uploaded suites). Default (None): the built-in
                     suites shipped in ``evals/data/`` and ``<home>/suites``. A path is resolved,
                     symlinks too, and must lie under one of them; a relative one is looked up in each.
    max_file_bytes:  the largest such file the service reads (16 MiB), also the cap of an uploaded suite.
    max_line_bytes:  the longest line it reads from one (1 MiB).
    model_roots:     folders the API and the workers may load model folders and ``.gguf`` files from
                     (``AUTOINTERP_MODEL_ROOTS``, same syntax). Default (None): ``<home>/models`` and the
                     data roots; the workers add the checkpoint watcher's ``AUTOINTERP_WATCH_DIR``. The
                     embedded name and hub ids are always accepted.
    """

    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    db: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    llm: str = "builtin"
    results: Path | None = None
    site_cache_mb: int = Field(256, ge=0)
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str | None = None
    broker_prefix: str = ""
    task_time_limit: int = Field(3600, ge=1)
    visibility_timeout: int = Field(7200, ge=2)
    max_attempts: int = Field(3, ge=1, le=100)
    sweep_interval: float = Field(60.0, gt=0)
    sandbox: Literal["bwrap", "unsafe-hook"] = "bwrap"
    sandbox_bwrap: str | None = None
    data_roots: Annotated[list[Path] | None, NoDecode] = None
    max_file_bytes: int = Field(16 * 2**20, ge=1)
    max_line_bytes: int = Field(2**20, ge=1)
    model_roots: Annotated[list[Path] | None, NoDecode] = None

    @field_validator("data_roots", "model_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        """``AUTOINTERP_DATA_ROOTS``/``_MODEL_ROOTS`` as a JSON list or as folders separated by ``os.pathsep``."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list of folders ({exc.msg})") from None
        return [part for part in text.split(os.pathsep) if part.strip()]

    @model_validator(mode="after")
    def _visibility_exceeds_time_limit(self) -> Settings:
        """A visibility timeout at or under the hard time limit would hand a running task to a second worker."""
        if self.visibility_timeout <= self.task_time_limit:
            raise ConfigError(
                f"AUTOINTERP_VISIBILITY_TIMEOUT ({self.visibility_timeout}s) must exceed AUTOINTERP_TASK_TIME_LIMIT "
                f"({self.task_time_limit}s), or a task still running would be delivered to a second worker"
            )
        return self

    def results_dir(self) -> Path:
        """Where tool results are kept for reuse (``results``, default ``<home>/results``)."""
        return self.results or self.home / "results"

    def backend_url(self) -> str:
        """Where Celery keeps task results (the broker's Redis unless ``result_backend`` is set)."""
        return self.result_backend or self.broker_url

    def db_url(self) -> str:
        """The store's database URL (the SQLite file in the cache home unless ``db`` is set)."""
        if self.db:
            return self.db
        return f"sqlite:///{self.home / 'autointerp.db'}"

    def ensure_home(self) -> Path:
        """Create the cache home if needed and check it is writable; return it.

        Raises ConfigError naming the folder when it cannot be created or written.
        """
        home = self.home.expanduser()
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cache home {home} cannot be created ({exc.strerror}); set AUTOINTERP_HOME to a writable folder"
            ) from exc
        if not os.access(home, os.W_OK | os.X_OK):
            raise ConfigError(f"cache home {home} is not writable; set AUTOINTERP_HOME to a writable folder")
        return home


def get_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit (non-None) overrides from flags."""
    return Settings.model_validate({k: v for k, v in overrides.items() if v is not None})
