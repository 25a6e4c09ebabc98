"""Performance benchmarks: each prints a table with a same-run baseline and ratios; none asserts on time."""
