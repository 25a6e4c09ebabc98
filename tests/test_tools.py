"""Tool registry, executor (cache, errors, cancel), activation/ablation/steering tools."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
from pydantic import BaseModel, Field

from store.settings import Settings
from tests.cli_helpers import assert_clean_error, call_cli, cli_json
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.executor import LocalExecutor, ResultCache, ToolCall
from tools.registry import ToolError, ToolRegistry, tool


@pytest.fixture
def ex(tiny_llama_dir: Path, tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(default_registry(), ToolContext(Settings(home=tmp_path / "home")))


def test_every_tool_has_a_description_and_valid_schemas() -> None:
    for spec in default_registry().specs():
        assert len(spec.description) > 40, spec.name
        openai = spec.openai_schema()
        assert openai["type"] == "function" and openai["function"]["parameters"]["type"] == "object"
        anthropic = spec.anthropic_schema()
        assert anthropic["name"] == spec.name and anthropic["input_schema"]["type"] == "object"
        assert spec.queue in ("gpu", "cpu")


def test_bad_arguments_name_the_field(ex: LocalExecutor, tiny_llama_dir: Path) -> None:
    outcome = ex.run(
        ToolCall(tool="activations", args={"model": str(tiny_llama_dir), "subject": "L1.mlp.1", "texts": "not a list"})
    )
    assert not outcome.ok and outcome.field == "texts" and "texts" in (outcome.error or "")
    outcome = ex.run(ToolCall(tool="ablate", args={"model": str(tiny_llama_dir), "targets": ["L1.mlp.1"]}))
    assert not outcome.ok and "exactly one of 'texts' or 'dataset'" in (outcome.error or "")
    with pytest.raises(ToolError, match="unknown tool 'explain_everything'; known tools: ablate"):
        ex.submit("explain_everything", {})
    outcome = ex.run(
        ToolCall(tool="activations", args={"model": str(tiny_llama_dir), "subject": "L7.mlp.1", "texts": ["hi"]})
    )
    assert not outcome.ok and "layers 0..3" in (outcome.error or "")


class EchoArgs(BaseModel):
    model: str
    value: int = Field(ge=0)


class EchoOut(BaseModel):
    value: int
    calls: int


def test_result_cache_returns_the_stored_result_without_recomputation(tiny_llama_dir: Path, tmp_path: Path) -> None:
    registry = ToolRegistry()
    calls: list[int] = []

    @tool(registry=registry)
    def echo(ctx: ToolContext, args: EchoArgs) -> EchoOut:
        """Return the value and how many times this tool really ran (a test tool)."""
        calls.append(args.value)
        return EchoOut(value=args.value, calls=len(calls))

    ex = LocalExecutor(registry, ToolContext(Settings(home=tmp_path / "home")))
    model = str(tiny_llama_dir)
    first = ex.run(ToolCall(tool="echo", args={"model": model, "value": 3}))
    second = ex.run(ToolCall(tool="echo", args={"value": 3, "model": model}))  # same call, other key order
    assert first.ok and second.ok and second.cached and not first.cached
    assert second.result == first.result and calls == [3]
    assert ex.run(ToolCall(tool="echo", args={"model": model, "value": 4})).result == {"value": 4, "calls": 2}
    # a new executor over the same cache home pays nothing either
    again = LocalExecutor(registry, ToolContext(Settings(home=tmp_path / "home")))
    assert again.run(ToolCall(tool="echo", args={"model": model, "value": 3})).cached and calls == [3, 4]
    assert isinstance(again.cache, ResultCache) and again.cache.hits == 1
    uncached = LocalExecutor(registry, ToolContext(Settings(home=tmp_path / "home")), cache=False)
    assert not uncached.run(ToolCall(tool="echo", args={"model": model, "value": 3})).cached
    assert calls == [3, 4, 3]


def test_cancel_a_queued_call(tiny_llama_dir: Path, tmp_path: Path) -> None:
    registry = ToolRegistry()
    gate = threading.Event()

    @tool(registry=registry, cacheable=False)
    def wait(ctx: ToolContext, args: EchoArgs) -> EchoOut:
        """Block until the test opens the gate (a test tool)."""
        gate.wait(10)
        return EchoOut(value=args.value, calls=0)

    ex = LocalExecutor(registry, ToolContext(Settings(home=tmp_path / "home")))
    running = ex.start(ToolCall(tool="wait", args={"model": "x", "value": 1}))
    queued = ex.start(ToolCall(tool="wait", args={"model": "x", "value": 2}))
    assert ex.cancel(queued)
    gate.set()
    assert running.result(10).ok and running.result().result == {"value": 1, "calls": 0}
    assert queued.result().ok is False and queued.result().error == "cancelled"
    ex.close()


def test_a_crashing_tool_becomes_a_tool_error(tmp_path: Path) -> None:
    registry = ToolRegistry()

    @tool(registry=registry, cacheable=False)
    def broken(ctx: ToolContext, args: EchoArgs) -> EchoOut:
        """Always fails (a test tool)."""
        raise RuntimeError("boom")

    ex = LocalExecutor(registry, ToolContext(Settings(home=tmp_path / "home")))
    outcome = ex.run(ToolCall(tool="broken", args={"model": "x", "value": 1}))
    assert not outcome.ok and "RuntimeError: boom" in (outcome.error or "")


def test_activations_tool_matches_the_runtime(ex: LocalExecutor, tiny_llama_dir: Path) -> None:
    texts = ["The cat sat.", "A dog ran to the car and back."]
    out = ex.submit("activations", {"model": str(tiny_llama_dir), "subject": "L2.mlp.5", "texts": texts})
    runtime = ex.ctx.runtime(str(tiny_llama_dir))
    direct = runtime.run(texts, ["L2.mlp.5"]).captures["L2.mlp.5"]
    for res, values in zip(out.results, direct, strict=True):  # type: ignore[attr-defined]
        assert res.activations == pytest.approx([float(v) for v in values], abs=1e-5)
        assert res.max == max(res.activations) and res.activations[res.argmax] == res.max


def test_ablation_moves_the_metric_and_ablating_nothing_does_not(ex: LocalExecutor, tiny_llama_dir: Path) -> None:
    model = str(tiny_llama_dir)
    texts = ["The quick brown fox jumps over the lazy dog.", "Paris is the capital of France."]
    control = ex.submit("ablate", {"model": model, "targets": [], "texts": texts})
    assert control.effects == [0.0, 0.0]  # type: ignore[attr-defined]
    knocked = ex.submit("ablate", {"model": model, "targets": ["L1.mlp_out", "L2.mlp_out"], "texts": texts})
    assert all(abs(e) > 1e-3 for e in knocked.effects)  # type: ignore[attr-defined]
    neuron = ex.submit(
        "ablate",
        {
            "model": model,
            "targets": ["L1.mlp.3"],
            "method": "mean",
            "texts": texts,
            "metric": {"kind": "logit", "token": "."},
        },
    )
    assert neuron.mean_effect != 0.0  # type: ignore[attr-defined]
    # resampling among identical texts swaps identical activations: exactly no effect
    same = ex.submit(
        "ablate", {"model": model, "targets": ["L1.mlp_out"], "method": "resample", "texts": [texts[0]] * 3}
    )
    assert same.effects == pytest.approx([0.0] * 3, abs=1e-6)  # type: ignore[attr-defined]
    outcome = ex.run(
        ToolCall(
            tool="ablate",
            args={
                "model": model,
                "targets": ["L1.mlp.3"],
                "texts": texts,
                "metric": {"kind": "logit_diff", "target": " the quick", "foil": "."},
            },
        )
    )
    assert not outcome.ok and "target ' the quick' is" in (outcome.error or "") and "not one" in (outcome.error or "")


def test_unit_logits_is_the_unembedding_of_the_output_weights(ex: LocalExecutor, tiny_llama_dir: Path) -> None:
    out = ex.submit("unit_logits", {"model": str(tiny_llama_dir), "subject": "L1.mlp.7", "k": 5})
    model = ex.ctx.runtime(str(tiny_llama_dir)).model
    with torch.no_grad():
        w_out = model.model.layers[1].mlp.down_proj.weight[:, 7]
        scores = model.lm_head.weight @ (w_out * model.model.norm.weight)
    assert [t.token_id for t in out.promoted] == scores.topk(5).indices.tolist()  # type: ignore[attr-defined]
    assert [t.token_id for t in out.suppressed] == (-scores).topk(5).indices.tolist()  # type: ignore[attr-defined]


def test_steering(ex: LocalExecutor, tiny_llama_dir: Path) -> None:
    model = str(tiny_llama_dir)
    zero = ex.submit(
        "steer", {"model": model, "subject": "L1.mlp.3", "alpha": 0.0, "prompt": "The cat", "max_new_tokens": 8}
    )
    assert zero.steered == zero.unsteered  # type: ignore[attr-defined]
    strong = ex.submit(
        "steer", {"model": model, "subject": "L1.mlp.3", "alpha": 500.0, "prompt": "The cat", "max_new_tokens": 8}
    )
    assert strong.steered != strong.unsteered and strong.unsteered == zero.unsteered  # type: ignore[attr-defined]


def test_tools_cli(tiny_llama_dir: Path, home: Path) -> None:
    listing = cli_json("tools", "list", home=home)
    names = {t["name"] for t in listing["tools"]}
    assert {"activations", "exemplars", "ablate", "unit_logits", "steer"} <= names
    openai = cli_json("tools", "list", "--format", "openai", home=home)
    assert all(t["type"] == "function" for t in openai["tools"])
    model = str(tiny_llama_dir)
    result = cli_json(
        "tools", "call", "unit_logits", "--args", f'{{"model": "{model}", "subject": "L0.mlp.1"}}', home=home
    )
    assert len(result["promoted"]) == 15
    assert_clean_error(
        call_cli("tools", "call", "unit_logits", "--args", '{"model": 3}', home=home),
        "invalid arguments for tool 'unit_logits'",
        "model",
        "subject",
    )
    assert_clean_error(call_cli("tools", "call", "unit_logits", "--args", "{not json", home=home), "not valid JSON")
    ablated = cli_json("ablate", "--model", model, "--target", "L1.mlp_out", "--text", "The cat sat.", home=home)
    assert ablated["targets"] == ["L1.mlp_out"] and len(ablated["effects"]) == 1
    steered = cli_json(
        "steer",
        "--model",
        model,
        "--unit",
        "L1.mlp.3",
        "--alpha",
        "0",
        "--prompt",
        "The cat",
        "--max-new-tokens",
        "4",
        home=home,
    )
    assert steered["steered"] == steered["unsteered"]


@pytest.mark.slow
def test_ablating_a_smell_neuron_on_the_real_model(embedded_home: Path, tmp_path: Path) -> None:
    """L6.mlp.35 fires on 'smelled' (of) in the builtin corpus; knocking it out hurts those texts most."""
    ex = LocalExecutor(default_registry(), ToolContext(Settings(home=embedded_home)), cache=False)
    smell = ["By afternoon, the whole street smelled of rosemary and bread.", "The kitchen smelled of garlic."]
    other = ["The train left the station at noon.", "She wrote a letter to her brother."]
    on = ex.submit("ablate", {"targets": ["L6.mlp.35"], "texts": smell})
    off = ex.submit("ablate", {"targets": ["L6.mlp.35"], "texts": other})
    assert on.mean_effect > 0.05 and on.mean_effect > 5 * abs(off.mean_effect)  # type: ignore[attr-defined]


def test_exemplars_tool_builds_a_missing_cache_then_reads_it(ex: LocalExecutor, tiny_llama_dir: Path) -> None:
    args = {"model": str(tiny_llama_dir), "subject": "L1.mlp.4", "k": 3, "max_tokens": 2000}
    out = ex.submit("exemplars", args)
    assert len(out.exemplars) == 3 and len(out.quantiles) == 10  # type: ignore[attr-defined]
    assert out.stats["count"] > 0  # type: ignore[attr-defined]
    outcome = ex.run(ToolCall(tool="exemplars", args={**args, "subject": "L1.mlp.5", "build_if_missing": False}))
    assert outcome.ok  # the layer's cache exists now
    outcome = ex.run(ToolCall(tool="exemplars", args={**args, "subject": "L2.mlp.5", "build_if_missing": False}))
    assert not outcome.ok and "no exemplar cache for L2.mlp" in (outcome.error or "")


SAMPLE_SUITE = Path(__file__).resolve().parent / "data" / "sample.jsonl"


def test_call_function_tool(tmp_path: Path) -> None:
    import json

    suite = tmp_path / "suite.jsonl"
    rows = [
        {"id": "loop", "kind": "numeric", "code": "def f(x):\n    while True:\n        pass\n", "description": "hangs"},
        {"id": "bomb", "kind": "numeric", "code": "def f(x):\n    return len([0] * 10**10)\n", "description": "eats"},
        {"id": "recip", "kind": "numeric", "code": "def f(x):\n    return 1 / x\n", "description": "1/x"},
    ]
    suite.write_text("".join(json.dumps(r) + "\n" for r in rows))
    registry = default_registry()
    ex = LocalExecutor(registry, ToolContext(Settings(home=tmp_path / "home")))
    out = ex.submit("call_function", {"subject": f"{SAMPLE_SUITE}#str-reverse-bang", "inputs": ["hello", "ab"]})
    assert [o.output for o in out.outcomes] == ["olleh!", "ba!"]  # type: ignore[attr-defined]
    noisy = [
        ex.submit("call_function", {"subject": f"{SAMPLE_SUITE}#num-noisy-abs", "inputs": [4.0]}) for _ in range(2)
    ]
    assert noisy[0].outcomes[0].output != noisy[1].outcomes[0].output  # never cached: noise stays visible
    out = ex.submit("call_function", {"subject": f"{suite}#recip", "inputs": [2.0, 0.0, 4.0]})
    assert [o.output for o in out.outcomes] == [0.5, None, 0.25]  # type: ignore[attr-defined]
    assert "ZeroDivisionError" in (out.outcomes[1].error or "")  # type: ignore[attr-defined]
    hung = ex.submit("call_function", {"subject": f"{suite}#loop", "inputs": [1.0], "timeout_s": 1.0})
    assert "timed out" in (hung.error or "")  # type: ignore[attr-defined]
    bomb = ex.submit("call_function", {"subject": f"{suite}#bomb", "inputs": [1.0]})
    assert bomb.error or "MemoryError" in (bomb.outcomes[0].error or "")  # type: ignore[attr-defined]
    missing = ex.run(ToolCall(tool="call_function", args={"subject": f"{suite}#nope", "inputs": [1.0]}))
    assert not missing.ok and "no function with id 'nope'" in (missing.error or "")
