"""The file-access policy (``tools.files.FileAccess``) and the suite readers built on it.

Confined (the API, its jobs, the workers): only regular files under the data roots, resolved with
symlinks and ``..``; one message for a missing and a forbidden path; a size cap and a line cap,
read streaming. Local (the CLI): any regular file, helpful messages; devices, FIFOs and directories
are refused before they are opened. And a malformed suite line no longer hides the lines after it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from evals.suite import BUILTIN_SUITES, data_roots, load_suite, service_files
from store.errors import FileAccessError, InputError
from store.settings import Settings
from tools.files import FileAccess
from tools.functions.suite import load_suite_function, read_suite, suite_lines

LINE = {"id": "lin", "kind": "numeric", "code": "def f(x):\n    return 2*x + 1\n", "description": "2x+1"}
NOT_AVAILABLE = "is not available: this service reads only regular files under its data roots"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A data root holding one suite, ``suite.jsonl``."""
    folder = tmp_path / "root"
    folder.mkdir()
    (folder / "suite.jsonl").write_text(json.dumps(LINE) + "\n")
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A readable suite file outside the root (a secret, as far as the policy is concerned)."""
    path = tmp_path / "secret.jsonl"
    path.write_text(json.dumps({**LINE, "id": "secret"}) + "\n")
    return path


def confined(root: Path, **caps: int) -> FileAccess:
    return FileAccess([root], max_bytes=caps.get("max_bytes", 1 << 20), max_line_bytes=caps.get("max_line_bytes", 4096))


def refusal(access: FileAccess, path: str | Path) -> str:
    """The message refusing ``path``, with the path itself replaced by ``P``."""
    with pytest.raises(FileAccessError) as info:
        list(access.lines(path, "suite file"))
    message = str(info.value)
    assert "\n" not in message
    return re.sub(r"^suite file '[^']*'", "suite file P", message)


def rss_bytes() -> int:
    """Resident memory of this process now."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------------------- confined


def test_a_file_under_the_root_is_read_by_relative_or_absolute_path(root: Path) -> None:
    access = confined(root)
    assert access.confined and access.resolve("suite.jsonl") == root.resolve() / "suite.jsonl"
    assert access.resolve(root / "suite.jsonl") == root.resolve() / "suite.jsonl"
    assert [n for n, _ in access.lines("suite.jsonl")] == [1]
    assert load_suite_function("suite.jsonl#lin", files=access).description == "2x+1"
    (root / "sub").mkdir()
    (root / "sub" / "b.jsonl").write_text(json.dumps(LINE) + "\n")
    assert load_suite_function("sub/../sub/b.jsonl#lin", files=access).line == 1  # .. that stays inside is fine


def test_every_refusal_reads_the_same_whether_the_path_exists_or_not(root: Path, outside: Path, tmp_path: Path) -> None:
    access = confined(root)
    (root / "escape.jsonl").symlink_to(outside)
    (root / "dir.jsonl").mkdir()
    os.mkfifo(root / "fifo.jsonl")
    (root / "zero.jsonl").symlink_to("/dev/zero")
    hostile = [
        outside,  # exists, outside
        tmp_path / "missing.jsonl",  # missing, outside
        root / "missing.jsonl",  # missing, inside
        "../secret.jsonl",  # exists, .. escapes
        "../nothing.jsonl",  # missing, .. escapes
        "escape.jsonl",  # a symlink in the root to a file outside
        "dir.jsonl",  # a directory
        "fifo.jsonl",  # a FIFO (never opened: opening it would block)
        "zero.jsonl",  # a symlink to a device
        "/dev/zero",
        "/etc/passwd",
        "/etc",
        "suite.jsonl\0.txt",
        "",
        "x" * 10_000,
    ]
    messages = {refusal(access, path) for path in hostile}
    assert messages == {f"suite file P {NOT_AVAILABLE} (AUTOINTERP_DATA_ROOTS)"}


def test_a_symlink_inside_the_roots_is_followed(root: Path) -> None:
    (root / "alias.jsonl").symlink_to(root / "suite.jsonl")
    access = confined(root)
    assert load_suite_function("alias.jsonl#lin", files=access).id == "lin"


def test_relative_paths_are_looked_up_in_each_root_in_turn(tmp_path: Path, root: Path) -> None:
    second = tmp_path / "second"
    second.mkdir()
    (second / "only-here.jsonl").write_text(json.dumps({**LINE, "id": "two"}) + "\n")
    access = FileAccess([root, second], max_bytes=1 << 20, max_line_bytes=4096)
    assert load_suite_function("only-here.jsonl#two", files=access).id == "two"
    assert load_suite_function("suite.jsonl#lin", files=access).id == "lin"


