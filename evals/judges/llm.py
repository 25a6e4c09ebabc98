"""An evaluator backed by any LangChain chat model, with FIND's prompt shape, and the parsers that
read its replies (a number, a JSON list of booleans, yes/no)."""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage

_CHOOSE_PROMPT = """Here is a description of a function: {description}

Which of these inputs does it respond to most?
{options}

Answer with the number."""

_DETECT_PROMPT = """Here is a description of a function: {description}

For each of these inputs, say whether the function responds to it (activates on it):
{texts}

Answer with a JSON list of {n} booleans (true or false), one per input, in order, and nothing else."""

_DETECT_ONE_PROMPT = """Here is a description of a function: {description}

Does the function respond to (activate on) this input?
{text}

Answer yes or no."""


def _reply_text(content: Any) -> str:
    """A chat reply's content as plain text (content blocks joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b if isinstance(b, str) else str(b.get("text", "")) for b in content if isinstance(b, (str, dict))]
        return "".join(parts)
    return str(content)


def parse_choice(reply: str, n_options: int) -> int | None:
    """0-based index from a reply like "2", "Answer: 2." or "Input 2"; None when no number 1..n appears."""
    for match in re.finditer(r"(?<!\d)(\d+)(?!\d)", reply):
        value = int(match.group(1))
        if 1 <= value <= n_options:
            return value - 1
    return None


def parse_bool_list(reply: str, n: int) -> list[bool] | None:
    """The first JSON list of ``n`` booleans in a reply (also accepts yes/no or 0/1 items); None otherwise."""
    for match in re.finditer(r"\[[^\[\]]*\]", reply):
        try:
            data = json.loads(match.group(0).replace("True", "true").replace("False", "false"))
        except json.JSONDecodeError:
            continue
        if not isinstance(data, list) or len(data) != n:
            continue
        values: list[bool] = []
        for item in data:
            if isinstance(item, bool):
                values.append(item)
            elif isinstance(item, int) and item in (0, 1):
                values.append(bool(item))
            elif isinstance(item, str) and item.strip().lower() in ("yes", "no", "true", "false"):
                values.append(item.strip().lower() in ("yes", "true"))
            else:
                break
        else:
            return values
    return None


def parse_yes_no(reply: str) -> bool | None:
    """True/False from the first yes/no (or true/false) word of a reply; None when there is none."""
    match = re.search(r"\b(yes|no|true|false)\b", reply.lower())
    if match is None:
        return None
    return match.group(1) in ("yes", "true")


class LLMEvaluator:
    """Evaluator backed by a LangChain chat model, with FIND's prompt shape.

    ``choose`` lists the options numbered 1..n and parses the first number in range from the reply; a
    reply without one counts as the first option (a wrong answer two times out of three, like guessing).
    ``detect`` sends all texts numbered in one prompt and parses a JSON list of booleans; when that
    fails it asks text by text (yes/no), and an unparseable answer there is False.
    """

    name = "llm"

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model
        self.unparsed = 0
        """Replies that could not be parsed (counted for reports)."""

    def _ask(self, prompt: str) -> str:
        reply = self.model.invoke([HumanMessage(content=prompt)])
        return _reply_text(reply.content)

    def choose(self, description: str, options: list[str]) -> int:
        """Index of the option the model says the described function responds to most."""
        if not options:
            raise ValueError("choose needs at least one option")
        listed = "\n".join(f"{i}. {option}" for i, option in enumerate(options, start=1))
        choice = parse_choice(self._ask(_CHOOSE_PROMPT.format(description=description, options=listed)), len(options))
        if choice is None:
            self.unparsed += 1
            return 0
        return choice

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        """Per text, whether the model predicts activation (one batched prompt, per-text fallback)."""
        if not texts:
            return []
        listed = "\n".join(f"{i}. {json.dumps(str(t), ensure_ascii=False)}" for i, t in enumerate(texts, start=1))
        batch = parse_bool_list(
            self._ask(_DETECT_PROMPT.format(description=description, texts=listed, n=len(texts))), len(texts)
        )
        if batch is not None:
            return batch
        self.unparsed += 1
        out: list[bool] = []
        for text in texts:
            answer = parse_yes_no(self._ask(_DETECT_ONE_PROMPT.format(description=description, text=text)))
            if answer is None:
                self.unparsed += 1
            out.append(bool(answer))
        return out
