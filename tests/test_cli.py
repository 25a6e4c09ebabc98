"""The CLI end to end on a tiny local model folder: JSON outputs, and every bad input's one-line error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli_helpers import assert_clean_error, call_cli, cli_json, run_cli


def _build_args(model: Path) -> tuple[str, ...]:
    """``cache build`` of L1.mlp of the tiny model: 4000 tokens in 16-token contexts, k = 5."""
    return ("cache", "build", "--model", str(model), "--layer", "1", "--max-tokens", "4000", "--ctx", "16", "-k", "5")


@pytest.fixture
def built(tiny_llama_dir: Path, home: Path) -> dict[str, object]:
    """A cache of L1.mlp of the tiny model, built through the CLI into a fresh home."""
    result = cli_json(*_build_args(tiny_llama_dir), home=home)
    assert isinstance(result, dict)
    return result


def test_models_info_and_activations(tiny_llama_dir: Path, tiny_gpt2_dir: Path, home: Path) -> None:
    info = cli_json("models", "info", str(tiny_llama_dir), home=home)
    assert {k: info[k] for k in ("n_layers", "d_model", "d_mlp", "n_heads")} == {
        "n_layers": 4,
        "d_model": 64,
        "d_mlp": 96,
        "n_heads": 4,
    }
    assert "L3.attn.h3" in info["sites"] and "L0.resid_pre" in info["sites"] and info["family"] == "llama"
    assert cli_json("models", "info", str(tiny_gpt2_dir), home=home)["family"] == "gpt2"
    acts = cli_json(
        "activations",
        "--model",
        str(tiny_llama_dir),
        "--unit",
        "L2.mlp.7",
        "--text",
        "The cat sat.",
        home=home,
    )
    assert acts["unit"] == "L2.mlp.7" and acts["model"] == str(tiny_llama_dir)
    assert len(acts["tokens"]) == len(acts["activations"]) == len(acts["token_ids"]) > 0
    head = cli_json("activations", "-m", str(tiny_llama_dir), "-u", "L1.attn.h2", "-t", "The cat sat.", home=home)
    assert all(v >= 0 for v in head["activations"])  # head: norm of its output vector


def test_human_output_and_json_file(tiny_llama_dir: Path, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "acts.json"
    proc = run_cli(
        "activations",
        "-m",
        str(tiny_llama_dir),
        "-u",
        "L0.mlp.1",
        "-t",
        "A cat.",
        "--json",
        str(out),
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    assert "activation" in proc.stdout and out.is_file()


def test_cache_build_then_exemplars(built: dict[str, object], tiny_llama_dir: Path, home: Path) -> None:
    assert built["site"] == "L1.mlp" and built["reused"] is False and built["n_contexts"] == 250
    assert Path(str(built["path"])).is_file()
    again = cli_json(*_build_args(tiny_llama_dir), home=home)
    assert again["reused"] is True and again["cache_id"] == built["cache_id"]
    ex = cli_json("exemplars", "--model", str(tiny_llama_dir), "--unit", "L1.mlp.3", "-k", "3", home=home)
    assert ex["unit"] == "L1.mlp.3" and len(ex["exemplars"]) == 3
    first = ex["exemplars"][0]
    assert set(first) == {"text", "tokens", "token_ids", "activations", "max"}
    assert len(first["tokens"]) == len(first["activations"]) == 16
    assert first["max"] >= ex["exemplars"][1]["max"] >= ex["exemplars"][2]["max"]
    assert [q["quantile"] for q in ex["quantiles"]] == list(range(10))
    assert {"count", "mean", "std", "min", "max", "frac_firing", "histogram"} <= set(ex["stats"])
    assert ex["stats"]["max"] == pytest.approx(first["max"], abs=1e-6)
    plot = home / "plots" / "hist.png"
    human = run_cli("exemplars", "--model", str(tiny_llama_dir), "--unit", "L1.mlp.3", "--plot", str(plot), home=home)
    assert human.returncode == 0 and "quantile 9" in human.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_gives_one_line_errors(tiny_llama_dir: Path, home: Path, tmp_path: Path) -> None:
    model = str(tiny_llama_dir)
    assert_clean_error(call_cli("models", "info", "no-such-model-anywhere!", home=home), "unknown model")
    bad_gguf = tmp_path / "broken.gguf"
    bad_gguf.write_bytes(b"GGUF" + b"\xff" * 64)
    assert_clean_error(call_cli("models", "info", str(bad_gguf), home=home), "cannot read GGUF file", "broken.gguf")
    unreadable = tmp_path / "secret.gguf"
    unreadable.write_bytes(b"")
    assert_clean_error(call_cli("models", "info", str(unreadable), home=home), "cannot read GGUF file")
    assert_clean_error(call_cli("activations", "-m", model, "-u", "L1.neuron.3", "-t", "x", home=home), "malformed")
    assert_clean_error(call_cli("activations", "-m", model, "-u", "L9.mlp.3", "-t", "x", home=home), "layers 0..3")
    assert_clean_error(
        call_cli("activations", "-m", model, "-u", "L1.mlp.500", "-t", "x", home=home),
        "valid indices are 0..95",
    )
    assert_clean_error(
        call_cli("activations", "-m", model, "-u", "L1.mlp", "-t", "x", home=home), "whole site, not a unit"
    )
    assert_clean_error(call_cli("activations", "-m", model, "-u", "L1.mlp.3", "-t", "  ", home=home), "empty")
    assert_clean_error(call_cli("cache", "build", "-m", model, "--layer", "7", home=home), "layers 0..3")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 au lait\n\nna\xefve".encode("latin-1"))
    assert_clean_error(
        call_cli("cache", "build", "-m", model, "--layer", "1", "--corpus", str(latin1), home=home),
        "latin1.txt",
        "UTF-8",
    )
    assert_clean_error(
        call_cli("exemplars", "-m", model, "-u", "L2.mlp.1", home=home),
        "no exemplar cache",
        "autointerp cache build",
    )


def test_long_text_warns_and_truncates(tiny_llama_dir: Path, home: Path) -> None:
    proc = run_cli(
        "activations",
        "-m",
        str(tiny_llama_dir),
        "-u",
        "L0.mlp.0",
        "-t",
        "word " * 300,
        "--json",
        "-",
        home=home,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "truncated to the first 128" in proc.stderr


def test_environment_errors_damage_nothing(
    built: dict[str, object], tiny_llama_dir: Path, home: Path, tmp_path: Path
) -> None:
    db_file = home / "autointerp.db"
    before = sqlite3.connect(db_file).execute("select count(*) from exemplar_cache").fetchone()
    model = str(tiny_llama_dir)
    assert_clean_error(
        call_cli(
            "cache",
            "build",
            "-m",
            model,
            "--layer",
            "1",
            "--db",
            "postgresql+psycopg://u:pw@127.0.0.1:5999/x",
            home=home,
        ),
        "cannot connect",
        "u:***@127.0.0.1:5999",
    )
    assert_clean_error(
        call_cli("cache", "build", "-m", model, "--layer", "1", "--db", "nosuchdb://x", home=home), "nosuchdb"
    )
    assert_clean_error(call_cli("models", "fetch", home=Path("/proc/autointerp-home")), "cache home")
    a_file = tmp_path / "plain-file"
    a_file.write_text("not a folder")
    assert_clean_error(call_cli("cache", "build", "-m", model, "--layer", "1", home=a_file / "home"), "cache home")
    after = sqlite3.connect(db_file).execute("select count(*) from exemplar_cache").fetchone()
    assert before == after == (1,)
    again = cli_json("exemplars", "--model", model, "--unit", "L1.mlp.3", home=home)
    assert again["unit"] == "L1.mlp.3"


@pytest.mark.services
def test_cache_build_on_postgres(tiny_llama_dir: Path, home: Path, pg_url: str) -> None:
    result = cli_json(
        "cache",
        "build",
        "-m",
        str(tiny_llama_dir),
        "--site",
        "L2.resid_post",
        "--max-tokens",
        "2000",
        "--ctx",
        "16",
        "--db",
        pg_url,
        home=home,
    )
    assert result["site"] == "L2.resid_post"
    ex = cli_json("exemplars", "-m", str(tiny_llama_dir), "-u", "L2.resid.5", "-k", "2", "--db", pg_url, home=home)
    assert len(ex["exemplars"]) == 2


def test_db_upgrade(home: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'explicit.db'}"
    proc = call_cli("db", "upgrade", "--db", url, home=home)
    assert proc.returncode == 0, proc.stderr
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "explicit.db").execute(
            "select name from sqlite_master where type='table'"
        )
    }
    assert {"model_record", "exemplar_cache", "explanation", "alembic_version"} <= tables
