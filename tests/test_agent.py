"""The investigation graph driven by a scripted chat model: tool calls, tool errors, budgets, the final
answer, crash and resume, PostgreSQL; bad input leaves nothing in the store."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from agent.backends.anthropic_chat import to_anthropic_messages
from agent.backends.openai_chat import to_openai_messages
from agent.graph import BUDGET_NOTE, NUDGE_NOTE, Budget
from agent.notes import NOTE_KEY, Note, note_of
from agent.runner import Session, explain, resume, show
from store.errors import AddressError, ConfigError
from store.settings import Settings
from tools.executor import LocalExecutor

Step = Callable[[list[BaseMessage]], AIMessage]


class ScriptedChatModel(GenericFakeChatModel):
    """A fake chat model whose n-th reply is ``script[n](messages)``, n = AI messages so far.

    Choosing by the conversation (not by an internal counter) makes it resumable like a real model.
    """

    script: list[Any]
    bound: list[Any] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        """Remember the tools offered; the script decides what to call."""
        self.bound = list(tools)
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        step = self.script[min(turn, len(self.script) - 1)]
        reply = step(messages)
        reply.usage_metadata = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        return ChatResult(generations=[ChatGeneration(message=reply)])


def call(name: str, args: dict[str, Any] | Callable[[list[BaseMessage]], dict[str, Any]], cid: str) -> Step:
    """A step that calls one tool (args may be computed from the conversation)."""

    def step(messages: list[BaseMessage]) -> AIMessage:
        resolved = args(messages) if callable(args) else args
        return AIMessage(content=f"calling {name}", tool_calls=[{"name": name, "args": resolved, "id": cid}])

    return step


def last_result(messages: list[BaseMessage]) -> dict[str, Any]:
    """The JSON of the newest tool message."""
    message = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
    return json.loads(str(message.content))


def experiment_ids(messages: list[BaseMessage]) -> list[int]:
    """Ids of every experiment so far."""
    ids = [json.loads(str(m.content)).get("experiment_id") for m in messages if isinstance(m, ToolMessage)]
    return [i for i in ids if i is not None]


def final(messages: list[BaseMessage]) -> AIMessage:
    """Finish with the experiments seen so far as evidence."""
    return AIMessage(
        content="done",
        tool_calls=[
            {
                "name": "final_explanation",
                "id": "fin",
                "args": {
                    "label": "fires on cats",
                    "description": "Fires on the token cat.",
                    "confidence": 0.7,
                    "evidence": experiment_ids(messages),
                },
            }
        ],
    )


def full_script(model: str) -> list[Step]:
    """exemplars → a tool error → an unknown tool → a bad call → hypothesis → test → evidence → final."""
    return [
        call("exemplars", {"subject": "L1.mlp.3", "k": 3, "max_tokens": 2000}, "c1"),
        call("activations", {"subject": "L1.mlp.999", "texts": ["cat"]}, "c2"),  # out of range: a tool error
        call("read_minds", {}, "c3"),  # not a tool
        lambda m: AIMessage(
            content="",
            invalid_tool_calls=[
                {
                    "name": "activations",
                    "args": "{not json",
                    "id": "c4",
                    "error": "bad JSON",
                    "type": "invalid_tool_call",
                }
            ],
        ),
        call("propose_hypothesis", {"text": "fires on the token cat", "confidence": 0.6}, "c5"),
        call("activations", {"subject": "L1.mlp.3", "texts": ["The cat sat.", "A dog ran."]}, "c6"),
        call(
            "record_evidence",
            lambda m: {
                "hypothesis_id": 1,
                "experiment_ids": [last_result(m[:-2])["experiment_id"] or experiment_ids(m)[-1]],
                "supports": True,
                "note": "cat > dog",
            },
            "c7",
        ),
        final,
    ]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def test_scripted_investigation_end_to_end(settings: Settings, tiny_llama_dir: Path) -> None:
    model = str(tiny_llama_dir)
    brain = ScriptedChatModel(messages=iter([]), script=full_script(model))
    steps: list[dict[str, Any]] = []
    result = explain("L1.mlp.3", model=model, backend="scripted", settings=settings, brain=brain, on_step=steps.append)
    assert result.explanation is not None and result.explanation.label == "fires on cats"
    record = show(result.investigation_id, settings)
    tools = [e["tool"] for e in record["experiments"]]
    assert tools == ["exemplars", "activations", "read_minds", "activations"]
    outcomes = [e["result_summary"] for e in record["experiments"]]
    assert outcomes[0]["ok"] and not outcomes[1]["ok"] and "0..95" in outcomes[1]["error"]
    assert "unknown tool 'read_minds'" in outcomes[2]["error"]
    assert [h["status"] for h in record["hypotheses"]] == ["supported"]
    assert len(record["evidence"]) == 1 and record["evidence"][0]["supports"]
    assert record["investigation"]["status"] == "succeeded"
    assert record["investigation"]["tool_calls"] == 4 and record["investigation"]["tokens"] == 15 * 8
    assert result.explanation.evidence == [e["id"] for e in record["experiments"]]
    # the bad JSON call came back to the model as an error, and the model's tools were offered
    names = {t["function"]["name"] for t in brain.bound}
    assert {"exemplars", "activations", "final_explanation", "propose_hypothesis"} <= names
    assert any(s["step"] == "tool" and s["tool"] == "exemplars" for s in steps)


def test_budget_exhaustion_still_gives_an_explanation(settings: Settings, tiny_llama_dir: Path) -> None:
    model = str(tiny_llama_dir)
    hypothesis = call("propose_hypothesis", {"text": "likes punctuation", "confidence": 0.4}, "h")
    stubborn = call("activations", {"subject": "L1.mlp.3", "texts": ["a."]}, "again")
    brain = ScriptedChatModel(
        messages=iter([]),
        script=[
            hypothesis,
            call("activations", {"subject": "L1.mlp.3", "texts": ["a."]}, "a1"),
            call("activations", {"subject": "L1.mlp.3", "texts": ["b."]}, "a2"),
            stubborn,  # keeps experimenting after the budget note
        ],
    )
    result = explain(
        "L1.mlp.3", model=model, backend="scripted", settings=settings, brain=brain, budget=Budget(tool_calls=2)
    )
    assert result.explanation is not None and result.explanation.description == "likes punctuation"
    assert result.experiments == 2  # the call after the budget note was not run
    # a model that does answer the budget note finishes with its own explanation
    polite = ScriptedChatModel(
        messages=iter([]), script=[call("activations", {"subject": "L1.mlp.3", "texts": ["a."]}, "a1"), final]
    )
    done = explain(
        "L1.mlp.3", model=model, backend="scripted", settings=settings, brain=polite, budget=Budget(tool_calls=1)
    )
    assert done.explanation is not None and done.explanation.label == "fires on cats"


def test_a_silent_model_is_nudged_then_falls_back(settings: Settings, tiny_llama_dir: Path) -> None:
    brain = ScriptedChatModel(messages=iter([]), script=[lambda m: AIMessage(content="I think it is about cats.")])
    result = explain("L1.mlp.3", model=str(tiny_llama_dir), backend="scripted", settings=settings, brain=brain)
    assert result.explanation is not None and result.explanation.label == "no conclusion"
    assert result.explanation.confidence == 0.0


def _checkpointed(settings: Settings, investigation_id: int, brain: Any) -> list[BaseMessage]:
    session = Session(settings)
    investigator, config = session.investigator(investigation_id, brain)
    with session.graph(investigator) as graph:
        return list(graph.get_state(config).values["messages"])


def test_graph_notes_carry_a_marker_that_survives_the_checkpoint(settings: Settings, tiny_llama_dir: Path) -> None:
    model = str(tiny_llama_dir)
    silent = ScriptedChatModel(messages=iter([]), script=[lambda m: AIMessage(content="I think it is about cats.")])
    result = explain("L1.mlp.3", model=model, backend="scripted", settings=settings, brain=silent)
    messages = _checkpointed(settings, result.investigation_id, silent)
    nudges = [m for m in messages if note_of(m) is Note.nudge]
    assert len(nudges) == 2 and all(m.content == NUDGE_NOTE for m in nudges)
    assert note_of(messages[1]) is None  # the task message is no note
    stubborn = ScriptedChatModel(
        messages=iter([]), script=[call("activations", {"subject": "L1.mlp.3", "texts": ["a."]}, "a1")]
    )
    result = explain(
        "L1.mlp.3", model=model, backend="scripted", settings=settings, brain=stubborn, budget=Budget(tool_calls=1)
    )
    messages = _checkpointed(settings, result.investigation_id, stubborn)
    [budget] = [m for m in messages if note_of(m) is Note.budget_spent]
    assert budget.content == BUDGET_NOTE.format(reason="1 tool calls")
    # the marker stays home: the SDK backends send a note's text only
    assert to_openai_messages([budget]) == [{"role": "user", "content": budget.content}]
    assert to_anthropic_messages([budget]) == (
        None,
        [{"role": "user", "content": [{"type": "text", "text": budget.content}]}],
    )
    assert NOTE_KEY not in json.dumps([to_openai_messages(nudges), to_anthropic_messages(nudges)])


def test_crash_mid_investigation_resumes_without_duplicates(
    settings: Settings, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = str(tiny_llama_dir)
    script = [
        call("activations", {"subject": "L1.mlp.3", "texts": ["one"]}, "r1"),
        call("activations", {"subject": "L1.mlp.3", "texts": ["two"]}, "r2"),
        call("activations", {"subject": "L1.mlp.3", "texts": ["three"]}, "r3"),
        final,
    ]
    real_run = LocalExecutor.run
    runs: list[str] = []

    def crashing_run(self: LocalExecutor, tool_call: Any) -> Any:
        runs.append(tool_call.id)
        if tool_call.id == "r2" and runs.count("r2") == 1:
            raise KeyboardInterrupt("simulated crash while running r2")
        return real_run(self, tool_call)

    monkeypatch.setattr(LocalExecutor, "run", crashing_run)
    session = Session(settings)
    investigation_id, first = session.create("L1.mlp.3", model, "scripted", Budget())
    with pytest.raises(KeyboardInterrupt):
        session.run(investigation_id, ScriptedChatModel(messages=iter([]), script=script), first)
    assert [e["tool"] for e in show(investigation_id, settings)["experiments"]] == ["activations"]

    result = resume(investigation_id, settings=settings, brain=ScriptedChatModel(messages=iter([]), script=script))
    record = show(investigation_id, settings)
    calls = [e["call_id"] for e in record["experiments"]]
    assert calls == ["r1", "r2", "r3"]  # each experiment exactly once
    assert runs == ["r1", "r2", "r2", "r3"]  # r1 was not run again after the crash
    assert result.explanation is not None and result.explanation.evidence == [e["id"] for e in record["experiments"]]
    again = resume(investigation_id, settings=settings, brain=ScriptedChatModel(messages=iter([]), script=script))
    assert again == result  # resuming a finished investigation changes nothing


def test_bad_input_stores_nothing(settings: Settings, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = str(tiny_llama_dir)
    with pytest.raises(AddressError, match=r"layers 0\.\.3"):
        explain("L9.mlp.1", model=model, settings=settings, brain=ScriptedChatModel(messages=iter([]), script=[final]))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        explain("L1.mlp.1", model=model, backend="anthropic:claude-x", settings=settings)
    with pytest.raises(ConfigError, match="unknown"):
        explain("L1.mlp.1", model=model, backend="gemini:pro", settings=settings)
    engine = Session(settings).engine
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from investigation")).scalar() == 0


@pytest.mark.services
def test_investigation_on_postgres(tmp_path: Path, pg_url: str, tiny_llama_dir: Path) -> None:
    settings = Settings(home=tmp_path / "home", db=pg_url)
    brain = ScriptedChatModel(messages=iter([]), script=full_script(str(tiny_llama_dir)))
    result = explain("L1.mlp.3", model=str(tiny_llama_dir), backend="scripted", settings=settings, brain=brain)
    assert result.explanation is not None
    record = show(result.investigation_id, settings)
    assert len(record["experiments"]) == 4 and record["investigation"]["status"] == "succeeded"
