"""Writing figures: one place that saves a matplotlib figure as PNG and turns an unwritable path
into a ``ConfigError``. Plots import matplotlib lazily with the ``Agg`` backend (no screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from store.errors import ConfigError


def save_figure(fig: Any, path: Path) -> Path:
    """Write a matplotlib figure as PNG (creating folders) and close it; ConfigError when unwritable."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    except OSError as exc:
        raise ConfigError(f"cannot write plot to {path}: {exc.strerror}") from exc
    finally:
        plt.close(fig)
    return path
