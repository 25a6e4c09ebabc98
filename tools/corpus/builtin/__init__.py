"""The built-in corpus generator: reproducible, varied English (stories, dialogue, news, recipes,
code, data formats, arithmetic ...) generated offline from a seed.

| module | what |
|---|---|
| ``generator`` | picks a genre per document and renders it reproducibly (``generate(seed, min_tokens)``) |
| ``render`` | the template engine: slots, modifiers, the renderer's seeded choices |
| ``prose`` | document builders for prose genres |
| ``code`` | document builders for code, data formats and arithmetic |
| ``values`` | slot generators: numbers, dates, times, prices, measurements, URLs ... |
| ``inflect`` | English helpers: plurals, articles, verb forms, number words, casing |
| ``lexicon`` | typed, validated, cached access to the word lists, names and templates in ``data/`` |
| ``data/`` | the tables as JSON and plain-text files (``data/README.md`` lists them) |
"""
