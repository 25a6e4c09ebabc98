"""Helpers shared by the SDK-backed chat models (not public)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage
from pydantic import SecretStr


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


def without_empty_tools(params: dict[str, Any]) -> dict[str, Any]:
    """Drop ``tools`` and ``tool_choice`` from request parameters when no tools are bound."""
    if not params.get("tools"):
        params.pop("tools", None)
        params.pop("tool_choice", None)
    return params


def new_call_id(prefix: str) -> str:
    """A fresh tool-call id for servers that omit one."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


class SDKChatBase(BaseChatModel):
    """What the SDK-backed chat models share: the model name, a secret key read from ``KEY_ENV`` when
    not given, sampling and transport settings. Subclasses add ``base_url``, ``max_tokens`` and the call."""

    KEY_ENV: ClassVar[str] = ""

    model: str
    """Model name sent to the server."""
    api_key: SecretStr | None = None
    temperature: float | None = None
    timeout: float | None = 120.0
    max_retries: int = 2

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "base_url": getattr(self, "base_url", None),
            "temperature": self.temperature,
            "max_tokens": getattr(self, "max_tokens", None),
        }

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Tell LangChain's serializer that ``api_key`` is a secret."""
        return {"api_key": self.KEY_ENV}

    def _configured_key(self) -> str | None:
        """The key given to the model, else the one in ``KEY_ENV``, else None."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return env_or_none(self.KEY_ENV)
