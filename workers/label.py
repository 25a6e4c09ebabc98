"""Batch labeling: submit a label job, prepare it (build or reuse the layer's exemplar cache, or the
SAE's for a job over SAE latents), label one unit (one investigation, exactly once: the item is
claimed through ``workers.claims``), run a whole job in this process, and the sweeper that re-sends
work lost with the broker.

Labeling a unit ends with **explain–simulate–score** (``evals.scoring.simulation``): the
explanation's simulator (its ``code``) is scored against the unit's activations on held-out text, and
the scores are stored as ``Score`` rows of the explanation and on the item's result. The held-out
activations are captured once per site and process (one forward pass for all the units of a layer).
A simulator that cannot be scored leaves the unit labeled, without scores.

The same functions run in a Celery worker (workers/tasks.py) and in ``autointerp label --executor
local``; only who calls them differs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from agent.graph import Budget
from agent.layer_plan import ensure_layer_plan
from agent.runner import Session, make_brain
from evals.scoring.simulation import METRICS, held_out_site, simulation_score
from store.db import open_store
from store.dburl import one_line
from store.errors import AutointerpError, StoreError
from store.explanations import explanation_of, scores_of, set_scores
from store.jobs import find_orphan_investigation, unfinished_items, unfinished_jobs
from store.models import Job, JobItem, JobKind, JobStatus, utcnow
from store.repo import get_job, set_job_status
from store.settings import Settings
from tools.context import ToolContext
from tools.executor import Executor
from tools.exemplars.service import build_site_cache
from workers import local_pool
from workers.claims import (
    Claim,
    claim_item,
    finish_item,
    is_due,
    record_investigation,
    release_item,
    stamp_sent,
)
from workers.jobs import (
    JobView,
    LabelJobParams,
    check_executor,
    find_or_create_label_job,
    job_params,
    job_view,
    refresh_job,
    validate_params,
)

__all__ = [
    "ItemOutcome",
    "RetryItem",
    "UnitResult",
    "enqueue_label_job",
    "find_orphan",
    "item_ids",
    "label_item",
    "label_items",
    "label_share",
    "prepare_label_job",
    "run_item",
    "run_label_job_locally",
    "score_unit",
    "submit_label_job",
    "sweep_jobs",
]

log = logging.getLogger("autointerp.workers")

ItemOutcome = str  # "claimed" → "labeled" | "failed"; or "skipped" | "poisoned"


class RetryItem(Exception):
    """A try of an item failed and the item went back to the queue; try it again later."""


class UnitResult(BaseModel):
    """What a labeled item stores as its result."""

    investigation_id: int
    label: str
    description: str
    confidence: float
    scores: dict[str, float] = {}


def submit_label_job(settings: Settings, params: dict[str, Any], executor: str = "celery", *, new: bool = False) -> int:
    """Create (or find again, see ``workers.jobs``) a label job, enqueue it and return its id.

    ``executor="celery"`` sends the job to the workers and returns at once; ``"local"`` runs it to the
    end in this process first. ``new`` makes a new job even when one with these parameters exists.
    Raises `InputError` for bad parameters or an unknown executor.
    """
    chosen = check_executor(executor)
    parsed = validate_params(JobKind.label.value, params)
    if settings.db is None:
        settings.ensure_home()
    engine = open_store(settings.db_url())
    job_id, _ = find_or_create_label_job(engine, parsed, new=new)
    if chosen == "celery":
        enqueue_label_job(settings, job_id)
    else:
        run_label_job_locally(settings, job_id, progress=False)
    return job_id


def prepare_label_job(ctx: ToolContext, engine: Engine, job_id: int, *, progress: bool = False) -> bool:
    """Check the job's units exist in its model and build or reuse the exemplar cache of their site
    (the layer's MLP, or the SAE's latents); the job is then ``running``. False (and the job failed
    with the reason) for bad input; `StoreError` (a database that cannot be reached) propagates so
    the caller retries."""
    params = job_params(engine, job_id)
    row = get_job(engine, job_id)
    if (
        row is not None
        and row.status in (JobStatus.succeeded, JobStatus.failed)
        and not unfinished_items(engine, job_id)
    ):
        return False
    try:
        runtime = ctx.runtime(params.model)
        keys = params.keys()
        runtime.resolve(keys[0])
        runtime.resolve(keys[-1])  # AddressError names the valid range
        build_site_cache(runtime, engine, ctx.settings, params.site, max_tokens=params.max_tokens, progress=progress)
        if params.plan == "layer":
            ensure_layer_plan(engine, runtime, ctx.settings, keys[0], progress=progress)
    except StoreError:
        raise
    except AutointerpError as exc:
        set_job_status(engine, job_id, JobStatus.failed, error=str(exc))
        return False
    if row is not None and row.status is not JobStatus.running:
        set_job_status(engine, job_id, JobStatus.running)
    return True


def find_orphan(engine: Engine, claim: Claim[JobItem]) -> int | None:
    """The newest investigation of this job and unit that is still ``running`` with no explanation:
    one an earlier try created and then died before recording it on the item. None when there is none.

    Only the holder of the item's claim calls this, so no live worker is running that investigation.
    """
    return find_orphan_investigation(engine, claim.job_id, claim.row.key)


def label_item(session: Session, params: LabelJobParams, claim: Claim[JobItem]) -> UnitResult:
    """Explain the claimed unit: continue the item's investigation when an earlier try started one
    (finished experiments are not rerun; a written explanation is reused), else start one.

    An earlier try's investigation is the one recorded on the item or, when that try died between
    creating it and recording it, the orphan `find_orphan` finds: it is adopted (recorded on the item
    and continued), so a crash never leaves an investigation without an explanation behind.
    """
    engine = session.engine
    brain = make_brain(params.agent)
    key = claim.row.key
    earlier = claim.row.investigation_id
    if earlier is None:
        earlier = find_orphan(engine, claim)
        if earlier is not None:
            if not record_investigation(engine, claim, earlier):
                raise RetryItem(f"{key} was taken over by another worker")
            log.info("adopting orphan investigation %s of %s", earlier, key)
    if earlier is not None:
        result = session.result(earlier)
        if result.explanation is None:
            try:
                result = session.proceed(earlier, brain)
            except StoreError:
                raise
            except Exception as exc:  # unusable checkpoint: the runner marked it failed; start afresh below
                log.warning("cannot continue investigation %s (%s); starting a new one", earlier, exc)
                result = session.result(earlier)
        if result.explanation is not None:
            _prune(session, result.investigation_id)
            scores = score_unit(session, params.model, key, result.investigation_id)
            return _unit_result(result.investigation_id, result.explanation.model_dump(), scores)
    budget = Budget(tool_calls=params.budget, seconds=params.seconds)
    shared = None
    if params.plan == "layer":  # found again (prepare ran it), or run here when a sweeper skipped prepare
        shared = ensure_layer_plan(engine, session.ctx.runtime(params.model), session.settings, key)
    investigation_id, first = session.create(
        key, params.model, params.agent, budget, job_id=claim.job_id, shared=shared
    )
    if not record_investigation(engine, claim, investigation_id):
        raise RetryItem(f"{key} was taken over by another worker")
    result = session.run(investigation_id, brain, first)
    if result.explanation is None:
        raise RuntimeError(f"the investigation of {key} wrote no explanation")
    _prune(session, investigation_id)
    scores = score_unit(session, params.model, key, investigation_id)
    return _unit_result(investigation_id, result.explanation.model_dump(), scores)


def _prune(session: Session, investigation_id: int) -> None:
    """Keep only the latest checkpoint of a finished unit's thread; a failure to prune is only logged
    (the history is not needed, and the unit is labeled either way)."""
    try:
        session.prune_checkpoints(investigation_id)
    except Exception as exc:
        log.warning("cannot prune the checkpoints of investigation %s: %s", investigation_id, one_line(exc))


def score_unit(session: Session, model: str, key: str, investigation_id: int) -> dict[str, float]:
    """Explain–simulate–score the explanation investigation ``investigation_id`` wrote for unit ``key``:
    its simulation scores, stored as ``Score`` rows (scores stored by an earlier try are reused).

    {} when there is nothing to score or scoring fails (logged): the unit stays labeled. `StoreError`
    propagates.
    """
    engine = session.engine
    explanation = explanation_of(engine, investigation_id)
    if explanation is None or explanation.id is None:
        return {}
    stored = scores_of(engine, [explanation.id]).get(explanation.id, {})
    if all(m in stored for m in METRICS[:2]):
        return {m: v for m, v in stored.items() if m in METRICS}
    try:
        runtime = session.ctx.runtime(model)
        index = runtime.resolve(key).index
        if index is None:
            return {}
        score = simulation_score(explanation.code, held_out_site(runtime, key).unit(index))
    except StoreError:
        raise
    except Exception as exc:  # a unit without a scalar activation, a model that cannot run: no scores
        log.warning("cannot score the explanation of %s: %s", key, one_line(exc))
        return {}
    if score.error:
        log.info("the simulator of %s was not scored: %s", key, score.error)
    metrics = score.metrics()
    if metrics:
        set_scores(engine, explanation.id, metrics, score.model_dump())
    return metrics


def _unit_result(investigation_id: int, explanation: dict[str, Any], scores: dict[str, float]) -> UnitResult:
    return UnitResult(
        investigation_id=investigation_id,
        label=str(explanation["label"]),
        description=str(explanation["description"]),
        confidence=float(explanation["confidence"]),
        scores={k: round(v, 4) for k, v in scores.items()},
    )


def run_item(session: Session, item_id: int, *, owner: str, max_attempts: int, stale_after: float) -> ItemOutcome:
    """Claim item ``item_id`` and label it; return "labeled", "failed", "skipped" or "poisoned".

    A failed try puts the item back (`RetryItem` is raised so the caller tries again later) until its
    attempts are used up; then it is failed with the error. `StoreError` propagates untouched: nothing
    was written, and the same owner re-claims the item on its retry.
    """
    engine = session.engine
    outcome, claim = claim_item(engine, item_id, owner=owner, max_attempts=max_attempts, stale_after=stale_after)
    if claim is None:
        return outcome.value
    params = job_params(engine, claim.job_id)
    try:
        result = label_item(session, params, claim)
    except StoreError:
        raise
    except RetryItem:
        raise
    except Exception as exc:
        message = one_line(exc) if isinstance(exc, AutointerpError) else f"{type(exc).__name__}: {one_line(exc)}"
        if claim.attempt >= max_attempts:
            finish_item(engine, claim, error=f"failed after {claim.attempt} attempts: {message}")
            return "failed"
        release_item(engine, claim, message)
        raise RetryItem(f"{claim.row.key}: {message}") from exc
    finish_item(engine, claim, result=result.model_dump())
    return "labeled"


def enqueue_label_job(settings: Settings, job_id: int) -> None:
    """Send the job's prepare task to the ``gpu`` queue (it then fans out one task per unit)."""
    from workers.celery_app import TaskNames, create_app

    create_app(settings).send_task(TaskNames.label_prepare, args=[job_id])


