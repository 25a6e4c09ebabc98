"""The layer planner: the experiments every unit's investigation starts with, run once per layer.

A label job over a layer (or an SAE) explains hundreds to thousands of units, and most of what an
investigation of a model unit starts with does not depend on the unit. The planner runs two shared
experiments once per site (`ensure_layer_plan`), each into a run on disk (``tools.shared_runs``,
``<home>/shared/<key>/``) stored as an experiment of the site's *layer investigation* (backend
``planner``, subject the site) and found again by its ``cache_key`` (model weights, SAE weights, site,
texts), so a second job on the layer, or a restarted worker, reuses it:

* **the word survey** (``shared_survey``): one forward pass per batch of the survey's sentences yields
  every unit's activations (``tools.shared_runs.site_texts``);
* **ablation effects** (``shared_ablation``): every unit's zero-ablation effect on the loss of a fixed
  set of corpus passages, estimated by attribution (one forward and backward per batch for the whole
  site, ``tools.shared_runs.site_effects``) where a unit's own ``ablate`` costs two forward passes.

Each unit's investigation then gets (`attach_layer_plan`) an experiment of its own per shared run that
points at it (``args.shared_experiment``; shaped like the ``activations`` or ``ablate`` call it
replaces, without re-running it), which it cites as evidence, and its first message names them: the
builtin reads the unit's column of each run instead of calling ``activations`` on the survey and
``ablate`` on its positives; an LLM agent reads the unit's strongest survey words and its ablation
effect in the message instead of asking for them one call at a time. The exemplars come from the
layer's exemplar cache, built once per layer by the label job already.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from agent.builtin.unit_hypotheses import SURVEY_PER_TEXT, shared_survey, survey
from store.errors import InputError
from store.investigations import (
    add_experiment,
    create_investigation,
    find_keyed_experiment,
    find_latest_investigation,
    update_investigation,
)
from store.models import InvestigationStatus, SubjectKind
from store.repo import get_or_create_subject
from store.settings import Settings
from tools.effects.ablation import corpus_texts
from tools.exemplars.service import register_model
from tools.runtime.model_runtime import ModelRuntime
from tools.shared_runs.site_effects import capture_site_effects, read_unit_effect
from tools.shared_runs.site_texts import capture_site_texts

log = logging.getLogger("autointerp.agent")

SURVEY_TOOL = "shared_survey"
"""The tool name of the layer investigation's survey experiment."""
ABLATION_TOOL = "shared_ablation"
"""The tool name of the layer investigation's ablation-effects experiment."""
ABLATION_TEXTS = 32
"""Corpus passages (400 characters each, ``tools.effects.ablation.corpus_texts``) the effects are estimated on."""
SHOWN_WORDS = 12
"""Strongest survey words an LLM agent's first message lists."""


class SharedRun(BaseModel):
    """One experiment run once over a site: the experiment that holds it and the folder of its run."""

    experiment_id: int
    investigation_id: int
    site: str
    run: str
    texts: int
    units: int


class LayerPlan(BaseModel):
    """The shared runs of a site: the word survey and (unless turned off) the ablation effects."""

    site: str
    survey: SharedRun
    ablation: SharedRun | None = None


def _key(kind: str, runtime: ModelRuntime, site: str, texts: list[str]) -> str:
    target = runtime.resolve(site)
    sae = target.sae.digest[:16] if target.sae is not None else "-"
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    return f"layer-{kind}:{runtime.loaded.digest[:16]}:{sae}:{site}:{digest}"


def _subject_kind(runtime: ModelRuntime, site: str) -> SubjectKind:
    target = runtime.resolve(site)
    if target.sae is not None:
        return SubjectKind.sae
    return SubjectKind.resid if target.site.kind.startswith("resid") else SubjectKind.mlp


def _layer_investigation(engine: Engine, runtime: ModelRuntime, site: str) -> int:
    """The site's layer investigation (backend ``planner``): found, or created."""
    model_id = register_model(engine, runtime.loaded).id
    subject = get_or_create_subject(engine, model_id, _subject_kind(runtime, site), site)
    assert subject.id is not None
    found = find_latest_investigation(engine, subject.id, "planner")
    if found is not None and found.id is not None:
        return found.id
    owner = create_investigation(
        engine,
        subject_id=subject.id,
        backend="planner",
        thread_id=uuid.uuid4().hex,
        budget={"model": runtime.loaded.name},
    )
    assert owner.id is not None
    update_investigation(engine, owner.id, status=InvestigationStatus.succeeded)
    return owner.id


