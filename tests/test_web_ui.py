"""The web UI (autointerp/api/ui) in a real headless Chromium (Debian's, driven by Playwright)
against a real ``autointerp serve``: the login, the explanations list with its filters, an
investigation's transcript with SVG plots and a streamed chat reply, a label job's progress bar
reaching 100%, an audit report's shift plot, and model-generated strings shown as text, never run.

Without Chromium (``make browser-deps`` installs it) or Playwright, every test here is skipped with
one line saying why. Screenshots of the main pages are saved under the module's temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from store.db import open_store
from store.investigations import (
    add_experiment,
    add_hypothesis,
    create_investigation,
    save_explanation,
    update_investigation,
)
from store.models import InvestigationStatus, JobCreate, JobKind, JobStatus, SubjectKind
from store.repo import create_job, get_or_create_subject, set_job_status
from store.settings import Settings
from tests.serve_helpers import KEY, served

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - a dev dependency
    pytest.skip(
        "playwright is not installed (pip install -e '.[dev]'); the web UI is not tested", allow_module_level=True
    )

EVIL_LABEL = "<script>window.pwned=1</script>"
EVIL_DESCRIPTION = '<img src=x onerror="window.pwned=2"> fires on <b>bold</b> tags'
EVIL_TOKENS = ['<img src=x onerror="window.pwned=3">', "<script>window.pwned=4</script>", " safe"]


@dataclass
class Site:
    """The served API, its home, and what the fixtures stored in it."""

    base: str
    home: Path
    model: str
    investigation: int
    evil: int
    audit: int
    shots: Path


def _chromium() -> str:
    path = os.environ.get("AUTOINTERP_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on this machine (`make browser-deps` installs Debian's); the web UI is not tested")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (its own browser download is not used)."""
    executable = _chromium()
    driver = sync_playwright().start()
    try:
        chromium = driver.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
    except Exception as exc:
        driver.stop()
        pytest.skip(f"Chromium at {executable} cannot be started: {str(exc).strip().splitlines()[0]}")
    yield chromium
    chromium.close()
    driver.stop()


def _get(base: str, path: str) -> Any:
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def _post(base: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def _store_evil_investigation(settings: Settings) -> int:
    """An investigation whose every model-generated string is markup (through the store's functions)."""
    engine = open_store(settings.db_url())
    subject = get_or_create_subject(engine, None, SubjectKind.string, "evil.jsonl#x")
    assert subject.id is not None
    row = create_investigation(engine, subject_id=subject.id, backend="builtin", thread_id="evil", budget={})
    assert row.id is not None
    result = {"model": "m", "subject": "L0.mlp.0", "results": [
        {"text": "".join(EVIL_TOKENS), "tokens": EVIL_TOKENS, "activations": [0.5, 1.0, -0.2], "max": 1.0, "argmax": 1}
    ]}  # fmt: skip
    experiment = add_experiment(
        engine, investigation_id=row.id, call_id="c1", tool="activations", args={"texts": EVIL_TOKENS},
        result={"ok": True, "result": result}, seconds=0.1,
    )  # fmt: skip
    assert experiment.id is not None
    add_hypothesis(engine, investigation_id=row.id, call_id="h1", text=EVIL_DESCRIPTION, confidence=0.5)
    fields = {"label": EVIL_LABEL, "description": EVIL_DESCRIPTION, "confidence": 0.9, "evidence": [experiment.id]}
    save_explanation(engine, subject_id=subject.id, investigation_id=row.id, fields=fields)
    update_investigation(engine, row.id, status=InvestigationStatus.succeeded)
    return row.id


def _store_audit(settings: Settings) -> int:
    """A finished audit job with its report.json where the workers write it."""
    from workers.audit import AuditReport, ProbeSpec, audit_folder, rule_text

    engine = open_store(settings.db_url())
    job = create_job(engine, JobCreate(kind=JobKind.audit, params={"baseline": "a", "candidate": "b"}))
    assert job.id is not None
    set_job_status(engine, job.id, JobStatus.succeeded)

    def unit(name: str, shift: float, jaccard: float, changed: bool) -> dict[str, Any]:
        stats = {"mean": 0.1, "std": 0.2, "max": 1.0, "frac_firing": 0.3, "top_windows": [1, 2]}
        return {
            "unit": name, "baseline": stats, "candidate": {**stats, "mean": 0.1 + shift * 0.2}, "mean_shift": shift,
            "jaccard": jaccard, "correlation": 0.9, "changed": changed, "reasons": ["mean shift"] if changed else [],
            "baseline_label": "<i>old</i>", "candidate_label": "new label" if changed else None,
        }  # fmt: skip

    units = [unit("L1.mlp.0", 0.1, 0.9, False), unit("L1.mlp.1", 1.4, 0.2, True), unit("L1.mlp.2", 0.3, 0.7, False)]
    report = AuditReport(
        model="tiny", baseline="a", candidate="b", probe=ProbeSpec(), probe_tokens=4096, rule=rule_text(0.5, 0.5),
        tau=0.5, jaccard_min=0.5, units=units, changed=["L1.mlp.1"],  # type: ignore[arg-type]
    )  # fmt: skip
    folder = audit_folder(settings, job.id)
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(report.model_dump_json())
    return job.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tiny_llama_dir: Path, browser: Any) -> Iterator[Site]:
    """``autointerp serve`` on a fresh home, with an investigation of a tiny model's neuron by the
    builtin agent (through the API), an investigation full of markup and an audit report (through
    the store)."""
    root = tmp_path_factory.mktemp("web-ui")
    home = root / "home"
    home.mkdir()
    settings = Settings(home=home)
    with served(home) as base:
        model = str(tiny_llama_dir)
        started = _post(base, "/investigations", {"subject": "L1.mlp.3", "model": model, "budget": {"tool_calls": 8}})
        deadline = time.monotonic() + 240
        while _get(base, f"/investigations/{started['id']}")["investigation"]["status"] == "running":
            assert time.monotonic() < deadline, "the investigation did not finish"
            time.sleep(0.5)
        shots = root / "screenshots"
        shots.mkdir()
        yield Site(base, home, model, started["id"], _store_evil_investigation(settings), _store_audit(settings), shots)


