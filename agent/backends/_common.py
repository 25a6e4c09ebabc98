"""Helpers shared by the SDK-backed chat models (not public)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage


def text_of(content: str | Sequence[str | dict[str, Any]]) -> str:
    """Concatenate the text of a LangChain message ``content`` (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def message_text(message: BaseMessage) -> str:
    """The text of ``message`` (see `text_of`)."""
    return text_of(message.content)


def env_or_none(name: str) -> str | None:
    """``os.environ[name]`` when set and non-empty, else ``None``."""
    value = os.environ.get(name)
    return value or None


def new_call_id(prefix: str) -> str:
    """A fresh tool-call id for servers that omit one."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"
