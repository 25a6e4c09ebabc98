"""One SHIFT evaluation of an SAE: the datasets, the pooled activations (captured once), the probes,
the latents a judge should annotate, and the SCR/TPP scores of every selection.

The steps, each reusing what the previous one computed (activations are never recomputed per N or
per selection):

1. `prepare_shift`: the SCR sets of one pair and the TPP sets of the dataset's five classes
   (``tools.shift.datasets``), every distinct text captured once through the model and the SAE
   (``tools.shift.pooled``: mean-pooled site vectors and latents, cached on disk), the SCR and TPP
   probes trained and their latent effects computed (``tools.shift.metrics``).
2. `annotation_plan`: the latents to annotate — the top ``judged_top`` by effect of each concept
   whose latents get ablated (the spurious and the target attribute for SCR's two directions, each
   TPP class) — and the concepts to judge them against (the spurious attribute, the pair, the classes).
   The judging itself is the caller's (the ``shift_annotate`` tool, which stores every score).
3. `marks_from_related`: the judge's verdicts (latent → concepts it is related to) turned into the
   latents marked for each ablated concept (a latent related to ``nurse``, or to ``architect``, counts
   for ``profession``).
4. `score_shift`: SCR and TPP for each selection on the same probes: ``attribution`` (SAEBench: the
   top-N by effect), ``judged`` (S_SHIFT: those of the top-N the judge marked), ``oracle`` (those the
   label-reading oracle of ``tools.shift.oracle`` marks) and ``random`` (the control). Judged and
   oracle selections are scored for N ≤ ``judged_top`` only: beyond it nothing was annotated.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, field_validator, model_validator

from store.settings import Settings
from tools.runtime.latents import AttachedSAE
from tools.runtime.model_runtime import ModelRuntime
from tools.shift.datasets import DATASETS, DatasetConcepts, ProbeTask, SCRData, TPPData, concepts, scr_data, tpp_data
from tools.shift.metrics import (
    N_VALUES,
    Labelled,
    ProbeData,
    ScrResult,
    ScrSets,
    ScrSetup,
    Selection,
    TppResult,
    TppSetup,
    attribution,
    judged,
    prepare_scr,
    prepare_tpp,
    random_latents,
    score_scr,
    score_tpp,
    top_n,
)
from tools.shift.oracle import Agreement, OracleMarks, agreement, oracle_marks
from tools.shift.pooled import Pooled, attached_sae, pooled_activations

#: Texts per probe set the metric is defined with (SAEBench): 4000 train, 1000 test.
DEFAULT_TRAIN = 4000
DEFAULT_TEST = 1000
MAX_SET = 20_000


class ShiftSpec(BaseModel):
    """What to evaluate: a dataset, an SCR pair, sizes, the N values and how many latents to judge."""

    dataset: str = Field("bios", description="bios (profession x gender) or reviews (category x sentiment).")
    pair: tuple[str, str] | None = Field(None, description="SCR pair, e.g. professor,nurse (default: the first).")
    n_train: int = Field(DEFAULT_TRAIN, ge=16, le=MAX_SET, description="Training texts per probe (multiple of 4).")
    n_test: int = Field(DEFAULT_TEST, ge=16, le=MAX_SET, description="Test texts per probe (multiple of 4).")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    n_values: list[int] = Field(default_factory=lambda: list(N_VALUES), min_length=1, max_length=16)
    judged_top: int = Field(20, ge=1, le=64, description="Latents per ablated concept the judge annotates.")
    tpp: bool = Field(True, description="Also run TPP over the dataset's five classes.")
    ctx: int = Field(128, ge=8, le=1024, description="Tokens per text (longer texts are cut).")

    @field_validator("dataset")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(f"unknown dataset {value!r}; choose one of {', '.join(DATASETS)}")
        return value

    @field_validator("n_values")
    @classmethod
    def _positive_sorted(cls, values: list[int]) -> list[int]:
        if any(n < 1 or n > 100_000 for n in values):
            raise ValueError("every N is between 1 and 100000")
        return sorted(set(values))

    @model_validator(mode="after")
    def _multiples(self) -> ShiftSpec:
        for name in ("n_train", "n_test"):
            if getattr(self, name) % 4:
                raise ValueError(f"{name} must be a multiple of 4 (the sets are quadrant-balanced)")
        return self

    def resolved_pair(self) -> tuple[str, str]:
        """The SCR pair: the given one, else the dataset's first SAEBench pair."""
        return self.pair if self.pair is not None else concepts(self.dataset).scr_pairs[0]


