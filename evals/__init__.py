"""FIND-style benchmarks with ground truth, and the performance benchmarks.

| module / room | what |
|---|---|
| ``suite`` | the suite format (JSON Lines, DESIGN §3), its loader, the service's data roots |
| ``generators/`` | numeric, string and entity suites and planted model units, from a seed |
| ``judges/`` | evaluators that decide unit tests and detection from a description (interpret, embedding, llm) |
| ``scoring/`` | scores against ground truth; delphi detection and fuzzing for units without it |
| ``calibration`` | the oracle and random explanations that check the scorers |
| ``runner`` | explain every item with an agent, score it, store ground truth and scores |
| ``report`` | markdown and plots of a run |
| ``data/`` | the built-in suites: ``sample.jsonl`` (an example of every kind) and the held-out string suite |
| ``perf/`` | performance benchmarks: ratios against a baseline measured in the same run |

``evals`` sits between ``agent`` (whose investigations it scores) and ``workers`` (which run eval
jobs); the benchmarks in ``perf/`` are programs at the top that nothing imports.
"""