def _signed_in(browser: Any, site: Site, **options: Any) -> Any:
    """A fresh tab (its own sessionStorage) in a new context, signed in."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, **options)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(f"{site.base}/ui/")
    tab.fill("#key", KEY)
    tab.click("#login-form button[type=submit]")
    tab.wait_for_selector("#nav", state="visible")
    return tab


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A signed-in tab, the page's Content-Security-Policy in force."""
    tab = _signed_in(browser, site)
    yield tab
    tab.context.close()


@pytest.fixture
def page_without_csp(browser: Any, site: Site) -> Iterator[Any]:
    """A signed-in tab that ignores the Content-Security-Policy: what the page's own escaping holds."""
    tab = _signed_in(browser, site, bypass_csp=True)
    yield tab
    tab.context.close()


def test_the_shell_is_public_and_holds_no_data(browser: Any, site: Site) -> None:
    with urllib.request.urlopen(f"{site.base}/ui/") as answer:
        html = answer.read().decode()
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert "L1.mlp" not in html and "login-form" in html
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{site.base}/ui/#/explanations")
    assert tab.is_visible("#login") and not tab.is_visible("#nav")
    assert tab.inner_text("#main").strip() == ""
    tab.fill("#key", "wrong-key-xxxx")
    tab.click("#login-form button[type=submit]")
    tab.wait_for_selector("#login-error:has-text('invalid API key')")
    assert tab.evaluate("sessionStorage.getItem('autointerp.key')") is None
    context.close()


