"""Black-box subjects (DESIGN §3): FIND-style suite functions and the places they run.

| module | what |
|---|---|
| ``suite`` | reading suites (``PATH#ID``, or ``suite:NAME#ID`` when uploaded) into ``SuiteFunction`` |
| ``sandbox`` | running untrusted function source on a batch of inputs in a bubblewrap sandbox (OS namespaces) |
| ``sandbox_child`` | the program the sandbox's child interpreter runs (read as text, never imported) |
| ``entity_neuron`` | synthetic entity neurons: a sentence embedder's similarity to a concept, squashed to [0, 1] |
"""
