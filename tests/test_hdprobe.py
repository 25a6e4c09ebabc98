"""Hyperdimensional probes (``tools.hdprobe``): the MAP algebra, targets, the encoder, decoding, the clear
errors, and every surface — the ``hd_probe`` tool through the registry, ``POST /tools/hd_probe``, the
``autointerp hdprobe`` commands and the ``hdprobe`` job (here, and on a real Celery worker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchhd
from torchhd import MAPTensor

from store.db import open_store
from store.errors import InputError
from store.hdprobes import find_hd_probe, list_hd_probes
from store.settings import Settings
from tests.cli_helpers import assert_clean_error, call_cli, cli_json
from tools.catalog import default_registry
from tools.context import ToolContext
from tools.executor import LocalExecutor, ToolCall
from tools.hdprobe.dataset import concepts, make_prompts, parse_prompt
from tools.hdprobe.encoder import EncoderConfig, bipolar, cosine_to_targets, train_encoder
from tools.hdprobe.features import kmeans_summary, parse_layers
from tools.hdprobe.vsa import make_codebook, rank, target, unbind_answer

#: A probe small enough to train on the tiny model in a few seconds.
SMALL = {"layers": "2:4", "dim": 512, "n_train": 96, "n_val": 16, "n_test": 16, "hidden": 32, "epochs": 3}
SMALL_CLI = ["--layers", "2:4", "--dim", "512", "--prompts", "96", "--val", "16", "--test", "16"]
SMALL_CLI += ["--hidden", "32", "--epochs", "3"]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: on a small shared machine many threads on tiny tensors spin far more than they work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------------- the algebra
def test_bind_is_its_own_inverse_and_bound_pairs_are_dissimilar() -> None:
    codebook = make_codebook(concepts(), 4096, seed=0)
    assert make_codebook(concepts(), 4096, seed=0).vectors.equal(codebook.vectors)  # seeded
    a, b = codebook.vector("France"), codebook.vector("Paris")
    bound = torchhd.bind(a, b)
    assert torch.equal(torchhd.bind(bound, a), b) and torch.equal(torchhd.bind(bound, b), a)  # MAP: A*A = 1
    assert abs(float(torchhd.cosine_similarity(MAPTensor(bound), a))) < 0.06
    assert rank(codebook, torchhd.bind(bound, a), 1) == [("Paris", pytest.approx(1.0))]


def test_target_is_the_normalized_multiset_of_the_bound_pairs() -> None:
    codebook = make_codebook(concepts(), 2048, seed=1)
    ab = torchhd.bind(codebook.vector("France"), codebook.vector("Paris"))
    cd = torchhd.bind(codebook.vector("Italy"), codebook.vector("Rome"))
    two = target(codebook, [("France", "Paris"), ("Italy", "Rome")])
    assert set(two.unique().tolist()) == {-1.0, 1.0}
    agree = ab == cd
    assert torch.equal(two[agree], ab[agree].as_subclass(torch.Tensor))  # agreeing coordinates keep the value
    assert bool((two[~agree] == -1).all())  # MAP's normalize sends the ties (0) to -1
    ef = torchhd.bind(codebook.vector("Spain"), codebook.vector("Madrid"))
    three = target(codebook, [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid")])
    assert torch.equal(three, torch.sign(ab + cd + ef).as_subclass(torch.Tensor))  # odd: a plain majority


@pytest.mark.parametrize(
    "pairs", [[("France", "Paris"), ("Italy", "Rome")], [("cat", "cats"), ("dog", "dogs"), ("ox", "oxen")]]
)
def test_decoding_ranks_the_planted_answer_first_even_with_noise(pairs: list[tuple[str, str]]) -> None:
    codebook = make_codebook(concepts(), 4096, seed=2)
    planted = target(codebook, pairs)
    known, (query, answer) = pairs[:-1], pairs[-1]
    clean = rank(codebook, unbind_answer(codebook, known, query, planted), 3)
    assert clean[0][0] == answer and clean[0][1] > 0.6 and clean[1][1] < 0.1
    flips = torch.rand(4096, generator=torch.Generator().manual_seed(0)) < 0.25
    noisy = rank(codebook, unbind_answer(codebook, known, query, torch.where(flips, -planted, planted)), 3)
    assert noisy[0][0] == answer and noisy[0][1] > 3 * noisy[1][1]


def test_encoder_learns_a_toy_mapping_and_keeps_the_best_epoch(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    centers, codes = torch.randn(8, 24, generator=g) * 3, bipolar(torch.randn(8, 256, generator=g))
    labels = torch.randint(0, 8, (320,), generator=g)
    x = centers[labels] + torch.randn(320, 24, generator=g)
    config = EncoderConfig(hidden=64, epochs=12, batch=32, lr=3e-3)
    checkpoint = tmp_path / "checkpoint.pt"
    encoder, outcome = train_encoder(
        x[:256], codes[labels[:256]], x[256:], codes[labels[256:]], config, checkpoint=checkpoint
    )
    assert outcome.best_val_cosine > 0.95 and len(outcome.history) == 12
    assert cosine_to_targets(encoder(x[256:]), codes[labels[256:]]) == pytest.approx(outcome.best_val_cosine)

    # An interrupted run (killed after epoch 5) resumes after its last finished epoch.
    def interrupt(done: int, _: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    broken = tmp_path / "broken.pt"
    with pytest.raises(KeyboardInterrupt):
        train_encoder(
            x[:256], codes[labels[:256]], x[256:], codes[labels[256:]], config, checkpoint=broken, on_epoch=interrupt
        )
    _, rest = train_encoder(x[:256], codes[labels[:256]], x[256:], codes[labels[256:]], config, checkpoint=broken)
    assert rest.resumed_from_epoch == 5 and len(rest.history) == 12 and rest.best_val_cosine > 0.9
    # Resuming a finished run trains no further epoch and gives the same encoder.
    again, resumed = train_encoder(
        x[:256], codes[labels[:256]], x[256:], codes[labels[256:]], config, checkpoint=checkpoint
    )
    assert resumed.resumed_from_epoch == 12 and resumed.best_epoch == outcome.best_epoch
    assert torch.equal(again(x[:4]), encoder(x[:4]))


def test_summary_prompts_and_parsing() -> None:
    states = torch.randn(3, 7, 16)
    summary = kmeans_summary(states, k=5)
    assert summary.shape == (3, 16) and torch.equal(summary, kmeans_summary(states, k=5))  # deterministic
    assert torch.allclose(kmeans_summary(states, k=7), states.sum(dim=1), atol=1e-5)  # one state per cluster
    assert parse_layers(None, 30) == (15, 30) and parse_layers("15:30", 30) == (15, 30)
    with pytest.raises(InputError, match="START < STOP <= 30"):
        parse_layers("20:40", 30)
    prompts = make_prompts(0, n_train=200, n_val=20, n_test_pairs=20, n_test_relations=20)
    assert make_prompts(0, n_train=200, n_val=20, n_test_pairs=20, n_test_relations=20) == prompts
    train_pairs = {p.pairs[-1] for p in prompts.train}
    assert not train_pairs & {p.pairs[-1] for p in prompts.test_pairs}  # held-out pairs are never trained on
    assert not {p.relation for p in prompts.train} & {p.relation for p in prompts.test_relations}
    for prompt in prompts.train[:50] + prompts.test_relations[:20]:
        assert parse_prompt(prompt.text) == (list(prompt.pairs[:-1]), prompt.query)
    with pytest.raises(InputError, match="unknown concept 'Atlantis'"):
        parse_prompt("France : Paris = Atlantis :")
    with pytest.raises(InputError, match="not a key-value prompt"):
        parse_prompt("The capital of France is")


# ---------------------------------------------------------------------------- the tool and surfaces
def _tool(ex: LocalExecutor, **args: object) -> dict[str, object]:
    outcome = ex.run(ToolCall(tool="hd_probe", args=args))
    assert outcome.ok and outcome.result is not None, outcome.error
    return outcome.result


def test_train_decode_and_the_tool_through_the_registry(home: Path, tiny_llama_dir: Path) -> None:
    model = str(tiny_llama_dir)
    ex = LocalExecutor(default_registry(), ToolContext(Settings()))
    untrained = ex.run(ToolCall(tool="hd_probe", args={"model": model, "texts": ["France : Paris = Italy :"]}))
    assert not untrained.ok and untrained.field == "layers" and "\n" not in (untrained.error or "")
    assert f"no HD probe is trained for {model}; train one with `autointerp hdprobe train --model {model}`" in (
        untrained.error or ""
    )
    assert_clean_error(
        call_cli("hdprobe", "decode", "--model", model, "--text", "France : Paris = Italy :"), "no HD probe"
    )

    trained = cli_json("hdprobe", "train", "--model", model, *SMALL_CLI)
    assert not trained["reused"] and trained["record"]["layer_start"] == 2 and trained["record"]["dim"] == 512
    assert {"val", "test_pairs", "test_relations", "val_cosine"} <= set(trained["metrics"])
    assert Path(trained["record"]["path"]).is_file()
    assert cli_json("hdprobe", "train", "--model", model, *SMALL_CLI)["reused"]  # a finished run is reused
    engine = open_store(Settings().db_url())
    assert [r.id for r in list_hd_probes(engine)] == [trained["record"]["id"]]

    texts = ["France : Paris = Italy :", "cat: cats, dog: dogs, mouse:"]
    out = _tool(ex, model=model, texts=texts, k=3)
    assert out["layers"] == "2:4" and out["dim"] == 512 and out["probe_id"] == trained["record"]["id"]
    results = out["results"]
    assert isinstance(results, list) and [r["query"] for r in results] == ["Italy", "mouse"]
    assert results[1]["pairs"] == [["cat", "cats"], ["dog", "dogs"]]
    assert all(len(r["concepts"]) == 3 and len(r["model_next_tokens"]) == 3 for r in results)
    sims = [c["similarity"] for c in results[0]["concepts"]]
    assert sims == sorted(sims, reverse=True)
    only = _tool(ex, model=model, texts=texts[:1], candidates=["Rome", "rome", "Madrid"], k=5)
    assert {c["concept"] for c in only["results"][0]["concepts"]} == {"Rome", "Madrid"}  # type: ignore[index]

    for args, field, fragment in (
        ({"texts": ["France : Paris = Atlantis :"]}, "texts", "unknown concept 'Atlantis'"),
        ({"texts": texts, "candidates": ["Gondor"]}, "candidates", "unknown concept 'Gondor'"),
        ({"texts": ["hello there"]}, "texts", "not a key-value prompt"),
        ({"texts": texts, "layers": "0:2"}, "layers", "--layers 0:2"),
    ):
        bad = ex.run(ToolCall(tool="hd_probe", args={"model": model, **args}))
        assert not bad.ok and bad.field == field and fragment in (bad.error or "") and "\n" not in (bad.error or "")
    decoded = cli_json("hdprobe", "decode", "--model", model, "--text", texts[0], "--k", "2")
    assert decoded["results"][0]["query"] == "Italy" and len(decoded["results"][0]["concepts"]) == 2
    ex.close()


def test_post_tools_hd_probe_and_post_jobs_hdprobe(home: Path, sqlite_url: str, tiny_llama_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from autointerp.api import create_app

    key = "test-key-0123456789"
    auth = {"Authorization": f"Bearer {key}"}
    model = str(tiny_llama_dir)
    cli_json("hdprobe", "train", "--model", model, *SMALL_CLI, "--db", sqlite_url)
    with TestClient(create_app(Settings(home=home, db=sqlite_url), api_key=key)) as client:
        tools = {t["name"]: t for t in client.get("/tools", headers=auth).json()}
        assert "analogy" in tools["hd_probe"]["description"] and tools["hd_probe"]["queue"] == "gpu"
        body = {"model": model, "texts": ["France : Paris = Italy :"], "k": 2}
        response = client.post("/tools/hd_probe", json=body, headers=auth)
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert result["results"][0]["query"] == "Italy" and len(result["results"][0]["concepts"]) == 2
        bad = client.post("/tools/hd_probe", json={**body, "texts": ["France : Paris = Atlantis :"]}, headers=auth)
        assert bad.status_code == 400 and "unknown concept 'Atlantis'" in bad.json()["detail"]
        assert client.post("/tools/hd_probe", json={**body, "k": 0}, headers=auth).status_code == 422
        wrong = client.post("/jobs", json={"kind": "hdprobe", "model": model, "layers": "2-4"}, headers=auth)
        assert wrong.status_code == 422 and "layers" in wrong.text


def test_hdprobe_job_runs_through_the_service_job_path(home: Path, tiny_llama_dir: Path) -> None:
    from workers.hdprobe import HDPROBE_TASK, hdprobe_folder
    from workers.jobs import job_view
    from workers.service_jobs import create_service_job, run_service_job, task_of

    assert task_of("hdprobe") == (HDPROBE_TASK, "gpu")
    settings = Settings()
    with pytest.raises(InputError, match="invalid hdprobe job parameters: dim"):
        create_service_job(settings, "hdprobe", {"model": str(tiny_llama_dir), "dim": 8})
    job_id = create_service_job(settings, "hdprobe", {"model": str(tiny_llama_dir), **SMALL})
    assert run_service_job(settings, job_id) == "ran"
    engine = open_store(settings.db_url())
    view = job_view(engine, job_id)
    assert view.status == "succeeded", view.error
    assert view.kind == "hdprobe" and view.progress.done == view.progress.total == 3 + 2
    report = json.loads((hdprobe_folder(settings, job_id) / "report.json").read_text())
    assert report["record"]["job_id"] == job_id
    stored = list_hd_probes(engine)
    assert len(stored) == 1 and stored[0].job_id == job_id and stored[0].layers == "2:4"
    # A job whose model cannot be loaded fails with one line, not a traceback.
    failing = create_service_job(settings, "hdprobe", {"model": str(tiny_llama_dir / "nope"), **SMALL})
    run_service_job(settings, failing)
    failed = job_view(engine, failing)
    assert failed.status == "failed" and failed.error and "\n" not in failed.error


@pytest.mark.services
def test_hdprobe_job_on_a_celery_worker(
    home: Path, pg_url: str, tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time
    import uuid

    from tests.test_service_jobs import worker
    from tests.test_workers import _env
    from workers.service_jobs import submit_service_job

    for key, value in _env(home, pg_url, f"t{uuid.uuid4().hex[:12]}:").items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    with worker(settings, ["gpu"]):
        job_id = submit_service_job(settings, "hdprobe", {"model": str(tiny_llama_dir), **SMALL}, "celery")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            shown = cli_json("jobs", "show", str(job_id))
            if shown["job"]["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
    assert shown["job"]["status"] == "succeeded", shown["job"]["error"]
    assert shown["job"]["kind"] == "hdprobe"
    record = find_hd_probe(open_store(settings.db_url()), list_hd_probes(open_store(settings.db_url()))[0].model_digest)
    assert record is not None and record.job_id == job_id


@pytest.mark.slow
def test_the_lens_of_the_last_layer_is_the_models_own_prediction(embedded_runtime) -> None:  # type: ignore[no-untyped-def]
    from tools.hdprobe.features import capture_states, logit_lens_topk

    texts = ["France : Paris = Italy :", "cat: cats, dog: dogs, mouse:"]
    states = capture_states(embedded_runtime, texts, (15, 30))
    assert states.states.shape == (2, 15, 576) and states.logits is not None
    lens = logit_lens_topk(embedded_runtime, states.states, k=5)
    assert torch.equal(lens[:, -1, :], states.logits.topk(5, dim=-1).indices)


def test_an_agent_uses_the_probe_and_cites_it_as_evidence(home: Path, tiny_llama_dir: Path) -> None:
    from agent.runner import explain, show
    from tests.test_agent import ScriptedChatModel, call, final

    model = str(tiny_llama_dir)
    cli_json("hdprobe", "train", "--model", model, *SMALL_CLI)
    question = {"model": model, "texts": ["France : Paris = Italy :", "cat: cats, dog: dogs, mouse:"], "k": 3}
    brain = ScriptedChatModel(messages=iter([]), script=[call("hd_probe", question, "p1"), final])
    result = explain("L1.mlp.3", model=model, backend="scripted", settings=Settings(), brain=brain)
    record = show(result.investigation_id, Settings())
    [experiment] = record["experiments"]
    assert experiment["tool"] == "hd_probe" and experiment["result_summary"]["ok"]
    assert "hd_probe" in {t["function"]["name"] for t in brain.bound}
    assert result.explanation is not None and result.explanation.evidence == [experiment["id"]]
