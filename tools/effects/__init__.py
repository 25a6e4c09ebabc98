"""What a unit does to the model's output: ablation, direct logit attribution, steering, and the
behavioural metrics they read off the logits.

| module | what |
|---|---|
| ``metrics`` | ``MetricSpec``/``MetricFn``: loss, logit(token), logit_diff(target, foil), prob(token) |
| ``ablation`` | zero / mean / resample ablation as interventions, and the metric per text |
| ``logit_attribution`` | the tokens a unit's output direction promotes and suppresses (W_U · γ ⊙ w_out) |
| ``steering`` | greedy generation with and without an added activation, in one batch |

The registered tools that call these live in ``tools.catalog``.
"""
