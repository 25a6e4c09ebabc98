"""The tool registry: one decorator, one source of truth for every surface.

A tool is a typed function ``fn(ctx: ToolContext, args: SomeArgs) -> SomeResult`` whose argument
and result types are pydantic models. ``@tool`` records its name, its docstring (what the LLM reads)
and the two models; from them come the JSON schemas of the OpenAI and Anthropic tool formats, the
CLI's ``tools list`` / ``tools call`` and the HTTP API's ``/tools`` routes.

    @tool(queue="gpu")
    def activations(ctx: ToolContext, args: ActivationsArgs) -> ActivationsOut:
        \"\"\"Per-token activations of a unit on some texts.\"\"\"
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_type_hints

from pydantic import BaseModel, ValidationError

from store.errors import AutointerpError


class ToolError(AutointerpError):
    """A tool call failed; ``message`` tells the agent what went wrong and how to call it instead.

    ``tool`` names the tool; ``field`` names the argument at fault when there is one.
    """

    def __init__(self, message: str, *, tool: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.field = field


#: Longest string a tool argument may hold, in characters (a text, an address, a path).
MAX_ARG_CHARS = 100_000
#: Largest magnitude of an integer argument (a signed 64-bit integer: what torch and the store take).
MAX_ARG_INT = 2**63 - 1
#: Deepest nesting of lists and objects in a tool's arguments.
MAX_ARG_DEPTH = 16
#: Problems reported at most by one ToolError (the first ones found).
_MAX_PROBLEMS = 5
_SURROGATE = re.compile("[\ud800-\udfff]")


def raw_arg_problems(value: Any, where: str = "") -> list[str]:
    """What is wrong with raw tool arguments before any tool's model sees them, one ``where: what``
    per problem (see `ToolSpec.parse_args`); empty when nothing is."""
    problems: list[str] = []
    _walk(value, where, 0, problems)
    return problems[:_MAX_PROBLEMS]


def _walk(value: Any, where: str, depth: int, problems: list[str]) -> None:
    if len(problems) >= _MAX_PROBLEMS:
        return
    at = where or "(arguments)"
    if isinstance(value, str):
        if "\x00" in value:
            problems.append(f"{at}: must not contain NUL characters (\\x00)")
        elif _SURROGATE.search(value):
            problems.append(f"{at}: must not contain unpaired surrogates (\\ud800-\\udfff)")
        elif len(value) > MAX_ARG_CHARS:
            problems.append(f"{at}: {len(value)} characters; at most {MAX_ARG_CHARS} are allowed")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if abs(value) > MAX_ARG_INT:
            problems.append(f"{at}: integer out of range; at most {MAX_ARG_INT} in magnitude")
    elif isinstance(value, float):
        if not math.isfinite(value):
            problems.append(f"{at}: must be a finite number, not {value}")
    elif isinstance(value, dict | list | tuple):
        if depth >= MAX_ARG_DEPTH:
            problems.append(f"{at}: nested deeper than {MAX_ARG_DEPTH} levels")
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and ("\x00" in key or _SURROGATE.search(key) or len(key) > MAX_ARG_CHARS):
                problems.append(f"{at}: a key holds a NUL character, a lone surrogate or too many characters")
                continue
            _walk(item, f"{where}.{key}" if where else str(key), depth + 1, problems)


Queue = Literal["gpu", "cpu"]
ArgsT = TypeVar("ArgsT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)
ToolFn = Callable[[Any, Any], BaseModel]


@dataclass(frozen=True)
class ToolSpec:
    """A registered tool.

    queue:     where it runs on a cluster: ``gpu`` (model work) or ``cpu`` (functions, scoring)
    cacheable: whether results may be reused for the same model digest and canonical arguments
    """

    name: str
    description: str
    args_model: type[BaseModel]
    result_model: type[BaseModel]
    fn: ToolFn
    queue: Queue
    cacheable: bool

    def parse_args(self, args: BaseModel | dict[str, Any] | str) -> BaseModel:
        """Validate raw arguments; a ToolError names every field at fault.

        Before the tool's own model, every raw value is checked (`raw_arg_problems`): no NUL
        character (nor lone surrogate) in any string or key, strings of at most ``MAX_ARG_CHARS``
        characters, integers within ±``MAX_ARG_INT``, finite floats, nesting at most
        ``MAX_ARG_DEPTH`` deep. Every surface (the agent, the CLI, ``POST /tools/{name}``, the Celery
        executor) parses here, so no such value reaches a model, a sandbox or the store through a
        tool call.
        """
        if isinstance(args, self.args_model):
            return args
        try:
            raw: Any = args.model_dump() if isinstance(args, BaseModel) else args
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw)
                except (ValueError, RecursionError):
                    raw = None  # not JSON: the model's own parser names the problem below
            problems = raw_arg_problems(raw) if raw is not None else []
            if problems:
                raise ToolError(
                    f"invalid arguments for tool {self.name!r}: " + "; ".join(problems),
                    tool=self.name,
                    field=problems[0].split(":", 1)[0],
                )
            if isinstance(args, str):
                return self.args_model.model_validate_json(args)
            if isinstance(args, BaseModel):
                return self.args_model.model_validate(args.model_dump())
            return self.args_model.model_validate(args)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
                problems.append(f"{where}: {error['msg']}")
            first_field = ".".join(str(p) for p in exc.errors()[0]["loc"]) if exc.errors() else None
            raise ToolError(
                f"invalid arguments for tool {self.name!r}: " + "; ".join(problems), tool=self.name, field=first_field
            ) from None

    def input_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments (pydantic's, with ``$defs`` kept)."""
        return self.args_model.model_json_schema()

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI's chat-completions ``tools`` format."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.input_schema()},
        }

    def anthropic_schema(self) -> dict[str, Any]:
        """The tool in Anthropic's Messages API ``tools`` format."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema()}

    def canonical_args(self, args: BaseModel) -> str:
        """Arguments as canonical JSON (sorted keys, defaults filled in): the cache key's argument part."""
        return json.dumps(args.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


class ToolRegistry:
    """Tools by name. ``tools.catalog.default_registry()`` returns the one with every built-in tool."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def add(self, spec: ToolSpec) -> ToolSpec:
        """Register a tool; a second tool with the same name is an error."""
        if spec.name in self._tools and self._tools[spec.name].fn is not spec.fn:
            raise ValueError(f"tool {spec.name!r} is registered twice")
        self._tools[spec.name] = spec
        return spec

    def get(self, name: str) -> ToolSpec:
        """The tool called ``name``; ToolError lists the known names otherwise."""
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(f"unknown tool {name!r}; known tools: {', '.join(sorted(self._tools))}") from None

    def names(self) -> list[str]:
        """Every tool name, sorted."""
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        """Every tool, sorted by name."""
        return [self._tools[n] for n in self.names()]

    def openai_tools(self) -> list[dict[str, Any]]:
        """All tools in OpenAI's format."""
        return [s.openai_schema() for s in self.specs()]

    def anthropic_tools(self) -> list[dict[str, Any]]:
        """All tools in Anthropic's format."""
        return [s.anthropic_schema() for s in self.specs()]


#: The registry the built-in tools register into at import (see ``tools.catalog``).
BUILTIN_TOOLS = ToolRegistry()


def tool(
    name: str | None = None, *, queue: Queue = "gpu", cacheable: bool = True, registry: ToolRegistry | None = None
) -> Callable[[Callable[[Any, ArgsT], ResultT]], Callable[[Any, ArgsT], ResultT]]:
    """Register ``fn(ctx, args) -> result`` as a tool; its docstring is the description the LLM sees."""

    def decorate(fn: Callable[[Any, ArgsT], ResultT]) -> Callable[[Any, ArgsT], ResultT]:
        hints = get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        if len(params) != 2:
            raise TypeError(f"tool {fn.__name__} must take (ctx, args)")
        args_model, result_model = hints.get(params[1]), hints.get("return")
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise TypeError(f"tool {fn.__name__}: its args parameter must be annotated with a pydantic model")
        if not (isinstance(result_model, type) and issubclass(result_model, BaseModel)):
            raise TypeError(f"tool {fn.__name__}: its return type must be a pydantic model")
        description = inspect.cleandoc(fn.__doc__ or "")
        if not description:
            raise TypeError(f"tool {fn.__name__} needs a docstring: it is the description the agent reads")
        spec = ToolSpec(
            name=name or fn.__name__,
            description=description,
            args_model=args_model,
            result_model=result_model,
            fn=fn,
            queue=queue,
            cacheable=cacheable,
        )
        (registry or BUILTIN_TOOLS).add(spec)
        return fn

    return decorate
