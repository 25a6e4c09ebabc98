"""``GET /tools`` (the registry with schemas) and ``POST /tools/{name}`` (run one in the API process).

A tool's failure is the caller's to fix, so it is a 4xx with the tool's message: unknown tool 404,
invalid arguments 422, any other tool error (an address out of range, an unknown model) 400.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path

from autointerp.api.schemas import MAX_NAME_CHARS, Text, ToolInfo, ToolRun
from autointerp.api.state import ServiceState, get_service
from tools.catalog import default_registry
from tools.executor import ToolCall
from tools.registry import ToolError

router = APIRouter(tags=["tools"])


@router.get("/tools", response_model=list[ToolInfo])
def list_tools() -> list[ToolInfo]:
    """Every registered tool: name, description (what the agent reads), queue and JSON schemas."""
    return [
        ToolInfo(
            name=spec.name,
            description=spec.description,
            queue=spec.queue,
            cacheable=spec.cacheable,
            input_schema=spec.input_schema(),
            output_schema=spec.result_model.model_json_schema(),
        )
        for spec in default_registry().specs()
    ]


@router.post("/tools/{name}", response_model=ToolRun)
def run_tool(
    name: Annotated[Text, Path(max_length=MAX_NAME_CHARS, description="The tool (see GET /tools).")],
    args: dict[str, Any] = Body(default_factory=dict, description="The tool's arguments (see GET /tools)."),
    service: ServiceState = Depends(get_service),
) -> ToolRun:
    """Run tool ``name`` with ``args`` through the local executor (results cached like the agent's)."""
    registry = default_registry()
    try:
        spec = registry.get(name)
    except ToolError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    try:
        spec.parse_args(args)
    except ToolError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    outcome = service.executor().run(ToolCall(tool=name, args=args))
    if not outcome.ok or outcome.result is None:
        raise HTTPException(status_code=400, detail=outcome.error or f"tool {name!r} failed")
    return ToolRun(tool=name, result=outcome.result, cached=outcome.cached, seconds=outcome.seconds)