@dataclass
class ShiftSetup:
    """Everything the scores are computed from, built once (`prepare_shift`)."""

    spec: ShiftSpec
    info: DatasetConcepts
    scr: SCRData
    tpp: TPPData | None
    pool: Pooled
    scr_sets: ScrSets
    scr_setup: ScrSetup
    tpp_setup: TppSetup | None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def judged_n(self) -> list[int]:
        """The N values judged and oracle selections are scored at (annotated latents only)."""
        return [n for n in self.spec.n_values if n <= self.spec.judged_top]


def _probe_data(pool: Pooled, task: ProbeTask) -> ProbeData:
    return ProbeData(
        Labelled.of(pool, task.train.texts, task.train.targets), Labelled.of(pool, task.test.texts, task.test.targets)
    )


def prepare_shift(
    runtime: ModelRuntime, sae: AttachedSAE | str, spec: ShiftSpec, *, settings: Settings, progress: bool = False
) -> ShiftSetup:
    """Build the sets, capture (or reuse) the pooled activations once, train the probes (module docstring)."""
    started = time.perf_counter()
    info = concepts(spec.dataset)
    scr = scr_data(spec.dataset, spec.resolved_pair(), spec.seed, spec.n_train, spec.n_test)
    tpp = tpp_data(spec.dataset, spec.seed, spec.n_train, spec.n_test) if spec.tpp else None
    texts = list(dict.fromkeys([*scr.texts(), *(tpp.texts() if tpp is not None else [])]))
    data_seconds = time.perf_counter() - started
    started = time.perf_counter()
    attached = attached_sae(runtime, sae)
    pool = pooled_activations(runtime, attached, texts, settings=settings, ctx=spec.ctx, progress=progress)
    capture_seconds = time.perf_counter() - started
    w_dec = attached.sae.W_dec.detach().float().cpu()
    started = time.perf_counter()
    sets = ScrSets(
        scr.target_attribute,
        scr.spurious_attribute,
        _probe_data(pool, scr.biased),
        _probe_data(pool, scr.target),
        _probe_data(pool, scr.spurious),
    )
    scr_setup = prepare_scr(sets, w_dec)
    tpp_setup = None
    if tpp is not None:
        tpp_setup = prepare_tpp({name: _probe_data(pool, tpp.task(name)) for name in tpp.classes}, w_dec)
    seconds = {"data": data_seconds, "capture": capture_seconds, "probes": time.perf_counter() - started}
    return ShiftSetup(spec, info, scr, tpp, pool, sets, scr_setup, tpp_setup, seconds)


class AnnotationPlan(BaseModel):
    """Which latents to annotate, against which concepts, and why (the ablated concept they rank for)."""

    latents: list[int]
    concepts: list[str]
    candidates: dict[str, list[int]] = Field(description="Ablated concept -> its top latents by effect.")


def annotation_plan(setup: ShiftSetup) -> AnnotationPlan:
    """The top ``judged_top`` latents by effect of each ablated concept, and the concepts to judge."""
    top = setup.spec.judged_top
    scr = setup.scr_setup
    candidates = {
        setup.scr_sets.spurious_name: top_n(scr.effects["spurious"], top),
        setup.scr_sets.task_name: top_n(scr.effects["task"], top),
    }
    if setup.tpp_setup is not None:
        for name, effects in setup.tpp_setup.effects.items():
            candidates[name] = top_n(effects, top)
    latents = sorted({j for chosen in candidates.values() for j in chosen})
    names = [setup.scr.spurious_attribute, *setup.scr.pair]
    if setup.tpp is not None:
        names += [c for c in setup.tpp.classes if c not in names]
    return AnnotationPlan(latents=latents, concepts=names, candidates=candidates)


def marks_from_related(setup: ShiftSetup, related: Mapping[int, Sequence[str]]) -> dict[str, set[int]]:
    """The judge's verdicts (latent → concepts it is related to) as marks per ablated concept: the
    spurious attribute (or one of its values); the target attribute (any of its values: a latent of
    architecture is a profession latent, and ablating "profession" removes it too); each TPP class."""
    info = concepts(setup.scr.dataset)
    spurious = {setup.scr.spurious_attribute, *info.values[setup.scr.spurious_attribute]}
    target = {setup.scr.target_attribute, *info.values[setup.scr.target_attribute]}
    marked: dict[str, set[int]] = {setup.scr_sets.spurious_name: set(), setup.scr_sets.task_name: set()}
    classes = list(setup.tpp.classes) if setup.tpp is not None else []
    for name in classes:
        marked.setdefault(name, set())
    for latent, concepts_of in related.items():
        names = set(concepts_of)
        if names & spurious:
            marked[setup.scr_sets.spurious_name].add(latent)
        if names & target:
            marked[setup.scr_sets.task_name].add(latent)
        for name in classes:
            if name in names:
                marked[name].add(latent)
    return marked


