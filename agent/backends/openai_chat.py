"""A LangChain chat model on the official ``openai`` SDK (chat completions, tool calling).

Works with the OpenAI API and with any OpenAI-compatible server (vLLM, llama.cpp, Ollama, ...): set
``base_url`` (or ``OPENAI_BASE_URL``) to the server's ``.../v1``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import openai
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UsageMetadata,
)
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from agent.backends._common import SDKChatBase, env_or_none, message_text, new_call_id, without_empty_tools
from store.errors import ConfigError

__all__ = ["OpenAISDKChat", "to_openai_messages", "to_openai_tool"]

_OPENAI_HOST = "api.openai.com"


def to_openai_tool(tool: dict[str, Any] | type | Callable[..., Any] | BaseTool) -> dict[str, Any]:
    """One tool in chat-completions format: ``{"type": "function", "function": {name, description, parameters}}``.

    Accepts a dict already in that format, an Anthropic-format dict (``input_schema``), a pydantic model,
    a function or a LangChain tool (anything `convert_to_openai_tool` accepts).
    """
    if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        return tool
    return convert_to_openai_tool(tool)


def _openai_tool_choice(tool_choice: str | dict[str, Any] | bool) -> str | dict[str, Any]:
    """Map LangChain's ``tool_choice`` conventions onto the chat-completions values."""
    if isinstance(tool_choice, dict):
        return tool_choice
    if tool_choice is True or tool_choice == "any":
        return "required"
    if tool_choice is False:
        return "none"
    if tool_choice in ("auto", "none", "required"):
        return tool_choice
    return {"type": "function", "function": {"name": tool_choice}}


def _user_content(message: BaseMessage) -> str | list[dict[str, Any]]:
    """A human message's content: a string, or a list of chat-completions content parts."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            parts.append({"type": "text", "text": block})
        elif block.get("type") == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        else:
            parts.append(block)
    return parts


def _assistant_message(message: AIMessage) -> dict[str, Any]:
    """An AI message (with its valid and invalid tool calls) as a chat-completions assistant message."""
    calls: list[dict[str, Any]] = [
        {
            "id": call.get("id") or new_call_id("call_"),
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["args"], ensure_ascii=False)},
        }
        for call in message.tool_calls
    ]
    # A call whose arguments did not parse still happened: keep it so the tool result that reports the
    # error has a call to answer.
    calls.extend(
        {
            "id": bad.get("id") or new_call_id("call_"),
            "type": "function",
            "function": {"name": bad.get("name") or "", "arguments": bad.get("args") or ""},
        }
        for bad in message.invalid_tool_calls
    )
    text = message_text(message)
    out: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        out["tool_calls"] = calls
    return out


def to_openai_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Convert LangChain messages to the chat-completions ``messages`` list.

    System → ``system``; human → ``user``; AI → ``assistant`` with ``tool_calls``; tool → ``tool`` with
    ``tool_call_id``; a `ChatMessage` keeps its role. Raises ``ValueError`` for any other message type.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": message_text(message)})
        elif isinstance(message, HumanMessage):
            out.append({"role": "user", "content": _user_content(message)})
        elif isinstance(message, AIMessage):
            out.append(_assistant_message(message))
        elif isinstance(message, ToolMessage):
            out.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": message_text(message)})
        elif isinstance(message, ChatMessage):
            out.append({"role": message.role, "content": message_text(message)})
        else:
            raise ValueError(f"the OpenAI backend cannot send a {type(message).__name__}")
    return out


def _parse_tool_calls(raw_calls: Sequence[Any]) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """Split the reply's tool calls into parsed calls and calls whose arguments are not a JSON object."""
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for raw in raw_calls:
        call_id = getattr(raw, "id", None) or new_call_id("call_")
        function = getattr(raw, "function", None)
        if function is None:  # a "custom" (free-form) tool call: not something this agent offers
            custom = getattr(raw, "custom", None)
            invalid.append(
                invalid_tool_call(
                    name=getattr(custom, "name", None),
                    args=getattr(custom, "input", None),
                    id=call_id,
                    error="custom (free-form) tool calls are not supported; call a function tool with JSON arguments",
                )
            )
            continue
        name = function.name or ""
        arguments = function.arguments
        if isinstance(arguments, dict):  # some compatible servers send an object instead of a string
            valid.append(tool_call(name=name, args=arguments, id=call_id))
            continue
        text = arguments or ""
        try:
            args = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            invalid.append(
                invalid_tool_call(name=name, args=text, id=call_id, error=f"arguments are not valid JSON: {exc}")
            )
            continue
        if not isinstance(args, dict):
            invalid.append(
                invalid_tool_call(
                    name=name,
                    args=text,
                    id=call_id,
                    error=f"arguments must be a JSON object, got {type(args).__name__}",
                )
            )
            continue
        valid.append(tool_call(name=name, args=args, id=call_id))
    return valid, invalid


