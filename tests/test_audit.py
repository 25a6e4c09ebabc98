"""Checkpoint audits on tiny models: the rule, re-explanation, reports, tracked units, the watcher."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from sqlmodel import select

from autointerp.cli.main import main
from store.db import open_store, session
from store.models import AuditRun, Job, JobKind, JobStatus, ModelRecordCreate, SubjectKind
from store.repo import get_or_create_subject, upsert_model_record
from store.settings import Settings
from workers.audit import AuditHooks, AuditRequest, ProbeSpec, run_audit
from workers.audit_report import write_report
from workers.claims import claim_job
from workers.service_jobs import submit_service_job
from workers.tracked import tracked_units
from workers.watch import scan_checkpoints

PROBE = ProbeSpec(windows=24, ctx_len=16, k=5)


@pytest.fixture(scope="module")
def checkpoints(model_root: Path, tiny_llama_dir: Path) -> tuple[Path, Path]:
    """(baseline, candidate): the candidate is the baseline with neuron L1.mlp.3 rewired (both under
    the model root, where a worker may load them)."""
    import torch
    from transformers import AutoModelForCausalLM

    candidate = model_root / "ckpt" / "step-2"
    shutil.copytree(tiny_llama_dir, candidate)
    model = AutoModelForCausalLM.from_pretrained(candidate)
    with torch.no_grad():
        torch.manual_seed(1)
        model.model.layers[1].mlp.gate_proj.weight[3].normal_(std=3.0)
        model.model.layers[1].mlp.up_proj.weight[3].mul_(-1.0)
    model.save_pretrained(candidate)
    return tiny_llama_dir, candidate


def _request(baseline: Path, candidate: Path, **extra: object) -> AuditRequest:
    fields = {"baseline": str(baseline), "candidate": str(candidate), "probe": PROBE, "explain": False}
    return AuditRequest.model_validate({**fields, **extra})


def test_changed_unit_is_found_and_unchanged_ones_are_not(home: Path, checkpoints: tuple[Path, Path]) -> None:
    baseline, candidate = checkpoints
    report = run_audit(_request(baseline, candidate, units=["L1.mlp.3", "L1.mlp.4", "L0.mlp.3"]), Settings())
    by_unit = {u.unit: u for u in report.units}
    assert report.changed == ["L1.mlp.3"]
    assert by_unit["L1.mlp.4"].mean_shift == pytest.approx(0.0, abs=1e-9) and by_unit["L1.mlp.4"].jaccard == 1.0
    assert by_unit["L0.mlp.3"].correlation == pytest.approx(1.0)
    assert by_unit["L1.mlp.3"].reasons
    assert report.probe_tokens == PROBE.windows * (PROBE.ctx_len - 1)
    assert "Jaccard < 0.5" in report.rule

    same = run_audit(_request(baseline, baseline, units=["L1.mlp.3"]), Settings())
    assert same.changed == []


def test_changed_units_are_re_explained(home: Path, checkpoints: tuple[Path, Path]) -> None:
    baseline, candidate = checkpoints
    asked: list[str] = []

    def explain(unit: str, model: str, request: AuditRequest, settings: Settings) -> tuple[str | None, int | None]:
        asked.append(unit)
        assert model == str(candidate)
        return f"new label of {unit}", 7

    progress: list[tuple[int, int]] = []
    report = run_audit(
        _request(baseline, candidate, units=["L1.mlp.3", "L1.mlp.4"], explain=True),
        Settings(),
        AuditHooks(progress=lambda done, total: progress.append((done, total)), explain=explain),
    )
    assert asked == ["L1.mlp.3"]
    changed = next(u for u in report.units if u.unit == "L1.mlp.3")
    assert changed.candidate_label == "new label of L1.mlp.3" and changed.candidate_investigation == 7
    assert progress[-1] == (4, 4)


def test_report_files(tmp_path: Path, home: Path, checkpoints: tuple[Path, Path]) -> None:
    baseline, candidate = checkpoints
    report = run_audit(_request(baseline, candidate, units=["L1.mlp.3", "L1.mlp.4"]), Settings())
    files = write_report(report, tmp_path / "report")
    markdown = Path(files.markdown).read_text()
    assert "## Changed units" in markdown and "| L1.mlp.3 |" in markdown and report.rule in markdown
    assert json.loads(Path(files.json_path).read_text())["changed"] == ["L1.mlp.3"]
    assert Path(files.plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_audit_cli(
    tmp_path: Path, home: Path, checkpoints: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, candidate = checkpoints
    units = tmp_path / "units.txt"
    units.write_text("L1.mlp.3  # the rewired one\nL1.mlp.4\n\n")
    out = tmp_path / "out"
    args = ["audit", "--baseline", str(baseline), "--candidate", str(candidate), "--units", str(units)]
    args += ["--probe-windows", "24", "--ctx", "16", "-k", "5", "--no-explain", "--out", str(out), "--json", "-"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == ["L1.mlp.3"]
    assert {p.name for p in out.iterdir()} == {"report.md", "report.json", "shift.png"}

    assert main(["audit", "--baseline", str(baseline), "--candidate", str(candidate)]) == 2
    assert "give units to audit" in capsys.readouterr().err
    bad = ["audit", "--baseline", str(baseline), "--candidate", str(candidate), "--unit", "L9.mlp.1", "--no-explain"]
    assert main(bad) == 2
    assert "L9" in capsys.readouterr().err
    assert main([*bad[:-3], "--tracked", "--no-explain"]) == 2
    assert "no tracked units" in capsys.readouterr().err


def test_tracked_units_are_those_with_stored_explanations(home: Path, sqlite_url: str, tiny_llama_dir: Path) -> None:
    from store.investigations import create_investigation, save_explanation

    engine = open_store(sqlite_url)
    record = upsert_model_record(
        engine, ModelRecordCreate(name=str(tiny_llama_dir.resolve()), source="folder", weights_digest="d" * 64)
    )
    assert record.id is not None
    for address, explained in (("L1.mlp.3", True), ("L0.mlp.10", True), ("L2.mlp.1", False)):
        subject = get_or_create_subject(engine, record.id, SubjectKind.mlp, address)
        assert subject.id is not None
        if explained:
            inv = create_investigation(engine, subject_id=subject.id, backend="builtin", thread_id=address, budget={})
            assert inv.id is not None
            fields = {"label": f"label {address}", "description": "d", "confidence": 0.5}
            save_explanation(engine, subject_id=subject.id, investigation_id=inv.id, fields=fields)
    assert tracked_units(engine, str(tiny_llama_dir)) == ["L0.mlp.10", "L1.mlp.3"]
    assert tracked_units(engine, "some-other-model") == []


def _watch_dir(root: Path, checkpoints: tuple[Path, Path]) -> Path:
    watch = root / "watch"
    watch.mkdir()
    shutil.copytree(checkpoints[1], watch / "step-2")
    shutil.copytree(checkpoints[1], watch / "step-3")
    (watch / "not-a-checkpoint").mkdir()
    (watch / "partial").mkdir()
    (watch / "partial" / "config.json").write_text("{}")
    return watch


def test_scan_enqueues_one_audit_per_checkpoint(
    tmp_path: Path, home: Path, sqlite_url: str, checkpoints: tuple[Path, Path]
) -> None:
    settings = Settings(home=home, db=sqlite_url)
    watch = _watch_dir(tmp_path, checkpoints)
    sent: list[int] = []

    def send(settings: Settings, kind: str, job_id: int) -> None:
        sent.append(job_id)

    first = scan_checkpoints(settings, watch, "tiny", str(checkpoints[0]), units=["L1.mlp.3"], send=send)
    assert len(first) == 2 and sent == first
    assert scan_checkpoints(settings, watch, "tiny", str(checkpoints[0]), units=["L1.mlp.3"], send=send) == []
    shutil.copytree(checkpoints[1], watch / "step-4")
    third = scan_checkpoints(settings, watch, "tiny", str(checkpoints[0]), units=["L1.mlp.3"], send=send)
    assert len(third) == 1
    with session(open_store(sqlite_url)) as db:
        runs = db.exec(select(AuditRun)).all()
        jobs = db.exec(select(Job)).all()
    assert sorted(Path(r.checkpoint).name for r in runs) == ["step-2", "step-3", "step-4"]
    assert len(jobs) == 3 and all(j.kind is JobKind.audit for j in jobs)
    with pytest.raises(Exception, match="does not exist"):
        scan_checkpoints(settings, tmp_path / "nope", "tiny", "x", send=send)


def test_audit_job_runs_once(tmp_path: Path, home: Path, sqlite_url: str, checkpoints: tuple[Path, Path]) -> None:
    settings = Settings(home=home, db=sqlite_url)
    params = {
        "baseline": str(checkpoints[0]),
        "candidate": str(checkpoints[1]),
        "units": ["L1.mlp.3"],
        "probe": PROBE.model_dump(),
        "explain": False,
    }
    job_id = submit_service_job(settings, "audit", params, executor="local")
    engine = open_store(sqlite_url)
    with session(engine) as db:
        job = db.get(Job, job_id)
    assert job is not None and job.status is JobStatus.succeeded and job.attempts == 1
    assert job.progress_done == job.progress_total == 1
    report = json.loads((home / "audits" / f"job-{job_id}" / "report.json").read_text())
    assert report["changed"] == ["L1.mlp.3"]
    finished = claim_job(engine, job_id, owner="another-task", stale_after=60, max_attempts=3)
    assert finished == ("skipped", None)  # finished: never again
    with pytest.raises(Exception, match="invalid audit job parameters: units"):
        submit_service_job(settings, "audit", {**params, "units": "L1"}, executor="local")


@pytest.mark.services
def test_concurrent_scans_on_postgres_create_one_audit_each(
    tmp_path: Path, pg_url: str, checkpoints: tuple[Path, Path]
) -> None:
    settings = Settings(home=tmp_path / "home", db=pg_url)
    watch = _watch_dir(tmp_path, checkpoints)
    open_store(pg_url)
    results: list[list[int]] = []
    barrier = threading.Barrier(4)

    def scan() -> None:
        barrier.wait()
        results.append(scan_checkpoints(settings, watch, "tiny", str(checkpoints[0]), units=["L1.mlp.3"], send=None))

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [job for result in results for job in result]
    assert len(created) == 2
    with session(open_store(pg_url)) as db:
        assert len(db.exec(select(AuditRun)).all()) == 2
        assert len(db.exec(select(Job)).all()) == 2  # the losers' jobs were rolled back with their AuditRun
