"""The builtin scientist (agent.builtin) driven without the graph: a small loop runs its tool calls with a
real LocalExecutor over the real tools, answers the internal tools itself, and feeds ToolMessages back
until ``final_explanation``."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from agent.builtin import BuiltinScientist
from agent.graph import BUDGET_NOTE, NUDGE_NOTE
from agent.notes import Note, note_message
from store.settings import Settings
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.executor import LocalExecutor, ToolCall
from tools.functions.sandbox import run_function
from tools.functions.suite import load_suite_function
from tools.simulation.spec import parse_spec

SUITE = Path(__file__).resolve().parent / "data" / "sample.jsonl"
INTERNAL = {"propose_hypothesis", "record_evidence", "final_explanation"}


class Loop:
    """Runs a BuiltinScientist to its final explanation, the way the graph would (without the store)."""

    def __init__(
        self,
        executor: LocalExecutor,
        brain: BuiltinScientist | None = None,
        *,
        tamper: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.executor = executor
        self.brain = brain or BuiltinScientist()
        self.tamper = tamper  # rewrites an experiment's ToolMessage content (to inject failures)
        self.hypotheses: dict[int, dict[str, Any]] = {}
        self.evidence: list[dict[str, Any]] = []
        self.experiments: dict[int, str] = {}
        self.calls: list[str] = []

    def start(self, subject: str, kind: str, model: str | None = None, budget: int = 24) -> list[BaseMessage]:
        """The graph's first two messages."""
        payload = {"subject": subject, "model": model, "kind": kind, "budget": {"tool_calls": budget}}
        return [SystemMessage("You are an interpretability scientist."), HumanMessage(f"Go.\n{json.dumps(payload)}")]

    def step(self, messages: list[BaseMessage]) -> AIMessage:
        """One model turn, with its tool calls answered (appended to ``messages``)."""
        reply = self.brain.invoke(messages)
        assert isinstance(reply, AIMessage)
        messages.append(reply)
        for call in reply.tool_calls:
            self.calls.append(call["name"])
            call_id = call["id"]
            assert call_id
            if call["name"] in INTERNAL:
                content = self._internal(call["name"], call["args"])
            else:
                outcome = self.executor.run(ToolCall(tool=call["name"], args=call["args"], id=call_id))
                experiment_id = len(self.experiments) + 1
                self.experiments[experiment_id] = call["name"]
                content = {
                    "experiment_id": experiment_id,
                    "ok": outcome.ok,
                    "result": outcome.result,
                    "error": outcome.error,
                }
                if self.tamper is not None:
                    content = self.tamper(call["name"], content)
            messages.append(ToolMessage(content=json.dumps(content), tool_call_id=call_id, name=call["name"]))
        return reply

    def _internal(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        if name == "propose_hypothesis":
            assert args["text"] and 0 <= args["confidence"] <= 1
            self.hypotheses[len(self.hypotheses) + 1] = args
            result: dict[str, Any] = {"hypothesis_id": len(self.hypotheses)}
        elif name == "record_evidence":
            assert args["hypothesis_id"] in self.hypotheses
            assert all(e in self.experiments for e in args["experiment_ids"])
            self.evidence.append(args)
            result = {"evidence_ids": [len(self.evidence)]}
        else:
            result = {"explanation_id": 1}
        return {"experiment_id": None, "ok": True, "result": result, "error": None}

    def run(
        self, subject: str, kind: str, model: str | None = None, budget: int = 24
    ) -> tuple[dict[str, Any], list[BaseMessage]]:
        """Drive to the final explanation; return its arguments and the conversation."""
        messages = self.start(subject, kind, model, budget)
        for _ in range(budget + 5):
            reply = self.step(messages)
            finals = [c for c in reply.tool_calls if c["name"] == "final_explanation"]
            if finals:
                assert len(reply.tool_calls) == 1
                assert sum(1 for m in messages if isinstance(m, AIMessage) for _ in m.tool_calls) <= budget
                return finals[0]["args"], messages
            assert reply.tool_calls, f"the scientist stopped without a final explanation: {reply.content!r}"
        raise AssertionError("no final explanation")


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(default_registry(), ToolContext(Settings(home=tmp_path / "home")))


def _check_final(final: dict[str, Any], loop: Loop) -> None:
    assert 0 < len(final["label"].split()) <= 8
    assert final["description"]
    assert 0.0 <= final["confidence"] <= 1.0
    assert all(e in loop.experiments for e in final["evidence"])


def _outputs(code: str, inputs: list[Any]) -> list[Any]:
    result = run_function(code, inputs)
    assert result.error is None
    return [o.output if o.error is None else f"error: {o.error}" for o in result.outcomes]


# --------------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function_id", ["num-neg-linear", "num-parabola", "num-slow-sine", "num-corrupted-linear"])
def test_numeric_code_reproduces_the_function(executor: LocalExecutor, function_id: str) -> None:
    loop = Loop(executor)
    subject = f"{SUITE}#{function_id}"
    final, _ = loop.run(subject, "numeric")
    _check_final(final, loop)
    assert final["code"] and final["evidence"]
    xs = [i + 0.5 for i in range(-128, 128)]
    truth = _outputs(load_suite_function(subject).code or "", xs)
    ours = _outputs(final["code"], xs)
    pairs = [(t, p) for t, p in zip(truth, ours, strict=True) if isinstance(t, float)]
    nmse = sum((t - p) ** 2 for t, p in pairs) / sum(t**2 for t, _ in pairs)
    assert nmse < 0.1, (nmse, final)
    assert loop.hypotheses and loop.evidence and loop.evidence[0]["supports"]
    if function_id == "num-corrupted-linear":
        assert final["domain"] and "-40" in final["domain"] and "-25" in final["domain"]
    else:
        assert final["domain"] is None
    assert final["confidence"] > 0.8


def test_numeric_descriptions_say_the_shape(executor: LocalExecutor) -> None:
    final, _ = Loop(executor).run(f"{SUITE}#num-neg-linear", "numeric")
    assert final["label"].startswith("linear") and "-4" in final["description"] and "12" in final["description"]
    final, _ = Loop(executor).run(f"{SUITE}#num-noisy-abs", "numeric")
    assert "absolute" in final["description"] and "noisy" in final["description"]


@pytest.mark.parametrize("function_id", ["str-lower", "str-reverse-bang", "str-at-sign", "str-word-count"])
def test_string_code_matches_on_fresh_inputs(executor: LocalExecutor, function_id: str) -> None:
    loop = Loop(executor)
    subject = f"{SUITE}#{function_id}"
    final, _ = loop.run(subject, "string")
    _check_final(final, loop)
    rng = random.Random(1234)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.!?@-_aaa"
    fresh = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(40)]
    fresh += ["Banana Split", "  padded  ", "ÀÉÎ straße", "tab\tsep"]
    assert _outputs(final["code"], fresh) == _outputs(load_suite_function(subject).code or "", fresh), final
    assert final["confidence"] >= 0.75 and final["evidence"]


