"""Tools the agent calls, and the model runtime they stand on.

Rooms (each package's ``__init__`` says what its modules hold):

| room | concern |
|---|---|
| ``runtime/`` | models (embedded, folder, GGUF, hub), adapters, addresses, interventions, capture with early stop |
| ``corpus/`` | text behind one ``load_corpus(spec)``: the offline generator, files, HF datasets; token windows |
| ``exemplars/`` | the streaming exemplar cache (top-k, quantile samples, statistics) and its store index |
| ``effects/`` | what a unit does to the output: ablation, direct logit attribution, steering, behavioural metrics |
| ``patching/`` | activation patching (exact and naive), attribution patching, IOI prompt pairs |
| ``functions/`` | black-box subjects: suite files, the sandbox that runs their code, synthetic entity neurons |
| ``simulation/`` | unit simulators (a declarative spec, or sandboxed Python) run on a context's tokens |
| ``plots/`` | PNG figures: activation histograms, patching heatmaps |
| ``catalog/`` | the registered tools, one module per tool family; its ``__init__`` is the catalogue |

At the root, what every room shares: ``registry`` (``@tool``, ``ToolSpec``, ``ToolError``),
``executor`` (the ``Executor`` seam and ``LocalExecutor``), ``context`` (settings, loaded models,
the store, the file-access policy), ``files`` (``FileAccess``: which files a request may make a tool
read, and the bounded, streaming way every tool reads them) and ``schemas`` (result models of the
runtime's queries).

Imports point one way: ``catalog`` → ``executor``/``context``/``registry`` → the rooms →
``runtime``; ``tools`` imports ``store`` and never ``agent``, ``evals`` or ``workers``.
"""
