"""Explain–simulate–score: the simulators (declarative specs and sandboxed Python), the correlation and
delphi scores they get, the builtin's simulators, and the scores a label job stores and shows."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from agent.builtin.unit_hypotheses import Context, analyse_context, propose
from agent.builtin.unit_simulators import one_shot_simulator, unit_simulator
from evals.judges.simulator import SimulatorEvaluator
from evals.scoring.simulation import HeldOutUnit, pearson, simulation_score
from store.errors import InputError
from tests.cli_helpers import call_cli
from tools.simulation.run import simulate
from tools.simulation.spec import AfterRule, ConceptRule, SimulatorSpec, TokenRule, parse_spec

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


def _contexts() -> list[Context]:
    rows = [
        ([" I", " like", " the", " cat", " a", " lot"], [0, 0, 0.1, 3.0, 0, 0]),
        ([" the", " cat", " sat"], [0, 2.0, 0.2]),
        ([" a", " dog", " ran"], [0, 1.0, 0.0]),
    ]
    return [c for c in (analyse_context(t, a) for t, a in rows) if c is not None]


def test_builtin_simulator_holds_what_it_measured() -> None:
    contexts = _contexts()
    [word] = propose(contexts, 1)
    word.pos, word.neg, word.auc = [1.25] * 8, [1.25] * 8, 0.5  # not supported: half its exemplar strength
    spec = unit_simulator(contexts, word, {"kitten": 1.5, "table": 0.1}, 3.0)
    assert spec is not None
    [tokens] = [r for r in spec.rules if isinstance(r, TokenRule)]
    assert tokens.weights["cat"] == pytest.approx(1.25)  # mean exemplar peak 2.5 × (1.25 / 2.5)
    word.neg, word.auc = [0.0] * 8, 1.0  # supported: the exemplars' strength stands
    supported = unit_simulator(contexts, word, {}, 3.0)
    assert supported is not None and isinstance(supported.rules[0], TokenRule)
    assert supported.rules[0].weights["cat"] == pytest.approx(2.5)
    assert tokens.weights["dog"] == 1.0 and tokens.weights["kitten"] == 1.5 and "table" not in tokens.weights
    assert simulate(spec.dumps(), [[" a", " dog", " and", " a", " cat"]]) == [[0.0, 1.0, 0.0, 0.0, 1.25]]
    baseline = one_shot_simulator(contexts)
    assert baseline is not None
    assert simulate(baseline.dumps(), [[" cat", " dog", " kitten"]]) == [[3.0, 1.0, 0.0]]
    assert unit_simulator([], None, {}, None) is None


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
