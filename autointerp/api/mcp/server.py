"""The MCP server over the tool table (``catalog``): the SDK's low-level ``Server`` with a
``tools/list`` handler (name, description, input schema of every tool) and a ``tools/call``
handler that runs one and answers with its result as JSON text and structured content, or with an
MCP tool error (``isError``) holding the API's one-line message (``errors.one_line``). Progress of
long calls is sent as ``notifications/progress`` when the request carries a ``progressToken``.

Every transport serves the same `build_server`; the service state (store, agent session, model
cache) is the caller's: the API's own on ``/mcp``, a fresh one for ``autointerp mcp``.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext

from autointerp.api.mcp.catalog import McpTool, mcp_tools
from autointerp.api.mcp.errors import one_line
from autointerp.api.state import ServiceState

INSTRUCTIONS = """\
autointerp explains units of language models (MLP neurons, attention heads, SAE latents) and black-box
functions with evidence. Call the experiment tools (activations, exemplars, ablate, steer, ...) yourself,
or let its agent investigate a subject with `explain` and read the outcome with `investigation`;
`search_explanations` finds stored explanations; `label` queues a batch job, `job` follows it.
"""


def _version() -> str:
    try:
        return version("autointerp")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def build_server(service: ServiceState) -> Server[Any]:
    """The MCP server for ``service`` (see the module docstring)."""
    table: dict[str, McpTool] = {t.name: t for t in mcp_tools()}
    listed = [types.Tool(name=t.name, description=t.description, input_schema=t.input_schema()) for t in table.values()]

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        chosen = table.get(params.name)
        if chosen is None:
            return _error(f"unknown tool {params.name!r}; known tools: {', '.join(sorted(table))}")

        async def report(progress: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(progress, total, message)

        try:
            result = await chosen.call(service, dict(params.arguments or {}), report)
        except Exception as exc:  # every failure is the caller's one line, never a crash
            return _error(one_line(exc))
        data = result.model_dump(mode="json")
        text = json.dumps(data, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=data)

    return Server(
        "autointerp",
        version=_version(),
        title="autointerp",
        instructions=INSTRUCTIONS,
        get_tool_input_schema=lambda name: table[name].input_schema() if name in table else None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