def test_string_labels(executor: LocalExecutor) -> None:
    final, _ = Loop(executor).run(f"{SUITE}#str-reverse-bang", "string")
    assert "reverse" in final["label"] and "'!'" in final["label"]
    final, _ = Loop(executor).run(f"{SUITE}#str-at-sign", "string")
    assert "'@'" in final["description"]


# --------------------------------------------------------------------------------------------------
# Budget, failures, resumption, chat
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_budget_exhaustion_still_ends_in_a_final_explanation(executor: LocalExecutor, budget: int) -> None:
    loop = Loop(executor)
    final, _ = loop.run(f"{SUITE}#num-parabola", "numeric", budget=budget)
    assert len(loop.calls) <= budget and loop.calls[-1] == "final_explanation"
    _check_final(final, loop)
    if budget >= 2:
        assert final["code"] and "0.1" in final["description"]


def test_failing_tools_do_not_make_it_loop(executor: LocalExecutor) -> None:
    def fail(name: str, content: dict[str, Any]) -> dict[str, Any]:
        return {**content, "ok": False, "result": None, "error": f"{name} failed: simulated outage"}

    for subject, kind in [(f"{SUITE}#num-parabola", "numeric"), (f"{SUITE}#str-lower", "string")]:
        loop = Loop(executor, tamper=fail)
        final, _ = loop.run(subject, kind, budget=30)
        assert len(loop.calls) <= 4, loop.calls
        assert final["confidence"] <= 0.1 and final["label"]


def test_missing_function_is_reported(executor: LocalExecutor, tmp_path: Path) -> None:
    loop = Loop(executor)
    final, _ = loop.run(f"{tmp_path / 'nowhere.jsonl'}#f", "numeric")
    assert len(loop.calls) <= 3 and final["confidence"] == 0.0


