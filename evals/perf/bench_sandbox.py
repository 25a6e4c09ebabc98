"""Benchmark: the per-call cost of the function sandbox, bubblewrap vs the in-process fence only.

Run ``python -m evals.perf.bench_sandbox [--calls 40]``. Prints the median wall time of one
``run_function`` call on a trivial function (one input) in each mode, interleaved in the same run, and
their ratio; asserts nothing about time. ``bwrap`` is the default mode (``AUTOINTERP_SANDBOX=bwrap``: a
bubblewrap sandbox per call); ``unsafe-hook`` starts the child directly, fenced by the audit hook, the
rlimits and seccomp only. A mode that cannot run here is reported and left out of the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from store.errors import ConfigError
from tools.functions.sandbox import run_function

CODE = "def f(x):\n    return x + 1\n"
MODES = ("bwrap", "unsafe-hook")


def _one_call(mode: str) -> float:
    os.environ["AUTOINTERP_SANDBOX"] = mode
    started = time.perf_counter()
    result = run_function(CODE, [1])
    seconds = time.perf_counter() - started
    if result.error is not None or result.outcomes[0].output != 2:
        raise RuntimeError(f"{mode}: the call failed: {result.error or result.outcomes[0].error}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=40, help="calls per mode (default 40)")
    args = parser.parse_args()
    before = os.environ.get("AUTOINTERP_SANDBOX")
    times: dict[str, list[float]] = {}
    isolation: dict[str, list[str]] = {}
    try:
        for mode in MODES:
            try:
                _one_call(mode)  # warm-up: imports, the cached mount plan and seccomp program
                os.environ["AUTOINTERP_SANDBOX"] = mode
                isolation[mode] = run_function(CODE, [1]).isolation
                times[mode] = []
            except ConfigError as exc:
                print(f"{mode:12s} unavailable here: {exc}")
        for _ in range(args.calls):
            for mode in times:  # interleaved, so drift in machine load hits both modes alike
                times[mode].append(_one_call(mode))
    finally:
        if before is None:
            os.environ.pop("AUTOINTERP_SANDBOX", None)
        else:
            os.environ["AUTOINTERP_SANDBOX"] = before
    medians = {mode: statistics.median(ts) for mode, ts in times.items()}
    for mode, median in medians.items():
        spread = statistics.quantiles(times[mode], n=10) if len(times[mode]) >= 2 else [median, median]
        print(
            f"{mode:12s} median {median * 1000:7.1f} ms  (p10 {spread[0] * 1000:.1f}, p90 {spread[-1] * 1000:.1f};"
            f" {len(times[mode])} calls)  layers: {', '.join(isolation[mode])}"
        )
    if len(medians) == 2:
        print(f"ratio bwrap / unsafe-hook: {medians['bwrap'] / medians['unsafe-hook']:.2f}x")


if __name__ == "__main__":
    main()