def test_size_cap_refuses_a_large_file_before_reading_it(root: Path) -> None:
    big = root / "big.jsonl"
    with big.open("wb") as handle:  # sparse: 4 GiB that take no disk
        handle.truncate(4 << 30)
    before = rss_bytes()
    started = time.perf_counter()
    with pytest.raises(FileAccessError, match=r"'big.jsonl' is 4294967296 bytes, over the 1048576-byte limit"):
        list(confined(root).lines("big.jsonl"))
    assert time.perf_counter() - started < 1.0 and rss_bytes() - before < 16 << 20


def test_a_file_that_grows_past_the_cap_while_read_is_cut_off(root: Path) -> None:
    path = root / "growing.jsonl"
    path.write_bytes(b"x" * 50)
    access = confined(root, max_bytes=100)
    with access.open("growing.jsonl") as handle:
        assert handle.read(10) == b"x" * 10
        with path.open("ab") as more:
            more.write(b"y" * 1000)
        with pytest.raises(FileAccessError, match="over the 100-byte limit"):
            handle.read()


def test_line_cap_names_the_line(root: Path) -> None:
    path = root / "long.jsonl"
    path.write_bytes(b"a" * 10 + b"\n" + b"b" * 16 + b"\n" + b"c" * 17 + b"\n")
    access = confined(root, max_line_bytes=16)
    lines = access.lines("long.jsonl")
    assert next(lines) == (1, b"a" * 10 + b"\n") and next(lines) == (2, b"b" * 16 + b"\n")
    with pytest.raises(
        FileAccessError, match=r"'long.jsonl' line 3 is longer than 16 bytes \(AUTOINTERP_MAX_LINE_BYTES\)"
    ):
        next(lines)


def test_one_endless_line_costs_at_most_the_line_cap(root: Path) -> None:
    """A 64 MiB line with a 16 MiB file cap and a 1 MiB line cap: refused after 1 MiB, memory flat."""
    path = root / "endless.jsonl"
    with path.open("wb") as handle:
        handle.truncate(64 << 20)  # zeros, no newline
    access = FileAccess([root], max_bytes=128 << 20, max_line_bytes=1 << 20)
    before = rss_bytes()
    with pytest.raises(FileAccessError, match="line 1 is longer than 1048576 bytes"):
        load_suite("endless.jsonl", files=access)
    assert rss_bytes() - before < 32 << 20