class OpenAISDKChat(SDKChatBase):
    """Chat model on the official ``openai`` SDK, for the OpenAI API or any OpenAI-compatible server.

    ``base_url`` defaults to ``OPENAI_BASE_URL``. ``api_key`` is kept as a ``SecretStr`` and never shown;
    when unset, ``OPENAI_API_KEY`` is used, or the placeholder ``"not-needed"`` for a custom ``base_url``.
    Tools are bound with `bind_tools`; replies carry ``tool_calls`` / ``invalid_tool_calls`` and
    ``usage_metadata``. HTTP errors surface as the SDK's exceptions (``openai.APIStatusError`` ...).
    """

    KEY_ENV: ClassVar[str] = "OPENAI_API_KEY"

    base_url: str | None = Field(default_factory=lambda: env_or_none("OPENAI_BASE_URL"))
    max_tokens: int | None = None
    """Reply length cap; sent as ``max_completion_tokens`` to api.openai.com, ``max_tokens`` elsewhere."""

    _client: openai.OpenAI | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "openai-sdk"

    def _resolved_key(self) -> str:
        key = self._configured_key()
        if key is not None:
            return key
        if self.base_url is not None:
            return "not-needed"
        raise ConfigError(
            "openai backend needs the OPENAI_API_KEY environment variable "
            "(or OPENAI_BASE_URL for an OpenAI-compatible server)"
        )

    @property
    def client(self) -> openai.OpenAI:
        """The SDK client, built on first use."""
        if self._client is None:
            self._client = openai.OpenAI(
                api_key=self._resolved_key(),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def _talks_to_openai(self) -> bool:
        return self.base_url is None or _OPENAI_HOST in self.base_url

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for this call."""
        params: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(messages)}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_completion_tokens" if self._talks_to_openai() else "max_tokens"] = self.max_tokens
        if stop:
            params["stop"] = stop
        params.update(kwargs)
        return without_empty_tools(params)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        completion = self.client.chat.completions.create(**self._request(messages, stop, kwargs))
        if not completion.choices:
            raise ValueError(f"the OpenAI-compatible server returned no choices for model {self.model!r}")
        choice = completion.choices[0]
        reply = choice.message
        tool_calls, invalid_calls = _parse_tool_calls(reply.tool_calls or [])
        usage: UsageMetadata | None = None
        token_usage: dict[str, int] = {}
        if completion.usage is not None:
            prompt = int(completion.usage.prompt_tokens or 0)
            answer = int(completion.usage.completion_tokens or 0)
            total = int(completion.usage.total_tokens or prompt + answer)
            usage = UsageMetadata(input_tokens=prompt, output_tokens=answer, total_tokens=total)
            token_usage = {"prompt_tokens": prompt, "completion_tokens": answer, "total_tokens": total}
        additional: dict[str, Any] = {}
        reasoning = getattr(reply, "reasoning_content", None)  # vLLM / llama.cpp reasoning parsers
        if isinstance(reasoning, str) and reasoning:
            additional["reasoning_content"] = reasoning
        if reply.refusal:
            additional["refusal"] = reply.refusal
        metadata = {
            "model_name": completion.model or self.model,
            "finish_reason": choice.finish_reason,
            "id": completion.id,
            "model_provider": "openai",
        }
        message = AIMessage(
            content=reply.content or "",
            tool_calls=tool_calls,
            invalid_tool_calls=invalid_calls,
            usage_metadata=usage,
            additional_kwargs=additional,
            response_metadata=metadata,
            id=completion.id or None,
        )
        generation = ChatGeneration(message=message, generation_info={"finish_reason": choice.finish_reason})
        return ChatResult(
            generations=[generation], llm_output={"token_usage": token_usage, "model_name": metadata["model_name"]}
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (OpenAI-format dicts or anything `convert_to_openai_tool` accepts) to this model.

        ``tool_choice``: ``"auto"``, ``"none"``, ``"required"`` / ``"any"``, or a tool's name.
        """
        bound: dict[str, Any] = {"tools": [to_openai_tool(tool) for tool in tools], **kwargs}
        if tool_choice is not None:
            bound["tool_choice"] = _openai_tool_choice(tool_choice)
        return self.bind(**bound)
