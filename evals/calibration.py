"""Two calibration agents that bracket the scorers: ``oracle`` explains with the ground truth itself
(it must score near the top), ``random`` with another item's words and a random program (it must
score near chance). If either misbehaves, the scorers are broken, not the agents."""

from __future__ import annotations

import random
from typing import Any

from agent.runner import ExplanationOut
from evals.suite import EntityItem, ModelUnitItem, NumericItem, StringItem

RANDOM_NUMERIC = (
    "def f(x):\n    return {c}\n",
    "def f(x):\n    return {c} * x\n",
    "def f(x):\n    return x * x - {c}\n",
)
RANDOM_STRING = (
    "def f(x):\n    return x[::-1]\n",
    "def f(x):\n    return x.upper()\n",
    "def f(x):\n    return x + '{c}'\n",
    "def f(x):\n    return str(len(x))\n",
)
RANDOM_WORDS = (
    "bicycles", "thunder", "spreadsheets", "violins", "glaciers", "recipes", "satellites", "pebbles", "cathedrals",
    "ferns", "penguins", "tax forms", "marathons", "lanterns", "volcanoes", "telescopes",
)  # fmt: skip

Item = NumericItem | StringItem | EntityItem | ModelUnitItem


def oracle_explanation(item: Item) -> ExplanationOut:
    """The ground truth as an explanation."""
    description = item.description
    if isinstance(item, EntityItem):
        description = f"{item.description}: words such as {', '.join(item.members)}"
    code = item.code if isinstance(item, (NumericItem, StringItem)) else None
    return ExplanationOut(
        label=" ".join(item.description.split()[:8]), description=description, code=code, confidence=1.0
    )


def random_explanation(item: Item, rng: random.Random) -> ExplanationOut:
    """A plausible-looking but unrelated explanation."""
    words = rng.sample(RANDOM_WORDS, 2)
    code: Any = None
    if isinstance(item, NumericItem):
        code = rng.choice(RANDOM_NUMERIC).format(c=round(rng.uniform(-50, 50), 1))
    elif isinstance(item, StringItem):
        code = rng.choice(RANDOM_STRING).format(c=rng.choice("xyz!?"))
    description = f"responds to {words[0]} and {words[1]}"
    return ExplanationOut(label=description, description=description, code=code, confidence=0.5)
