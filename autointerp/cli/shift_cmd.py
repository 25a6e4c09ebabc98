"""``autointerp shift``: SHIFT annotation of a registered SAE's latents, scored with SCR and TPP
(``workers.shift``), here and now or on the workers."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from autointerp.cli.common import DB_HELP, JOB_EXECUTOR_HELP, JSON_HELP, MODEL_HELP, settings_from, store_for
from autointerp.cli.output import emit
from store.errors import InputError
from store.repo import get_job
from workers.shift import SUMMARY_N, ShiftReport, shift_folder


class ShiftQueued(BaseModel):
    """What ``autointerp shift --executor celery`` returns."""

    job_id: int


JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]


def _pair(text: str | None) -> list[str] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise typer.BadParameter("give two classes separated by a comma, e.g. professor,nurse", param_hint="--pair")
    return parts


def _ns(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise typer.BadParameter("give numbers separated by commas, e.g. 2,5,10,20", param_hint="--n") from None


def shift_command(
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)],
    sae: Annotated[str, typer.Option("--sae", help="A registered SAE's name (autointerp sae list).")],
    dataset: Annotated[str, typer.Option("--dataset", help="bios (profession x gender) or reviews.")] = "bios",
    pair: Annotated[str | None, typer.Option("--pair", help="SCR pair, e.g. professor,nurse.")] = None,
    judge: Annotated[str, typer.Option("--judge", help="builtin, or an LLM: openai:gpt-4o, anthropic:...")] = "builtin",
    n_train: Annotated[int, typer.Option("--n-train", help="Training texts per probe (multiple of 4).")] = 4000,
    n_test: Annotated[int, typer.Option("--n-test", help="Test texts per probe (multiple of 4).")] = 1000,
    n_values: Annotated[str | None, typer.Option("--n", help="Latents ablated, e.g. 2,5,10,20,50,100,500.")] = None,
    judged_top: Annotated[int, typer.Option("--judged-top", help="Latents per ablated concept judged.")] = 20,
    tpp: Annotated[bool, typer.Option("--tpp/--no-tpp", help="Also run TPP over five classes.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Dataset seed.")] = 0,
    cache_tokens: Annotated[
        int, typer.Option("--cache-tokens", help="Corpus tokens of the SAE's exemplar cache, if the judge builds it.")
    ] = 100_000,
    executor: Annotated[str, typer.Option("--executor", help=JOB_EXECUTOR_HELP)] = "local",
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """SHIFT annotation and SCR/TPP of an SAE: probes on a generated dataset, the judge's annotations of the
    top latents (stored), and the scores of attribution-only, judged, oracle and random selections."""
    from workers.service_jobs import submit_service_job

    settings = settings_from(db=db)
    engine = store_for(settings)
    params: dict[str, object] = {
        "model": model,
        "sae": sae,
        "dataset": dataset,
        "judge": judge,
        "n_train": n_train,
        "n_test": n_test,
        "judged_top": judged_top,
        "tpp": tpp,
        "seed": seed,
        "max_tokens": cache_tokens,
    }
    if (chosen := _pair(pair)) is not None:
        params["pair"] = chosen
    if (ns := _ns(n_values)) is not None:
        params["n_values"] = ns
    if executor not in ("local", "celery"):
        raise typer.BadParameter("choose local or celery", param_hint="--executor")
    if executor == "celery":
        job_id = submit_service_job(settings, "shift", params, "celery")
        queued = ShiftQueued(job_id=job_id)
        emit(queued, json_path, lambda c: c.print(f"queued shift job {job_id}: autointerp jobs show {job_id}"))
        return
    from workers.service_jobs import create_service_job, run_service_job

    job_id = create_service_job(settings, "shift", params)
    run_service_job(settings, job_id, progress=json_path != "-")
    row = get_job(engine, job_id)
    if row is None or row.error:
        raise InputError(row.error if row is not None and row.error else f"shift job {job_id} left no record")
    report = ShiftReport.model_validate_json((shift_folder(settings, job_id) / "report.json").read_text())

    def render(c: Console) -> None:
        s = report.scores
        c.print(
            f"SHIFT of [bold]{escape(report.address)}[/bold] on {escape(s.dataset)} ({s.pair[0]} / {s.pair[1]}), "
            f"judge {escape(report.judge)}: {len(report.annotations)} latents annotated, {report.seconds:.0f}s"
        )
        table = Table("selection", *(f"{m} N={n}" for n in SUMMARY_N for m in ("SCR", "TPP")), title=f"job {job_id}")
        for name, row in report.summary().items():
            cells = [row[f"{m}@{n}"] for n in SUMMARY_N for m in ("scr", "tpp")]
            table.add_row(name, *("-" if v is None else f"{v:+.3f}" for v in cells))
        c.print(table)
        for a in s.agreement[:2]:
            precision = "-" if a.precision is None else f"{a.precision:.2f}"
            recall = "-" if a.recall is None else f"{a.recall:.2f}"
            c.print(f"judge vs oracle on {escape(a.concept)}: precision {precision}, recall {recall}")
        c.print(escape(f"report: {shift_folder(settings, job_id) / 'report.md'}"))

    emit(report, json_path, render)
