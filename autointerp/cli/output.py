"""Output for CLI commands: JSON to a file or stdout (``--json PATH`` / ``--json -``), or rich text."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from store.errors import ConfigError
from store.jsonsafe import dumps

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def to_json(result: BaseModel) -> str:
    """``result`` as indented, strict JSON: a non-finite float is the string ``"NaN"``, ``"Infinity"``
    or ``"-Infinity"`` (`store.jsonsafe`), never ``null`` nor a bare ``NaN`` token."""
    return dumps(result, indent=2)


def emit(result: BaseModel, json_path: str | None, render: Callable[[Console], None]) -> None:
    """Write ``result`` as JSON when asked; render it for a person unless the JSON goes to stdout."""
    if json_path == "-":
        sys.stdout.write(to_json(result) + "\n")
        return
    render(console)
    if json_path:
        path = Path(json_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(to_json(result) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise ConfigError(f"cannot write JSON to {path}: {exc.strerror}") from exc
        err_console.print(f"[dim]wrote {path}[/dim]")


def highlighted(tokens: list[str], activations: list[float], scale: float | None = None) -> Text:
    """Tokens with a background whose strength follows the activation (positive: green, negative: red)."""
    top = scale if scale and scale > 0 else max((abs(a) for a in activations), default=0.0) or 1.0
    text = Text()
    for token, value in zip(tokens, activations, strict=True):
        strength = min(abs(value) / top, 1.0)
        shown = token.replace("\n", "↵")
        if strength < 0.3:
            text.append(shown)
            continue
        level = int(255 * (1 - strength * 0.8))
        colour = f"rgb({level},255,{level})" if value > 0 else f"rgb(255,{level},{level})"
        text.append(shown, style=f"black on {colour}")
    return text
