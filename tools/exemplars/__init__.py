"""The exemplar cache: one streaming pass over a corpus keeps, for every unit of a site, its top-k
contexts, a reservoir of activating contexts (sampled into 10 quantiles) and running statistics.

| module | what |
|---|---|
| ``stats`` | streaming per-unit accumulators, memory O(units × k) |
| ``cache`` | building (resumable, atomic) and reading a site's cache file |
| ``service`` | build-or-reuse a site's cache with its store index; a unit's exemplars as a result model |
"""
