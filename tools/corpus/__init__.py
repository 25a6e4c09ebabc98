"""Text corpora for exemplars and experiments, behind one ``Corpus`` interface.

| module | what |
|---|---|
| ``sources`` | ``load_corpus(spec)``: ``builtin[:seed=N]``, a file path, or ``hf:NAME[:CONFIG][:SPLIT][:COLUMN]`` |
| ``base`` | the ``Corpus`` interface |
| ``files`` | plain-text and JSON Lines files |
| ``hf`` | a streamed Hugging Face dataset (optional extra) |
| ``windows`` | cutting a corpus into fixed-length token windows, deterministically |
| ``builtin/`` | the offline generator of varied English, and the data files it draws from |
"""
