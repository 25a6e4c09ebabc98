"""``call_function``: run a suite function (DESIGN §3) on a batch of inputs in the sandbox."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.functions.sandbox import CallOutcome, SandboxLimits, run_function
from tools.functions.suite import load_suite_function
from tools.registry import ToolError, tool


class CallFunctionArgs(BaseModel):
    """Arguments of ``call_function``."""

    subject: str = Field(
        description="The function's address: path/to/suite.jsonl#ID (over the API, a file under the data "
        "roots), or suite:NAME#ID for a suite uploaded with POST /suites."
    )
    inputs: list[float | str] = Field(min_length=1, max_length=1000, description="Inputs, one call each.")
    timeout_s: float = Field(10.0, gt=0, le=120, description="Wall-clock limit for the whole batch.")


class CallFunctionOut(BaseModel):
    """Each input's output (or its error and printed output); ``error`` when the batch was cut short."""

    subject: str
    outcomes: list[CallOutcome]
    error: str | None = Field(None, description="Whole-batch failure: timeout or memory cap.")


@tool(queue="cpu", cacheable=False)
def call_function(ctx: ToolContext, args: CallFunctionArgs) -> CallFunctionOut:
    """Call a black-box function on a batch of inputs (numbers for numeric functions, strings for
    string functions) and get each output. The function may be noisy: call the same inputs again to
    measure the noise. An exception on one input is reported for that input only; a hang or a
    memory blow-up ends the batch with an error and the outputs finished before it. Results are
    never cached, so repeated calls show the function's randomness. Entity subjects (synthetic
    neurons on text) take strings and return each input's activation in [0, 1]."""
    function = load_suite_function(args.subject, files=ctx.files, store=ctx.engine)
    if function.kind == "entity":
        from tools.functions.entity_neuron import EntityNeuron

        bad = [x for x in args.inputs if not isinstance(x, str)]
        if bad:
            raise ToolError(
                f"{args.subject} is an entity subject: its inputs are texts (strings), got {bad[0]!r}",
                tool="call_function",
                field="inputs",
            )
        concept = function.raw.get("concept")
        members = function.raw.get("members") or []
        if not isinstance(concept, str) or not concept.strip() or not isinstance(members, list):
            raise ToolError(
                f"{args.subject} is an entity subject without a usable 'concept' (and 'members' list)",
                tool="call_function",
                field="subject",
            )
        texts = [str(x) for x in args.inputs]
        activations = EntityNeuron(concept, [str(m) for m in members]).activation(texts)
        outcomes = [CallOutcome(input=x, output=a) for x, a in zip(texts, activations, strict=True)]
        return CallFunctionOut(subject=args.subject, outcomes=outcomes, error=None)
    if not function.code:
        raise ToolError(
            f"{args.subject} is a {function.kind} subject with no code to call; probe it with its own tools",
            tool="call_function",
            field="subject",
        )
    result = run_function(function.code, list(args.inputs), limits=SandboxLimits(timeout_s=args.timeout_s))
    return CallFunctionOut(subject=args.subject, outcomes=result.outcomes, error=result.error)
