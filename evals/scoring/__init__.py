"""Scoring explanations (DESIGN §3).

| module | what |
|---|---|
| ``scorers`` | against ground truth: FIND's NMSE rule, string exact match, unit tests, detection |
| ``delphi`` | for units without ground truth: delphi-style detection and fuzzing on held-out corpus contexts |
| ``simulation`` | explain–simulate–score: correlation of an explanation's simulator with the unit on held-out text |
"""
