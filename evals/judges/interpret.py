"""An offline evaluator that *simulates* descriptions of numeric and string functions.

FIND scores a description by asking an evaluator model to read only the description and answer
three-way questions such as ``f('quIck') = 'quick' | 'gkYsa' | 'quIck'`` or ``f(27.5) ≈ -245 | -976 |
-1441``. An embedding model cannot simulate a description (measured: the ground-truth descriptions
themselves score 0.39 on strings and 0.36 on numbers with `EmbeddingEvaluator`, i.e. chance), so this
evaluator interprets the two description languages that can be executed without a language model:

* **numeric**: a formula written as ``f(x) ≈ <expression>`` or ``f(x) = <expression>`` (Python syntax;
  ``abs``, ``max``, ``min``, ``sin``, ``cos``, ``tan``, ``tanh``, ``exp``, ``log``, ``sqrt``, ``floor``,
  ``ceil``, ``pi``, ``e`` and ``^`` for powers). The option whose value is nearest the formula's wins.
  It is computed in floats only, and a formula longer than 500 characters or 200 syntax nodes is not
  read, so evaluating one takes microseconds whatever it says: ``f(x) ≈ 9**9**9**9`` overflows at once
  (and, like prose, goes to the fallback) instead of computing a number with 10⁸ digits.
* **string**: the benchmark's canonical phrasing — the phrases of `evals.generators.strings` (e.g. "reverses
  the string", "removes the first 2 characters"), chained with ", then ", optionally after "The
  function". Each clause must be one such phrase; the program they spell is run on the test input and
  the option with that exact output wins.

Anything it cannot interpret — free-form prose, entity and model-unit descriptions — goes to the
fallback evaluator (`EmbeddingEvaluator` by default), so on those it is exactly the embedding evaluator.
This is a stand-in for an LLM judge with a known bias: it understands only that controlled language, so
descriptions from an LLM agent should be scored with ``--evaluator llm``. Calibration on a generated
suite: ground-truth string descriptions score 1.0 and random ones chance (tests/test_interpret.py).
"""

from __future__ import annotations

import ast
import functools
import math
import random
import re
from collections.abc import Callable
from typing import Any

from evals.generators.strings import PRIMITIVES, build_code, run_code
from evals.judges.base import Evaluator
from evals.judges.embedding import EmbeddingEvaluator

__all__ = ["InterpretingEvaluator", "interpret_numeric", "interpret_string", "parse_option"]

#: Parameter draws per primitive when enumerating the phrase table (covers letters, symbols, affixes, k).
_DRAWS = 400
_FORMULA = re.compile(r"f\(x\)\s*(?:≈|=|~=|~)\s*([^;\n]+)")
_OPTION = re.compile(r"^\s*f\((.*)\)\s*(?:≈|=)\s*(.*?)\s*$", re.S)
_NUMERIC_NAMES: dict[str, Any] = {
    "abs": abs,
    "max": max,
    "min": min,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "tanh": math.tanh,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "floor": lambda v: float(math.floor(v)),
    "ceil": lambda v: float(math.ceil(v)),
    "pi": math.pi,
    "e": math.e,
}
#: Longest formula read, in characters, and most syntax-tree nodes in it: beyond these it is not a
#: formula a person wrote, and every prefix would be parsed (the evaluator must stay fast).
MAX_FORMULA_CHARS = 500
MAX_FORMULA_NODES = 200
_POW = "__pow"
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.Mod,
    ast.FloorDiv,
    ast.USub,
    ast.UAdd,
    ast.IfExp,
    ast.Compare,
    ast.Gt,
    ast.GtE,
    ast.Lt,
    ast.LtE,
    ast.Attribute,
)


def _normalise(phrase: str) -> str:
    return re.sub(r"\s+", " ", phrase.strip().strip(".").strip()).lower()


@functools.cache
def _phrase_table() -> dict[str, tuple[str, dict[str, Any]]]:
    """Canonical phrase (normalised) → (primitive name, params), enumerated from the generator."""
    table: dict[str, tuple[str, dict[str, Any]]] = {}
    rng = random.Random(0)
    for name, primitive in sorted(PRIMITIVES.items()):
        draws = list(primitive.grid or ()) + [primitive.sample(rng) for _ in range(_DRAWS)]
        for params in draws:
            table.setdefault(_normalise(primitive.describe(params)), (name, params))
    return table


def _top_level_split(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside parentheses and quotes."""
    parts: list[str] = []
    depth, quote, start, i = 0, "", 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"" and (i == 0 or not text[i - 1].isalnum()):
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += len(separator)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _clauses(description: str) -> list[str]:
    text = description.strip()
    text = re.sub(r"^(the function|this function|the string function|it)\s+", "", text, flags=re.I)
    # the program is the first sentence: cut at the first top-level '. ' followed by a capital
    sentences = _top_level_split(text, ". ")
    first = sentences[0]
    for extra in sentences[1:]:
        if extra[:1].isupper():
            break
        first += ". " + extra
    return [c for c in (part.strip() for part in _top_level_split(first, ", then ")) if c]


@functools.lru_cache(maxsize=4096)
def interpret_string(description: str) -> Callable[[str], str] | None:
    """The string function a description in the canonical phrasing spells, or None."""
    table = _phrase_table()
    steps = []
    for clause in _clauses(description):
        found = table.get(_normalise(clause))
        if found is None:
            return None
        steps.append(found)
    if not steps:
        return None
    code = build_code(steps)
    return lambda x: run_code(code, x)


def _float_pow(base: float, exponent: float) -> float:
    """``base ** exponent`` in floats: an overflow raises at once (ints would compute 9**9**9 exactly)."""
    value = float(base) ** float(exponent)
    if not isinstance(value, float):  # a negative base to a fractional power is complex
        raise ValueError("math domain error")
    return value


class _Floats(ast.NodeTransformer):
    """Evaluate in floats only: number literals become floats and ``**`` becomes `_float_pow`."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ValueError("not a number")
        return ast.copy_location(ast.Constant(float(node.value)), node)  # OverflowError for a huge int

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Pow):
            call = ast.Call(func=ast.Name(_POW, ast.Load()), args=[node.left, node.right], keywords=[])
            return ast.copy_location(call, node)
        return node