def test_service_files_default_to_the_builtin_suites_and_home_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home")
    assert data_roots(settings) == [BUILTIN_SUITES, tmp_path / "home" / "suites"]
    access = service_files(settings)
    assert access.roots == (BUILTIN_SUITES.resolve(), (tmp_path / "home" / "suites").resolve())
    assert (access.max_bytes, access.max_line_bytes) == (16 << 20, 1 << 20)
    assert load_suite_function("sample.jsonl#num-parabola", files=access).kind == "numeric"  # the built-in
    assert not load_suite("heldout_strings.jsonl", files=access).errors
    monkeypatch.setenv("AUTOINTERP_DATA_ROOTS", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    monkeypatch.setenv("AUTOINTERP_MAX_FILE_BYTES", "1000")
    env = Settings(home=tmp_path / "home")
    assert data_roots(env) == [tmp_path / "a", tmp_path / "b"] and service_files(env).max_bytes == 1000
    monkeypatch.setenv("AUTOINTERP_DATA_ROOTS", json.dumps([str(tmp_path / "c")]))
    assert data_roots(Settings()) == [tmp_path / "c"]
    monkeypatch.setenv("AUTOINTERP_DATA_ROOTS", "")
    nothing = service_files(Settings())
    assert (
        nothing.roots == ()
        and refusal(nothing, "sample.jsonl") == f"suite file P {NOT_AVAILABLE} (AUTOINTERP_DATA_ROOTS)"
    )


# ------------------------------------------------------------------------------------------ local


def test_local_access_reads_any_regular_file_and_says_why_not(root: Path, outside: Path, tmp_path: Path) -> None:
    local = FileAccess()
    assert not local.confined
    assert load_suite_function(f"{outside}#secret").id == "secret"  # the CLI's user reads their own files
    with pytest.raises(FileAccessError, match="not found"):
        list(local.lines(tmp_path / "missing.jsonl", "suite file"))
    with pytest.raises(FileAccessError, match="is a directory, not a file"):
        list(local.lines(tmp_path, "suite file"))
    os.mkfifo(tmp_path / "fifo")
    before = rss_bytes()
    started = time.perf_counter()
    for special in ("/dev/zero", "/dev/urandom", tmp_path / "fifo"):
        with pytest.raises(FileAccessError, match=r"is not a regular file \(a device, FIFO or socket\)"):
            load_suite_function(f"{special}#x")
    assert time.perf_counter() - started < 1.0 and rss_bytes() - before < 16 << 20


def test_a_fifo_swapped_in_after_the_check_cannot_block(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the stat and the open a path may become a FIFO: O_NONBLOCK and fstat refuse it at once."""
    access = confined(root)
    path = root / "swap.jsonl"
    path.write_text("{}\n")
    checked = access._check("swap.jsonl", "suite file")  # the check the open starts with
    path.unlink()
    os.mkfifo(path)
    monkeypatch.setattr(FileAccess, "_check", lambda self, path, what: checked)  # the race, made certain
    done = threading.Event()
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            access.open("swap.jsonl", "suite file")
        except BaseException as exc:
            errors.append(exc)
        done.set()

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    assert done.wait(5), "opening a FIFO blocked"
    assert len(errors) == 1 and isinstance(errors[0], FileAccessError) and NOT_AVAILABLE in str(errors[0])


# ---------------------------------------------------------------------------- malformed lines (item 7)


def _suite_with_a_bad_line(folder: Path) -> Path:
    path = folder / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({**LINE, "id": "first"}),
                "{not json",
                json.dumps({"kind": "numeric"}),  # no id
                json.dumps({**LINE, "id": "after"}),
                json.dumps({"id": "nodesc", "kind": "numeric", "code": "def f(x):\n    return x\n"}),
            ]
        )
        + "\n"
    )
    return path


def test_a_malformed_line_does_not_hide_the_functions_after_it(tmp_path: Path) -> None:
    path = _suite_with_a_bad_line(tmp_path)
    assert load_suite_function(f"{path}#after").line == 4
    assert load_suite_function(f"{path}#first").line == 1
    with pytest.raises(InputError) as info:  # the line asked for is named, not an earlier bad one
        load_suite_function(f"{path}#nodesc")
    assert f"suite file {path} line 5 (id 'nodesc') has no 'description'" in str(info.value)
    with pytest.raises(InputError) as missing:  # an id on no readable line: the unreadable lines are named
        load_suite_function(f"{path}#ghost")
    assert str(missing.value) == (
        f"suite file {path} line 2 is not JSON (Expecting property name enclosed in double quotes at column 2); "
        "no readable line has id 'ghost' (2 unreadable lines in all)"
    )
    suite = load_suite(path)
    assert [i.id for i in suite.items] == ["first", "after"]
    assert [(e.line, e.id) for e in suite.errors] == [(2, None), (3, None), (5, "nodesc")]
    with pytest.raises(InputError, match="line 2 is not JSON"):
        read_suite(path)  # the strict reader still refuses the whole file


def test_a_line_that_is_not_utf8_is_one_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(
        json.dumps({**LINE, "id": "a"}).encode() + b"\n" + b'{"id": "caf\xe9"}\n' + json.dumps(LINE).encode()
    )
    assert [text is None for _, text in suite_lines(path)] == [False, True, False]
    suite = load_suite(path)
    assert [i.id for i in suite.items] == ["a", "lin"] and suite.errors[0].message == "line 2 is not UTF-8"
    assert load_suite_function(f"{path}#lin").line == 3


def test_eval_with_a_malformed_line_runs_every_good_item(tmp_path: Path) -> None:
    """The eval runner explains each item through its address; the items after a bad line used to fail
    with the bad line's error. Now they run, and each bad line is reported once, with its number."""
    from agent.graph import Budget
    from evals.judges import make_evaluator
    from evals.runner import Runner

    path = _suite_with_a_bad_line(tmp_path)
    settings = Settings(home=tmp_path / "home")
    runner = Runner(str(path), "builtin", make_evaluator("interpret"), settings=settings, budget=Budget(tool_calls=8))
    result = runner.run(progress=False)
    by_id = {item.id: item for item in result.items}
    assert by_id["first"].error is None and by_id["after"].error is None, result.items
    assert by_id["first"].label and by_id["after"].label
    assert by_id["line 2"].kind == "invalid" and "line 2 is not JSON" in (by_id["line 2"].error or "")
    assert by_id["line 3"].kind == "invalid" and (by_id["line 3"].error or "").startswith("line 3")
    assert by_id["nodesc"].kind == "invalid" and "line 5 (id 'nodesc')" in (by_id["nodesc"].error or "")
    assert [e.line for e in result.errors] == [2, 3, 5]
