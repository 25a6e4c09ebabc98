"""Every built-in tool, registered: import this module to populate the registry."""

from __future__ import annotations

import importlib

from tools.registry import BUILTIN_TOOLS, ToolRegistry

TOOL_MODULES = (
    "tools.activation_tools",
    "tools.ablation",
    "tools.steering",
    "tools.patch_tools",
    "tools.function_tools",
)


def default_registry() -> ToolRegistry:
    """The registry holding every built-in tool (modules are imported once; importing registers)."""
    for module in TOOL_MODULES:
        importlib.import_module(module)
    return BUILTIN_TOOLS
