"""Planted units: ground truth inside a real model, made by weight surgery.

``plant_units`` loads a Llama-family model, picks concepts (``evals.generators.plant_concepts``) and distinct
(layer, neuron) pairs, and rewires each neuron so that it fires on the concept's words:

1. Capture the MLP's input (the output of ``post_attention_layernorm``) at layer l, at the last token
   of each *training* concept word inside template sentences, and at every other position of
   sentences holding other concepts' words, neutral sentences, and the non-word positions.
2. Direction ``d`` = normalised (mean over concept positions − mean over other positions). A gated
   MLP has no bias, so the threshold is put in the direction itself: ``w = d − t·m`` with ``m`` the
   normalised mean input (nearly constant over positions, a stand-in for a bias); ``t`` is searched
   so that the concept positions' projections sit far above zero and the others' at or below it.
3. ``gate_proj.weight[i] = a·w`` and ``up_proj.weight[i] = b·w``: the neuron's activation
   ``silu(a w·x)·(b w·x)`` is ``TARGET`` at the median concept projection and about zero (≤ 0.3, the
   floor of silu(z)·z for z < 0, scaled) elsewhere. ``a`` makes the gate sharp (``GATE_SHARPNESS``
   at the median).
4. ``down_proj.weight[:, i]`` becomes the mean unembedding direction of the concept's words, scaled
   to ``WRITE_SCALE`` of the layer's median column norm, so the rest of the model barely changes (the
   neutral-text loss is checked) and the neuron's output still points at its concept.

The model is saved as a plain HF folder ``out_dir/model`` and the suite as ``out_dir/suite.jsonl``:
one ``ModelUnitItem`` per unit, whose positives, negatives and unit tests use *held-out* words (never
seen by the surgery). After saving, the folder is reloaded with ``load_model`` and every unit is
verified on the real activations (``ModelRuntime``); unit tests whose answer is not the argmax are
dropped. ``PlantReport.checks`` records the numbers. Everything is deterministic for a seed.

Unit-test options are bare words; their activation is read in the carrier ``OPTION_CARRIER``
(stored in each item as ``carrier``), the max over its tokens.
"""

from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field

from evals.generators.plant_concepts import CONCEPTS
from evals.suite import ModelUnitItem, UnitTest, write_suite
from store.errors import InputError
from store.settings import Settings
from tools.runtime.loading import LoadedModel, load_model
from tools.runtime.model_runtime import ModelRuntime

#: Sentences used to find the concept direction (the word's last token is the concept position).
TRAIN_TEMPLATES = [
    "I saw a {w} yesterday.",
    "The {w} was here.",
    "She told me about the {w} this morning.",
    "We talked about {w} for an hour.",
    "There was a {w} in the story.",
    "He kept thinking about the {w} all day.",
    "My friend mentioned the {w} again.",
    "Nobody expected the {w} to be there.",
]
#: Sentences of the suite's positives and negatives (not used for the surgery).
EVAL_TEMPLATES = [
    "Everyone noticed the {w} at once.",
    "We read a short note about the {w} today.",
    "They asked about the {w} last week.",
    "In the picture you can see a {w} near the door.",
    "Someone had written {w} on the board.",
    "Later that evening the {w} came up again.",
    "It was the first {w} I had ever seen.",
    "Her report was mostly about the {w}.",
]
#: Neutral text: calibration negatives and the loss check.
NEUTRAL_TEXTS = [
    "The meeting was moved to the afternoon because of the schedule.",
    "She opened the letter and read it twice before answering.",
    "It is important to check the results before publishing them.",
    "They walked along the road and talked about the past.",
    "After a long pause, he finally agreed to the plan.",
    "The report describes several methods and compares their results.",
    "We will need more time to finish the project properly.",
    "Most people in the room had never heard the story before.",
]
OPTION_CARRIER = "Here is the {w}."
TARGET = 10.0
GATE_SHARPNESS = 6.0
WRITE_SCALE = 0.1
N_POSITIVES = 8
N_TESTS = 10


class _Stop(Exception):
    """Raised by the deepest capture hook to end a forward early."""


class PlantedUnit(BaseModel):
    """One planted neuron: its address, the concept, the words used for surgery and those held out."""

    unit: str
    concept: str
    words: list[str]
    held_out: list[str]


class PlantReport(BaseModel):
    """What ``plant_units`` made: the saved model folder, the suite file, the units, and the checks."""

    model_dir: str
    suite: str
    units: list[PlantedUnit]
    checks: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# tokens and positions