def oracle_for(setup: ShiftSetup, latents: Sequence[int]) -> OracleMarks:
    """The label-reading oracle on the annotated latents: SCR concepts on their balanced sets, each
    TPP class on its one-vs-rest set (a latent tracks the concept it separates most)."""
    scr = oracle_marks(
        {
            setup.scr_sets.spurious_name: setup.scr_sets.spurious.train,
            setup.scr_sets.task_name: setup.scr_sets.task.train,
        },
        latents,
    )
    if setup.tpp_setup is None:
        return scr
    tpp = oracle_marks({name: data.train for name, data in setup.tpp_setup.classes.items()}, latents)
    related = dict(scr.related)
    separations = {j: {**scr.separations[j], **tpp.separations[j]} for j in scr.separations}
    # A latent keeps its SCR verdict; one that tracks neither SCR concept may still track a TPP class.
    for j, concept in tpp.related.items():
        if related.get(j) is None:
            related[j] = concept
    return OracleMarks(related=related, separations=separations)


class SelectionResult(BaseModel):
    """SCR (the pair) and TPP (the classes) under one selection of latents."""

    selection: str
    scr: ScrResult
    tpp: TppResult | None = None


class ShiftScores(BaseModel):
    """Every selection's scores, the judge's agreement with the oracle, and the time each step took."""

    dataset: str
    pair: tuple[str, str]
    texts: int
    n_values: list[int]
    judged_n: list[int]
    selections: list[SelectionResult]
    agreement: list[Agreement]
    oracle: dict[int, str | None]
    marked: dict[str, list[int]]
    seconds: dict[str, float]

    def score(self, selection: str, metric: str, n: int) -> float | None:
        """One number of the report: ``metric`` "scr" or "tpp" of ``selection`` at ``n`` (None if not scored)."""
        for result in self.selections:
            if result.selection == selection:
                scores = result.scr.scores if metric == "scr" else (result.tpp.scores if result.tpp else {})
                return scores.get(n)
        return None


def score_shift(
    setup: ShiftSetup, related: Mapping[int, Sequence[str]], *, plan: AnnotationPlan, random_seed: int = 0
) -> ShiftScores:
    """SCR and TPP for the attribution, judged, oracle and random selections (module docstring)."""
    started = time.perf_counter()
    marked = marks_from_related(setup, related)
    oracle = oracle_for(setup, plan.latents)
    selections: list[tuple[Selection, list[int]]] = [
        (attribution(), setup.spec.n_values),
        (judged(marked, name="judged"), setup.judged_n),
        (judged(oracle.marked(), name="oracle"), setup.judged_n),
        (random_latents(random_seed), setup.spec.n_values),
    ]
    results = []
    for selection, n_values in selections:
        if not n_values:
            continue
        scr = score_scr(setup.scr_setup, selection, n_values)
        tpp = score_tpp(setup.tpp_setup, selection, n_values) if setup.tpp_setup is not None else None
        results.append(SelectionResult(selection=selection.name, scr=scr, tpp=tpp))
    concepts_judged = [setup.scr_sets.spurious_name, setup.scr_sets.task_name]
    if setup.tpp is not None:
        concepts_judged += list(setup.tpp.classes)
    verdicts = {j: sorted(name for name, chosen in marked.items() if j in chosen) for j in plan.latents if j in related}
    agree = [agreement(name, verdicts, oracle, plan.latents) for name in concepts_judged]
    seconds = {**setup.seconds, "scores": time.perf_counter() - started}
    return ShiftScores(
        dataset=setup.spec.dataset,
        pair=setup.scr.pair,
        texts=len(setup.pool),
        n_values=setup.spec.n_values,
        judged_n=setup.judged_n,
        selections=results,
        agreement=agree,
        oracle=oracle.related,
        marked={name: sorted(chosen) for name, chosen in marked.items()},
        seconds=seconds,
    )
