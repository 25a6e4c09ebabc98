"""The agent's own tools: writing hypotheses, evidence and the final explanation into the store.

They are offered to the model beside the registered experiment tools; the graph runs them itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ProposeHypothesisArgs(BaseModel):
    """Write down one testable claim about the subject."""

    text: str = Field(min_length=3, description="The claim, specific enough to be wrong.")
    confidence: float = Field(0.5, ge=0, le=1)


class RecordEvidenceArgs(BaseModel):
    """Link experiments to a hypothesis: they support or refute it."""

    hypothesis_id: int
    experiment_ids: list[int] = Field(min_length=1)
    supports: bool
    weight: float = Field(1.0, gt=0, le=10)
    note: str = ""


class FinalExplanationArgs(BaseModel):
    """The explanation (DESIGN §4); ends the investigation."""

    label: str = Field(min_length=1, description="At most 8 words.")
    description: str = Field(min_length=1, description="One paragraph a person can test.")
    code: str | None = Field(
        None,
        description=(
            "For function subjects: Python source defining f(x). For model units: a simulator, Python "
            "source defining simulate(tokens: list[str]) -> list[float] (the unit's predicted activation "
            "at each token; it is scored by correlation with the real activations on held-out text)."
        ),
    )
    domain: Any = Field(None, description="Where behaviour differs (intervals, exceptions), or null.")
    confidence: float = Field(ge=0, le=1)
    evidence: list[int] = Field(default_factory=list, description="Ids of the supporting experiments.")


INTERNAL_TOOLS: dict[str, tuple[type[BaseModel], str]] = {
    "propose_hypothesis": (
        ProposeHypothesisArgs,
        "Record a hypothesis about the subject; returns its hypothesis_id for record_evidence.",
    ),
    "record_evidence": (
        RecordEvidenceArgs,
        "Record that experiments (by experiment_id) support or refute a hypothesis (by hypothesis_id).",
    ),
    "final_explanation": (
        FinalExplanationArgs,
        "Finish: give the label (<= 8 words), a testable description, code (f(x) for functions, "
        "simulate(tokens) for units), domain, confidence and the supporting experiment ids.",
    ),
}


def internal_tool_schemas() -> list[dict[str, Any]]:
    """The internal tools in OpenAI function format (LangChain converts them for other providers)."""
    return [
        {"type": "function", "function": {"name": name, "description": text, "parameters": model.model_json_schema()}}
        for name, (model, text) in INTERNAL_TOOLS.items()
    ]