# --------------------------------------------------------------------------------------------------


def _ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text)["input_ids"])


def _word_position(tokenizer: Any, template: str, word: str) -> tuple[str, int] | None:
    """The sentence and the index of the word's last token in it (None if tokenization is unstable)."""
    prefix = template.split("{w}")[0].rstrip()
    text = template.replace("{w}", word)
    head = _ids(tokenizer, f"{prefix} {word}" if prefix else word)
    full = _ids(tokenizer, text)
    if full[: len(head)] != head:
        return None
    return text, len(head) - 1


def _usable_words(tokenizer: Any, pool: dict[str, list[str]], minimum: int) -> dict[str, list[str]]:
    """Per concept, its single-token words (with a leading space); all its words if too few are single."""
    out: dict[str, list[str]] = {}
    for concept, words in pool.items():
        single = [w for w in words if len(_ids(tokenizer, " " + w)) == 1]
        out[concept] = single if len(single) >= minimum else list(words)
    return out


# --------------------------------------------------------------------------------------------------
# capture and surgery
# --------------------------------------------------------------------------------------------------


def _mlp_inputs(loaded: LoadedModel, texts: list[str], layers: list[int], batch: int = 32) -> dict[int, list[Any]]:
    """Per layer, per text: the output of ``post_attention_layernorm`` ([T, d_model], float32, CPU)."""
    blocks: Any = loaded.adapter.blocks()
    out: dict[int, list[Any]] = {layer: [] for layer in layers}
    store: dict[int, torch.Tensor] = {}
    handles = []
    for layer in layers:
        norm = blocks[layer].post_attention_layernorm

        def hook(_module: Any, _inputs: Any, output: Any, layer: int = layer) -> None:
            store[layer] = output.detach()
            if layer == layers[-1]:
                raise _Stop

        handles.append(norm.register_forward_hook(hook))
    runtime = ModelRuntime(loaded)
    try:
        for start in range(0, len(texts), batch):
            token_lists = [_ids(loaded.tokenizer, t) for t in texts[start : start + batch]]
            input_ids, mask = runtime.pad(token_lists)
            with torch.inference_mode(), contextlib.suppress(_Stop):
                loaded.model(input_ids=input_ids, attention_mask=mask, use_cache=False)
            for layer in layers:
                for row, ids in enumerate(token_lists):
                    out[layer].append(store[layer][row, : len(ids)].float().cpu())
    finally:
        for handle in handles:
            handle.remove()
    return out