def label_items(
    session: Session,
    item_ids: Sequence[int],
    *,
    owner: str,
    max_attempts: int,
    on_item: Callable[[int, str], None] | None = None,
) -> None:
    """Label the items one after the other in this process (a failed try is retried at once, until
    the item's attempts are used up); ``on_item(item_id, outcome)`` after each."""
    for item_id in item_ids:
        while True:
            try:
                outcome = run_item(session, item_id, owner=owner, max_attempts=max_attempts, stale_after=0.0)
                break
            except RetryItem as exc:
                log.warning("retrying %s", exc)
        if on_item is not None:
            on_item(item_id, outcome)


def label_share(settings_json: str, item_ids: list[int], threads: int) -> None:
    """A local child process's work (``workers.local_pool``): label the items of its share."""
    import torch

    torch.set_num_threads(threads)
    settings = Settings.model_validate_json(settings_json)
    label_items(Session(settings), item_ids, owner=f"local-{uuid.uuid4().hex}", max_attempts=settings.max_attempts)


def run_label_job_locally(
    settings: Settings,
    job_id: int,
    *,
    progress: bool = True,
    executor: Executor | None = None,
    on_item: Callable[[str, str], None] | None = None,
    processes: int = 1,
) -> JobView:
    """Run a label job to its end on this machine (tools on ``executor``, in-process by default).

    ``processes`` > 1 labels the units in that many local processes at once (``workers.local_pool``;
    only with the in-process executor); ``on_item`` then hears only of this process's units.
    A local run takes over items a crashed earlier run left ``running``; do not run a job locally
    while workers are running it.
    """
    session = Session(settings, executor=executor)
    engine = session.engine
    if not prepare_label_job(session.ctx, engine, job_id, progress=progress):
        return job_view(engine, job_id)
    owner = f"local-{uuid.uuid4().hex}"
    keys = {item.id: item.key for item in unfinished_items(engine, job_id) if item.id is not None}
    view = job_view(engine, job_id)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=view.progress.total, initial=view.progress.done, unit="unit", desc=f"job {job_id}")

    def tick() -> None:
        if bar is not None:
            bar.n = job_view(engine, job_id).progress.done
            bar.refresh()

    def done(item_id: int, outcome: str) -> None:
        if on_item is not None:
            on_item(keys[item_id], outcome)
        tick()

    parts = local_pool.shares(list(keys), processes if executor is None else 1)
    try:
        if len(parts) > 1:
            import torch

            threads = torch.get_num_threads()
            children = local_pool.start_children(label_share, settings, parts[1:], local_pool.torch_threads(len(parts)))
            torch.set_num_threads(local_pool.torch_threads(len(parts)))
            try:
                label_items(session, parts[0], owner=owner, max_attempts=settings.max_attempts, on_item=done)
                local_pool.wait_for(children, tick)
            finally:
                torch.set_num_threads(threads)
            left = [i.id for i in unfinished_items(engine, job_id) if i.id is not None]  # a child died
            label_items(session, left, owner=owner, max_attempts=settings.max_attempts, on_item=done)
        else:
            label_items(session, list(keys), owner=owner, max_attempts=settings.max_attempts, on_item=done)
    finally:
        if bar is not None:
            tick()
            bar.close()
    return refresh_job(engine, job_id)


