"""Suite generators: FIND-style subjects with their ground truth, drawn reproducibly from a seed.

| module | what |
|---|---|
| ``numeric`` | numeric functions: 16 families, sums and products, noise / corrupted-interval / MLP complications |
| ``strings`` | string functions: 55 primitives and depth-2 compositions, with canonical descriptions |
| ``entities`` | synthetic entity neurons over ``entity_concepts`` (``evals/generators/data/entity_concepts.json``) |
| ``planted`` | model units planted by weight surgery to fire on a concept (``plant_concepts``) |

What these generators draw from is the grammar the builtin scientist also searches: a score on
their suites is an *in-grammar* score. Held-out figures come from suites no generator of ours made
(``evals/data/heldout_strings.jsonl``, FIND's own numeric functions); the README reports both.
"""