def _ensure_run(
    engine: Engine,
    runtime: ModelRuntime,
    settings: Settings,
    site: str,
    tool: str,
    texts: list[str],
    capture: Callable[[Path], int],
) -> SharedRun:
    """Find the stored run of ``tool`` over ``texts`` at ``site``, or run it (``capture`` writes the run
    into a folder and returns the site's unit count) and store it."""
    key = _key(tool, runtime, site, texts)
    found = find_keyed_experiment(engine, key)
    if found is not None and found.artifact_path and Path(found.artifact_path).is_dir() and found.id is not None:
        result = (found.result_summary or {}).get("result") or {}
        return SharedRun(
            experiment_id=found.id,
            investigation_id=found.investigation_id,
            site=site,
            run=found.artifact_path,
            texts=len(texts),
            units=int(result.get("units") or 0),
        )
    started = time.perf_counter()
    folder = settings.ensure_home() / "shared" / hashlib.sha256(key.encode()).hexdigest()[:24]
    staging = folder.with_name(f"{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    units = capture(staging)
    if folder.exists():  # another worker finished the same run first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(folder)
    seconds = round(time.perf_counter() - started, 3)
    owner = _layer_investigation(engine, runtime, site)
    row = add_experiment(
        engine,
        investigation_id=owner,
        call_id=f"{tool}-{key[-16:]}",
        tool=tool,
        args={"model": runtime.loaded.name, "site": site, "n_texts": len(texts)},
        result={"ok": True, "result": {"site": site, "texts": len(texts), "units": units}, "error": None},
        seconds=seconds,
        cache_key=key,
        artifact_path=str(folder),
    )
    assert row.id is not None
    return SharedRun(
        experiment_id=row.id, investigation_id=owner, site=site, run=str(folder), texts=len(texts), units=units
    )


def ensure_layer_plan(
    engine: Engine,
    runtime: ModelRuntime,
    settings: Settings,
    unit: str,
    *,
    ablation: bool = True,
    progress: bool = False,
) -> LayerPlan:
    """The shared runs of the site that holds ``unit`` (``L6.mlp.0`` → ``L6.mlp``): each found again when
    stored, else run (every unit of the site at once) and stored. ``ablation=False`` leaves out the
    ablation effects (an investigation then ablates its unit itself)."""
    site = runtime.resolve(unit).container
    survey_texts = survey().texts

    def capture_survey(folder: Path) -> int:
        return capture_site_texts(runtime, site, survey_texts, folder, progress=progress).units

    plan = LayerPlan(
        site=site, survey=_ensure_run(engine, runtime, settings, site, SURVEY_TOOL, survey_texts, capture_survey)
    )
    if ablation:
        texts = corpus_texts("builtin", ABLATION_TEXTS)

        def capture_effects(folder: Path) -> int:
            return capture_site_effects(runtime, site, texts, folder, progress=progress).units

        plan.ablation = _ensure_run(engine, runtime, settings, site, ABLATION_TOOL, texts, capture_effects)
    return plan


def attach_layer_plan(
    engine: Engine, investigation_id: int, plan: LayerPlan, unit: str, column: int
) -> tuple[dict[str, Any], str] | None:
    """Record the plan's shared runs as experiments of a unit's investigation (idempotent) and return
    the task payload's ``shared`` entry and the sentences its first message gets. None when this
    process cannot read the survey (a worker that does not share the home that holds it): the
    investigation then runs its own experiments; an unreadable ablation run is left out alone."""
    try:
        _, scores = shared_survey(plan.survey.run, column)
    except InputError as exc:
        log.warning("the shared survey of %s cannot be read here (%s); %s runs its own", plan.site, exc, unit)
        return None
    strongest = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:SHOWN_WORDS]
    row = add_experiment(
        engine,
        investigation_id=investigation_id,
        call_id="shared-survey",
        tool="activations",
        args={"subject": unit, "shared_experiment": plan.survey.experiment_id, "n_texts": plan.survey.texts},
        result={
            "ok": True,
            "result": {
                "shared": True,
                "from_experiment": plan.survey.experiment_id,
                "site": plan.site,
                "column": column,
                "texts": plan.survey.texts,
                "strongest_words": [[w, round(v, 4)] for w, v in strongest],
            },
            "error": None,
        },
        seconds=0.0,
        artifact_path=plan.survey.run,
    )
    assert row.id is not None
    payload: dict[str, Any] = {"survey": {"experiment_id": row.id, "run": plan.survey.run, "column": column}}
    words = ", ".join(f"{w} ({v:.3g})" for w, v in strongest)
    sentences = [
        f"Already run for the whole layer (cite these experiments as evidence): a survey of {plan.survey.texts} "
        f"sentences naming {SURVEY_PER_TEXT * plan.survey.texts} frequent words and category nouns "
        f"(experiment #{row.id}). This unit's strongest survey words: {words}."
    ]
    if plan.ablation is not None:
        attached = _attach_ablation(engine, investigation_id, plan.ablation, unit, column)
        if attached is not None:
            payload["ablation"], sentence = attached
            sentences.append(sentence)
    return payload, " ".join(sentences)


def _attach_ablation(
    engine: Engine, investigation_id: int, run: SharedRun, unit: str, column: int
) -> tuple[dict[str, Any], str] | None:
    try:
        effect = read_unit_effect(run.run, column)
    except InputError as exc:
        log.warning("the shared ablation effects of %s cannot be read here (%s)", run.site, exc)
        return None
    row = add_experiment(
        engine,
        investigation_id=investigation_id,
        call_id="shared-ablation",
        tool="ablate",
        args={
            "targets": [unit],
            "method": "zero",
            "estimate": "attribution",
            "shared_experiment": run.experiment_id,
            "n_texts": run.texts,
        },
        result={
            "ok": True,
            "result": {"shared": True, "from_experiment": run.experiment_id, "site": run.site, **effect.model_dump()},
            "error": None,
        },
        seconds=0.0,
        artifact_path=run.run,
    )
    assert row.id is not None
    sentence = (
        f"Zeroing it changes the loss on {run.texts} corpus passages by {effect.mean_effect:+.3g} nats on average "
        f"(attribution estimate; rank {effect.rank} of the layer's {effect.units} units; experiment #{row.id})."
    )
    return {"experiment_id": row.id, "run": run.run, "column": column}, sentence
