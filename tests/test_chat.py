"""Chat that answers: the builtin scientist maps a researcher's requests to experiments and replies with
their numbers and experiment ids.

* the request parser (``agent.builtin.chat_requests``): many phrasings, the command form, help;
* the peak word of a quoted exemplar context is kept and marked «like this»;
* explanation versions (``store.investigations.revise_explanation``);
* a function chat through ``POST /chat/{thread}`` (f(3)?, a list, a grid near 0, why, revise);
* a multi-turn chat about a unit of the embedded model in a real terminal (pty), resumed with
  ``--thread``, and the same conversation through the API running the same experiments.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from fastapi.testclient import TestClient

from agent.builtin.chat_requests import HELP, RequestKind, parse_request
from agent.builtin.chat_turns import summary_text
from agent.builtin.unit_hypotheses import analyse_context, excerpt
from autointerp.api import create_app
from store.db import open_store
from store.investigations import (
    create_investigation,
    find_explanation,
    revise_explanation,
    save_explanation,
)
from store.models import SubjectKind
from store.repo import get_or_create_subject
from store.settings import Settings
from tests.cli_helpers import call_cli, cli_json
from tests.serve_helpers import sse_events

ROOT = Path(__file__).resolve().parents[1]
KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")
EXPERIMENT = re.compile(r"\[experiment #(\d+)\]")

# --------------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------------

UNIT_PHRASINGS: list[tuple[str, RequestKind, dict[str, Any]]] = [
    ("does it fire on months?", RequestKind.fires, {"words": ("months",)}),
    ("Does it fire on months and weeks?", RequestKind.fires, {"words": ("months", "weeks")}),
    ("does it respond to the word 'Monday'?", RequestKind.fires, {"words": ("Monday",)}),
    ("would it react to hours, minutes or seconds", RequestKind.fires, {"words": ("hours", "minutes", "seconds")}),
    ("what about months?", RequestKind.fires, {"words": ("months",)}),
    ("How about words like years too?", RequestKind.fires, {"words": ("years",)}),
    ("fires: days, weeks", RequestKind.fires, {"words": ("days", "weeks"), "command": True}),
    (
        "try: I waited three days. | See you next week.",
        RequestKind.texts,
        {"texts": ("I waited three days.", "See you next week."), "command": True},
    ),
    ("Test it on 'The cat sat on the mat.'", RequestKind.texts, {"texts": ("The cat sat on the mat.",)}),
    ('"I slept for two days" and "I slept for two hours"', RequestKind.texts, {}),
    ("run it on I waited a week", RequestKind.texts, {"texts": ("I waited a week",)}),
    ("compare days vs hours", RequestKind.compare, {"texts": ("days", "hours")}),
    ("Compare 'days' with 'weeks'", RequestKind.compare, {"texts": ("days", "weeks")}),
    ("compare: I waited a day. | I waited a year.", RequestKind.compare, {"command": True}),
    ("is it the word or the context?", RequestKind.word_or_context, {}),
    ("does the context matter?", RequestKind.word_or_context, {}),
    ("context", RequestKind.word_or_context, {"command": True}),
    ("ablate it on 'I waited three days.'", RequestKind.ablate, {"texts": ("I waited three days.",)}),
    ("ablate it", RequestKind.ablate, {"texts": ()}),
    ("what happens if you knock it out?", RequestKind.ablate, {}),
    ("what does it write?", RequestKind.logits, {}),
    ("which tokens does it promote?", RequestKind.logits, {}),
    ("logits", RequestKind.logits, {"command": True}),
    ("steer it", RequestKind.steer, {"alpha": None, "prompt": None}),
    ("steer it by 10 on 'I waited for'", RequestKind.steer, {"alpha": 10.0, "prompt": "I waited for"}),
    ("steer: -6 | I stayed for", RequestKind.steer, {"alpha": -6.0, "prompt": "I stayed for", "command": True}),
    ("show exemplars", RequestKind.exemplars, {"quantile": None}),
    ("quantile 3", RequestKind.exemplars, {"quantile": 3}),
    ("show me examples from quantile 7", RequestKind.exemplars, {"quantile": 7}),
    ("exemplars: 2", RequestKind.exemplars, {"quantile": 2, "command": True}),
    ("why do you think so?", RequestKind.why, {}),
    ("what is the evidence?", RequestKind.why, {}),
    ("revise", RequestKind.revise, {"command": True}),
    ("please update your explanation", RequestKind.revise, {}),
    ("What does it do?", RequestKind.summary, {}),
    ("Summarise please.", RequestKind.summary, {}),
    ("help", RequestKind.help, {"command": True}),
    ("hello there", RequestKind.help, {}),
    ("I like turtles", RequestKind.help, {}),
    ("f(3)?", RequestKind.help, {}),  # a function's request, not a unit's
]

FUNCTION_PHRASINGS: list[tuple[str, str, RequestKind, dict[str, Any]]] = [
    ("f(3)?", "numeric", RequestKind.values, {"values": (3.0,)}),
    ("What is f(10)?", "numeric", RequestKind.values, {"values": (10.0,)}),
    ("what is f(-2.5) and f(4)", "numeric", RequestKind.values, {"values": (-2.5, 4.0)}),
    ("try 1, 2, 3", "numeric", RequestKind.values, {"values": (1.0, 2.0, 3.0)}),
    ("call: 1, 2", "numeric", RequestKind.values, {"values": (1.0, 2.0), "command": True}),
    ("what happens near 0?", "numeric", RequestKind.near, {"center": 0.0}),
    ("what does it do around x=-3.5", "numeric", RequestKind.near, {"center": -3.5}),
    ("near: 7", "numeric", RequestKind.near, {"center": 7.0, "command": True}),
    ("f('abc')?", "string", RequestKind.values, {"values": ("abc",)}),
    ("try: abc, xyz", "string", RequestKind.values, {"values": ("abc", "xyz"), "command": True}),
    ('what is f("Hello World")', "string", RequestKind.values, {"values": ("Hello World",)}),
    ("does it fire on dogs and cats?", "entity", RequestKind.values, {"values": ("dogs", "cats")}),
    ("ablate it", "numeric", RequestKind.help, {}),  # a unit's request, not a function's
    ("why?", "string", RequestKind.why, {}),
    ("revise", "numeric", RequestKind.revise, {}),
]


@pytest.mark.parametrize(("text", "kind", "fields"), UNIT_PHRASINGS)
def test_unit_requests_are_parsed(text: str, kind: RequestKind, fields: dict[str, Any]) -> None:
    request = parse_request(text, "unit")
    assert request.kind is kind, text
    for name, value in fields.items():
        assert getattr(request, name) == value, (text, name)
    if kind is RequestKind.texts and not fields:
        assert request.texts == ("I slept for two days", "I slept for two hours")


@pytest.mark.parametrize(("text", "domain", "kind", "fields"), FUNCTION_PHRASINGS)
def test_function_requests_are_parsed(text: str, domain: str, kind: RequestKind, fields: dict[str, Any]) -> None:
    request = parse_request(text, domain)
    assert request.kind is kind, text
    for name, value in fields.items():
        assert getattr(request, name) == value, (text, name)


def test_help_lists_what_can_be_asked() -> None:
    for fragment in ("does it fire on", "try:", "compare", "word or the context", "ablate", "write", "steer"):
        assert fragment in HELP
    for fragment in ("exemplars", "f(3)", "near 0", "why", "revise"):
        assert fragment in HELP


# --------------------------------------------------------------------------------------------------
# Quoted contexts keep their peak word; a chat answer names a long simulator instead of printing it
# --------------------------------------------------------------------------------------------------


def test_the_peak_word_is_kept_and_marked() -> None:
    tokens = ["Store", " leftovers", " in", " the", " fridge", " for", " up", " to", " seven", " days", "."]
    tokens += ["\n", "Serve"]
    acts = [0.0] * len(tokens)
    acts[9] = 2.04
    ctx = analyse_context(tokens, acts)
    assert ctx is not None and ctx.word == "days"
    assert excerpt(ctx) == "“Store leftovers in the fridge for up to seven «days».” (2.04)"
    long = ["word"] * 3 + [" and"] * 40 + [" days", " later", "."]
    acts = [0.0] * len(long)
    acts[43] = 1.5
    ctx = analyse_context(long, acts)
    assert ctx is not None and "«days»" in excerpt(ctx, width=30)


def test_summary_names_a_long_simulator() -> None:
    final = {"label": "fires on 'days'", "description": "Fires on days.", "confidence": 0.7, "code": "x" * 5000}
    text = summary_text(final, finished=True, version=2)
    assert "version 2" in text and "5000 characters" in text and "xxxx" not in text


# --------------------------------------------------------------------------------------------------
# Explanation versions
# --------------------------------------------------------------------------------------------------


def test_revised_explanations_are_new_versions(sqlite_url: str) -> None:
    engine = open_store(sqlite_url)
    subject = get_or_create_subject(engine, None, SubjectKind.numeric, "suite.jsonl#f")
    assert subject.id is not None
    row = create_investigation(engine, subject_id=subject.id, backend="builtin", thread_id="t", budget={})
    assert row.id is not None
    fields = {"label": "linear", "description": "2x+1", "confidence": 0.5, "evidence": [1]}
    first = revise_explanation(engine, subject_id=subject.id, investigation_id=row.id, fields=fields)
    again = revise_explanation(engine, subject_id=subject.id, investigation_id=row.id, fields=fields)
    assert again.id == first.id  # a replayed revision adds nothing
    second = revise_explanation(
        engine, subject_id=subject.id, investigation_id=row.id, fields={**fields, "description": "2x+1 exactly"}
    )
    assert second.id != first.id
    newest = find_explanation(engine, row.id)
    assert newest is not None and newest.id == second.id and newest.description == "2x+1 exactly"
    # outside a chat, a replayed final explanation returns the one stored (the newest version)
    replayed = save_explanation(engine, subject_id=subject.id, investigation_id=row.id, fields=fields)
    assert replayed.id == second.id


# --------------------------------------------------------------------------------------------------
# Through the API: a function, then a unit (below)
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    """The API on the home's default SQLite store."""
    with TestClient(create_app(Settings(home=home), api_key=KEY)) as test_client:
        yield test_client


