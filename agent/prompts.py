"""Prompts live in files under agent/prompts/, named ``<name>_v<version>.md``; this loads them."""

from __future__ import annotations

from pathlib import Path

PROMPTS = Path(__file__).parent / "prompts"
SYSTEM_PROMPT = "system_v1"


def load_prompt(name: str = SYSTEM_PROMPT) -> str:
    """The text of prompt ``name`` (e.g. ``system_v1``); FileNotFoundError names the folder."""
    path = PROMPTS / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt {name!r} in {PROMPTS}")
    return path.read_text(encoding="utf-8")
