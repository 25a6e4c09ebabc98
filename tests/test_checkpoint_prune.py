"""Pruning finished threads (``agent.checkpoints.prune_thread``): LangGraph saves a checkpoint per
super-step, each with the whole message list, so a label job keeps only the latest checkpoint of each
unit's thread once the unit has its explanation.

* ``prune_thread`` on SQLite and PostgreSQL: a thread with many checkpoints and pending writes, in two
  namespaces, keeps its latest checkpoint of each (readable, and the graph continues from it); other
  threads, an unknown thread and other savers are left alone;
* a real builtin label job on the tiny model leaves one checkpoint per unit, and the unit's thread
  still gives its result and answers a chat message (what ``autointerp chat --thread`` runs);
* the resumed path of ``label_item`` prunes too, and a failing prune never fails the unit.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from sqlmodel import select

import workers.label as label_module
from agent.checkpoints import open_checkpointer, prune_thread
from agent.runner import Session, make_brain
from store.db import open_store, session
from store.investigations import get_investigation
from store.models import JobItem, JobStatus
from store.settings import Settings
from workers.jobs import job_view
from workers.label import submit_label_job

PARAMS = {"layer": 1, "budget": 8, "max_tokens": 2000}

# --------------------------------------------------------------------------------------------------
# Helpers: a two-node message graph, and row counts straight from the checkpointer's tables
# --------------------------------------------------------------------------------------------------


class _State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _echo(state: _State) -> dict[str, Any]:
    return {"messages": [AIMessage(f"seen {len(state['messages'])} " + "x" * 2000)]}


def _graph(saver: Any) -> Any:
    builder = StateGraph(_State)
    builder.add_node("a", _echo)
    builder.add_node("b", _echo)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    return builder.compile(checkpointer=saver)


def _config(thread_id: str, ns: str = "") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}


def _rows(saver: Any, table: str, thread_id: str, ns: str | None = None) -> list[str]:
    """checkpoint_id of every row of ``table`` ("checkpoints" or "writes") of the thread (and namespace)."""
    sqlite = isinstance(saver, SqliteSaver)
    name = table if sqlite or table == "checkpoints" else "checkpoint_writes"
    mark = "?" if sqlite else "%s"
    sql = f"SELECT checkpoint_id FROM {name} WHERE thread_id = {mark}"
    args: tuple[str, ...] = (thread_id,)
    if ns is not None:
        sql += f" AND checkpoint_ns = {mark}"
        args += (ns,)
    if sqlite:
        return [r[0] for r in saver.conn.execute(sql, args).fetchall()]
    with saver._cursor() as cur:
        cur.execute(sql, args)
        return [r["checkpoint_id"] for r in cur.fetchall()]


def _side_checkpoints(saver: Any, thread_id: str, count: int) -> list[str]:
    """``count`` checkpoints of namespace "side" (a `checkpointer=True` subgraph's kind), oldest first."""
    ids = []
    parent = None
    for step in range(count):
        checkpoint = empty_checkpoint()
        config = _config(thread_id, "side")
        if parent is not None:
            config["configurable"]["checkpoint_id"] = parent
        saved = saver.put(config, checkpoint, {"source": "loop", "step": step, "parents": {}}, {})
        saver.put_writes(saved, [("messages", [HumanMessage(f"pending {step}")])], task_id=f"task-{step}")
        parent = checkpoint["id"]
        ids.append(checkpoint["id"])
    return ids


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The checkpointer `open_checkpointer` gives a SQLite store, or a PostgreSQL one (a fresh schema)."""
    if request.param == "sqlite":
        settings = Settings(home=tmp_path / "home", db=f"sqlite:///{tmp_path / 'store' / 'autointerp.db'}")
    else:
        settings = Settings(home=tmp_path / "home", db=request.getfixturevalue("pg_url"))
    with open_checkpointer(settings) as opened:
        yield opened


# --------------------------------------------------------------------------------------------------
# prune_thread itself
# --------------------------------------------------------------------------------------------------


def test_prune_keeps_the_latest_checkpoint_of_each_namespace(saver: Any) -> None:
    graph = _graph(saver)
    thread, other = "thread-pruned", "thread-kept"
    for turn in range(3):
        graph.invoke({"messages": [HumanMessage(f"turn {turn}")]}, _config(thread))
    graph.invoke({"messages": [HumanMessage("other")]}, _config(other))
    side = _side_checkpoints(saver, thread, 3)
    root = _rows(saver, "checkpoints", thread, "")
    assert len(root) == 12  # per turn: the input, after START, after a, after b
    before_state = graph.get_state(_config(thread)).values
    assert len(before_state["messages"]) == 9
    other_before = (_rows(saver, "checkpoints", other), _rows(saver, "writes", other))
    assert len(_rows(saver, "writes", thread, "")) > 0 and len(_rows(saver, "writes", thread, "side")) == 3

    assert prune_thread(saver, thread) == (12 - 1) + (3 - 1)

    assert _rows(saver, "checkpoints", thread, "") == [max(root)]
    assert _rows(saver, "checkpoints", thread, "side") == [side[-1]]
    assert set(_rows(saver, "writes", thread, "")) <= {max(root)}  # pending writes go with their checkpoint
    assert _rows(saver, "writes", thread, "side") == [side[-1]]
    assert (_rows(saver, "checkpoints", other), _rows(saver, "writes", other)) == other_before
    latest = saver.get_tuple(_config(thread))
    assert latest is not None and latest.checkpoint["id"] == max(root)
    assert latest.parent_config is None  # its parent is gone, so it has none
    assert [m.content for m in latest.checkpoint["channel_values"]["messages"]] == [
        m.content for m in before_state["messages"]
    ]
    side_latest = saver.get_tuple(_config(thread, "side"))
    assert side_latest is not None and side_latest.checkpoint["id"] == side[-1]
    assert [w[2][0].content for w in side_latest.pending_writes or []] == ["pending 2"]

    # the graph goes on from the kept checkpoint; pruning again deletes only what came since
    graph.invoke({"messages": [HumanMessage("after")]}, _config(thread))
    assert len(graph.get_state(_config(thread)).values["messages"]) == 12
    assert prune_thread(saver, thread) == 4
    assert prune_thread(saver, thread) == 0
    assert prune_thread(saver, "no-such-thread") == 0


def test_other_savers_are_left_alone() -> None:
    memory = InMemorySaver()
    graph = _graph(memory)
    graph.invoke({"messages": [HumanMessage("hi")]}, _config("t"))
    before = len(list(memory.list(_config("t"))))
    assert prune_thread(memory, "t") == 0
    assert prune_thread(object(), "t") == 0
    assert len(list(memory.list(_config("t")))) == before > 1


def test_a_failed_sqlite_prune_deletes_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(str(tmp_path / "c.sqlite"), check_same_thread=False)
    saver = SqliteSaver(conn)
    graph = _graph(saver)
    graph.invoke({"messages": [HumanMessage("hi")]}, _config("t"))
    before = _rows(saver, "checkpoints", "t")
    conn.execute("CREATE TRIGGER no_delete BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, 'no'); END")
    conn.commit()
    with pytest.raises(sqlite3.IntegrityError):
        prune_thread(saver, "t")
    assert not conn.in_transaction
    assert sorted(_rows(saver, "checkpoints", "t")) == sorted(before) and len(before) > 1
    assert len(_rows(saver, "writes", "t")) > 0
    conn.close()


# --------------------------------------------------------------------------------------------------
# A label job
# --------------------------------------------------------------------------------------------------


def _investigations(settings: Settings, job_id: int) -> list[int]:
    """The investigations of the job's items, all of which must be labeled (succeeded, with a result)."""
    with session(open_store(settings.db_url())) as db:
        items = db.exec(select(JobItem).where(JobItem.job_id == job_id)).all()
    assert items and all(i.status is JobStatus.succeeded and i.result for i in items), [i.error for i in items]
    return [int(i.investigation_id or 0) for i in items]


def _checkpoints_per_thread(settings: Settings, thread_id: str) -> int:
    with sqlite3.connect(str(settings.home / "checkpoints.sqlite")) as conn:
        return int(conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = ?", (thread_id,)).fetchone()[0])


def _chat(settings: Settings, investigation_id: int, text: str) -> str:
    """One message on the investigation's thread, the way ``autointerp chat --thread`` sends it; the reply."""
    run = Session(settings)
    brain = make_brain(get_investigation(run.engine, investigation_id).backend)
    investigator, config = run.investigator(investigation_id, brain, chat=True)
    with run.graph(investigator) as graph:
        count = len(graph.get_state(config).values["messages"])
        graph.invoke({"messages": [HumanMessage(text)]}, config)
        messages = graph.get_state(config).values["messages"]
    replies = [m for m in messages[count:] if isinstance(m, AIMessage) and str(m.content).strip()]
    return str(replies[-1].content) if replies else ""


def test_a_label_job_keeps_one_checkpoint_per_unit_and_the_chat_goes_on(home: Path, tiny_llama_dir: Path) -> None:
    settings = Settings()
    job_id = submit_label_job(settings, {"model": str(tiny_llama_dir), "units": "0:3", **PARAMS}, executor="local")
    assert job_view(open_store(settings.db_url()), job_id).status == "succeeded"
    assert len(_investigations(settings, job_id)) == 3
    run = Session(settings)
    for investigation_id in _investigations(settings, job_id):
        thread_id = get_investigation(run.engine, investigation_id).thread_id
        assert thread_id is not None
        assert _checkpoints_per_thread(settings, thread_id) == 1
        result = run.result(investigation_id)
        assert result.explanation is not None and result.experiments > 0
        reply = _chat(settings, investigation_id, "why")
        assert reply  # the chat resumed from the one checkpoint left and answered
        assert _checkpoints_per_thread(settings, thread_id) > 1  # chats are not pruned


def test_the_resumed_path_prunes_and_a_failing_prune_never_fails_the_unit(
    home: Path, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """First try: the prune fails (logged) and scoring crashes, so the item goes back with its finished
    investigation; the second try takes the resumed path, which prunes."""
    real_prune, real_score = Session.prune_checkpoints, label_module.score_unit
    calls: list[str] = []

    def prune(self: Session, investigation_id: int) -> int:
        calls.append("prune")
        if len(calls) == 1:
            raise RuntimeError("checkpointer unreachable")
        return real_prune(self, investigation_id)

    def score(*args: Any, **kwargs: Any) -> dict[str, float]:
        calls.append("score")
        if calls.count("score") == 1:
            raise RuntimeError("worker died")
        return real_score(*args, **kwargs)

    monkeypatch.setattr(Session, "prune_checkpoints", prune)
    monkeypatch.setattr(label_module, "score_unit", score)
    settings = Settings()
    with caplog.at_level(logging.WARNING, logger="autointerp.workers"):
        job_id = submit_label_job(settings, {"model": str(tiny_llama_dir), "units": "0:1", **PARAMS}, executor="local")
    assert calls == ["prune", "score", "prune", "score"]
    assert "cannot prune the checkpoints" in caplog.text and "checkpointer unreachable" in caplog.text
    assert job_view(open_store(settings.db_url()), job_id).status == "succeeded"
    [investigation_id] = _investigations(settings, job_id)
    thread_id = get_investigation(Session(settings).engine, investigation_id).thread_id
    assert thread_id is not None and _checkpoints_per_thread(settings, thread_id) == 1


def test_a_failing_prune_leaves_the_unit_labeled(
    home: Path, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Session, investigation_id: int) -> int:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(Session, "prune_checkpoints", broken)
    settings = Settings()
    job_id = submit_label_job(settings, {"model": str(tiny_llama_dir), "units": "0:1", **PARAMS}, executor="local")
    view = job_view(open_store(settings.db_url()), job_id)
    assert view.status == "succeeded" and view.progress.done == 1
    [investigation_id] = _investigations(settings, job_id)
    thread_id = get_investigation(Session(settings).engine, investigation_id).thread_id
    assert thread_id is not None and _checkpoints_per_thread(settings, thread_id) > 1
