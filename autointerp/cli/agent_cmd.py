"""``autointerp explain``, ``show`` and ``chat``: the investigating agent from the command line."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from langchain_core.messages import HumanMessage
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from autointerp.cli.common import DB_HELP, JSON_HELP
from autointerp.cli.output import console, emit, err_console
from store.errors import InputError
from workers.jobs import check_executor

JsonOpt = Annotated[str | None, typer.Option("--json", help=JSON_HELP, metavar="PATH")]
DbOpt = Annotated[str | None, typer.Option("--db", help=DB_HELP, metavar="URL")]
AgentOpt = Annotated[
    str | None,
    typer.Option("--agent", help="builtin (default), openai:<model> or anthropic:<model>; or AUTOINTERP_LLM."),
]


def _settings(db: str | None) -> Any:
    from autointerp.cli.common import settings_from

    return settings_from(db=db)


def _backend(agent: str | None) -> str:
    from store.settings import Settings

    return agent or Settings().llm


def _executor(name: str, settings: Any) -> Any:
    """None (the in-process default) for ``local``; a CeleryExecutor for ``celery``."""
    if check_executor(name, "--executor") == "local":
        return None
    from workers.executor import CeleryExecutor

    return CeleryExecutor(settings=settings)


def print_step(event: dict[str, Any]) -> None:
    """Stream one step of an investigation to stderr as a short line."""
    step = event.get("step")
    if step == "tool":
        args = {k: v for k, v in event.get("args", {}).items() if k != "model"}
        text = json.dumps(args)
        err_console.print(
            f"[cyan]→ {event['tool']}[/cyan] {escape(text[:120])}  [dim]#{event['experiment_id']}: "
            f"{escape(str(event.get('summary', ''))[:120])}[/dim]",
            markup=True,
            highlight=False,
        )
    elif step == "hypothesis":
        err_console.print(f"[yellow]? hypothesis {event['id']}[/yellow]: {escape(str(event['text']))}")
    elif step == "evidence":
        verdict = "supports" if event.get("supports") else "refutes"
        err_console.print(f"[magenta]≡ evidence[/magenta] {verdict} hypothesis {event['hypothesis_id']}")
    elif step == "explanation" or step == "fallback":
        err_console.print(f"[green]✓ explanation[/green]: {escape(str(event['label']))}")
    elif step == "replay":
        err_console.print(f"[dim]↺ {event['tool']} #{event['experiment_id']} (already done before the crash)[/dim]")
    elif step == "think" and event.get("text"):
        err_console.print(f"[dim]{escape(str(event['text'])[:200])}[/dim]")


def print_chat_step(event: dict[str, Any]) -> None:
    """`print_step` for a chat: a reply (a think step without tool calls) is left to `_print_reply`,
    which prints it once, in full, after ``agent>``."""
    if event.get("step") == "think" and not event.get("tool_calls"):
        return
    print_step(event)


def explain_command(
    subject: Annotated[str | None, typer.Argument(help="Unit address (L12.mlp.303) or suite.jsonl#ID.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model of a unit subject.")] = None,
    agent: AgentOpt = None,
    budget: Annotated[int, typer.Option("--budget", min=1, max=1000, help="Tool calls allowed.")] = 24,
    seconds: Annotated[float, typer.Option("--seconds", min=1, help="Wall-clock budget.")] = 900,
    tokens: Annotated[int, typer.Option("--tokens", min=1, help="LLM token budget.")] = 400_000,
    resume_id: Annotated[int | None, typer.Option("--resume", help="Continue investigation ID.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not stream the steps.")] = False,
    executor: Annotated[
        str, typer.Option("--executor", help="Where tools run: local (this process) or celery (workers).")
    ] = "local",
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """Investigate a subject with the agent and print its explanation."""
    from agent.graph import Budget
    from agent.runner import explain, resume

    settings = _settings(db)
    tools = _executor(executor, settings)
    on_step = None if quiet or json_path == "-" else print_step
    if resume_id is not None:
        result = resume(resume_id, settings=settings, on_step=on_step, executor=tools)
    else:
        if subject is None:
            raise InputError("give a SUBJECT to investigate, or --resume ID")
        result = explain(
            subject,
            model=model,
            backend=_backend(agent),
            budget=Budget(tool_calls=budget, seconds=seconds, tokens=tokens),
            settings=settings,
            on_step=on_step,
            executor=tools,
        )

    def render(c: Console) -> None:
        e = result.explanation
        c.rule(escape(f"investigation {result.investigation_id}: {result.subject}"))
        if e is None:
            c.print("no explanation was written")
            return
        c.print(f"[bold]{e.label}[/bold]  (confidence {e.confidence:.2f})")
        c.print(e.description)
        if e.code:
            c.print(f"[dim]code:[/dim]\n{e.code}")
        if e.domain:
            c.print(f"[dim]domain:[/dim] {e.domain}")
        c.print(
            f"[dim]{result.experiments} experiments, evidence {e.evidence}, {result.seconds:.1f}s, "
            f"{result.tokens} tokens; `autointerp show {result.investigation_id}` for the transcript[/dim]"
        )

    emit(result, json_path, render)


class ShowResult(BaseModel):
    """Everything stored about an investigation."""

    investigation: dict[str, Any]
    experiments: list[dict[str, Any]]
    hypotheses: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    explanation: dict[str, Any] | None
    scores: dict[str, float] = {}


def show_command(
    investigation_id: Annotated[int, typer.Argument(help="Investigation id.")],
    json_path: JsonOpt = None,
    db: DbOpt = None,
) -> None:
    """An investigation's transcript: experiments, hypotheses, evidence and explanation."""
    from agent.runner import show
    from store.db import open_store
    from store.explanations import scores_of

    settings = _settings(db)
    record = ShowResult(**show(investigation_id, settings))
    explanation_id = (record.explanation or {}).get("id")
    if isinstance(explanation_id, int):
        record.scores = scores_of(open_store(settings.db_url()), [explanation_id]).get(explanation_id, {})

    def render(c: Console) -> None:
        inv = record.investigation
        c.rule(f"investigation {inv['id']} ({inv['backend']}, {inv['status']})")
        for e in record.experiments:
            outcome = e.get("result_summary") or {}
            status = "ok" if outcome.get("ok") else f"error: {outcome.get('error')}"
            args = {k: v for k, v in e["args"].items() if k != "model"}
            c.print(f"#{e['id']:<4} {e['tool']:<14} {json.dumps(args)[:90]}  [dim]{status[:80]}[/dim]")
        for h in record.hypotheses:
            links = [
                f"{'+' if v['supports'] else '-'}#{v['experiment_id']}"
                for v in record.evidence
                if v["hypothesis_id"] == h["id"]
            ]
            c.print(f"[yellow]H{h['id']}[/yellow] [{h['status']}] {h['text']}  {' '.join(links)}")
        if record.explanation:
            ex = record.explanation
            c.print(
                f"[green]explanation[/green]: [bold]{ex['label']}[/bold] ({ex['confidence']:.2f})\n{ex['description']}"
            )
        if record.scores:
            shown = ", ".join(f"{metric} {value:.3f}" for metric, value in sorted(record.scores.items()))
            c.print(f"[cyan]scores[/cyan]: {shown}")

    emit(record, json_path, render)


