"""Choose the agent's LLM backend from a spec string: ``builtin``, ``openai:<model>``, ``anthropic:<model>``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from langchain_core.language_models.chat_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, SecretStr

from agent.backends.anthropic_chat import AnthropicSDKChat
from agent.backends.openai_chat import OpenAISDKChat
from store.errors import ConfigError

__all__ = ["BACKEND_FORMS", "BackendSpec", "llm_chat_model", "make_chat_model", "parse_backend"]

BACKEND_FORMS = "'builtin', 'openai:<model>' or 'anthropic:<model>'"
"""The valid spec forms, as error messages list them."""

_KEY_PLACEHOLDER = "not-needed"


class BackendSpec(BaseModel):
    """A parsed backend spec: which kind of backend, and the model name for the SDK backends."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["builtin", "openai", "anthropic"]
    model: str | None = None


def parse_backend(spec: str) -> BackendSpec:
    """Parse ``"builtin"``, ``"openai:<model>"`` or ``"anthropic:<model>"`` (the model may contain colons).

    Raises `ConfigError` for an unknown backend or a missing model name.
    """
    text = spec.strip()
    kind, colon, model = text.partition(":")
    kind = kind.strip().lower()
    model = model.strip()
    if kind == "builtin" and not colon:
        return BackendSpec(kind="builtin")
    if kind in ("openai", "anthropic"):
        if not model:
            raise ConfigError(f"backend {spec!r} needs a model name: use '{kind}:<model>'")
        return BackendSpec(kind="openai" if kind == "openai" else "anthropic", model=model)
    raise ConfigError(f"unknown backend {spec!r}: use {BACKEND_FORMS}")


def make_chat_model(spec: str, *, env: Mapping[str, str] | None = None) -> BaseChatModel | None:
    """Build the chat model for ``spec``; ``None`` for ``builtin`` (that policy lives elsewhere).

    Keys come from the environment only (``env``, default ``os.environ``): ``OPENAI_API_KEY`` (not needed
    for an OpenAI-compatible server named by ``OPENAI_BASE_URL``) and ``ANTHROPIC_API_KEY``;
    ``ANTHROPIC_BASE_URL`` is honoured too. Raises `ConfigError` with one line saying what is missing.
    """
    parsed = parse_backend(spec)
    environ: Mapping[str, str] = os.environ if env is None else env
    if parsed.kind == "builtin" or parsed.model is None:
        return None
    if parsed.kind == "openai":
        base_url = environ.get("OPENAI_BASE_URL") or None
        key = environ.get("OPENAI_API_KEY") or None
        if key is None:
            if base_url is None:
                raise ConfigError(
                    "openai backend needs the OPENAI_API_KEY environment variable "
                    "(or OPENAI_BASE_URL for an OpenAI-compatible server)"
                )
            key = _KEY_PLACEHOLDER
        return OpenAISDKChat(model=parsed.model, api_key=SecretStr(key), base_url=base_url)
    key = environ.get("ANTHROPIC_API_KEY") or None
    if key is None:
        raise ConfigError("anthropic backend needs the ANTHROPIC_API_KEY environment variable")
    return AnthropicSDKChat(
        model=parsed.model, api_key=SecretStr(key), base_url=environ.get("ANTHROPIC_BASE_URL") or None
    )


def llm_chat_model(spec: str) -> BaseChatModel:
    """The chat model of an LLM ``spec`` (``openai:<model>``, ``anthropic:<model>``): the factory a tool
    context hands to LLM judges (``ToolContext.chat_models``). ConfigError for ``builtin`` or a missing key."""
    model = make_chat_model(spec)
    if model is None:
        raise ConfigError(f"{spec!r} is not an LLM backend; an LLM judge needs 'openai:<model>' or 'anthropic:<model>'")
    return model
