"""One settings object for the whole service (env prefix ``AUTOINTERP_``), overridable by CLI flags."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    """

    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    db: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    llm: str = "builtin"

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
