"""``autointerp serve`` (the HTTP API), ``autointerp mcp`` (the MCP server on stdio) and ``autointerp audit``
(a checkpoint audit, here and now)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from autointerp.cli.common import DB_HELP, JSON_HELP, settings_from
from autointerp.cli.output import emit, err_console
from store.errors import InputError

JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    db: DbOpt = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API (needs AUTOINTERP_API_KEY; OpenAPI at /openapi.json, docs at /docs)."""
    from autointerp.api.config import resolve_api_key
    from autointerp.api.server import serve

    resolve_api_key()  # refuse to start without a key, before anything else
    settings = settings_from(db=db)
    err_console.print(f"[dim]autointerp API on http://{host}:{port} (docs at /docs)[/dim]")
    serve(host, port, settings, log_level=log_level)


def mcp_command(db: DbOpt = None) -> None:
    """Serve the tools to an MCP client over stdin/stdout (a desktop client starts this; see README)."""
    from autointerp.api.mcp.transports import run_stdio

    run_stdio(settings_from(db=db))


def _read_units(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read units file {path}: {exc.strerror}") from exc
    units = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    units = [u for u in units if u]
    if not units:
        raise InputError(f"units file {path} lists no units (one address per line, e.g. L6.mlp.35)")
    return units


def audit_command(
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline checkpoint: model folder or name.")],
    candidate: Annotated[str, typer.Option("--candidate", help="Candidate checkpoint: model folder or name.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Name the audit is filed under.")] = None,
    units_file: Annotated[Path | None, typer.Option("--units", help="File of unit addresses, one a line.")] = None,
    unit: Annotated[list[str] | None, typer.Option("--unit", "-u", help="A unit address (repeatable).")] = None,
    tracked: Annotated[bool, typer.Option("--tracked", help="Audit the units with stored explanations.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for report.md, report.json, shift.png.")] = None,
    windows: Annotated[int, typer.Option("--probe-windows", min=4, help="Probe windows.")] = 128,
    ctx: Annotated[int, typer.Option("--ctx", min=4, max=4096, help="Tokens per probe window.")] = 32,
    k: Annotated[int, typer.Option("-k", min=1, help="Top windows compared per unit.")] = 10,
    tau: Annotated[float, typer.Option("--tau", min=0.0, help="Mean-shift threshold (baseline stds).")] = 0.5,
    jaccard_min: Annotated[float, typer.Option("--jaccard", min=0.0, max=1.0, help="Jaccard threshold.")] = 0.5,
    explain: Annotated[bool, typer.Option("--explain/--no-explain", help="Re-explain changed units.")] = True,
    agent: Annotated[str | None, typer.Option("--agent", help="Agent for re-explanations.")] = None,
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """Which units changed between two checkpoints (activation stats, exemplar overlap, re-explanation)."""
    from workers.audit import AuditRequest, ProbeSpec, run_audit
    from workers.audit_report import write_report

    listed = [*(unit or []), *(_read_units(units_file) if units_file else [])]
    if bool(listed) == tracked:
        raise InputError("give units to audit (--units FILE or --unit ADDRESS) or --tracked, not both or neither")
    settings = settings_from(db=db)
    try:
        probe = ProbeSpec(windows=windows, ctx_len=ctx, k=k)
    except ValueError as exc:
        raise InputError(str(exc).splitlines()[-1].strip()) from None
    request = AuditRequest(
        baseline=baseline,
        candidate=candidate,
        model=model,
        units=listed or None,
        tracked=tracked,
        probe=probe,
        tau=tau,
        jaccard_min=jaccard_min,
        explain=explain,
        agent=agent or settings.llm,
    )
    report = run_audit(request, settings)
    files = write_report(report, out) if out is not None else None

    def render(c: Console) -> None:
        c.print(f"[bold]{len(report.changed)} of {len(report.units)} units changed[/bold]  ({report.rule})")
        for u in report.units:
            mark = "[red]changed[/red]" if u.changed else "[dim]same[/dim]   "
            label = f"  {u.baseline_label or '-'} → {u.candidate_label}" if u.candidate_label else ""
            c.print(f"{mark} {escape(u.unit):<14} shift {u.mean_shift:6.2f}  Jaccard {u.jaccard:.2f}{label}")
        if files is not None:
            c.print(f"[dim]report: {files.markdown}, {files.json_path}, {files.plot}[/dim]")

    emit(report, json_path, render)
