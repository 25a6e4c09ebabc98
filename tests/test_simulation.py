"""Explain–simulate–score: the simulators (declarative specs and sandboxed Python), the correlation and
delphi scores they get, the builtin's simulators, and the scores a label job stores and shows."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agent.builtin.unit_hypotheses import Hypothesis, analyse_context, propose
from agent.builtin.unit_simulators import fit_table, one_shot_simulator, unit_simulator
from evals.judges.simulator import SimulatorEvaluator
from evals.scoring.simulation import HeldOutUnit, pearson, simulation_score
from store.errors import InputError
from tests.cli_helpers import call_cli
from tools.simulation.run import simulate
from tools.simulation.spec import AfterRule, ConceptRule, SimulatorSpec, TableRule, TokenRule, parse_spec

WORDS = [" the", " cat", " sat", " on", " mat", " dog", " ran", " to", " Paris", " and", ".", " a"]
TRUTH = {"cat": 3.0, "dog": 1.5, "paris": 2.0}


def _unit(n_contexts: int = 200, length: int = 8, seed: int = 1) -> HeldOutUnit:
    """A synthetic unit: it fires on three words, with fixed weights (what a token-weight spec says)."""
    rng = random.Random(seed)
    tokens = [[rng.choice(WORDS) for _ in range(length)] for _ in range(n_contexts)]
    acts = [[TRUTH.get(t.strip().lower(), 0.0) for t in row] for row in tokens]
    return HeldOutUnit(tokens, acts)


PERFECT = SimulatorSpec(rules=[TokenRule(weights=TRUTH)]).dumps()


# ------------------------------------------------------------------ the correlation


def test_pearson_perfect_constant_shuffled() -> None:
    rng = random.Random(0)
    x = [rng.gauss(0, 1) for _ in range(5000)]
    assert pearson(x, x) == pytest.approx(1.0)
    assert pearson(x, [2 * v + 1 for v in x]) == pytest.approx(1.0)
    assert pearson(x, [-v for v in x]) == pytest.approx(-1.0)
    assert pearson(x, [0.5] * len(x)) == 0.0  # zero variance is defined as 0
    assert pearson([1.0], [2.0]) == 0.0
    shuffled = x[:]
    rng.shuffle(shuffled)
    assert abs(pearson(x, shuffled)) < 0.05


def test_perfect_simulator_scores_one() -> None:
    score = simulation_score(PERFECT, _unit())
    assert score.error is None
    assert score.sim_corr_top_random == pytest.approx(1.0)
    assert score.sim_corr_random == pytest.approx(1.0)
    assert score.sim_detection == 1.0 and score.sim_fuzzing == 1.0
    assert score.n_top == 20 and score.n_random == 50
    assert set(score.metrics()) == {"sim_corr_top_random", "sim_corr_random", "sim_detection", "sim_fuzzing"}


def test_constant_simulator_scores_zero() -> None:
    code = "def simulate(tokens):\n    return [1.0 for _ in tokens]\n"
    score = simulation_score(code, _unit())
    assert score.error is None
    assert score.sim_corr_top_random == 0.0 and score.sim_corr_random == 0.0


def test_shuffled_simulator_scores_near_zero() -> None:
    weights = dict(zip([w.strip() for w in WORDS], [random.Random(3).random() for _ in WORDS], strict=True))
    unit = _unit(n_contexts=300, seed=5)
    # the true activations of each context, shuffled across contexts: right distribution, wrong places
    order = list(range(len(unit.acts)))
    random.Random(7).shuffle(order)
    shuffled = HeldOutUnit(unit.tokens, [unit.acts[i] for i in order])
    score = simulation_score(SimulatorSpec(rules=[TokenRule(weights=TRUTH)]).dumps(), shuffled)
    assert abs(score.sim_corr_random or 0.0) < 0.15
    wrong = simulation_score(SimulatorSpec(rules=[TokenRule(weights=weights)]).dumps(), _unit())
    assert (wrong.sim_corr_random or 0.0) < 0.9  # random weights predict worse than the truth


def test_partial_simulator_lies_between() -> None:
    score = simulation_score(SimulatorSpec(rules=[TokenRule(weights={"cat": 3.0})]).dumps(), _unit())
    assert 0.3 < (score.sim_corr_random or 0.0) < 0.99


def test_failing_or_missing_simulator_has_no_scores() -> None:
    assert simulation_score(None, _unit()).error == "the explanation has no simulator"
    broken = simulation_score("def simulate(tokens):\n    return [1.0]\n", _unit())
    assert broken.error and not broken.metrics()
    assert simulation_score('{"format": "autointerp.simulator/v1", "rules": []}', _unit()).error


# ------------------------------------------------------------------ the simulators


def test_token_rule_matches_words_and_tokens() -> None:
    spec = SimulatorSpec(rules=[TokenRule(weights={"Smelled": 2.0, "4": 1.0})])
    [row] = simulate(spec.dumps(), [[" it", " sm", "elled", " in", " 201", "4"]])
    assert row == [0.0, 2.0, 2.0, 0.0, 0.0, 1.0]  # both pieces of the word; the token 4 alone
    by_token = SimulatorSpec(rules=[TokenRule(weights={"sm": 1.0}, match="token")])
    assert simulate(by_token.dumps(), [[" sm", "elled", " sm"]]) == [[1.0, 0.0, 1.0]]


def test_after_rule_reads_the_preceding_words() -> None:
    spec = SimulatorSpec(rules=[AfterRule(words={"the": 1.5})])
    assert simulate(spec.dumps(), [[" the", " big", " dog", " of", " the", "\n", " end"]]) == [
        [0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 1.5]
    ]
    within = SimulatorSpec(rules=[AfterRule(words={"the": 1.0}, within=2)])
    assert simulate(within.dumps(), [[" the", " big", " dog", " ran"]]) == [[0.0, 1.0, 1.0, 0.0]]


def test_rules_combine_by_max_or_sum() -> None:
    rules = [TokenRule(weights={"dog": 2.0}), AfterRule(words={"the": 1.0})]
    tokens = [[" the", " dog"]]
    assert simulate(SimulatorSpec(rules=rules).dumps(), tokens) == [[0.0, 2.0]]
    assert simulate(SimulatorSpec(rules=rules, combine="sum").dumps(), tokens) == [[0.0, 3.0]]


def test_concept_rule_uses_the_sentence_embedder() -> None:
    spec = SimulatorSpec(rules=[ConceptRule(query="fruit, apple, banana", weight=2.0, threshold=0.3)])
    [row] = simulate(spec.dumps(), [[" I", " ate", " a", " pear", " and", " a", " mango", " on", " the", " highway"]])
    fruit = min(row[3], row[6])
    assert fruit > 0 and fruit > row[9] and fruit > row[1]
    assert all(0.0 <= v <= 2.0 for v in row)


def test_python_simulator_runs_in_the_sandbox() -> None:
    code = "def simulate(tokens):\n    return [float(t.strip() == 'cat') for t in tokens]\n"
    assert simulate(code, [[" a", " cat"], [" cat"]]) == [[0.0, 1.0], [1.0]]
    with pytest.raises(InputError):
        simulate("def simulate(tokens):\n    return 'no'\n", [[" a"]])
    with pytest.raises(InputError):
        simulate("def simulate(tokens):\n    return [float('nan')]\n", [[" a"]])
    with pytest.raises(InputError):
        simulate("import os\ndef simulate(tokens):\n    return [float(len(os.listdir('/')))]\n", [[" a"]])


def test_bad_specs_are_refused_in_one_line() -> None:
    with pytest.raises(InputError, match="bad simulator spec"):
        parse_spec('{"format": "autointerp.simulator/v1", "rules": [{"kind": "regex"}]}')
    with pytest.raises(InputError):
        parse_spec('{"format": "v0", "rules": [{"kind": "tokens", "weights": {"a": 1}}]}')


def test_simulator_evaluator_detects_and_fuzzes() -> None:
    evaluator = SimulatorEvaluator.calibrated(PERFECT, [[" x", " cat"], [" x", " mat"]], tokenize=lambda t: t.split())
    assert evaluator.threshold == pytest.approx(0.9)
    assert evaluator.detect_tokens([[" x", " cat"], [" x", " mat"], [" cat", " mat"]]) == [True, False, False]
    assert evaluator.detect_marked([[" x", " cat", " mat"]] * 2, [[1], [2]]) == [True, False]
    assert evaluator.detect("ignored", ["the cat", "the mat"]) == [True, False]
    assert evaluator.choose("ignored", ["a mat", "a dog", "a cat"]) == 2


# ------------------------------------------------------------------ the builtin's simulators


def test_table_rule_prefers_the_pair_then_the_token_then_the_default() -> None:
    table = TableRule(tokens={" Cat": 2.0, "sat": -0.5}, pairs={"cat": {"the": 3.0}}, default=0.25)
    [row] = simulate(SimulatorSpec(rules=[table]).dumps(), [[" the", " cat", " a", " cat", " sat", " mat"]])
    assert row == [0.25, 3.0, 0.25, 2.0, -0.5, 0.25]


def test_negative_values_survive_rules_that_do_not_name_the_token() -> None:
    rules = [TableRule(tokens={"sat": -0.5, "dog": 1.0}), AfterRule(words={"the": 2.0})]
    assert simulate(SimulatorSpec(rules=rules).dumps(), [[" the", " dog", " sat"]]) == [[0.0, 2.0, -0.5]]


def _observations() -> list[tuple[list[str], list[float]]]:
    return [
        ([" I", " like", " the", " cat", " a", " lot"], [5.0, 0.0, 0.0, 3.0, 0.0, 0.0]),
        ([" the", " cat", " sat"], [5.0, 3.0, 0.0]),
        ([" a", " dog", " ran"], [5.0, 1.0, 0.0]),
        ([" my", " cat", " ran"], [5.0, 1.0, 0.0]),
    ]


def test_fitted_table_is_the_shrunk_mean_relative_to_the_typical_value() -> None:
    table = fit_table(_observations())
    assert table is not None
    # position 0 is left out; typical (median) activation 0: "cat" seen 3 times → (3 + 3 + 1) / (3 + 1)
    assert table.tokens["cat"] == pytest.approx(7 / 4)
    assert table.tokens["dog"] == pytest.approx(1 / 2)  # seen once: half of it
    assert "ran" not in table.tokens and "i" not in table.tokens  # at the typical value; the sink is never read
    # "the cat" (twice, 3.0) overrides "cat": shrunk toward the token's value by one observation
    assert table.pairs["cat"]["the"] == pytest.approx((6 + 7 / 4) / 3, rel=1e-3)
    assert table.pairs["cat"]["my"] == pytest.approx((1 + 7 / 4) / 2, rel=1e-3)
    assert fit_table([]) is None
    assert fit_table([([" a", " b"], [1.0, 1.0])]) is None  # never varies: nothing to say


def test_builtin_simulator_holds_what_it_measured() -> None:
    observations = _observations()
    contexts = [c for c in (analyse_context(t, [0.0, *a[1:]]) for t, a in observations) if c is not None]
    [word] = propose(contexts, 1)
    spec = unit_simulator(observations, word, {"kitten": 1.5})
    assert spec is not None and [type(r) for r in spec.rules] == [TableRule]  # an untested word adds no rule
    [row] = simulate(spec.dumps(), [[" my", " dog", " and", " the", " cat"]])
    assert row[1] == pytest.approx(0.5) and row[2] == 0.0 and row[4] == pytest.approx((6 + 7 / 4) / 3, rel=1e-3)
    context = Hypothesis("context", "the token after 'the'", "after the", positives=[], negatives=[], keys=["the"])
    context.pos, context.neg, context.auc = [2.0] * 8, [0.0] * 8, 1.0
    with_rule = unit_simulator(observations, context, {})
    assert with_rule is not None and [type(r) for r in with_rule.rules] == [TableRule, AfterRule]
    assert simulate(with_rule.dumps(), [[" the", " bus"]]) == [[0.0, 2.0]]  # reaches a word never seen after it
    baseline = one_shot_simulator(contexts)
    assert baseline is not None
    assert simulate(baseline.dumps(), [[" cat", " dog", " kitten"]]) == [[3.0, 1.0, 0.0]]
    assert unit_simulator([], None, {}) is None


def test_builtin_emits_a_simulator_and_the_label_job_stores_and_shows_its_scores(
    tiny_llama_dir: Path, home: Path
) -> None:
    args = ["label", "--model", str(tiny_llama_dir), "--layer", "1", "--units", "4", "--budget", "6"]
    done = call_cli(*args, "--max-tokens", "2000", "--json", "-", home=home)
    assert done.returncode == 0, done.stderr
    [unit] = json.loads(done.stdout)["units"]
    assert {"sim_corr_top_random", "sim_corr_random"} <= set(unit["scores"])
    assert all(-1.0 <= unit["scores"][m] <= 1.0 for m in ("sim_corr_top_random", "sim_corr_random"))

    shown = call_cli("show", str(unit["investigation_id"]), "--json", "-", home=home)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    spec = parse_spec(record["explanation"]["code"])  # the builtin's explanation carries its simulator
    assert spec.rules and len(simulate(spec.dumps(), [[" a", " b", " c"]])[0]) == 3
    assert record["scores"]["sim_corr_random"] == pytest.approx(unit["scores"]["sim_corr_random"], abs=1e-4)

    table = call_cli("show", str(unit["investigation_id"]), home=home)
    assert "sim_corr_top_random" in table.stdout
    again = call_cli(*args, "--max-tokens", "2000", home=home)  # resumed: the table shows the stored scores
    assert "sim r" in again.stdout and f"{unit['scores']['sim_corr_top_random']:+.2f}" in again.stdout

    from fastapi.testclient import TestClient

    from autointerp.api import create_app
    from store.settings import Settings

    auth = {"Authorization": "Bearer test-key-0123456789"}
    with TestClient(create_app(Settings(home=home), api_key="test-key-0123456789")) as client:
        [hit] = client.get("/explanations", headers=auth).json()
        assert hit["code"] == record["explanation"]["code"] and hit["scores"] == record["scores"]
        read = client.get(f"/investigations/{unit['investigation_id']}", headers=auth).json()
        assert read["scores"] == record["scores"]
