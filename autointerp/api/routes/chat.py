"""``POST /chat/{thread}``: one chat turn, the agent's steps streamed as server-sent events.

``thread`` is a chat's investigation id, or ``new`` to start one on ``subject`` (the agent first
investigates, then answers ``message`` if one is given). Events, in order:

* ``thread``  ``{"id": N}``: the thread (investigation) id, to continue with ``POST /chat/N``;
* ``step``    one per graph step, as ``autointerp chat`` prints them: ``{"step": "think" | "tool" |
  "hypothesis" | "evidence" | "explanation" | "fallback" | "replay", ...}``;
* ``reply``   ``{"text": ...}``: the agent's answer;
* ``error``   ``{"detail": ...}``: the turn failed (the thread is kept; ask again);
* ``done``    ``{}``: the stream ends.

Problems found before the stream starts (unknown thread 404, a thread busy with another turn 409,
a bad subject or agent 400, a malformed body 422) are ordinary JSON errors.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import StreamingResponse

from autointerp.api.schemas import MAX_INT, ChatRequest
from autointerp.api.state import ServiceState, get_service
from store.db import session
from store.jsonsafe import encode_nonfinite
from store.models import Investigation

router = APIRouter(tags=["chat"])

_END = object()
#: A chat id in the path: ASCII digits only (``str.isdigit`` also takes '²', which ``int`` refuses).
_THREAD_ID = re.compile(r"[0-9]{1,10}")


@dataclass
class _Turn:
    investigation_id: int
    brain: Any
    inputs: list[list[Any]]  # messages for each graph.invoke of this turn


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(encode_nonfinite(data), default=str)}\n\n".encode()


def _last_reply(state: dict[str, Any]) -> str:
    from langchain_core.messages import AIMessage

    for message in reversed(state.get("messages", [])):
        if isinstance(message, AIMessage):
            return message.content if isinstance(message.content, str) else json.dumps(message.content)
    return ""


def _prepare(thread: str, body: ChatRequest, service: ServiceState) -> _Turn:
    from langchain_core.messages import HumanMessage

    from agent.graph import Budget
    from agent.runner import make_brain

    question = [HumanMessage(body.message)] if body.message.strip() else []
    if thread == "new":
        if not body.subject:
            raise HTTPException(
                status_code=422,
                detail="subject: required to start a new chat thread (POST /chat/new)",
            )
        brain = make_brain(body.agent)
        investigation_id, first = service.session().create(
            body.subject, body.model, body.agent, Budget(tool_calls=body.budget)
        )
        return _Turn(investigation_id, brain, [first, question] if question else [first])
    if not (_THREAD_ID.fullmatch(thread) and 1 <= int(thread) <= MAX_INT):
        raise HTTPException(
            status_code=422,
            detail=f"thread: {thread[:40]!r} is neither a chat id (an integer from 1 to {MAX_INT}) nor 'new'",
        )
    investigation_id = int(thread)
    with session(service.engine()) as db:
        row = db.get(Investigation, investigation_id)
    if row is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"no chat thread with id {investigation_id}")
    if not question:
        raise HTTPException(status_code=422, detail="message: empty; say something to the agent")
    return _Turn(investigation_id, make_brain(row.backend), [question])


def _run_turn(service: ServiceState, turn: _Turn, events: queue.Queue[Any], lock: threading.Lock) -> None:
    try:
        run = service.session()
        investigator, config = run.investigator(
            turn.investigation_id, turn.brain, chat=True, on_step=lambda step: events.put(("step", step))
        )
        with run.graph(investigator) as graph:
            for messages in turn.inputs:
                graph.invoke({"messages": messages}, config)
            events.put(("reply", {"text": _last_reply(graph.get_state(config).values)}))
    except Exception as exc:
        events.put(("error", {"detail": f"{type(exc).__name__}: {exc}".splitlines()[0]}))
    finally:
        lock.release()
        events.put(_END)


@router.post(
    "/chat/{thread}",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A stream of thread, step, reply, error and done events.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
def chat(thread: str, body: ChatRequest, service: ServiceState = Depends(get_service)) -> StreamingResponse:
    """One chat turn on ``thread`` (an id, or ``new``), streamed as server-sent events."""
    turn = _prepare(thread, body, service)
    lock = service.chat_lock(turn.investigation_id)
    if not lock.acquire(blocking=False):
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"chat thread {turn.investigation_id} is answering another message; try again when it is done",
        )
    events: queue.Queue[Any] = queue.Queue()
    worker = threading.Thread(
        target=_run_turn, args=(service, turn, events, lock), name=f"chat-{turn.investigation_id}", daemon=True
    )
    worker.start()

    def stream() -> Iterator[bytes]:
        yield _event("thread", {"id": turn.investigation_id})
        while True:
            item = events.get()
            if item is _END:
                break
            name, data = item
            yield _event(name, data)
        yield _event("done", {})

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
