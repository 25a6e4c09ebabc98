"""The eval runner: explain every item of a suite with an agent, score it, store ground truth and
scores, and summarise by kind (FIND's headline score per kind)."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from tqdm import tqdm

from agent.graph import Budget
from agent.runner import ExplanationOut, explain
from evals.calibration import Item, oracle_explanation, random_explanation
from evals.scoring.delphi import delphi_scores
from evals.scoring.scorers import (
    Evaluator,
    default_string_tests,
    detection_score,
    score_numeric,
    score_string,
    unit_test_accuracy,
)
from evals.suite import ModelUnitItem, NumericItem, StringItem, SuiteError, load_suite
from store.db import open_store
from store.errors import AutointerpError, InputError
from store.evaluations import record_scored_explanation
from store.explanations import explanation_of
from store.models import SubjectKind
from store.repo import get_or_create_subject
from store.settings import Settings
from store.suites import stored_ref
from tools.context import ToolContext
from tools.files import FileAccess

_KIND = {"numeric": SubjectKind.numeric, "string": SubjectKind.string, "entity": SubjectKind.entity}


class ItemResult(BaseModel):
    """One item's explanation and scores (``score`` is FIND's headline for its kind)."""

    id: str
    kind: str
    score: float | None = None
    passed: bool | None = None
    label: str | None = None
    description: str | None = None
    code: str | None = None
    seconds: float = 0.0
    tool_calls: int = 0
    unit_test_acc: float | None = None
    detection: float | None = None
    fuzzing: float | None = None
    nmse: float | None = None
    family: str | None = None
    complication: str | None = None
    error: str | None = None


class KindSummary(BaseModel):
    """Means over the items of one kind (items that errored count as 0 in ``score``)."""

    n: int
    score: float | None
    unit_test_acc: float | None = None
    detection: float | None = None
    fuzzing: float | None = None


class EvalResult(BaseModel):
    """What ``autointerp eval`` returns."""

    suite: str
    agent: str
    evaluator: str
    by_kind: dict[str, KindSummary]
    items: list[ItemResult]
    errors: list[SuiteError] = Field(default_factory=list)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarise(items: list[ItemResult]) -> dict[str, KindSummary]:
    """Per-kind means; an item that failed to run scores 0."""
    groups: dict[str, list[ItemResult]] = defaultdict(list)
    for item in items:
        groups[item.kind].append(item)
    return {
        kind: KindSummary(
            n=len(members),
            score=_mean([m.score if m.error is None else 0.0 for m in members]),
            unit_test_acc=_mean([m.unit_test_acc for m in members]),
            detection=_mean([m.detection for m in members]),
            fuzzing=_mean([m.fuzzing for m in members]),
        )
        for kind, members in sorted(groups.items())
    }


def score_item(item: Item, explanation: ExplanationOut, evaluator: Evaluator) -> dict[str, Any]:
    """Every score of one explanation of one item."""
    scores: dict[str, Any] = {}
    if item.unit_tests:
        scores["unit_test_acc"] = unit_test_accuracy(evaluator, explanation.description, item.unit_tests)
    if isinstance(item, NumericItem):
        numeric = score_numeric(item.code, explanation.code, item.domain)
        scores.update(score=1.0 if numeric.passed else 0.0, passed=numeric.passed, nmse=numeric.nmse)
    elif isinstance(item, StringItem):
        tests = item.tests or default_string_tests(item.id)
        string = score_string(item.code, explanation.code, tests)
        scores.update(score=string.hit_rate, passed=string.hit_rate == 1.0)
    elif isinstance(item, ModelUnitItem):
        scores["detection"] = detection_score(evaluator, explanation.description, item.positives, item.negatives)
        scores["score"] = scores.get("unit_test_acc")
    else:
        scores["score"] = scores.get("unit_test_acc")
    return scores


class Runner:
    """Runs one suite with one agent and one evaluator, storing ground truth and scores."""

    def __init__(
        self,
        suite_path: str,
        agent: str,
        evaluator: Evaluator,
        *,
        settings: Settings | None = None,
        budget: Budget | None = None,
        seed: int = 0,
        files: FileAccess | None = None,
    ) -> None:
        """``suite_path`` is a suite file or ``suite:NAME`` (an uploaded suite); files (the suite and
        any its items name) are read under ``files``: local by default (the CLI), confined to the data
        roots for an eval job (``evals.suite.service_files``)."""
        self.files = files if files is not None else FileAccess()
        local_file = stored_ref(suite_path) is None and not self.files.confined
        # a local path is made absolute (items are addressed by it later, from anywhere); a confined one
        # stays as given (it is looked up in the roots again) and an uploaded one is a name
        self.suite_path = str(Path(suite_path).resolve()) if local_file else suite_path
        self.agent = agent
        self.evaluator = evaluator
        self.settings = settings or Settings()
        if self.settings.db is None:
            self.settings.ensure_home()
        self.engine = open_store(self.settings.db_url())
        self.budget = budget or Budget()
        self.rng = random.Random(seed)

    def explain(self, item: Item) -> tuple[ExplanationOut, int | None, int, float]:
        """(explanation, stored explanation id, tool calls, seconds) from the agent."""
        started = time.perf_counter()
        if self.agent == "oracle":
            return oracle_explanation(item), None, 0, time.perf_counter() - started
        if self.agent == "random":
            return random_explanation(item, self.rng), None, 0, time.perf_counter() - started
        if isinstance(item, ModelUnitItem):
            result = explain(
                item.unit,
                model=item.model,
                backend=self.agent,
                settings=self.settings,
                budget=self.budget,
                files=self.files,
            )
        else:
            result = explain(
                f"{self.suite_path}#{item.id}",
                backend=self.agent,
                settings=self.settings,
                budget=self.budget,
                files=self.files,
            )
        if result.explanation is None:
            raise AutointerpError(f"the agent wrote no explanation for {item.id}")
        explanation_id = self._explanation_id(result.investigation_id)
        return result.explanation, explanation_id, result.experiments, time.perf_counter() - started

    def _delphi(self, item: ModelUnitItem, description: str) -> dict[str, Any]:
        """Delphi detection and fuzzing on held-out contexts, for a unit without ground-truth texts."""
        runtime = ToolContext(settings=self.settings, _engine=self.engine, files=self.files).runtime(item.model)
        score = delphi_scores(runtime, item.unit, description, self.evaluator)
        return {"detection": score.detection, "fuzzing": score.fuzzing}

    def _explanation_id(self, investigation_id: int) -> int | None:
        row = explanation_of(self.engine, investigation_id)
        return row.id if row else None

    def _store(
        self, item: Item, explanation: ExplanationOut, explanation_id: int | None, scores: dict[str, Any]
    ) -> None:
        kind = _KIND.get(item.kind, SubjectKind.mlp)
        subject = get_or_create_subject(self.engine, None, kind, f"{self.suite_path}#{item.id}")
        record_scored_explanation(
            self.engine,
            subject_id=subject.id or 0,
            suite=self.suite_path,
            spec=item.model_dump(mode="json"),
            explanation_id=explanation_id,
            explanation=explanation.model_dump(),
            scores=scores,
            details={"agent": self.agent, "evaluator": self.evaluator.name},
        )

    def run_item(self, item: Item) -> ItemResult:
        """Explain and score one item; an error is recorded on the item, never raised."""
        meta = item.metadata()
        result = ItemResult(
            id=item.id, kind=item.kind, family=meta.get("family"), complication=meta.get("complication")
        )
        try:
            explanation, explanation_id, tool_calls, seconds = self.explain(item)
            scores = score_item(item, explanation, self.evaluator)
            if isinstance(item, ModelUnitItem) and not (item.positives and item.negatives):
                scores.update(self._delphi(item, explanation.description))
            self._store(item, explanation, explanation_id, scores)
        except AutointerpError as exc:
            result.error = str(exc)
            return result
        return result.model_copy(
            update={
                "label": explanation.label,
                "description": explanation.description,
                "code": explanation.code,
                "seconds": round(seconds, 3),
                "tool_calls": tool_calls,
                **scores,
            }
        )

    def run(
        self, *, limit: int | None = None, progress: bool = True, on_item: Callable[[ItemResult], None] | None = None
    ) -> EvalResult:
        """Every item (or the first ``limit``), in file order; the suite's bad lines are reported as
        ``invalid`` items (and in ``errors``) with their line numbers, and the good ones still run.
        InputError when the suite cannot be read, or has no valid item."""
        suite = load_suite(self.suite_path, files=self.files, store=lambda: self.engine)
        if not suite.items:
            first = f" ({suite.errors[0].message})" if suite.errors else ""
            raise InputError(f"suite {self.suite_path} has no valid items{first}")
        items = suite.items[:limit] if limit else suite.items
        results: list[ItemResult] = []
        for item in tqdm(items, desc=f"eval {self.agent}", unit="item", disable=not progress):
            outcome = self.run_item(item)
            results.append(outcome)
            if on_item is not None:
                on_item(outcome)
        for error in suite.errors:
            results.append(ItemResult(id=error.id or f"line {error.line}", kind="invalid", error=error.message))
        return EvalResult(
            suite=self.suite_path,
            agent=self.agent,
            evaluator=self.evaluator.name,
            by_kind=summarise([r for r in results if r.kind != "invalid"]),
            items=results,
            errors=suite.errors,
        )
