"""SHIFT, SCR and TPP: removing a spurious cue from a probe by ablating the SAE latents a judge marks
as unrelated to the task (Marks et al., *Sparse Feature Circuits*; Karvonen et al., SAEBench).

| module | what |
|---|---|
| ``datasets`` | offline probe datasets from a seed: ``bios`` and ``reviews``; SAEBench's SCR and TPP splits |
| ``pooled`` | mean-pooled site activations and SAE latents of a dataset's texts, captured once, kept on disk |
| ``probes`` | linear probes on pooled activations, trained as SAEBench trains them |
| ``metrics`` | latent effects, top-N selection, ablation keeping the SAE error, SCR / TPP / S_SHIFT scores |
| ``judge`` | SHIFT annotation: 0–4 relatedness of latents to named concepts, by a builtin or an LLM judge |
| ``judge_*`` | the judge's parts: ``rubric``, ``evidence``, ``lexicon`` (word lists), ``builtin``, ``llm`` |
| ``oracle`` | the LLM-free oracle: which concept a latent tracks, read from the datasets' labels (Cohen's d) |
| ``evaluation`` | one evaluation end to end: prepare once, the annotation plan, marks, every selection's scores |
| ``data/`` | the datasets' sentence parts and word lists; the judge's concept table and prompt |

This file imports nothing: each module is imported by its full name.
"""
