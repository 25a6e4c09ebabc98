"""The layer planner: the experiments every unit's investigation starts with, run once per layer.

A label job over a layer (or an SAE) explains hundreds to thousands of units, and most of what an
investigation of a model unit starts with does not depend on the unit: one forward pass over the
word survey's sentences yields every unit of the layer at once. The planner runs it once per site
(`ensure_shared_survey`): the activations of every unit go to a shared run on disk
(``tools.shared_runs``, ``<home>/shared/<key>/``) and the run is stored as one experiment of a
*layer investigation* (backend ``planner``, subject the site), found again by its ``cache_key``
(model weights, site, survey texts), so a second job on the layer, or a restarted worker, reuses it.

Each unit's investigation then gets (`attach_shared_survey`) an experiment of its own that points at
the shared one (``args.shared_experiment``; the same shape as an ``activations`` call, without
re-running it), which it can cite as evidence, and its first message names it: the builtin reads the
unit's column of the shared run instead of calling ``activations`` on the survey; an LLM agent reads
the unit's strongest survey words in the message instead of asking for them one call at a time.
The exemplars come from the layer's exemplar cache, built once per layer by the label job already.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from agent.builtin.unit_hypotheses import SURVEY_PER_TEXT, shared_survey, survey
from store.errors import InputError
from store.investigations import add_experiment, create_investigation, find_keyed_experiment, update_investigation
from store.models import InvestigationStatus, SubjectKind
from store.repo import get_or_create_subject
from store.settings import Settings
from tools.exemplars.service import register_model
from tools.runtime.model_runtime import ModelRuntime
from tools.shared_runs.site_texts import capture_site_texts, read_meta

log = logging.getLogger("autointerp.agent")

SURVEY_TOOL = "shared_survey"
"""The tool name of the layer investigation's survey experiment."""
SHOWN_WORDS = 12
"""Strongest survey words an LLM agent's first message lists."""


class SharedSurvey(BaseModel):
    """The survey run once over a site: the experiment that holds it and the folder of its run."""

    experiment_id: int
    investigation_id: int
    site: str
    run: str
    texts: int
    units: int


def _key(runtime: ModelRuntime, site: str, texts: list[str]) -> str:
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    return f"layer-survey:{runtime.loaded.digest[:16]}:{site}:{digest}"


def _subject_kind(site: str) -> SubjectKind:
    if ".sae" in site:
        return SubjectKind.sae
    return SubjectKind.resid if ".resid" in site else SubjectKind.mlp


def ensure_shared_survey(
    engine: Engine, runtime: ModelRuntime, settings: Settings, unit: str, *, progress: bool = False
) -> SharedSurvey:
    """The shared survey of the site that holds ``unit`` (``L6.mlp.0`` → ``L6.mlp``): found again when
    stored, else run (every unit of the site in one pass per batch of texts) and stored."""
    site = runtime.resolve(unit).container
    plan = survey()
    key = _key(runtime, site, plan.texts)
    found = find_keyed_experiment(engine, key)
    if found is not None and found.artifact_path and Path(found.artifact_path).is_dir():
        meta = read_meta(found.artifact_path)
        assert found.id is not None
        return SharedSurvey(
            experiment_id=found.id,
            investigation_id=found.investigation_id,
            site=site,
            run=found.artifact_path,
            texts=len(meta.texts),
            units=meta.units,
        )
    started = time.perf_counter()
    folder = settings.ensure_home() / "shared" / hashlib.sha256(key.encode()).hexdigest()[:24]
    staging = folder.with_name(f"{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    meta = capture_site_texts(runtime, site, plan.texts, staging, progress=progress)
    if folder.exists():  # another worker finished the same run first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(folder)
    seconds = time.perf_counter() - started
    model_id = register_model(engine, runtime.loaded).id
    subject = get_or_create_subject(engine, model_id, _subject_kind(site), site)
    assert subject.id is not None
    owner = create_investigation(
        engine,
        subject_id=subject.id,
        backend="planner",
        thread_id=uuid.uuid4().hex,
        budget={"model": runtime.loaded.name},
    )
    assert owner.id is not None
    row = add_experiment(
        engine,
        investigation_id=owner.id,
        call_id="layer-survey",
        tool=SURVEY_TOOL,
        args={"model": runtime.loaded.name, "site": site, "n_texts": len(plan.texts)},
        result={"ok": True, "result": {"site": site, "texts": len(plan.texts), "units": meta.units}, "error": None},
        seconds=round(seconds, 3),
        cache_key=key,
        artifact_path=str(folder),
    )
    update_investigation(engine, owner.id, status=InvestigationStatus.succeeded, seconds=round(seconds, 3))
    assert row.id is not None
    return SharedSurvey(
        experiment_id=row.id,
        investigation_id=owner.id,
        site=site,
        run=str(folder),
        texts=len(plan.texts),
        units=meta.units,
    )


def attach_shared_survey(
    engine: Engine, investigation_id: int, shared: SharedSurvey, unit: str, column: int
) -> tuple[dict[str, Any], str] | None:
    """Record the shared survey as an experiment of a unit's investigation (idempotent) and return the
    task payload's ``shared`` entry and the sentence its first message gets. None when this process
    cannot read the run (a worker that does not share the home that holds it): the investigation then
    runs its own survey."""
    try:
        _, scores = shared_survey(shared.run, column)
    except InputError as exc:
        log.warning("the shared survey of %s cannot be read here (%s); %s runs its own", shared.site, exc, unit)
        return None
    strongest = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:SHOWN_WORDS]
    result = {
        "shared": True,
        "from_experiment": shared.experiment_id,
        "site": shared.site,
        "column": column,
        "texts": shared.texts,
        "strongest_words": [[w, round(v, 4)] for w, v in strongest],
    }
    row = add_experiment(
        engine,
        investigation_id=investigation_id,
        call_id="shared-survey",
        tool="activations",
        args={"subject": unit, "shared_experiment": shared.experiment_id, "n_texts": shared.texts},
        result={"ok": True, "result": result, "error": None},
        seconds=0.0,
        artifact_path=shared.run,
    )
    assert row.id is not None
    payload = {"survey": {"experiment_id": row.id, "run": shared.run, "column": column}}
    words = ", ".join(f"{w} ({v:.3g})" for w, v in strongest)
    sentence = (
        f"Already run for the whole layer (experiment #{row.id}; cite it as evidence): a survey of "
        f"{shared.texts} sentences naming {SURVEY_PER_TEXT * shared.texts} frequent words and category nouns. "
        f"This unit's strongest survey words: {words}."
    )
    return payload, sentence
