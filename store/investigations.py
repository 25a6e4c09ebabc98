"""Repository functions for investigations: their experiments, hypotheses, evidence and explanation.

Every write that comes from a tool call is keyed by the call's id, so replaying a call after a crash
finds the row it wrote the first time instead of adding another one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from store.db import session
from store.errors import StoreError
from store.models import (
    Evidence,
    Experiment,
    Explanation,
    Hypothesis,
    HypothesisStatus,
    Investigation,
    InvestigationStatus,
    Subject,
    utcnow,
)


def create_investigation(
    engine: Engine, *, subject_id: int, backend: str, thread_id: str, budget: dict[str, Any], job_id: int | None = None
) -> Investigation:
    """Start an investigation row (status running)."""
    with session(engine, write=True) as db:
        row = Investigation(subject_id=subject_id, backend=backend, thread_id=thread_id, budget=budget, job_id=job_id)
        db.add(row)
        db.flush()
        return row


def get_investigation(engine: Engine, investigation_id: int) -> Investigation:
    """The investigation, or StoreError naming the id."""
    with session(engine) as db:
        row = db.get(Investigation, investigation_id)
    if row is None:
        raise StoreError(f"no investigation with id {investigation_id}")
    return row


def find_latest_investigation(engine: Engine, subject_id: int, backend: str) -> Investigation | None:
    """The newest investigation of the subject run by ``backend`` (e.g. the layer planner's), or None."""
    with session(engine) as db:
        query = (
            select(Investigation)
            .where(Investigation.subject_id == subject_id, Investigation.backend == backend)
            .order_by(col(Investigation.id).desc())
        )
        return db.exec(query).first()


def find_subject(engine: Engine, subject_id: int) -> Subject | None:
    """The subject with this id (an investigation's ``subject_id``), if any."""
    with session(engine) as db:
        return db.get(Subject, subject_id)


def update_investigation(engine: Engine, investigation_id: int, **values: Any) -> Investigation:
    """Set fields of an investigation (tool_calls, tokens, seconds, status, finished_at...)."""
    with session(engine, write=True) as db:
        row = db.get(Investigation, investigation_id)
        if row is None:
            raise StoreError(f"no investigation with id {investigation_id}")
        for name, value in values.items():
            setattr(row, name, value)
        if values.get("status") in (InvestigationStatus.succeeded, InvestigationStatus.failed):
            row.finished_at = utcnow()
        db.add(row)
        db.flush()
        return row


def find_experiment(engine: Engine, investigation_id: int, call_id: str) -> Experiment | None:
    """The experiment a tool call already wrote, if any."""
    with session(engine) as db:
        query = select(Experiment).where(Experiment.investigation_id == investigation_id, Experiment.call_id == call_id)
        return db.exec(query).first()


def find_keyed_experiment(engine: Engine, cache_key: str) -> Experiment | None:
    """The oldest experiment stored under ``cache_key`` (a shared experiment found again), if any."""
    with session(engine) as db:
        query = select(Experiment).where(Experiment.cache_key == cache_key).order_by(col(Experiment.id))
        return db.exec(query).first()


def add_experiment(
    engine: Engine,
    *,
    investigation_id: int,
    call_id: str,
    tool: str,
    args: dict[str, Any],
    result: Any,
    seconds: float,
    cache_key: str | None = None,
    artifact_path: str | None = None,
) -> Experiment:
    """Record one tool call and what it returned (idempotent on the call id)."""
    existing = find_experiment(engine, investigation_id, call_id)
    if existing is not None:
        return existing
    with session(engine, write=True) as db:
        row = Experiment(
            investigation_id=investigation_id,
            call_id=call_id,
            tool=tool,
            args=args,
            result_summary=result,
            seconds=seconds,
            cache_key=cache_key,
            artifact_path=artifact_path,
        )
        db.add(row)
        db.flush()
        return row


def add_hypothesis(engine: Engine, *, investigation_id: int, call_id: str, text: str, confidence: float) -> Hypothesis:
    """Record a proposed hypothesis (idempotent on the call id)."""
    with session(engine, write=True) as db:
        query = select(Hypothesis).where(Hypothesis.investigation_id == investigation_id, Hypothesis.call_id == call_id)
        existing = db.exec(query).first()
        if existing is not None:
            return existing
        row = Hypothesis(investigation_id=investigation_id, call_id=call_id, text=text, confidence=confidence)
        db.add(row)
        db.flush()
        return row


def add_evidence(
    engine: Engine,
    *,
    investigation_id: int,
    hypothesis_id: int,
    experiment_ids: list[int],
    call_id: str,
    supports: bool,
    weight: float,
    note: str,
) -> list[Evidence]:
    """Link experiments to a hypothesis and update its status by the net weight of its evidence.

    Raises StoreError when the hypothesis or an experiment is not part of this investigation.
    """
    with session(engine, write=True) as db:
        hypothesis = db.get(Hypothesis, hypothesis_id)
        if hypothesis is None or hypothesis.investigation_id != investigation_id:
            raise StoreError(f"no hypothesis {hypothesis_id} in this investigation")
        found = db.exec(
            select(Experiment.id).where(
                col(Experiment.id).in_(experiment_ids), Experiment.investigation_id == investigation_id
            )
        ).all()
        missing = sorted(set(experiment_ids) - set(found))
        if missing:
            raise StoreError(f"experiments {missing} are not part of this investigation")
        rows = []
        for experiment_id in experiment_ids:
            query = select(Evidence).where(Evidence.call_id == call_id, Evidence.experiment_id == experiment_id)
            row = db.exec(query).first()
            if row is None:
                row = Evidence(
                    hypothesis_id=hypothesis_id,
                    experiment_id=experiment_id,
                    call_id=call_id,
                    supports=supports,
                    weight=weight,
                    note=note,
                )
                db.add(row)
            rows.append(row)
        db.flush()
        links = db.exec(select(Evidence).where(Evidence.hypothesis_id == hypothesis_id)).all()
        net = sum(e.weight if e.supports else -e.weight for e in links)
        hypothesis.status = (
            HypothesisStatus.supported if net > 0 else HypothesisStatus.refuted if net < 0 else HypothesisStatus.open
        )
        db.add(hypothesis)
        db.flush()
        return rows


def list_hypotheses(engine: Engine, investigation_id: int) -> list[Hypothesis]:
    """The investigation's hypotheses, oldest first."""
    with session(engine) as db:
        query = select(Hypothesis).where(Hypothesis.investigation_id == investigation_id).order_by(col(Hypothesis.id))
        return list(db.exec(query).all())


def _explanation_of(investigation_id: int) -> SelectOfScalar[Explanation]:
    """The investigation's explanations, newest version first (a chat may revise its explanation)."""
    return (
        select(Explanation).where(Explanation.investigation_id == investigation_id).order_by(col(Explanation.id).desc())
    )


def find_explanation(engine: Engine, investigation_id: int) -> Explanation | None:
    """The investigation's explanation (its newest version), once it has one."""
    with session(engine) as db:
        return db.exec(_explanation_of(investigation_id)).first()


def save_explanation(engine: Engine, *, subject_id: int, investigation_id: int, fields: dict[str, Any]) -> Explanation:
    """Store the investigation's explanation (one per investigation: a replay returns the first)."""
    with session(engine, write=True) as db:
        existing = db.exec(_explanation_of(investigation_id)).first()
        if existing is not None:
            return existing
        row = Explanation(subject_id=subject_id, investigation_id=investigation_id, **fields)
        db.add(row)
        db.flush()
        return row


EXPLANATION_FIELDS = ("label", "description", "code", "domain", "confidence", "evidence")
"""The fields a revision may change (and that tell a replayed revision from a new one)."""


def revise_explanation(
    engine: Engine, *, subject_id: int, investigation_id: int, fields: dict[str, Any]
) -> Explanation:
    """Store a new version of the investigation's explanation (a chat's revision; the first one when
    there is none). The newest version is the investigation's explanation from then on; the older
    ones stay. Fields equal to the newest version's return it: a replay after a crash adds nothing."""
    with session(engine, write=True) as db:
        newest = db.exec(_explanation_of(investigation_id)).first()
        if newest is not None and all(getattr(newest, k) == fields.get(k) for k in EXPLANATION_FIELDS):
            return newest
        row = Explanation(subject_id=subject_id, investigation_id=investigation_id, **fields)
        db.add(row)
        db.flush()
        return row


def investigation_record(engine: Engine, investigation_id: int) -> dict[str, Any]:
    """Everything stored about an investigation, as JSON-able dicts (for ``autointerp show``)."""
    investigation = get_investigation(engine, investigation_id)
    with session(engine) as db:
        experiments = db.exec(
            select(Experiment).where(Experiment.investigation_id == investigation_id).order_by(col(Experiment.id))
        ).all()
        hypotheses = db.exec(
            select(Hypothesis).where(Hypothesis.investigation_id == investigation_id).order_by(col(Hypothesis.id))
        ).all()
        hypothesis_ids = [h.id for h in hypotheses]
        evidence = (
            db.exec(
                select(Evidence).where(col(Evidence.hypothesis_id).in_(hypothesis_ids)).order_by(col(Evidence.id))
            ).all()
            if hypothesis_ids
            else []
        )
        explanation = db.exec(_explanation_of(investigation_id)).first()
    return {
        "investigation": investigation.model_dump(mode="json"),
        "experiments": [e.model_dump(mode="json") for e in experiments],
        "hypotheses": [h.model_dump(mode="json") for h in hypotheses],
        "evidence": [e.model_dump(mode="json") for e in evidence],
        "explanation": explanation.model_dump(mode="json") if explanation else None,
    }