def _choose_direction(concept_x: torch.Tensor, other_x: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """Unit vector w with concept projections high and other projections ≤ 0; (w, median concept, gap)."""
    # Shrunk LDA: whiten the mean difference by the others' covariance (robust to a few huge dimensions).
    centred = other_x - other_x.mean(0)
    cov = centred.T @ centred / max(1, other_x.shape[0] - 1)
    ridge = float(cov.diagonal().mean())
    d = torch.linalg.solve(cov + ridge * torch.eye(cov.shape[0]), concept_x.mean(0) - other_x.mean(0))
    d = d / d.norm()
    m = other_x.mean(0)
    m = m / m.norm()
    best: tuple[float, torch.Tensor] | None = None
    for t in torch.linspace(-3.0, 3.0, 121).tolist():
        w = d - t * m
        w = w / w.norm()
        pc, po = concept_x @ w, other_x @ w
        low_c = float(torch.quantile(pc, 0.05))
        high_o = float(torch.quantile(po, 0.995))
        gap = min(low_c, -high_o)
        if best is None or gap > best[0]:
            best = (gap, w)
    assert best is not None
    gap, w = best
    return w, float((concept_x @ w).median()), gap


def _neutral_loss(loaded: LoadedModel) -> float:
    """Mean next-token loss over ``NEUTRAL_TEXTS``."""
    input_ids, mask = ModelRuntime(loaded).pad([_ids(loaded.tokenizer, t) for t in NEUTRAL_TEXTS])
    labels = input_ids.masked_fill(mask == 0, -100)
    with torch.inference_mode():
        return float(loaded.model(input_ids=input_ids, attention_mask=mask, labels=labels, use_cache=False).loss)


def _max_activation(runtime: ModelRuntime, unit: str, texts: list[str]) -> list[float]:
    """Max over tokens of the unit's activation, per text."""
    result = runtime.run(texts, capture=[unit])
    return [float(t.max()) for t in result.captures[unit]]


def _balanced_accuracy(pos: list[float], neg: list[float]) -> float:
    """Balanced accuracy of thresholding at the midpoint of the two means."""
    threshold = (sum(pos) / len(pos) + sum(neg) / len(neg)) / 2
    tpr = sum(v > threshold for v in pos) / len(pos)
    tnr = sum(v <= threshold for v in neg) / len(neg)
    return (tpr + tnr) / 2


# --------------------------------------------------------------------------------------------------
# the public entry point
# --------------------------------------------------------------------------------------------------


def plant_units(
    model: str,
    out_dir: Path,
    concepts: int,
    seed: int = 0,
    layers: list[int] | None = None,
    settings: Settings | None = None,
    *,
    pool: dict[str, list[str]] | None = None,
) -> PlantReport:
    """Plant ``concepts`` concept neurons in ``model``; save ``out_dir/model`` and ``out_dir/suite.jsonl``.

    ``layers``: where to plant (default: spread over the middle third). ``pool``: concept → words
    (default ``evals.generators.plant_concepts.CONCEPTS``); concepts left unplanted supply the negatives and the
    unit tests' distractors. Only gated (Llama-family) MLPs are supported.
    """
    settings = settings or Settings()
    out_dir = Path(out_dir).resolve()
    rng = random.Random(seed)
    loaded = load_model(model, settings)
    if loaded.adapter.family != "llama":
        raise InputError(f"planting needs a gated (Llama-family) MLP; {model!r} is {loaded.adapter.family}")
    tokenizer = loaded.tokenizer
    shape = loaded.shape
    n_layers, d_mlp = shape.n_layers, shape.d_mlp
    words_by_concept = _usable_words(tokenizer, pool or CONCEPTS, minimum=8)
    names = sorted(c for c, ws in words_by_concept.items() if len(ws) >= 5)
    if concepts < 1 or concepts > len(names) - 2:
        raise InputError(f"concepts must be between 1 and {len(names) - 2} (concepts with enough words)")
    chosen = rng.sample(names, concepts)
    others = [c for c in names if c not in chosen]
    if layers is None:
        lo, hi = n_layers // 3, max(n_layers // 3 + 1, (2 * n_layers) // 3)
        layers = list(range(lo, hi))
    for layer in layers:
        if not 0 <= layer < n_layers:
            raise InputError(f"layer {layer} is out of range 0..{n_layers - 1}")
    picked_layers = [layers[round(k * (len(layers) - 1) / max(1, concepts - 1))] for k in range(concepts)]
    pairs: set[tuple[int, int]] = set()
    units: list[PlantedUnit] = []
    for concept, layer in zip(chosen, picked_layers, strict=True):
        neuron = rng.randrange(d_mlp)
        while (layer, neuron) in pairs:
            neuron = rng.randrange(d_mlp)
        pairs.add((layer, neuron))
        words = sorted(words_by_concept[concept])
        rng.shuffle(words)
        n_held = max(3, len(words) // 3)
        units.append(
            PlantedUnit(unit=f"L{layer}.mlp.{neuron}", concept=concept, words=words[n_held:], held_out=words[:n_held])
        )

    # Calibration texts: the training words of planted concepts; other words and neutral text as negatives.
    texts: list[str] = []
    word_positions: list[tuple[int, int, str]] = []  # (text index, position, concept)
    for unit in units:
        for word in unit.words:
            for template in TRAIN_TEMPLATES[:5]:
                found = _word_position(tokenizer, template, word)
                if found is not None:
                    word_positions.append((len(texts), found[1], unit.concept))
                    texts.append(found[0])
    for concept in others:
        for word in words_by_concept[concept][:4]:
            for template in TRAIN_TEMPLATES[:2]:
                texts.append(template.replace("{w}", word))
    texts.extend(NEUTRAL_TEXTS)
    layer_set = sorted({int(u.unit.split(".")[0][1:]) for u in units})
    inputs = _mlp_inputs(loaded, texts, layer_set)

    loss_before = _neutral_loss(loaded)
    calibration: dict[str, Any] = {}
    blocks: Any = loaded.adapter.blocks()
    unembed = loaded.adapter.unembedding().detach()
    for unit in units:
        layer, neuron = int(unit.unit.split(".")[0][1:]), int(unit.unit.split(".")[2])
        mine = {(i, p) for i, p, c in word_positions if c == unit.concept}
        concept_x = torch.stack([inputs[layer][i][p] for i, p in sorted(mine)])
        other_rows = []
        for i, x in enumerate(inputs[layer]):
            keep = [p for p in range(x.shape[0]) if (i, p) not in mine]
            other_rows.append(x[keep])
        other_x = torch.cat(other_rows)
        w, median_c, gap = _choose_direction(concept_x, other_x)
        a = GATE_SHARPNESS / median_c
        b = TARGET / (median_c * GATE_SHARPNESS * torch.sigmoid(torch.tensor(GATE_SHARPNESS)).item())
        mlp = blocks[layer].mlp
        dtype = mlp.gate_proj.weight.dtype
        token_ids = [_ids(tokenizer, " " + word)[-1] for word in unit.words]
        write = unembed[token_ids].float().mean(0)
        write = write / write.norm()
        column_norm = float(mlp.down_proj.weight.float().norm(dim=0).median())
        with torch.no_grad():
            mlp.gate_proj.weight[neuron] = (a * w).to(dtype)
            mlp.up_proj.weight[neuron] = (b * w).to(dtype)
            mlp.down_proj.weight[:, neuron] = (WRITE_SCALE * column_norm * write).to(dtype)
        calibration[unit.unit] = {"median_projection": median_c, "gap": gap, "a": a, "b": b}
    loss_after = _neutral_loss(loaded)

    model_dir = out_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    loaded.model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    del loaded

    # Reload the saved folder and build the suite from real activations.
    reloaded = load_model(str(model_dir), settings)
    loss_reloaded = _neutral_loss(reloaded)
    runtime = ModelRuntime(reloaded)
    items: list[ModelUnitItem] = []
    unit_checks: dict[str, Any] = {}
    other_words = [(c, w) for c in others for w in words_by_concept[c]]
    for number, unit in enumerate(units):
        layer = int(unit.unit.split(".")[0][1:])
        positives = [
            EVAL_TEMPLATES[k % len(EVAL_TEMPLATES)].replace("{w}", unit.held_out[k % len(unit.held_out)])
            for k in range(N_POSITIVES)
        ]
        negative_words = rng.sample(other_words, N_POSITIVES)
        negatives = [EVAL_TEMPLATES[k].replace("{w}", w) for k, (_, w) in enumerate(negative_words)]
        pos = _max_activation(runtime, unit.unit, positives)
        neg = _max_activation(runtime, unit.unit, negatives)
        tests: list[UnitTest] = []
        dropped = 0
        for k in range(N_TESTS):
            target = unit.held_out[k % len(unit.held_out)]
            first, second = rng.sample(others, 2)
            options = [target, rng.choice(words_by_concept[first]), rng.choice(words_by_concept[second])]
            rng.shuffle(options)
            answer = options.index(target)
            acts = _max_activation(runtime, unit.unit, [OPTION_CARRIER.replace("{w}", o) for o in options])
            if max(range(3), key=lambda j: acts[j]) == answer:
                tests.append(UnitTest(options=options, answer=answer))
            else:
                dropped += 1
        examples = ", ".join(unit.words[:4])
        items.append(
            ModelUnitItem(
                id=f"plant-{number:03d}",
                kind="model_unit",
                model=str(model_dir),
                unit=unit.unit,
                description=f"responds to {unit.concept} words such as {examples}",
                positives=positives,
                negatives=negatives,
                unit_tests=tests,
                concept=unit.concept,
                layer=layer,
                carrier=OPTION_CARRIER,
            )
        )
        unit_checks[unit.unit] = {
            "concept": unit.concept,
            "pos_mean": sum(pos) / len(pos),
            "neg_mean": sum(neg) / len(neg),
            "pos_min": min(pos),
            "neg_max": max(neg),
            "balanced_accuracy": _balanced_accuracy(pos, neg),
            "tests_kept": len(tests),
            "tests_dropped": dropped,
            **calibration[unit.unit],
        }
    suite_path = write_suite(items, out_dir / "suite.jsonl")
    relative = (loss_after - loss_before) / loss_before if loss_before else math.inf
    checks = {
        "loss_before": loss_before,
        "loss_after": loss_after,
        "loss_reloaded": loss_reloaded,
        "loss_rel_change": relative,
        "units": unit_checks,
    }
    return PlantReport(model_dir=str(model_dir), suite=str(suite_path), units=units, checks=checks)
