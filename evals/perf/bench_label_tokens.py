"""Benchmark: what the layer plan saves an LLM agent — input tokens per unit, one unit at a time vs
the layer plan, with a scripted LLM.

Run ``python -m evals.perf.bench_label_tokens`` (the embedded model, neurons 0..7 of layer 6;
``--model tiny`` for the tiny random Llama). The scripted LLM does what the builtin does, as an LLM
agent would: read the exemplars, survey the unit on the word survey's sentences (three
``activations`` calls of up to 256 sentences) unless its first message already holds the shared
survey, then give its explanation. Every call it is sent the whole conversation so far (tool results
cut to the LLM limit, ``agent.runner.LLM_RESULT_CHARS``, as for a real LLM); its input tokens are
counted as characters ÷ 4. Prints the mean input tokens and tool calls per unit under each plan.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from agent.builtin.unit_hypotheses import survey
from agent.graph import Budget
from agent.layer_plan import ensure_layer_plan
from agent.runner import Session
from store.settings import Settings
from tools.runtime.embedded import EMBEDDED_NAME
from tools.runtime.testing import build_tiny_model

SURVEY_BATCH = 256


class SurveyingLLM(GenericFakeChatModel):
    """A scripted agent: exemplars, the survey unless the task message holds it, a final explanation."""

    subject: str = ""
    model_name: str = ""

    def bind_tools(self, tools: Any, **kwargs: Any) -> SurveyingLLM:
        """The script decides the calls; the offered tools are not needed."""
        return self

    def _plan(self, messages: list[BaseMessage]) -> list[dict[str, Any]]:
        args = {"subject": self.subject, "model": self.model_name}
        calls: list[dict[str, Any]] = [{"name": "exemplars", "args": {**args, "k": 20, "per_quantile": 5}}]
        if "Already run for the whole layer" not in str(messages[1].content):
            texts = survey().texts
            for i in range(0, len(texts), SURVEY_BATCH):
                calls.append({"name": "activations", "args": {**args, "texts": texts[i : i + SURVEY_BATCH]}})
        return calls

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        calls = self._plan(messages)
        turn = sum(isinstance(m, AIMessage) for m in messages)
        if turn < len(calls):
            reply = AIMessage(content="", tool_calls=[{**calls[turn], "id": f"s{turn}"}])
        else:
            ids = [json.loads(str(m.content)).get("experiment_id") for m in messages if isinstance(m, ToolMessage)]
            final = {"label": "scripted", "description": "A scripted explanation.", "confidence": 0.1}
            final["evidence"] = [i for i in ids if isinstance(i, int)]
            reply = AIMessage(content="", tool_calls=[{"name": "final_explanation", "args": final, "id": "fin"}])
        sent = sum(len(str(m.content)) for m in messages)
        reply.usage_metadata = {"input_tokens": sent // 4, "output_tokens": 20, "total_tokens": sent // 4 + 20}
        return ChatResult(generations=[ChatGeneration(message=reply)])


def main(argv: list[str] | None = None) -> int:
    """Both plans on the same units (module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m evals.perf.bench_label_tokens", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=EMBEDDED_NAME, help="A model name, or 'tiny' for the tiny random Llama.")
    parser.add_argument("--layer", type=int, default=6)
    parser.add_argument("--units", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_model(Path(tmp) / "tiny", "llama")) if args.model == "tiny" else args.model
        settings = Settings(home=Settings().ensure_home(), db=f"sqlite:///{Path(tmp) / 'tokens.db'}")
        run = Session(settings)
        for plan in ("unit", "layer"):
            tokens: list[int] = []
            calls: list[int] = []
            for index in range(args.units):
                unit = f"L{args.layer}.mlp.{index}"
                shared = None
                if plan == "layer":
                    shared = ensure_layer_plan(run.engine, run.ctx.runtime(model), settings, unit)
                investigation_id, first = run.create(
                    unit, model, "openai:scripted", Budget(tool_calls=8), shared=shared
                )
                brain = SurveyingLLM(messages=iter([]), subject=unit, model_name=model)
                result = run.run(investigation_id, brain, first)
                tokens.append(result.tokens)
                own = 0 if shared is None else 1 + (shared.ablation is not None)  # the shared runs' rows are not calls
                calls.append(result.experiments - own)
            print(
                f"plan={plan}: {statistics.fmean(tokens):,.0f} input tokens per unit (chars/4), "
                f"{statistics.fmean(calls):.1f} tool calls per unit ({args.units} units)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
