"""The MCP server: the service's tools for outside agents (Claude Desktop, IDEs, other agents).

One registry feeds every surface: each tool of ``tools.catalog.default_registry()`` becomes an MCP
tool (its name, its docstring, its pydantic arguments model's JSON schema), and a call runs through
the same function ``POST /tools/{name}`` runs (``autointerp.api.routes.tools.run_tool``), so
validation, limits and the result cache are the API's. Five service tools sit beside them, each a
thin call of the function the matching API route runs: ``explain`` (``POST /investigations``),
``investigation`` (``GET /investigations/{id}``), ``search_explanations`` (``GET /explanations``),
``label`` (``POST /jobs`` kind label) and ``job`` (``GET /jobs/{id}``).

| module | what |
|---|---|
| ``catalog`` | the MCP tool table: registry tools and service tools, their argument models and calls |
| ``errors`` | any failure as the API's one-line message (an MCP tool error, ``isError``) |
| ``server`` | the SDK's low-level ``Server`` over the table: list, call, progress notifications |
| ``transports`` | stdio (``autointerp mcp``) and streamable HTTP mounted at ``/mcp`` behind the API key |

The low-level server (``mcp.server.lowlevel.Server``) is used rather than ``MCPServer``'s typed
functions because the registry's tools are described by pydantic models, not Python signatures,
and because ``MCPServer`` prefixes every failure with "Error executing tool ...": here a failure
is exactly the line the HTTP API answers with.
"""

from __future__ import annotations

from autointerp.api.mcp.server import build_server

__all__ = ["build_server"]
