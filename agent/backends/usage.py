"""Token accounting for replies of any chat backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage


def usage_of(message: AIMessage) -> tuple[int, int]:
    """Return ``(input_tokens, output_tokens)`` of one model reply; ``(0, 0)`` when it reports none.

    Reads LangChain's standard ``usage_metadata`` and falls back to an OpenAI-style ``token_usage``
    (``prompt_tokens`` / ``completion_tokens``) in ``response_metadata``.
    """
    usage = message.usage_metadata
    if usage is not None:
        return int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    token_usage: Any = message.response_metadata.get("token_usage")
    if isinstance(token_usage, Mapping):
        return int(token_usage.get("prompt_tokens") or 0), int(token_usage.get("completion_tokens") or 0)
    return 0, 0
