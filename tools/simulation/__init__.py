"""Executable simulators of model units: given a context's tokens, predict the unit's activation at each.

| module | what |
|---|---|
| ``words`` | how tokens group into words and how words are compared (shared with the builtin's unit policy) |
| ``spec`` | the declarative simulator (``autointerp.simulator/v1``): token weights, preceding context, concept |
| ``run`` | ``simulate(code, contexts)``: interprets a spec, or runs Python ``simulate`` in the sandbox |
"""
