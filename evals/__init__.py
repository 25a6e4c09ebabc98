"""FIND-style suites, ground-truth harness, scorers, and performance benchmarks (evals/perf)."""
