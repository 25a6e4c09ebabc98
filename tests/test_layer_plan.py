"""The layer planner (``agent.layer_plan``): the word survey runs once per layer for a label job, every
unit's investigation records it as its own experiment and cites it, the builtin reads its column
instead of running the survey, and an LLM agent finds it in its first message."""

from __future__ import annotations

from pathlib import Path

import torch
from sqlmodel import select

from agent.graph import Budget
from agent.layer_plan import ensure_layer_plan
from agent.runner import Session, show
from store.db import open_store, session
from store.models import Experiment, JobItem
from store.settings import Settings
from tools.effects.ablation import corpus_texts
from tools.effects.ablation_estimates import exact_zero_effects, zero_ablation_estimates
from tools.shared_runs.site_texts import read_unit
from workers.label import submit_label_job

PARAMS = {"layer": 1, "budget": 8, "max_tokens": 2000}


def _experiments(settings: Settings, tool: str) -> list[Experiment]:
    with session(open_store(settings.db_url())) as db:
        return list(db.exec(select(Experiment).where(Experiment.tool == tool)).all())


def _investigations(settings: Settings, job_id: int) -> list[int]:
    with session(open_store(settings.db_url())) as db:
        items = db.exec(select(JobItem).where(JobItem.job_id == job_id)).all()
    return [int(i.investigation_id or 0) for i in items]


def test_the_survey_runs_once_per_layer_and_every_unit_cites_it(home: Path, tiny_llama_dir: Path) -> None:
    settings = Settings()
    model = str(tiny_llama_dir)
    first = submit_label_job(settings, {"model": model, "units": "0:2", **PARAMS}, executor="local")
    second = submit_label_job(settings, {"model": model, "units": "2:3", **PARAMS}, executor="local")
    [shared] = _experiments(settings, "shared_survey")  # two jobs on the layer: one shared run of each
    [effects] = _experiments(settings, "shared_ablation")
    assert shared.investigation_id == effects.investigation_id  # both experiments of the layer investigation
    assert shared.args["site"] == "L1.mlp" and Path(str(shared.artifact_path)).is_dir()
    for job_id in (first, second):
        for investigation_id in _investigations(settings, job_id):
            record = show(investigation_id, settings)
            [own] = [e for e in record["experiments"] if e["args"].get("shared_experiment") == shared.id]
            assert own["call_id"] == "shared-survey" and own["result_summary"]["result"]["from_experiment"] == shared.id
            assert own["id"] in record["explanation"]["evidence"]  # the explanation cites it
            sizes = [len(e["args"].get("texts") or []) for e in record["experiments"] if e["tool"] == "activations"]
            assert max(sizes, default=0) < 100  # the survey was read from the shared run, not run again
            [ablation] = [e for e in record["experiments"] if e["tool"] == "ablate"]  # none run per unit
            assert ablation["call_id"] == "shared-ablation" and ablation["args"]["estimate"] == "attribution"
            assert ablation["args"]["shared_experiment"] == effects.id
    unit_plan = {"model": model, "units": "3:4", "plan": "unit", **PARAMS, "budget": 12}
    per_unit = submit_label_job(settings, unit_plan, executor="local")
    [investigation_id] = _investigations(settings, per_unit)
    record = show(investigation_id, settings)
    assert not [e for e in record["experiments"] if e["args"].get("shared_experiment")]
    assert sum(len(e["args"].get("texts") or []) for e in record["experiments"] if e["tool"] == "activations") > 500
    assert len(_experiments(settings, "shared_survey")) == 1 and len(_experiments(settings, "shared_ablation")) == 1


def test_an_llm_agent_reads_the_shared_survey_in_its_first_message(home: Path, tiny_llama_dir: Path) -> None:
    settings = Settings()
    model = str(tiny_llama_dir)
    run = Session(settings)
    shared = ensure_layer_plan(run.engine, run.ctx.runtime(model), settings, "L1.mlp.0")
    again = ensure_layer_plan(run.engine, run.ctx.runtime(model), settings, "L1.mlp.7")
    assert again == shared  # found again, not run again
    investigation_id, messages = run.create("L1.mlp.2", model, "openai:scripted", Budget(tool_calls=4), shared=shared)
    text = str(messages[1].content)
    rows = read_unit(shared.survey.run, 2)
    assert len(rows) == shared.survey.texts and all(len(tokens) == len(acts) for tokens, acts in rows)
    assert "Already run for the whole layer (cite these experiments" in text and "strongest survey words" in text
    assert '"shared": {"survey": {"experiment_id": ' in text and '"column": 2' in text
    assert "Zeroing it changes the loss on 32 corpus passages" in text and '"ablation": {"experiment_id": ' in text
    assert str(run.first_messages(investigation_id)[1].content) == text  # a resumed investigation sees the same
    other = run.create("L0.mlp.2", model, "openai:scripted", Budget(tool_calls=4), shared=shared)[1]
    assert "Already run" not in str(other[1].content)  # another layer's unit gets nothing of L1's


def test_label_units_all_and_plan_on_the_command_line(home: Path, tiny_llama_dir: Path) -> None:
    from autointerp.cli.worker_cmd import _all_units
    from tests.cli_helpers import assert_clean_error, call_cli

    settings = Settings()
    model = str(tiny_llama_dir)
    width = Session(settings).ctx.runtime(model).shape.d_mlp
    assert _all_units(open_store(settings.db_url()), settings, model, 1, None) == f"0:{width}"
    bad = call_cli("label", "--model", model, "--layer", "1", "--units", "all", "--plan", "everything")
    assert_clean_error(bad, "plan")
    bad = call_cli("label", "--model", model, "--layer", "1", "--units", "0:2", "--processes", "zero")
    assert_clean_error(bad, "--processes must be a number from 1 to 64 or auto")


def test_the_shared_ablation_estimates_follow_exact_ablation(home: Path, tiny_llama_dir: Path) -> None:
    runtime = Session(Settings()).ctx.runtime(str(tiny_llama_dir))
    texts = corpus_texts("builtin", 6)
    estimates, losses = zero_ablation_estimates(runtime, "L1.mlp", texts)
    assert estimates.shape == (6, runtime.shape.d_mlp) and losses.shape == (6,)
    strongest = estimates.abs().mean(dim=0).argsort(descending=True)[:8].tolist()
    exact = exact_zero_effects(runtime, [f"L1.mlp.{u}" for u in strongest], texts)
    pairs = torch.stack([estimates[:, strongest].flatten(), exact.flatten()])
    assert torch.corrcoef(pairs)[0, 1] > 0.9  # a first-order estimate of the same change of the loss
    baseline = exact_zero_effects(runtime, [], texts)
    assert baseline.shape == (6, 0)