def _api_turn(client: TestClient, thread: str, body: dict[str, Any]) -> tuple[int, str, list[dict[str, Any]]]:
    response = client.post(f"/chat/{thread}", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    assert "error" not in [name for name, _ in events], events
    replies = [data["text"] for name, data in events if name == "reply"]
    assert len(replies) == 1
    tools = [data for name, data in events if name == "step" and data.get("step") == "tool"]
    return int(events[0][1]["id"]), replies[0], tools


def test_function_chat_through_the_api(client: TestClient, home: Path) -> None:
    suite = home / "suites" / "suite.jsonl"
    suite.parent.mkdir(parents=True, exist_ok=True)
    line = {"id": "num-abs", "kind": "numeric", "code": "def f(x):\n    return abs(x) * 3\n", "description": "3|x|"}
    suite.write_text(json.dumps(line) + "\n")
    thread, first, _ = _api_turn(client, "new", {"subject": f"{suite}#num-abs", "budget": 12})
    assert first.startswith("My explanation")
    replies = [first]
    for message, expected in [
        ("f(3)?", "f(3.0) = 9"),
        ("try 1, 2, -4", "f(-4.0) = 12"),
        ("what happens near 0?", "Near 0"),
        ("hello there", "could not map"),
        ("why do you think so?", "It rests on"),
        ("revise", "version 2"),
    ]:
        _, reply, tools = _api_turn(client, str(thread), {"message": message})
        assert expected in reply, (message, reply)
        assert reply not in replies, message  # never the previous answer
        replies.append(reply)
        if message in ("f(3)?", "try 1, 2, -4", "what happens near 0?"):
            [tool] = tools
            assert f"[experiment #{tool['experiment_id']}]" in reply
    near = client.get(f"/investigations/{thread}", headers=AUTH).json()
    grid = [e for e in near["experiments"] if e["call_id"].startswith("chat-")][-1]["args"]["inputs"]
    assert len(grid) >= 21 and min(grid) <= -1 and max(grid) >= 1 and 1e-6 in grid
    assert "version 2" in replies[-1] and near["explanation"]["description"].count("In our chat:") == 1


# --------------------------------------------------------------------------------------------------
# A unit of the embedded model: a terminal chat, resumed, and the same conversation through the API
# --------------------------------------------------------------------------------------------------

UNIT_TURNS = [
    ("does it fire on months and weeks?", "'months'"),
    ("try: I waited three days. | See you next week.", "«"),
    ("compare days vs hours", "Minimal pairs"),
    ("is it the word or the context?", "Word or context"),
    ("what does it write?", "promotes"),
    ("ablate it", "Zero-ablating"),
]


def _chat_process(home: Path, *extra: str) -> pexpect.spawn:
    env = {**os.environ, "AUTOINTERP_HOME": str(home), "COLUMNS": "2000", "TERM": "dumb"}
    command = ["-m", "autointerp", "chat", "--subject", "L6.mlp.3", "--model", "smollm2-135m", "--budget", "8"]
    return pexpect.spawn(
        sys.executable, [*command, *extra], env=env, cwd=str(ROOT), encoding="utf-8", timeout=300, dimensions=(50, 2000)
    )


def _turn(child: pexpect.spawn, message: str) -> tuple[str, str]:
    """Send a message; the output up to the next prompt and the agent's reply in it."""
    child.sendline(message)
    child.expect("you> ")
    chunk = ANSI.sub("", child.before)
    assert chunk.count("agent> ") == 1, chunk  # the reply is printed once
    reply = chunk.split("agent> ", 1)[1].strip()
    assert chunk.count(reply.splitlines()[0][:60]) == 1, chunk
    return chunk, reply


def _experiments(home: Path, investigation_id: int) -> list[dict[str, Any]]:
    return cli_json("show", str(investigation_id), home=home)["experiments"]


def test_unit_chat_in_a_terminal_and_through_the_api(home_with_embedded: Path) -> None:
    home = home_with_embedded
    built = call_cli("cache", "build", "--model", "smollm2-135m", "--layer", "6", "--max-tokens", "8000", home=home)
    assert built.returncode == 0, built.stderr
    child = _chat_process(home)
    replies: list[str] = []
    try:
        child.expect(r"chat (\d+) on")
        thread = int(child.match.group(1))
        child.expect("you> ")
        first = ANSI.sub("", child.before)
        assert first.count("agent> ") == 1 and "«" in first
        seen = max(int(n) for n in re.findall(r"#(\d+):", first))  # the investigation's experiments
        for message, expected in UNIT_TURNS:
            _, reply = _turn(child, message)
            assert expected in reply, (message, reply)
            ids = [int(n) for n in EXPERIMENT.findall(reply)]
            assert ids and min(ids) > seen, (message, reply)  # grounded in a new stored experiment
            seen = max(ids)
            assert reply not in replies
            replies.append(reply)
        _, helped = _turn(child, "hello there")
        assert "could not map" in helped and "does it fire on" in helped
        _, revised = _turn(child, "revise")
        assert "version 2" in revised
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()

    stored = _experiments(home, thread)
    chat_calls = [e for e in stored if e["call_id"].startswith("chat-")]
    assert len(chat_calls) == len(UNIT_TURNS)
    assert [e["tool"] for e in chat_calls] == ["activations"] * 4 + ["unit_logits", "ablate"]
    shown = cli_json("show", str(thread), home=home)
    assert "In our chat:" in shown["explanation"]["description"]

    # resumed: the whole history is there ("why" cites the first chat experiment and the new version)
    resumed = _chat_process(home, "--thread", str(thread))
    try:
        resumed.expect(f"continuing chat {thread}")
        resumed.expect("you> ")
        _, why = _turn(resumed, "why do you think so?")
        assert "version 2" in why and f"[experiment #{chat_calls[0]['id']}]" in why
        _, shown_exemplars = _turn(resumed, "show exemplars")
        assert int(EXPERIMENT.findall(shown_exemplars)[0]) > seen and "«" in shown_exemplars
        resumed.sendline("/quit")
        resumed.expect(pexpect.EOF)
    finally:
        resumed.close()

    # the same conversation through the API runs the same experiments
    with TestClient(create_app(Settings(home=home), api_key=KEY)) as api:
        body = {"subject": "L6.mlp.3", "model": "smollm2-135m", "budget": 8}
        api_thread, _, _ = _api_turn(api, "new", body)
        for message, expected in [*UNIT_TURNS, ("hello there", "could not map"), ("revise", "version 2")]:
            _, reply, _ = _api_turn(api, str(api_thread), {"message": message})
            assert expected in reply, (message, reply)
    through_api = _experiments(home, api_thread)
    assert [(e["tool"], e["args"]) for e in through_api] == [(e["tool"], e["args"]) for e in stored]
    assert [e["call_id"] for e in through_api] == [e["call_id"] for e in stored]
