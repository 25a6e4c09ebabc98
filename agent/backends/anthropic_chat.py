"""A LangChain chat model on the official ``anthropic`` SDK (Messages API, tool use)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import anthropic
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UsageMetadata,
)
from langchain_core.messages.ai import InputTokenDetails
from langchain_core.messages.tool import tool_call
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr

from agent.backends._common import SDKChatBase, env_or_none, message_text, new_call_id, without_empty_tools
from store.errors import ConfigError

__all__ = ["AnthropicSDKChat", "to_anthropic_messages", "to_anthropic_tool"]


def to_anthropic_tool(tool: dict[str, Any] | type | Callable[..., Any] | BaseTool) -> dict[str, Any]:
    """One tool in Anthropic format: ``{"name", "description", "input_schema"}``.

    Accepts a dict already in that format, an OpenAI-format dict, a pydantic model, a function or a
    LangChain tool (anything `convert_to_openai_tool` accepts).
    """
    if isinstance(tool, dict) and "input_schema" in tool:
        return tool
    function = convert_to_openai_tool(tool)["function"]
    out: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        out["description"] = function["description"]
    return out


def _anthropic_tool_choice(tool_choice: str | dict[str, Any] | bool) -> dict[str, Any]:
    """Map LangChain's ``tool_choice`` conventions onto the Messages API values."""
    if isinstance(tool_choice, dict):
        return tool_choice
    if tool_choice is True or tool_choice in ("any", "required"):
        return {"type": "any"}
    if tool_choice is False or tool_choice == "none":
        return {"type": "none"}
    if tool_choice == "auto":
        return {"type": "auto"}
    return {"type": "tool", "name": tool_choice}


def _user_blocks(message: BaseMessage) -> list[dict[str, Any]]:
    """A human message's content as Messages API content blocks."""
    content = message.content
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for block in content:
        if isinstance(block, str):
            if block:
                blocks.append({"type": "text", "text": block})
        elif block.get("type") == "text":
            if block.get("text"):
                blocks.append({"type": "text", "text": block["text"]})
        else:
            blocks.append(block)
    return blocks


def _assistant_blocks(message: AIMessage) -> list[dict[str, Any]]:
    """An AI message as ``text`` + ``tool_use`` blocks (invalid calls are kept, with empty input)."""
    blocks: list[dict[str, Any]] = []
    text = message_text(message)
    if text:
        blocks.append({"type": "text", "text": text})
    blocks.extend(
        {"type": "tool_use", "id": call.get("id") or new_call_id("toolu_"), "name": call["name"], "input": call["args"]}
        for call in message.tool_calls
    )
    blocks.extend(
        {"type": "tool_use", "id": bad.get("id") or new_call_id("toolu_"), "name": bad.get("name") or "", "input": {}}
        for bad in message.invalid_tool_calls
    )
    return blocks


def _tool_result_block(message: ToolMessage) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": message_text(message),
    }
    if message.status == "error":
        block["is_error"] = True
    return block


