"""PNG figures a person would rather look at than read.

| module | what |
|---|---|
| ``figure`` | saving a figure (``Agg`` backend, folders created, unwritable path → ``ConfigError``) |
| ``histogram`` | a unit's activation histogram with its quantile bands and top exemplars |
| ``heatmap`` | a patching result: layers × positions (or heads) |
"""