def sweep_jobs(
    engine: Engine,
    *,
    stale_after: float,
    send_prepare: Callable[[int], None],
    send_unit: Callable[[int, int], None],
) -> dict[str, int]:
    """Re-send work the broker lost (a Redis restart without persistence, a purged queue) or a dead
    worker holds.

    A label job still ``queued`` whose prepare task was last sent more than ``stale_after`` seconds
    ago gets it again; for ``running`` jobs, every item queued or running whose last send or claim
    (``workers.claims.last_sent``) is older than ``stale_after`` gets a new task (claims make
    duplicates harmless). Each re-send is stamped (``sent_at``), so the next one waits a full period.
    Finished jobs are recounted. Returns what was re-sent.
    """
    now = utcnow()
    counts = {"prepared": 0, "items": 0, "refreshed": 0}
    for job in unfinished_jobs(engine, [JobKind.label]):
        assert job.id is not None
        if job.status is JobStatus.queued:
            if is_due(job, stale_after, now):
                send_prepare(job.id)
                stamp_sent(engine, Job, [job.id])
                counts["prepared"] += 1
            continue
        resend = [i.id for i in unfinished_items(engine, job.id) if i.id is not None and is_due(i, stale_after, now)]
        for item_id in resend:
            send_unit(job.id, item_id)
        stamp_sent(engine, JobItem, resend)
        counts["items"] += len(resend)
        if not resend and refresh_job(engine, job.id).status != "running":
            counts["refreshed"] += 1
    return counts


def item_ids(engine: Engine, job_id: int) -> list[int]:
    """Ids of the job's unfinished items."""
    return [i.id for i in unfinished_items(engine, job_id) if i.id is not None]
