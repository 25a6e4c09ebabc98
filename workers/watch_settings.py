"""What the scheduled checkpoint watcher watches (``AUTOINTERP_WATCH_*``), and the model folders
that puts in reach of the workers (the watched folder and a local baseline are the operator's own
configuration, so a worker may load them although requests may not name them)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WatchSettings(BaseSettings):
    """What the scheduled watcher watches (``AUTOINTERP_WATCH_*``); inactive without ``dir``."""

    model_config = SettingsConfigDict(env_prefix="AUTOINTERP_WATCH_", extra="ignore")

    dir: Path | None = None
    model: str | None = None
    baseline: str | None = None
    units: str | None = Field(None, description="Comma-separated unit addresses; default: the tracked units.")
    interval: float = Field(300.0, gt=0, description="Seconds between scans.")

    def active(self) -> bool:
        """True when a folder, a model name and a baseline are all set."""
        return bool(self.dir and self.model and self.baseline)

    def model_roots(self) -> list[Path]:
        """Folders whose models the workers may load for the watcher: the watched folder, and the
        baseline's own folder (or file) when the baseline is a local path."""
        roots = [self.dir] if self.dir else []
        if self.baseline and Path(self.baseline).expanduser().exists():
            roots.append(Path(self.baseline).expanduser())
        return roots