def to_anthropic_messages(messages: Sequence[BaseMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """Convert LangChain messages to Messages API ``(system, messages)``.

    System messages are joined into ``system``; tool results become ``tool_result`` blocks of a user
    message; consecutive messages of one role are merged (the API wants user/assistant alternation,
    e.g. several tool results answer one assistant turn). Raises ``ValueError`` for unsupported types.
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": list(blocks)})

    for message in messages:
        if isinstance(message, SystemMessage):
            text = message_text(message)
            if text:
                system.append(text)
        elif isinstance(message, HumanMessage):
            add("user", _user_blocks(message))
        elif isinstance(message, AIMessage):
            add("assistant", _assistant_blocks(message))
        elif isinstance(message, ToolMessage):
            add("user", [_tool_result_block(message)])
        elif isinstance(message, ChatMessage) and message.role in ("user", "assistant"):
            text = message_text(message)
            add(message.role, [{"type": "text", "text": text}] if text else [])
        elif isinstance(message, ChatMessage) and message.role == "system":
            system.append(message_text(message))
        else:
            raise ValueError(f"the Anthropic backend cannot send a {type(message).__name__}")
    # Within a user turn, tool results must come before any other content.
    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda block: 0 if block.get("type") == "tool_result" else 1)
    return ("\n\n".join(system) or None), turns


class AnthropicSDKChat(SDKChatBase):
    """Chat model on the official ``anthropic`` SDK (Messages API).

    ``base_url`` defaults to ``ANTHROPIC_BASE_URL``. ``api_key`` is kept as a ``SecretStr`` and never
    shown; when unset, ``ANTHROPIC_API_KEY`` is used. Tools are bound with `bind_tools` (Anthropic- or
    OpenAI-format dicts, functions, pydantic models, LangChain tools); replies carry the text, the
    ``tool_use`` blocks as ``tool_calls``, and ``usage_metadata``. HTTP errors surface as the SDK's
    exceptions (``anthropic.APIStatusError`` ...).
    """

    KEY_ENV: ClassVar[str] = "ANTHROPIC_API_KEY"

    base_url: str | None = Field(default_factory=lambda: env_or_none("ANTHROPIC_BASE_URL"))
    max_tokens: int = 2048

    _client: anthropic.Anthropic | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "anthropic-sdk"

    def _resolved_key(self) -> str:
        key = self._configured_key()
        if key is None:
            raise ConfigError("anthropic backend needs the ANTHROPIC_API_KEY environment variable")
        return key

    @property
    def client(self) -> anthropic.Anthropic:
        """The SDK client, built on first use."""
        if self._client is None:
            self._client = anthropic.Anthropic(
                api_key=self._resolved_key(),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of ``messages.create`` for this call."""
        system, turns = to_anthropic_messages(messages)
        params: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "messages": turns}
        if system is not None:
            params["system"] = system
        if stop:
            params["stop_sequences"] = stop
        params.update(kwargs)
        if self.temperature is not None:
            # This SDK's ``messages.create`` has no ``temperature`` argument; the API still takes the field.
            params["extra_body"] = {"temperature": self.temperature, **(params.get("extra_body") or {})}
        return without_empty_tools(params)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self.client.messages.create(**self._request(messages, stop, kwargs))
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in reply.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                args = block.input if isinstance(block.input, dict) else {"input": block.input}
                calls.append(tool_call(name=block.name, args=args, id=block.id))
        usage = reply.usage
        cache_read = int(usage.cache_read_input_tokens or 0)
        cache_creation = int(usage.cache_creation_input_tokens or 0)
        input_tokens = int(usage.input_tokens or 0) + cache_read + cache_creation
        output_tokens = int(usage.output_tokens or 0)
        usage_metadata = UsageMetadata(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
        )
        if cache_read or cache_creation:
            usage_metadata["input_token_details"] = InputTokenDetails(
                cache_read=cache_read, cache_creation=cache_creation
            )
        metadata = {
            "model_name": reply.model or self.model,
            "stop_reason": reply.stop_reason,
            "id": reply.id,
            "model_provider": "anthropic",
        }
        message = AIMessage(
            content="".join(texts),
            tool_calls=calls,
            usage_metadata=usage_metadata,
            response_metadata=metadata,
            id=reply.id or None,
        )
        generation = ChatGeneration(message=message, generation_info={"stop_reason": reply.stop_reason})
        return ChatResult(
            generations=[generation],
            llm_output={
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                "model_name": metadata["model_name"],
            },
        )

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (Anthropic- or OpenAI-format dicts, or anything `convert_to_openai_tool` accepts).

        ``tool_choice``: ``"auto"``, ``"any"`` / ``"required"``, ``"none"``, or a tool's name.
        """
        bound: dict[str, Any] = {"tools": [to_anthropic_tool(tool) for tool in tools], **kwargs}
        if tool_choice is not None:
            bound["tool_choice"] = _anthropic_tool_choice(tool_choice)
        return self.bind(**bound)