def _safe_formula(expression: str) -> ast.Expression | None:
    """The formula as an expression that evaluates in bounded time, or None.

    Only the names of ``_NUMERIC_NAMES`` and ``x``, at most ``MAX_FORMULA_NODES`` nodes, and numbers
    that are floats: every operation is one float operation, so ``9**9**9**9`` overflows at once
    (OverflowError: the option is then chosen by the fallback) instead of computing a huge integer.
    """
    text = expression.strip().rstrip(".,").replace("^", "**").replace("−", "-").replace("·", "*")
    text = re.sub(r"\bmath\.", "", text)
    if len(text) > MAX_FORMULA_CHARS:
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for count, node in enumerate(ast.walk(tree), start=1):
        if count > MAX_FORMULA_NODES or not isinstance(node, _ALLOWED_NODES):
            return None
        if isinstance(node, ast.Name) and node.id != "x" and node.id not in _NUMERIC_NAMES:
            return None
        if isinstance(node, ast.Attribute):
            return None
    try:
        floats = _Floats().visit(tree)
    except (ValueError, OverflowError):
        return None
    return ast.fix_missing_locations(floats) if isinstance(floats, ast.Expression) else None


@functools.lru_cache(maxsize=4096)
def interpret_numeric(description: str) -> Callable[[float], float] | None:
    """The function ``f(x) ≈ <expression>`` in a description computes, or None."""
    match = _FORMULA.search(description)
    if match is None:
        return None
    expression = match.group(1)[:MAX_FORMULA_CHARS]
    # a formula ends where prose starts: try the longest prefix that parses
    words = expression.split(" ")
    for end in range(len(words), 0, -1):
        tree = _safe_formula(" ".join(words[:end]))
        if tree is not None:
            code = compile(tree, "<description formula>", "eval")

            def formula(x: float, code: Any = code) -> float:
                return float(eval(code, {"__builtins__": {}}, {**_NUMERIC_NAMES, _POW: _float_pow, "x": float(x)}))

            return formula
    return None


def parse_option(option: str) -> tuple[Any, Any] | None:
    """``"f('ab') = 'ba'"`` → ``('ab', 'ba')``; ``"f(2.5) ≈ -7"`` → ``(2.5, -7)``; None if unreadable."""
    match = _OPTION.match(option)
    if match is None:
        return None
    try:
        return ast.literal_eval(match.group(1)), ast.literal_eval(match.group(2))
    except (ValueError, SyntaxError):
        return None


class InterpretingEvaluator:
    """Simulates numeric formulas and canonical string descriptions; everything else goes to ``fallback``.

    ``choose``: parse the options as ``f(input) = output``; if the description interprets as a function of
    the options' kind, the option whose output it reproduces (strings: exactly; numbers: nearest) wins.
    ``detect``: the fallback's (detection is about texts a unit fires on, not simulation).
    """

    name = "interpret"

    def __init__(self, fallback: Evaluator | None = None) -> None:
        self.fallback: Evaluator = fallback if fallback is not None else EmbeddingEvaluator()

    def choose(self, description: str, options: list[str]) -> int:
        """Index of the option the description predicts, or the fallback's choice."""
        parsed = [parse_option(o) for o in options]
        if parsed and all(p is not None for p in parsed):
            pairs = [p for p in parsed if p is not None]
            picked = self._simulate(description, pairs)
            if picked is not None:
                return picked
        return self.fallback.choose(description, options)

    def _simulate(self, description: str, pairs: list[tuple[Any, Any]]) -> int | None:
        inputs = {repr(x) for x, _ in pairs}
        if len(inputs) != 1:
            return None
        x = pairs[0][0]
        if isinstance(x, str) and all(isinstance(y, str) for _, y in pairs):
            program = interpret_string(description)
            if program is None:
                return None
            try:
                predicted = program(x)
            except Exception:
                return None
            hits = [i for i, (_, y) in enumerate(pairs) if y == predicted]
            return hits[0] if hits else None
        if isinstance(x, (int, float)) and all(isinstance(y, (int, float)) for _, y in pairs):
            formula = interpret_numeric(description)
            if formula is None:
                return None
            try:
                value = formula(float(x))
            except (ArithmeticError, ValueError, TypeError):
                return None
            if not math.isfinite(value):
                return None
            return min(range(len(pairs)), key=lambda i: (abs(float(pairs[i][1]) - value), i))
        return None

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        """The fallback's detection."""
        return self.fallback.detect(description, texts)
