"""The agent from the command line: explain (builtin brain), show, resume of a finished run, and chat
driven through a real terminal (pty)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from tests.cli_helpers import assert_clean_error, call_cli, cli_json

SAMPLE_SUITE = Path(__file__).resolve().parent / "data" / "sample.jsonl"
ROOT = Path(__file__).resolve().parents[1]


def test_explain_and_show_a_string_function(home: Path) -> None:
    result = cli_json("explain", f"{SAMPLE_SUITE}#str-lower", "--agent", "builtin", home=home)
    assert set(result) == {"investigation_id", "subject", "explanation", "experiments", "seconds", "tokens"}
    explanation = result["explanation"]
    assert set(explanation) == {"label", "description", "code", "domain", "confidence", "evidence"}
    assert explanation["code"] and "def f" in explanation["code"] and result["experiments"] >= 1
    shown = cli_json("show", str(result["investigation_id"]), home=home)
    assert {"investigation", "experiments", "hypotheses", "evidence", "explanation", "scores"} == set(shown)
    assert shown["scores"] == {}  # a function is scored against its suite by `eval`; `explain` stores none
    assert all(e["tool"] == "call_function" for e in shown["experiments"])
    assert shown["explanation"]["label"] == explanation["label"]
    again = cli_json("explain", "--resume", str(result["investigation_id"]), home=home)
    assert again == result  # a finished investigation resumes to the same answer, running nothing


def test_explain_bad_input(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert_clean_error(
        call_cli("explain", f"{SAMPLE_SUITE}#str-lower", "--agent", "openai:gpt-4o", home=home), "OPENAI_API_KEY"
    )
    assert_clean_error(call_cli("explain", f"{SAMPLE_SUITE}#nope", home=home), "no function with id 'nope'")
    assert_clean_error(call_cli("explain", "--resume", "999", home=home), "no investigation with id 999")
    assert_clean_error(call_cli("explain", home=home), "give a SUBJECT")


def test_chat_in_a_terminal(home: Path) -> None:
    env = {**os.environ, "AUTOINTERP_HOME": str(home), "COLUMNS": "200"}
    command = [sys.executable, "-m", "autointerp", "chat", "--subject", f"{SAMPLE_SUITE}#str-reverse-bang"]
    child = pexpect.spawn(command[0], command[1:], env=env, cwd=str(ROOT), encoding="utf-8", timeout=120)
    try:
        child.expect(r"chat (\d+) on")
        investigation_id = child.match.group(1)
        child.expect("you>")
        child.sendline("/hypotheses")
        child.expect("you>")
        child.sendline("What does it do?")
        child.expect("agent>")
        child.expect("you>")
        child.sendline("/explain")
        child.expect("you>")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    transcript = cli_json("show", investigation_id, home=home)
    assert transcript["experiments"], "the agent ran experiments while chatting"
    resumed = pexpect.spawn(
        command[0], [*command[1:], "--thread", investigation_id], env=env, cwd=str(ROOT), encoding="utf-8", timeout=120
    )
    try:
        resumed.expect(f"continuing chat {investigation_id}")
        resumed.expect("you>")
        resumed.sendline("/hypotheses")
        resumed.expect("you>")
        resumed.sendline("/quit")
        resumed.expect(pexpect.EOF)
    finally:
        resumed.close()