CHAT_HELP = (
    "Commands: /hypotheses  /evidence  /explain  /quit   (anything else is a message to the agent; "
    "'help' asks it what it can do)"
)


def chat_command(
    subject: Annotated[str, typer.Option("--subject", "-s", help="Unit address or suite.jsonl#ID to discuss.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model of a unit subject.")] = None,
    thread: Annotated[int | None, typer.Option("--thread", help="Continue chat (investigation) ID.")] = None,
    agent: AgentOpt = None,
    budget: Annotated[
        int, typer.Option("--budget", min=1, max=1000, help="Tool calls for the investigation, and for each message.")
    ] = 40,
    db: DbOpt = None,
) -> None:
    """Talk with the agent about a subject; it runs experiments as it answers. The thread persists."""
    from agent.graph import Budget
    from agent.runner import Session, make_brain, show

    settings = _settings(db)
    run = Session(settings)
    if thread is None:
        brain = make_brain(_backend(agent))
        investigation_id, first = run.create(subject, model, _backend(agent), Budget(tool_calls=budget))
        pending: list[Any] | None = first
        console.print(escape(f"chat {investigation_id} on {subject} (resume with --thread {investigation_id})"))
    else:
        investigation_id = thread
        from store.investigations import get_investigation

        brain = make_brain(get_investigation(run.engine, thread).backend)
        pending = None
        console.print(f"continuing chat {investigation_id}")
    console.print(CHAT_HELP)
    investigator, config = run.investigator(investigation_id, brain, chat=True, on_step=print_chat_step)
    with run.graph(investigator) as graph:
        if pending is not None:
            graph.invoke({"messages": pending}, config)
            _print_reply(graph.get_state(config).values)
        while True:
            try:
                console.print("[bold]you>[/bold] ", end="")
                line = sys.stdin.readline()
            except KeyboardInterrupt:
                break
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            if text in ("/hypotheses", "/evidence", "/explain"):
                _chat_command(text, show(investigation_id, settings))
                continue
            graph.invoke({"messages": [HumanMessage(text)]}, config)
            _print_reply(graph.get_state(config).values)


def _print_reply(state: dict[str, Any]) -> None:
    from langchain_core.messages import AIMessage

    for message in reversed(state.get("messages", [])):
        if isinstance(message, AIMessage):
            text = message.content if isinstance(message.content, str) else str(message.content)
            if text.strip():
                console.print(f"[bold green]agent>[/bold green] {escape(text)}")
            return


def _chat_command(command: str, record: dict[str, Any]) -> None:
    if command == "/hypotheses":
        for h in record["hypotheses"] or []:
            console.print(f"H{h['id']} [{h['status']}] {h['text']}")
        if not record["hypotheses"]:
            console.print("no hypotheses yet")
    elif command == "/evidence":
        for e in record["evidence"] or []:
            console.print(
                f"H{e['hypothesis_id']} {'supported' if e['supports'] else 'refuted'} by "
                f"experiment #{e['experiment_id']}: {e.get('note') or ''}"
            )
        if not record["evidence"]:
            console.print("no evidence yet")
    else:
        ex = record["explanation"]
        console.print(f"{ex['label']}: {ex['description']}" if ex else "no explanation yet")
