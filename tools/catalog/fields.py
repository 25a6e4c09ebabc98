"""Argument fields several tools share, so every tool describes them the same way to the agent."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tools.runtime.embedded import EMBEDDED_NAME

MODEL_DESCRIPTION = "Model: the embedded name (smollm2-135m), a local folder, a .gguf file or a hub id."


def model_field() -> Any:
    """The ``model`` argument: defaults to the embedded model."""
    return Field(EMBEDDED_NAME, description=MODEL_DESCRIPTION)