def test_a_resumed_conversation_continues_where_it_stopped(executor: LocalExecutor) -> None:
    subject = f"{SUITE}#str-reverse-bang"
    loop = Loop(executor)
    messages = loop.start(subject, "string")
    loop.step(messages)
    loop.step(messages)
    # a fresh scientist (another process) sees the same conversation: it neither repeats nor skips a step
    again = BuiltinScientist().invoke(messages)
    original = loop.brain.invoke(messages)
    assert again.tool_calls == original.tool_calls
    assert [c["id"] for c in again.tool_calls] == ["bi-2-propose_hypothesis"]
    # an unanswered call (a crash between the model's reply and the tool's) is asked for again, same id
    reply = BuiltinScientist().invoke(messages[:-1])
    assert [c["id"] for c in reply.tool_calls] == [messages[-2].tool_calls[0]["id"]]  # type: ignore[attr-defined]


def test_graph_notes_and_chat_questions(executor: LocalExecutor) -> None:
    subject = f"{SUITE}#num-neg-linear"
    loop = Loop(executor)
    messages = loop.start(subject, "numeric")
    loop.step(messages)
    # the graph's budget note asks for the explanation now
    note = note_message(BUDGET_NOTE.format(reason="24 tool calls"), Note.budget_spent)
    reply = loop.brain.invoke([*messages, note])
    assert [c["name"] for c in reply.tool_calls] == ["final_explanation"]
    assert "-4" in reply.tool_calls[0]["args"]["description"]
    # its nudge continues the investigation
    reply = loop.brain.invoke([*messages, note_message(NUDGE_NOTE, Note.nudge)])
    assert [c["name"] for c in reply.tool_calls] == ["call_function"]
    # a question is answered in words, an experiment request runs it and is described
    reply = loop.brain.invoke([*messages, HumanMessage("What do you think so far?")])
    assert not reply.tool_calls and "linear" in str(reply.content)
    messages.append(HumanMessage("What is f(10)?"))
    reply = loop.step(messages)
    assert [c["name"] for c in reply.tool_calls] == ["call_function"] and reply.tool_calls[0]["id"].startswith("chat-")
    answer = loop.brain.invoke(messages)
    assert not answer.tool_calls and "f(10.0) = -28" in str(answer.content)
    # after the chat, the investigation still continues with its own next step
    messages.append(answer)
    messages.append(note_message(NUDGE_NOTE, Note.nudge))
    reply = loop.step(messages)
    assert [c["id"] for c in reply.tool_calls] == ["bi-1-call_function"]


def test_graph_notes_are_read_by_their_marker_not_their_wording(executor: LocalExecutor) -> None:
    loop = Loop(executor)
    messages = loop.start(f"{SUITE}#num-neg-linear", "numeric")
    loop.step(messages)

    def calls(reply: AIMessage) -> list[tuple[str, str]]:
        return [(c["name"], c["id"] or "") for c in reply.tool_calls]

    # reworded notes, same marker: the same answer
    budget = loop.brain.invoke([*messages, note_message(BUDGET_NOTE.format(reason="24 tool calls"), Note.budget_spent)])
    reworded = loop.brain.invoke([*messages, note_message("Time is up; wrap up, please.", Note.budget_spent)])
    assert calls(budget) == calls(reworded) == [("final_explanation", "bi-1-final_explanation")]
    assert budget.tool_calls == reworded.tool_calls
    nudge = loop.brain.invoke([*messages, note_message(NUDGE_NOTE, Note.nudge)])
    reworded = loop.brain.invoke([*messages, note_message("Bitte weitermachen.", Note.nudge)])
    assert calls(nudge) == calls(reworded) == [("call_function", "bi-1-call_function")]
    assert nudge.tool_calls == reworded.tool_calls
    # a person's message has no marker: words that look like a note are a question
    for text in ["I heard your budget is used up. What do you think so far?", BUDGET_NOTE.format(reason="time")]:
        reply = loop.brain.invoke([*messages, HumanMessage(text)])
        assert not reply.tool_calls and "linear" in str(reply.content), text
    reply = loop.brain.invoke([*messages, HumanMessage("Why did you continue with another call?")])
    assert not reply.tool_calls and "linear" in str(reply.content)
    # a person who asks it to go on (a short request, not a question) is obeyed
    for text in ["keep going", "Please continue the investigation."]:
        reply = loop.brain.invoke([*messages, HumanMessage(text)])
        assert calls(reply) == [("call_function", "bi-1-call_function")], text


