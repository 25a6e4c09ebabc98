"""Shared fixtures.

Store: ``sqlite_url`` (a fresh SQLite file under tmp_path) and ``pg_url`` (a fresh schema in the test
PostgreSQL, dropped afterwards; set ``AUTOINTERP_TEST_PG`` to point elsewhere). Tests that use
``pg_url`` must be marked ``services``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from store.db import engines
from tools.runtime.testing import build_tiny_model

PG_BASE_URL = os.environ.get("AUTOINTERP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """URL of a SQLite file that does not exist yet (its folder neither); its engine is disposed after."""
    url = f"sqlite:///{tmp_path / 'store' / 'autointerp.db'}"
    yield url
    engines.dispose(url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of the test PostgreSQL with ``search_path`` set to a new, empty schema ``t_<hex>``.

    Only that schema is created and dropped (CASCADE); nothing else in the database is touched.
    """
    schema = f"t_{uuid.uuid4().hex}"
    admin = sa.create_engine(PG_BASE_URL, connect_args={"connect_timeout": 5}, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"test PostgreSQL at {PG_BASE_URL} is unreachable ({str(exc.orig).splitlines()[0]}); "
            "start it, set AUTOINTERP_TEST_PG, or deselect with -m 'not services'"
        )
    separator = "&" if "?" in PG_BASE_URL else "?"
    url = f"{PG_BASE_URL}{separator}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        engines.dispose(url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


# --------------------------------------------------------------------------------------------------
# Models: tiny random models built from a config (fast), and the real embedded model (slow)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder the tests' tiny models live in. The API and the workers load local models only
    from their model roots (``AUTOINTERP_MODEL_ROOTS``), so for the session this folder is one;
    tests of the confinement itself set their own roots."""
    root = tmp_path_factory.mktemp("models")
    previous = os.environ.get("AUTOINTERP_MODEL_ROOTS")
    os.environ["AUTOINTERP_MODEL_ROOTS"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("AUTOINTERP_MODEL_ROOTS", None)
    else:
        os.environ["AUTOINTERP_MODEL_ROOTS"] = previous


@pytest.fixture(scope="session")
def tiny_llama_dir(model_root: Path) -> Path:
    """Folder of a tiny random Llama-family model with its own tokenizer (under the model root)."""
    return build_tiny_model(model_root / "tiny-llama", "llama")


@pytest.fixture(scope="session")
def tiny_gpt2_dir(model_root: Path) -> Path:
    """Folder of a tiny random GPT-2 model with its own tokenizer (under the model root)."""
    return build_tiny_model(model_root / "tiny-gpt2", "gpt2")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache home (and default SQLite store) for one test, set in the environment."""
    path = tmp_path / "home"
    monkeypatch.setenv("AUTOINTERP_HOME", str(path))
    monkeypatch.delenv("AUTOINTERP_DB", raising=False)
    return path


def _shared_model_home() -> Path:
    from store.settings import Settings

    configured = os.environ.get("AUTOINTERP_TEST_MODEL_HOME")
    return Path(configured) if configured else Settings().home


#: Cache home for the embedded model's converted weights, shared by every test run (converted once).
#: Read at import, before any test changes AUTOINTERP_HOME.
SHARED_MODEL_HOME = _shared_model_home()


@pytest.fixture(scope="session")
def embedded_home() -> Path:
    """The shared home with the embedded model fetched and converted."""
    from tools.runtime.embedded import ensure_embedded

    path = SHARED_MODEL_HOME
    path.mkdir(parents=True, exist_ok=True)
    ensure_embedded(path)
    return path


@pytest.fixture
def home_with_embedded(home: Path, embedded_home: Path) -> Path:
    """A fresh cache home whose models/ and downloads/ link to the shared converted embedded model."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("models", "downloads"):
        if (embedded_home / name).is_dir():
            (home / name).symlink_to(embedded_home / name, target_is_directory=True)
    return home


@pytest.fixture(scope="session")
def embedded_runtime(embedded_home: Path):  # type: ignore[no-untyped-def]
    """The real SmolLM2-135M-Instruct in a runtime (loaded once per session)."""
    from store.settings import Settings
    from tools.runtime.loading import load_model
    from tools.runtime.model_runtime import ModelRuntime

    return ModelRuntime(load_model("smollm2-135m", Settings(home=embedded_home)))
