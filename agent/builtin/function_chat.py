"""Chat turns about a black-box function (numeric, string or entity): calls, described next to what the
investigation's explanation predicts.

* **values** ("f(3)?", "try 1, 2, 3", "f('abc')?", an entity neuron's "does it fire on dogs?"): one
  ``call_function`` on exactly those inputs, each output beside the policy's prediction (its fit or
  program: the policy's own ``describe``);
* **near** ("what happens near 0?"): a dense grid around the point (``data/chat_requests.json``:
  ``near_radius``, ``near_points``) plus the point's immediate neighbours, summarised: the range, sign
  changes, the largest jump between neighbours, errors.

why / revise / summary / help are ``agent.builtin.chat_turns.common_turn``'s; a unit's requests
(ablate, steer, …) are answered with the help text.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from agent.builtin.chat_requests import CHAT_DATA, Request, RequestKind
from agent.builtin.chat_turns import Answer, ChatContext, ChatRun, Finding, common_turn, experiment_refs
from agent.builtin.protocol import Call, Step, fmt

__all__ = ["function_turn", "near_grid"]


def function_turn(request: Request, ctx: ChatContext) -> ChatRun:
    """The chat turn for ``request`` about a function."""
    if request.kind is RequestKind.values:
        inputs: list[Any] = list(request.values)
        if ctx.domain == "numeric":
            inputs = [float(v) for v in inputs if isinstance(v, int | float)]
        return (yield from _values(ctx, inputs))
    if request.kind is RequestKind.near and request.center is not None:
        return (yield from _near(ctx, request.center))
    return (yield from common_turn(request, ctx))


def _call(ctx: ChatContext, inputs: list[Any]) -> Call:
    return Call("call_function", {"subject": ctx.task.subject, "inputs": inputs[:1000]})


def _values(ctx: ChatContext, inputs: list[Any]) -> ChatRun:
    if not inputs:
        return Answer("Give me inputs to call it on, e.g. f(3) or try 1, 2, 3.")
    call = _call(ctx, inputs)
    [ran] = yield Step("Call the function on exactly the inputs you gave.", [call])
    text = ctx.policy.describe(call, ran)
    ref = experiment_refs([ran.experiment_id])
    ids = [ran.experiment_id] if ran.experiment_id is not None else []
    predicted = "predict" in text and "I predicted" not in text
    return Answer(f"{text} {ref}".strip(), Finding(text.rstrip("."), ids, True if predicted else None))


def near_grid(center: float) -> list[float]:
    """A dense grid around ``center`` with the point's immediate neighbours (sorted, distinct)."""
    radius, points = CHAT_DATA.near_radius, CHAT_DATA.near_points
    step = 2 * radius / (points - 1)
    grid = [center - radius + i * step for i in range(points)]
    grid += [center - 1e-3, center + 1e-3, center - 1e-6, center + 1e-6]
    return sorted({round(x, 9) for x in grid})


def _near(ctx: ChatContext, center: float) -> ChatRun:
    grid = near_grid(center)
    call = _call(ctx, list(grid))
    [ran] = yield Step(f"Call the function on a dense grid around {fmt(center)}.", [call])
    ref = experiment_refs([ran.experiment_id])
    if not ran.ok or ran.result is None:
        return Answer(f"That call failed: {ran.error} {ref}".strip())
    pairs: list[tuple[float, float]] = []
    errors = 0
    for item in ran.result.get("outcomes") or []:
        x, y = item.get("input"), item.get("output")
        if item.get("error") or not isinstance(y, int | float) or not isinstance(x, int | float):
            errors += 1
            continue
        pairs.append((float(x), float(y)))
    if not pairs:
        return Answer(f"Every call near {fmt(center)} failed {ref}.")
    ys = [y for _, y in pairs]
    shown = ", ".join(f"f({fmt(x)})={fmt(y)}" for x, y in pairs[:: max(1, len(pairs) // 9)])
    lines = [f"Near {fmt(center)} ({len(grid)} points from {fmt(grid[0])} to {fmt(grid[-1])}) {ref}: {shown}."]
    lines.append(f"Outputs range from {fmt(min(ys))} to {fmt(max(ys))}.")
    jumps = [(abs(b[1] - a[1]), a[0], b[0]) for a, b in pairwise(pairs)]
    if jumps:
        size, left, right = max(jumps)
        typical = sorted(j for j, _, _ in jumps)[len(jumps) // 2]
        if size > 5 * max(typical, 1e-9):
            lines.append(
                f"It jumps by {fmt(size)} between {fmt(left)} and {fmt(right)} (neighbours differ by ~{fmt(typical)})."
            )
        else:
            lines.append("It changes smoothly there (no jump between neighbours).")
    signs = sum(1 for a, b in pairwise(ys) if (a < 0) != (b < 0))
    if signs:
        lines.append(f"The sign changes {signs} time{'s' if signs > 1 else ''}.")
    if errors:
        lines.append(f"{errors} input{'s' if errors > 1 else ''} raised an error.")
    ids = [ran.experiment_id] if ran.experiment_id is not None else []
    return Answer(" ".join(lines), Finding(" ".join(lines[1:]) or lines[0], ids))
