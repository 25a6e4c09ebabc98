"""Units of one site share the forward passes of the texts they have in common
(``tools.runtime.site_text_cache``, read by ``tools.runtime.queries.unit_series``), and a label job
can run in several local processes (``workers.local_pool``), each unit still labeled exactly once."""

from __future__ import annotations

from pathlib import Path

import torch
from sqlmodel import select

from agent.runner import Session
from store.db import open_store, session
from store.models import Investigation, JobItem
from store.settings import Settings
from tools.runtime.queries import unit_series
from tools.runtime.site_text_cache import SiteTextCache
from workers.jobs import find_or_create_label_job, validate_params
from workers.label import run_label_job_locally
from workers.local_pool import auto_processes, shares

TEXTS = ["The cat sat on the mat.", "She wrote river on the board.", "Numbers: 1, 2, 3."]


def test_units_of_a_site_share_forward_passes_and_read_the_same_values(home: Path, tiny_llama_dir: Path) -> None:
    runtime = Session(Settings()).ctx.runtime(str(tiny_llama_dir))
    cache = runtime.site_texts
    _, ids, first = unit_series(runtime, "L1.mlp.3", TEXTS)
    assert cache.misses == 3 and cache.hits == 0
    _, again_ids, other = unit_series(runtime, "L1.mlp.7", [TEXTS[1], "A new text here.", TEXTS[0]])
    assert cache.hits == 2 and cache.misses == 4  # two texts came from the first unit's pass
    direct = runtime.run([TEXTS[1], "A new text here.", TEXTS[0]], ["L1.mlp.7"])
    for values, row in zip(other, direct.captures["L1.mlp.7"], strict=True):
        assert torch.allclose(torch.tensor(values), row.float(), atol=1e-5)
    assert again_ids[0] == ids[1] and again_ids[2] == ids[0]
    assert [len(v) for v in first] == [len(i) for i in ids]
    _, _, heads = unit_series(runtime, "L1.attn.h0", TEXTS)  # a head is a norm, never read from the cache
    assert cache.hits == 2 and len(heads) == 3


def test_the_cache_is_bounded_in_bytes_and_can_be_off(home: Path, tiny_llama_dir: Path) -> None:
    cache = SiteTextCache(max_bytes=3 * 4 * 10)  # three [1, 10] float32 entries
    for i in range(5):
        cache.put("L1.mlp", "", f"text {i}", [i], torch.full((1, 10), float(i)))
    assert cache.bytes <= cache.max_bytes and cache.get("L1.mlp", "", "text 0") is None
    kept = cache.get("L1.mlp", "", "text 4")
    assert kept is not None and kept[0] == [4] and float(kept[1][0, 0]) == 4.0
    assert cache.get("L1.mlp", "other-sae", "text 4") is None  # other SAE weights: another entry
    off = Session(Settings(site_cache_mb=0)).ctx.runtime(str(tiny_llama_dir))
    unit_series(off, "L1.mlp.3", TEXTS)
    unit_series(off, "L1.mlp.3", TEXTS)
    assert off.site_texts.bytes == 0 and off.site_texts.hits == 0


def test_a_label_job_in_two_local_processes_labels_every_unit_once(home: Path, tiny_llama_dir: Path) -> None:
    settings = Settings()
    engine = open_store(settings.db_url())
    params = validate_params("label", {"model": str(tiny_llama_dir), "layer": 1, "units": "0:6", "budget": 8})
    job_id, _ = find_or_create_label_job(engine, params)
    heard: list[str] = []
    view = run_label_job_locally(
        settings, job_id, progress=False, processes=2, on_item=lambda key, outcome: heard.append(key)
    )
    assert view.status == "succeeded" and view.progress.done == 6
    assert sorted(heard) == ["L1.mlp.0", "L1.mlp.2", "L1.mlp.4"]  # this process's share; a child did the rest
    with session(engine) as db:
        items = db.exec(select(JobItem).where(JobItem.job_id == job_id)).all()
        investigations = db.exec(select(Investigation).where(Investigation.job_id == job_id)).all()
    assert all(i.status == "succeeded" and i.attempts == 1 for i in items)
    assert sorted(i.id for i in investigations) == sorted(int(i.investigation_id or 0) for i in items)  # one each


def test_how_work_is_shared_between_processes() -> None:
    assert shares([1, 2, 3, 4, 5], 2) == [[1, 3, 5], [2, 4]]
    assert shares([1], 4) == [[1]]
    assert auto_processes(10) == 1
