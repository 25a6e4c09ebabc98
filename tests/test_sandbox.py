"""The function sandbox (tools.functions.sandbox) and the suite-file loader (tools.functions.suite)."""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from store.errors import InputError
from tools.functions.sandbox import CallOutcome, SandboxLimits, SandboxResult, run_function
from tools.functions.suite import SuiteFunction, load_suite_function, read_suite

SAMPLE = Path(__file__).resolve().parent / "data" / "sample.jsonl"
PROJECT_FILE = Path(__file__).parents[1] / "pyproject.toml"
XS = [i + 0.5 for i in range(-128, 128)]
QUICK = SandboxLimits(timeout_s=1.0)


def _reference(code: str) -> Any:
    """The sample's (trusted) function, run here for comparison."""
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["f"]


def _one(code: str, x: Any = 1.0, limits: SandboxLimits = SandboxLimits()) -> CallOutcome:
    result = run_function(code, [x], limits=limits)
    assert result.error is None, result.error
    assert len(result.outcomes) == 1
    return result.outcomes[0]


def _children() -> list[int]:
    """Pids of this process's live children (psutil if installed, else /proc)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is installed in the dev environment
        me = str(os.getpid())
        found = []
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if entry.name.isdigit() and stat.rsplit(")", 1)[1].split()[1] == me:
                found.append(int(entry.name))
        return found
    return [p.pid for p in psutil.Process().children(recursive=True)]


def _sandbox_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("autointerp-sandbox-*")}


# --- outputs --------------------------------------------------------------------------------------------


def test_sample_suite_functions_give_the_reference_outputs() -> None:
    functions = [f for f in read_suite(SAMPLE) if f.kind in ("numeric", "string")]
    assert {f.kind for f in functions} == {"numeric", "string"}
    words = ["Hello World", "banana", "a b  c", "", "ÄÖü straße", "Alpha Beta Gamma Delta"]
    for function in functions:
        assert function.code is not None
        reference = _reference(function.code)
        inputs: list[Any] = XS if function.kind == "numeric" else words
        result = run_function(function.code, inputs)
        assert result.error is None, (function.id, result.error)
        assert [o.input for o in result.outcomes] == inputs
        assert all(o.error is None for o in result.outcomes), function.id
        got = [o.output for o in result.outcomes]
        if function.id == "num-noisy-abs":  # |x|/2 + N(0, 1)
            assert all(abs(y - abs(x) / 2) < 6 for x, y in zip(XS, got, strict=True))
        elif function.id == "num-corrupted-linear":
            assert all(y == 5 * x for x, y in zip(XS, got, strict=True) if not -40 <= x <= -25)
            assert all(abs(y) < 1 for x, y in zip(XS, got, strict=True) if -40 <= x <= -25)
        elif function.kind == "numeric":
            assert got == pytest.approx([reference(x) for x in XS], rel=1e-12, abs=1e-12), function.id
        else:
            assert got == [reference(w) for w in words], function.id


def test_an_exception_is_reported_for_its_input_only() -> None:
    result = run_function("def f(x):\n    return 10 / x\n", [2.0, 0.0, 5.0])
    assert result.error is None
    assert [o.output for o in result.outcomes] == [5.0, None, 2.0]
    assert [o.error for o in result.outcomes] == [None, "ZeroDivisionError: float division by zero", None]


def test_print_output_is_captured_per_input_and_capped() -> None:
    code = "import sys\ndef f(x):\n    print('in', x)\n    print('err', file=sys.stderr)\n    return x\n"
    result = run_function(code, ["a", "b"])
    assert [o.stdout for o in result.outcomes] == ["in a\nerr\n", "in b\nerr\n"]
    noisy = _one("def f(x):\n    print('y' * 5000)\n    return 1\n", limits=SandboxLimits(max_stdout_chars=100))
    assert noisy.output == 1 and noisy.stdout.startswith("y" * 100) and "4901 more characters" in noisy.stdout


def test_non_finite_floats_round_trip() -> None:
    values = [math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]
    result = run_function("def f(x):\n    return x\n", values)
    out = [o.output for o in result.outcomes]
    assert math.isnan(out[0]) and out[1:3] == [math.inf, -math.inf]
    assert out[3:] == values[3:] and math.copysign(1, out[3]) == -1
    made = _one("def f(x):\n    return [float('nan'), float('inf'), -float('inf'), x]\n", 2.0)
    assert math.isnan(made.output[0]) and made.output[1:] == [math.inf, -math.inf, 2.0]
    again = SandboxResult.model_validate_json(result.model_dump_json())
    assert math.isnan(again.outcomes[0].output) and again.outcomes[2].output == -math.inf


def test_outputs_are_json_values_or_an_output_error() -> None:
    assert _one("def f(x):\n    return (1, 'a', None, True, {'k': [2.5]})\n").output == [
        1,
        "a",
        None,
        True,
        {"k": [2.5]},
    ]
    assert _one("def f(x):\n    return {1, 2}\n").error == "OutputError: an output of type set is not JSON-able"
    big = _one("def f(x):\n    return 'a' * 50\n", limits=SandboxLimits(max_output_chars=20))
    assert big.output is None and big.error is not None and big.error.startswith("OutputError: the output is 52 chara")
    assert _one("def f(x):\n    return 'caf\\u00e9 \\ud800'\n").output == "café \ud800"


def test_numpy_can_be_imported_when_installed() -> None:
    pytest.importorskip("numpy")
    outcome = _one("def f(x):\n    import numpy as np\n    return np.float64(x) * 2 + np.zeros(2)\n", 1.5)
    assert outcome.error is None and outcome.output == [3.0, 3.0]


# --- failures of the whole call -------------------------------------------------------------------------


def test_an_infinite_loop_is_killed_at_the_timeout() -> None:
    started = time.perf_counter()
    result = run_function("def f(x):\n    while True:\n        pass\n", [1.0], limits=QUICK)
    assert time.perf_counter() - started < QUICK.timeout_s + 1.0
    assert result.outcomes == []
    assert result.error == "timed out after 1.0 s while running input 0 (1.0)"


def test_a_hang_on_one_input_keeps_the_outcomes_before_it() -> None:
    code = "import time\ndef f(x):\n    if x == 7:\n        time.sleep(60)\n    return x * x\n"
    started = time.perf_counter()
    result = run_function(code, list(range(10)), limits=QUICK)
    assert time.perf_counter() - started < QUICK.timeout_s + 1.0
    assert [o.output for o in result.outcomes] == [k * k for k in range(7)]
    assert result.error is not None and "timed out" in result.error and "input 7" in result.error


def test_a_hang_at_definition_time_is_a_timeout() -> None:
    result = run_function("while True:\n    pass\n", [1.0], limits=QUICK)
    assert result.error == "timed out after 1.0 s while defining the function"


@pytest.mark.parametrize(
    "body",
    ["x = [0] * 10**10", "x = ' ' * 10**11", "x = []\n    while True:\n        x.append(' ' * 10**6)"],
    ids=["list", "string", "growing"],
)
def test_a_memory_bomb_hits_the_cap(body: str) -> None:
    limits = SandboxLimits(memory_mb=256, timeout_s=10)
    result = run_function(f"def f(x):\n    {body}\n    return 1\n", [1.0, 2.0], limits=limits)
    if result.error is None:  # caught inside the child, per input; the next input still runs
        assert len(result.outcomes) == 2
        assert all(o.error is not None and o.error.startswith("MemoryError") for o in result.outcomes)
    else:
        assert "exceeded the memory cap of 256 MB" in result.error


def test_a_memory_bomb_at_definition_time_is_reported() -> None:
    result = run_function("x = [0] * 10**10\ndef f(x):\n    return x\n", [1.0])
    assert result.error == "exceeded the memory cap of 512 MB while defining the function"


def test_a_process_that_ends_early_is_reported_with_the_outcomes_before() -> None:
    result = run_function("import os\ndef f(x):\n    if x == 1:\n        os._exit(3)\n    return x\n", [0, 1, 2])
    assert [o.output for o in result.outcomes] == [0]
    assert result.error == "the sandboxed process exited with status 3 while running input 1 (1)"


def test_writing_to_the_result_channel_cannot_hurt_the_caller() -> None:
    code = "import os\ndef f(x):\n    for fd in range(3, 12):\n        try:\n            os.write(fd, b'junk\\n')\n"
    code += "        except OSError:\n            pass\n    return x\n"
    result = run_function(code, [0, 1])
    assert result.error is not None and "not JSON" in result.error


# --- isolation ------------------------------------------------------------------------------------------


def test_isolation_layers_are_reported() -> None:
    result = run_function("def f(x):\n    return x\n", [1])
    assert {"audit_hook", "RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE"} <= set(result.isolation)


def test_the_sandbox_cannot_read_or_list_project_files() -> None:
    assert PROJECT_FILE.exists()
    read = _one(f"def f(x):\n    return open({str(PROJECT_FILE)!r}).read()\n")
    assert read.output is None and read.error is not None and read.error.startswith("PermissionError")
    listing = _one(f"def f(x):\n    import os\n    return os.listdir({str(PROJECT_FILE.parent)!r})\n")
    assert listing.output is None and listing.error is not None
    for module in ("store", "tools", "torch", "pydantic"):
        imported = _one(f"def f(x):\n    import {module}\n    return 1\n")
        assert imported.output is None and imported.error is not None, module
    env = _one("def f(x):\n    import os\n    return sorted(os.environ)\n")
    assert not [k for k in env.output if k.startswith(("AUTOINTERP", "PATH", "HOME"))]


def test_the_sandbox_cannot_write_outside_its_working_directory(tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    outcome = _one(f"def f(x):\n    with open({str(target)!r}, 'w') as fh:\n        fh.write('x')\n    return 1\n")
    assert outcome.error is not None and not target.exists()


def test_the_sandbox_cannot_reach_redis_on_localhost() -> None:
    code = "import socket\ndef f(x):\n    socket.create_connection(('127.0.0.1', 6379), timeout=2)\n    return 'open'\n"
    outcome = _one(code)
    assert outcome.output is None and outcome.error is not None
    raw = _one("def f(x):\n    import _socket\n    s = _socket.socket()\n    s.connect(('127.0.0.1', 6379))\n")
    assert raw.output is None and raw.error is not None


@pytest.mark.parametrize(
    "body",
    [
        "import subprocess\n    return subprocess.run(['true']).returncode",
        "import os\n    return os.system('true')",
        "import os\n    return os.fork()",
        "import threading\n    threading.Thread(target=print).start()\n    return 1",
        "import os\n    os.kill(os.getppid(), 0)\n    return 1",
        "import ctypes\n    return ctypes.CDLL(None).getpid()",
    ],
    ids=["subprocess", "system", "fork", "thread", "signal-parent", "ctypes"],
)
def test_the_sandbox_cannot_spawn_signal_or_use_ctypes(body: str) -> None:
    outcome = _one(f"def f(x):\n    {body}\n")
    assert outcome.output is None and outcome.error is not None, body


def test_many_calls_leave_no_processes_or_folders_behind() -> None:
    before = _sandbox_dirs()
    code = "import random\ndef f(x):\n    return x + random.random()\n"
    started = time.perf_counter()
    for k in range(100):
        result = run_function(code, [float(k)])
        assert result.error is None and k <= result.outcomes[0].output < k + 1
    per_call = (time.perf_counter() - started) / 100
    assert _children() == []
    assert not (_sandbox_dirs() - before)
    assert per_call < 1.0  # generous; about 20-40 ms on a quiet machine


# --- bad requests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "inputs", "kwargs", "message"),
    [
        ("def f(x):\n    return (x\n", [1], {}, "does not compile: SyntaxError: '(' was never closed (line 2)"),
        ("def g(x):\n    return x\n", [1], {}, "source defines no function f; it defines: g"),
        ("f = 3\n", [1], {}, "source defines no function f (f is of type int)"),
        ("def g(x):\n    return x\n", [1], {"entry": "h"}, "source defines no function h"),
        ("import nope_not_here\n", [1], {}, "failed while being defined: ModuleNotFoundError"),
        ("   \n", [1], {}, "function source is empty"),
        ("def f(x):\n    return x\n", [{1, 2}], {}, "input 0 is not JSON-able: a value of type set"),
        ("def f(x):\n    return x\n", [1, {"a": object()}], {}, "input 1 is not JSON-able: a value of type object"),
        ("def f(x):\n    return x\n", [1, 2, 3], {"limits": SandboxLimits(max_inputs=2)}, "more than the limit of 2"),
        ("def f(x):\n    return x\n", [1], {"entry": "not valid"}, "entry must be a Python identifier"),
    ],
)
def test_unusable_requests_are_input_errors(code: str, inputs: list[Any], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        run_function(code, inputs, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


# --- suite files ----------------------------------------------------------------------------------------


def _suite(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_suite_function_from_the_sample() -> None:
    function = load_suite_function(f"{SAMPLE}#num-parabola")
    assert isinstance(function, SuiteFunction)
    assert (function.id, function.kind, function.line) == ("num-parabola", "numeric", 2)
    assert function.code == "def f(x):\n    return 0.1*x**2 - 3\n"
    assert function.raw["domain"] == [-128, 128] and function.address == f"{SAMPLE}#num-parabola"
    entity = load_suite_function(f"{SAMPLE}#ent-colors")
    assert entity.kind == "entity" and entity.code is None and entity.raw["concept"] == "colors"
    result = run_function(function.code, [10.0])
    assert result.outcomes[0].output == pytest.approx(7.0)


def test_unknown_ids_list_the_ids_there_are(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": f"fn{k}", "kind": "string", "code": "def f(x): return x", "description": "id"})
        for k in range(12)
    ]
    path = _suite(tmp_path, *lines)
    with pytest.raises(InputError) as info:
        load_suite_function(f"{path}#fn1x")
    message = str(info.value)
    assert message.startswith(f"no function with id 'fn1x' in {path}")
    assert "ids start: fn0, fn1, fn2" in message and "(12 in all)" in message


def test_suite_file_problems_name_the_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"id": "a", "kind": "numeric", "code": "def f(x): return x", "description": "identity"})
    cases = {  # the bad line is the last one; kind, code and description are checked on the line asked for
        "is not JSON": [good, "", "", "{not json"],
        "is a JSON list, not an object": [good, "[1, 2]"],
        "has no usable 'id'": [good, json.dumps({"kind": "numeric"})],
        "has kind 'weird'": [good, json.dumps({"id": "b", "kind": "weird", "description": "?"})],
        "is a numeric function without 'code'": [good, json.dumps({"id": "b", "kind": "numeric", "description": "?"})],
        "has no 'description'": [good, json.dumps({"id": "b", "kind": "string", "code": "def f(x): return x"})],
    }
    for expected, lines in cases.items():
        path = _suite(tmp_path, *lines)
        with pytest.raises(InputError) as info:
            load_suite_function(f"{path}#b")
        assert f"suite file {path} line {len(lines)} " in str(info.value) and expected in str(info.value), expected
        assert load_suite_function(f"{path}#a").description == "identity"  # lines before a bad one are fine


def test_suite_file_and_address_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_suite_function(f"{tmp_path / 'missing.jsonl'}#a")
    with pytest.raises(InputError, match="PATH#ID"):
        load_suite_function("no-hash-here.jsonl")
    with pytest.raises(InputError, match="no id after"):
        load_suite_function(f"{tmp_path}/x.jsonl#")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"id": "caf\xe9"}\n')
    with pytest.raises(InputError, match="line 1 is not UTF-8"):
        load_suite_function(f"{tmp_path / 'latin1.jsonl'}#a")
    good = json.dumps({"id": "a", "kind": "string", "code": "def f(x): return x", "description": "identity"})
    path = _suite(tmp_path, good, good)
    with pytest.raises(InputError, match="line 2 repeats id 'a' \\(first on line 1\\)"):
        read_suite(path)


def test_random_still_works_inside_the_sandbox() -> None:
    values = [
        o.output for o in run_function("import random\ndef f(x):\n    return random.random()\n", [0] * 5).outcomes
    ]
    assert len(set(values)) == 5 and all(0 <= v < 1 for v in values)
