"""``autointerp suite generate|plant`` and ``autointerp eval``: FIND-style benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from autointerp.cli.common import DB_HELP, JSON_HELP, MODEL_HELP, settings_from
from autointerp.cli.output import emit, err_console

if TYPE_CHECKING:
    from evals.runner import EvalResult

suite_app = typer.Typer(help="FIND-style suites: generate one, or plant units in a model.", no_args_is_help=True)
JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]


class GenerateResult(BaseModel):
    """What ``suite generate`` wrote."""

    path: str
    counts: dict[str, int]
    seed: int


@suite_app.command("generate")
def suite_generate(
    out: Annotated[Path, typer.Option("--out", help="Suite file to write (JSON lines).")],
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")],
    numeric: Annotated[int, typer.Option("--numeric", min=0, help="Numeric functions.")] = 0,
    string: Annotated[int, typer.Option("--string", min=0, help="String functions.")] = 0,
    entity: Annotated[int, typer.Option("--entity", min=0, help="Entity neurons.")] = 0,
    json_path: JsonOpt = None,
) -> None:
    """Generate a FIND-style suite (numeric, string and entity functions with ground truth)."""
    from evals.generators.entities import generate_entities
    from evals.generators.numeric import generate_numeric
    from evals.generators.strings import generate_strings
    from evals.suite import write_suite

    if numeric + string + entity == 0:
        raise typer.BadParameter("ask for at least one function: --numeric N, --string N or --entity N")
    items: list[Any] = [
        *generate_numeric(numeric, seed),
        *generate_strings(string, seed),
        *generate_entities(entity, seed),
    ]
    write_suite(items, out)
    result = GenerateResult(path=str(out), counts={"numeric": numeric, "string": string, "entity": entity}, seed=seed)
    emit(result, json_path, lambda c: c.print(f"wrote {len(items)} functions to {out} (seed {seed})"))


@suite_app.command("plant")
def suite_plant(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the modified model and its suite.")],
    concepts: Annotated[int, typer.Option("--concepts", min=1, max=64, help="Units to plant.")],
    seed: Annotated[int, typer.Option("--seed")] = 0,
    json_path: JsonOpt = None,
) -> None:
    """Copy a model with N MLP neurons rewired to fire on concepts, and write the matching suite."""
    from evals.generators.planted import plant_units

    report = plant_units(model, out, concepts, seed=seed, settings=settings_from())

    def render(c: Console) -> None:
        c.print(f"planted {len(report.units)} units into {report.model_dir}; suite {report.suite}")
        for unit in report.units:
            c.print(f"  {unit.unit}: {unit.concept}")

    emit(report, json_path, render)


def eval_command(
    suite: Annotated[Path, typer.Option("--suite", help="Suite file (JSON lines).")],
    agent: Annotated[
        str, typer.Option("--agent", help="builtin, openai:<m>, anthropic:<m>, oracle or random.")
    ] = "builtin",
    evaluator: Annotated[
        str, typer.Option("--evaluator", help="interpret or embedding (offline), or llm.")
    ] = "interpret",
    evaluator_backend: Annotated[
        str | None, typer.Option("--evaluator-backend", help="Backend of the llm evaluator (openai:<m>...).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N items.")] = None,
    budget: Annotated[int, typer.Option("--budget", min=1, help="Tool calls per item.")] = 24,
    report: Annotated[Path | None, typer.Option("--report", help="Write report.md and plots here.")] = None,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """Explain every item of a suite with an agent and score the explanations against ground truth."""
    from agent.graph import Budget
    from evals.judges import make_evaluator
    from evals.report import write_report
    from evals.runner import Runner

    judge = make_evaluator(evaluator, backend=evaluator_backend)
    runner = Runner(str(suite), agent, judge, settings=settings_from(db=db), budget=Budget(tool_calls=budget))
    result = runner.run(limit=limit, progress=json_path != "-")
    if report is not None:
        err_console.print(f"[dim]wrote {write_report(result, report)}[/dim]")

    def render(c: Console) -> None:
        c.print(eval_table(result))
        for item in result.items:
            if item.error:
                c.print(f"[red]{item.id}[/red]: {item.error}")

    emit(result, json_path, render)


def eval_table(result: EvalResult) -> Table:
    """The per-kind scores of an eval run as a table (score = FIND's headline metric of the kind)."""
    table = Table(
        "kind",
        "n",
        "score",
        "unit tests",
        "detection",
        "fuzzing",
        title=f"{result.agent} on {Path(result.suite).name} ({result.evaluator} evaluator)",
    )
    for kind, s in result.by_kind.items():
        table.add_row(kind, str(s.n), _pct(s.score), _pct(s.unit_test_acc), _pct(s.detection), _pct(s.fuzzing))
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