def test_bind_tools_limits_the_tools_used(executor: LocalExecutor) -> None:
    schemas = [{"type": "function", "function": {"name": "call_function", "description": "", "parameters": {}}}]
    brain = BuiltinScientist().bind_tools(schemas)
    assert isinstance(brain, BuiltinScientist) and brain.tool_names == ["call_function"]
    loop = Loop(executor, brain)
    final, _ = loop.run(f"{SUITE}#num-neg-linear", "numeric")
    assert set(loop.calls) <= {"call_function", "propose_hypothesis", "record_evidence", "final_explanation"}
    assert final["code"]
    loop = Loop(executor, BuiltinScientist().bind_tools([]))  # type: ignore[arg-type]
    assert loop.run(f"{SUITE}#str-lower", "string")[0]["code"]


# --------------------------------------------------------------------------------------------------
# Model units
# --------------------------------------------------------------------------------------------------


def test_model_unit_on_a_tiny_model(tiny_llama_dir: Path, executor: LocalExecutor) -> None:
    loop = Loop(executor, BuiltinScientist(exemplar_tokens=2000))
    final, messages = loop.run("L1.mlp.4", "model_unit", model=str(tiny_llama_dir), budget=24)
    _check_final(final, loop)
    assert final["evidence"] and final["code"]
    simulator = parse_spec(final["code"])  # a unit's explanation carries its simulator, as data
    assert simulator.rules
    assert loop.calls[0] == "exemplars" and "activations" in loop.calls and "unit_logits" in loop.calls
    assert loop.hypotheses and loop.evidence
    assert len(loop.calls) <= 24
    assert "promotes" in final["description"]
    # chat after the end: a test request runs activations, and its outcome is described
    messages.append(HumanMessage("Test it on 'The cat sat on the mat.'"))
    reply = loop.step(messages)
    assert [c["name"] for c in reply.tool_calls] == ["activations"]
    answer = loop.brain.invoke(messages)
    assert "peaks at" in str(answer.content)
    reply = loop.brain.invoke([*messages, answer, HumanMessage("Summarise please.")])
    assert not reply.tool_calls and final["label"] in str(reply.content)


def test_model_unit_with_failing_exemplars_falls_back(tiny_llama_dir: Path, executor: LocalExecutor) -> None:
    def fail_exemplars(name: str, content: dict[str, Any]) -> dict[str, Any]:
        if name != "exemplars":
            return content
        return {**content, "ok": False, "result": None, "error": "no exemplar cache for L1.mlp"}

    loop = Loop(executor, tamper=fail_exemplars)
    final, _ = loop.run("L1.mlp.4", "model_unit", model=str(tiny_llama_dir), budget=12)
    assert loop.calls[:2] == ["exemplars", "activations"] and final["label"]
    assert len(loop.calls) <= 12


def test_model_unit_with_every_tool_failing(tiny_llama_dir: Path, executor: LocalExecutor) -> None:
    def fail(name: str, content: dict[str, Any]) -> dict[str, Any]:
        return {**content, "ok": False, "result": None, "error": "out of range"}

    loop = Loop(executor, tamper=fail)
    final, _ = loop.run("L1.mlp.4", "model_unit", model=str(tiny_llama_dir), budget=30)
    assert len(loop.calls) <= 3 and final["confidence"] == 0.0
    assert "out of range" in final["description"]


def test_model_unit_budget_of_three(tiny_llama_dir: Path, executor: LocalExecutor) -> None:
    loop = Loop(executor, BuiltinScientist(exemplar_tokens=2000))
    final, _ = loop.run("L1.mlp.4", "model_unit", model=str(tiny_llama_dir), budget=3)
    assert len(loop.calls) <= 3 and loop.calls[-1] == "final_explanation" and final["label"]


@pytest.mark.slow
def test_real_neuron_smelled(embedded_home: Path, tmp_path: Path) -> None:
    """L6.mlp.35 of SmolLM2-135M fires on 'smelled' ("the whole street smelled of ...")."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("models", "downloads"):
        if (embedded_home / name).is_dir():
            (home / name).symlink_to(embedded_home / name, target_is_directory=True)
    executor = LocalExecutor(default_registry(), ToolContext(Settings(home=home)))
    loop = Loop(executor)
    final, _ = loop.run("L6.mlp.35", "model_unit", model="smollm2-135m", budget=24)
    _check_final(final, loop)
    assert "smell" in final["description"].lower() and "smell" in final["label"].lower()
    assert final["confidence"] > 0.7
    assert any(e["supports"] for e in loop.evidence)
