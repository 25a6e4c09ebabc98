"""The builtin scientist as a LangChain chat model (``BaseChatModel``).

The investigation graph binds the tools to it and invokes it like any LLM; each call reads the
conversation and answers with the next ``AIMessage`` (``agent.builtin.driver.respond``) — tool calls
with one sentence of reasoning, the ``final_explanation`` call, or (for a person's follow-up question)
plain text. It keeps no state between calls: everything comes from the messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import Field

from agent.builtin.driver import respond
from agent.builtin.protocol import Options
from agent.internal_tools import INTERNAL_TOOLS

__all__ = ["BuiltinScientist"]

INTERNAL = frozenset(INTERNAL_TOOLS)
"""The agent's own tools: always offered (the graph runs them itself)."""


def _tool_name(tool: Any) -> str | None:
    if isinstance(tool, BaseTool):
        return tool.name
    if isinstance(tool, dict):
        if isinstance(tool.get("function"), dict):
            name = tool["function"].get("name")
        else:
            name = tool.get("name") or tool.get("title")
        return name if isinstance(name, str) else None
    name = getattr(tool, "__name__", None)
    return name if isinstance(name, str) else None


class BuiltinScientist(BaseChatModel):
    """A scientist without an LLM, behind LangChain's chat-model interface.

    ``bind_tools`` returns this scientist knowing the offered tools by name (tools not offered are
    not called; with none bound, every tool is assumed available); ``invoke(messages)`` returns the
    next ``AIMessage`` (see ``agent.builtin.driver`` for the protocol and the policies).
    """

    exemplar_tokens: int | None = Field(
        None, description="Corpus tokens for an exemplar cache built during an investigation (None: default)."
    )
    tool_names: list[str] | None = Field(None, description="Tools offered by bind_tools (None: all).")

    @property
    def _llm_type(self) -> str:
        return "autointerp-builtin"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"exemplar_tokens": self.exemplar_tokens}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """This scientist, knowing the tools offered by name (their schemas are not needed)."""
        names = [n for n in (_tool_name(t) for t in tools) if n]
        return self.model_copy(update={"tool_names": names})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = frozenset(self.tool_names) | INTERNAL if self.tool_names else None
        message = respond(messages, tools, Options(exemplar_tokens=self.exemplar_tokens))
        return ChatResult(generations=[ChatGeneration(message=message)])