def test_explanations_investigation_plots_and_chat(page: Any, site: Site) -> None:
    page.wait_for_selector("#explanations tr.hit")
    kinds = page.locator("#explanations tr.hit td:nth-child(2)")
    expect(kinds.filter(has_text="string")).to_have_count(1)  # the stored one below, beside the units
    page.select_option("select[name=kind]", "mlp")
    page.click("#search-form button")
    expect(kinds.filter(has_text="string")).to_have_count(0)
    assert set(kinds.all_inner_texts()) == {"mlp"}
    page.fill("input[name=layer]", "7")
    page.click("#search-form button")
    page.wait_for_selector("#explanations :text('no explanations match')")
    page.fill("input[name=layer]", "1")
    page.click("#search-form button")
    page.wait_for_selector("#explanations tr.hit")
    page.screenshot(path=str(site.shots / "explanations.png"), full_page=True)

    page.click("#explanations tr.hit a")
    page.wait_for_selector("#transcript .experiment")
    assert page.url.endswith(f"#/investigations/{site.investigation}")
    tools = page.locator("#transcript .experiment h3 .mono").all_inner_texts()
    assert "exemplars" in tools and "activations" in tools
    assert page.locator("svg.histogram rect.bar").count() > 10  # drawn from the exemplars result
    assert page.locator("#transcript .tokens .tok").count() > 20  # highlighted tokens of contexts and texts
    assert page.inner_text("#explanation-label").strip()
    assert page.locator(".hypothesis").count() >= 1

    page.fill("#chat-input", "What does this unit respond to?")
    page.click("#chat-form button[type=submit]")
    page.wait_for_selector("#chat-log .bubble.reply", timeout=180_000)
    assert page.inner_text("#chat-log .bubble.reply").strip()
    assert page.locator("#chat-log .steps li").count() >= 1
    page.screenshot(path=str(site.shots / "investigation.png"), full_page=True)


def test_label_job_progress_reaches_100(page: Any, site: Site) -> None:
    """The page queues the job (``POST /jobs``); a worker, here the local runner on the same store,
    labels it while the page polls ``GET /jobs``."""
    from workers.label import run_label_job_locally

    page.goto(f"{site.base}/ui/#/jobs")
    page.wait_for_selector("#label-form")
    page.fill("#label-form input[name=model]", site.model)
    page.fill("#label-form input[name=layer]", "1")
    page.fill("#label-form input[name=units]", "4:2")
    page.click("#label-form button[type=submit]")
    page.wait_for_selector("main .error:has-text('units')")
    assert (
        page.inner_text("main p.error")
        == "body.label.units: units '4:2' is an empty range; the end must exceed the start"
    )

    page.fill("#label-form input[name=units]", "0:2")
    page.fill("#label-form input[name=budget]", "4")
    page.fill("#label-form input[name=max_tokens]", "1000")
    page.click("#label-form button[type=submit]")
    row = page.locator("#jobs tr.job", has=page.locator("td:text-is('label')")).first
    row.wait_for()
    job_id = int(row.get_attribute("id").removeprefix("job-"))
    assert row.get_attribute("data-status") == "queued"
    worker = threading.Thread(
        target=run_label_job_locally, args=(Settings(home=site.home), job_id), kwargs={"progress": False}
    )
    worker.start()
    page.wait_for_selector(f"#job-{job_id} .progress[data-percent='100']", timeout=240_000)
    page.wait_for_selector(f"#job-{job_id}[data-status='succeeded']")
    assert "2 / 2 (100%)" in page.inner_text(f"#job-{job_id} .progress-text")
    worker.join(timeout=60)
    page.screenshot(path=str(site.shots / "jobs.png"), full_page=True)


def test_audit_report_page(page: Any, site: Site) -> None:
    page.goto(f"{site.base}/ui/#/audits/{site.audit}")
    page.wait_for_selector("svg.shift")
    assert page.locator("svg.shift circle.dot").count() == 3
    assert page.locator("svg.shift circle.changed").count() == 1
    assert "1 of 3 units changed" in page.text_content("svg.shift .plot-title")
    assert "<i>old</i>" in page.inner_text("main")
    page.screenshot(path=str(site.shots / "audit.png"), full_page=True)
    page.goto(f"{site.base}/ui/#/audits/999999")
    page.wait_for_selector("main p.error")
    assert page.inner_text("main p.error") == "no job with id 999999"


def test_model_strings_are_shown_as_text_never_run(page_without_csp: Any, site: Site) -> None:
    """Without the CSP's help (bypassed), markup in labels, descriptions, hypotheses and tokens stays text."""
    page = page_without_csp
    page.fill("input[name=q]", "script")
    page.click("#search-form button")
    page.wait_for_selector(f"#explanations td.label:has-text('{EVIL_LABEL}')")
    page.goto(f"{site.base}/ui/#/investigations/{site.evil}")
    page.wait_for_selector("#explanation-label")
    assert page.inner_text("#explanation-label") == EVIL_LABEL
    assert EVIL_DESCRIPTION in page.inner_text("main .explanation")
    assert EVIL_TOKENS[0] in page.inner_text("#transcript")
    assert page.locator("main script, main img, main b, main i").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"
    page.screenshot(path=str(site.shots / "escaped.png"), full_page=True)
