"""LLM backends for the agent: LangChain chat models on the official OpenAI and Anthropic SDKs.

``make_chat_model("openai:<model>")`` / ``make_chat_model("anthropic:<model>")`` build a model from the
environment (keys are read from ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` only); ``"builtin"`` gives
``None`` (the built-in policy lives elsewhere). ``usage_of`` reads token counts off a reply.
"""

from __future__ import annotations

from agent.backends.anthropic_chat import AnthropicSDKChat
from agent.backends.factory import BackendSpec, make_chat_model, parse_backend
from agent.backends.openai_chat import OpenAISDKChat
from agent.backends.usage import usage_of

__all__ = [
    "AnthropicSDKChat",
    "BackendSpec",
    "OpenAISDKChat",
    "make_chat_model",
    "parse_backend",
    "usage_of",
]
