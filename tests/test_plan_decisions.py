"""The planner for decisions: judging a given run, intervals from a fit's bootstrap draws, Approach 1/2 laws,
repeated data (Muennighoff et al. 2023), rows without a shape, extrapolation warnings and the inference rule's
compute. Oracles: 6ND and the laws' formulas written out by hand, root finders, the figures of the papers."""

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from scaling.allocation import allocate
from scaling.errors import ScalingError
from scaling.laws import NAMED_LAWS, R_STAR_TOKENS, effective_data, get_law, load_law
from scaling.planning import judge, plan

EPOCH = NAMED_LAWS["epoch"]
GPT3_175B = 174_604_259_328  # Brown et al. 2020's 175B shape, counted exactly (tests/test_architecture.py)
LLAMA_13B = 13_015_864_320


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", *args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def epoch_loss(n, d):
    """Besiroglu et al. 2024's law written out: E + A / N^alpha + B / D^beta."""
    return 1.8172 + 482.01 / n**0.3478 + 2085.43 / d**0.3658


def brute_optimal_loss(flops):
    """min over N of L(N, C / 6N), by Brent's method in log N: no closed form involved."""
    res = minimize_scalar(lambda x: epoch_loss(math.exp(x), flops / (6 * math.exp(x))), bounds=(10, 40),
                          method="bounded", options={"xatol": 1e-10})
    return res.fun


# --- judging a run --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,params,tokens", [("gpt3-175b", GPT3_175B, 3e11), ("llama-13b", LLAMA_13B, 1e12)])
def test_judge_against_hand_computation_and_root_finder(name, params, tokens):
    out = judge(name, tokens, "epoch")
    assert out["params"] == params
    assert out["flops"] == 6 * params * tokens
    assert out["predicted_loss"] == pytest.approx(epoch_loss(params, tokens), rel=1e-12)
    assert out["optimal_loss"] == pytest.approx(brute_optimal_loss(out["flops"]), abs=1e-9)
    assert out["loss_gap"] == pytest.approx(out["predicted_loss"] - out["optimal_loss"], rel=1e-12)
    # Compute-equivalent: the C' whose optimal loss is the run's, by a root finder on the brute-force optimum.
    c_eq = math.exp(brentq(lambda x: brute_optimal_loss(math.exp(x)) - out["predicted_loss"],
                           math.log(out["flops"]) - 5, math.log(out["flops"]), xtol=1e-12))
    assert out["compute_equivalent"] == pytest.approx(c_eq, rel=1e-6)
    assert out["compute_fraction"] < 1


def test_llama_13b_against_gpt3_under_the_epoch_law():
    """The seed's story, told honestly: LLaMA-13B on 1T tokens uses a quarter of GPT-3's compute and splits it
    better, but the law alone predicts a higher loss for it (~2.05 against ~2.01)."""
    gpt3, llama = judge("gpt3-175b", 3e11, "epoch"), judge("llama-13b", 1e12, "epoch")
    assert gpt3["flops"] == pytest.approx(3.14e23, rel=0.01)
    assert llama["flops"] / gpt3["flops"] == pytest.approx(0.25, abs=0.01)
    assert round(gpt3["predicted_loss"], 2) == 2.01 and round(llama["predicted_loss"], 2) == 2.05
    assert llama["compute_fraction"] > gpt3["compute_fraction"]
    text = run("plan", "--preset", "gpt3-175b,llama-13b", "--tokens", "3e11,1e12", "--law", "epoch").stdout
    assert "does not predict it to beat gpt3-175b" in text and "compute-equivalent" in text
    assert "The law sees only N and D" in text


def test_judge_from_params_matches_judge_from_preset_and_json():
    by_count = json.loads(run("plan", "--params", str(LLAMA_13B), "--tokens", "1e12", "--law", "epoch",
                              "--json").stdout)["runs"][0]
    by_name = judge("llama-13b", 1e12, "epoch")
    assert by_count["predicted_loss"] == pytest.approx(by_name["predicted_loss"], rel=1e-12)
    assert by_count["compute_equivalent"] == pytest.approx(by_name["compute_equivalent"], rel=1e-12)


def test_a_compute_optimal_run_is_its_own_compute_equivalent():
    n, d = EPOCH.compute_optimal(1e22)
    out = judge(n, d, "epoch")
    assert out["loss_gap"] == pytest.approx(0, abs=1e-12)
    assert out["compute_fraction"] == pytest.approx(1, rel=1e-9)


# --- intervals from a fit's bootstrap draws -----------------------------------------------------------------------

K = 1001  # the 2.5th and 97.5th percentiles of 1001 sorted draws are draws 25 and 975, exactly


def _fit_file(tmp_path, payload, name="fit.json"):
    path = tmp_path / name
    path.write_text(json.dumps(payload))
    return str(path)


def _epoch_with_draws(**spread):
    law = {k: getattr(EPOCH, k) for k in ("E", "A", "B", "alpha", "beta")}
    draws = {k: [v] * K for k, v in law.items()}
    for key, (lo, hi) in spread.items():
        draws[key] = list(np.random.default_rng(0).permutation(np.linspace(lo, hi, K)))
    return {"approach": "3", **law, "draws": draws}


def test_loss_interval_from_draws_of_e(tmp_path):
    # Only E varies: the optimal loss is E + a constant, so its interval is E's 2.5th and 97.5th percentiles
    # (draws 25 and 975 of linspace(1.7, 1.9, 1001): 1.705 and 1.895) plus that constant.
    path = _fit_file(tmp_path, _epoch_with_draws(E=(1.7, 1.9)))
    out = json.loads(run("plan", "--flops", "1e21", "--law", path, "--json").stdout)
    ci = out["optimal"]["intervals"]
    rest = EPOCH.optimal_loss(1e21) - EPOCH.E
    assert ci["loss"] == pytest.approx([1.705 + rest, 1.895 + rest], rel=1e-12)
    n_opt, d_opt = EPOCH.compute_optimal(1e21)
    assert ci["params"] == pytest.approx([n_opt, n_opt], rel=1e-12)  # E moves no optimum
    assert out["law"]["draws"] == K
    row = next(a for a in out["allocations"] if a["rule"] == "gpt3")
    assert row["loss_interval"] == pytest.approx([row["predicted_loss"] - EPOCH.E + e for e in (1.705, 1.895)])
    text = run("plan", "--flops", "1e21", "--law", path).stdout
    assert "95% intervals at this budget from 1001 bootstrap draws" in text


def test_params_interval_from_draws_of_a(tmp_path):
    # Only A varies: N_opt = G (C/6)^a with G ~ A^(1/(alpha+beta)) is monotone in A, so its percentiles are N_opt
    # at A's percentiles (draws 25 and 975 of linspace(300, 700, 1001): 310 and 690).
    path = _fit_file(tmp_path, _epoch_with_draws(A=(300.0, 700.0)))
    ci = load_law(path).optimal_intervals(1e21)
    expected = [type(EPOCH)(E=EPOCH.E, A=a, B=EPOCH.B, alpha=EPOCH.alpha, beta=EPOCH.beta).compute_optimal(1e21)[0]
                for a in (310.0, 690.0)]
    assert ci["params"] == pytest.approx(expected, rel=1e-12)


def test_approach2_intervals_from_draws_of_the_exponent(tmp_path):
    a = np.linspace(0.4, 0.6, K)
    path = _fit_file(tmp_path, {"approach": "2", "approach2": {
        "a": 0.5, "b": 0.5, "params_coefficient": 0.1, "tokens_coefficient": 1.5,
        "draws": {"a": list(a), "b": list(1 - a), "params_coefficient": [0.1] * K, "tokens_coefficient": [1.5] * K}}})
    ci = load_law(path).optimal_intervals(1e20)
    assert ci["params"] == pytest.approx([0.1 * 1e20**0.405, 0.1 * 1e20**0.595], rel=1e-12)
    assert ci["tokens"] == pytest.approx([1.5 * 1e20**0.405, 1.5 * 1e20**0.595], rel=1e-12)
    assert "loss" not in ci


def test_a_fit_without_draws_says_it_has_no_interval(tmp_path):
    law = {k: getattr(EPOCH, k) for k in ("E", "A", "B", "alpha", "beta")}
    path = _fit_file(tmp_path, law)
    out = json.loads(run("plan", "--flops", "1e21", "--law", path, "--json").stdout)
    assert out["optimal"]["intervals"] is None
    assert "no intervals" in run("plan", "--flops", "1e21", "--law", path).stdout


# --- Approach 1 and 2 laws --------------------------------------------------------------------------------------

APPROACH2 = {"a": 0.45, "b": 0.55, "params_coefficient": 0.09, "tokens_coefficient": 1.8}


def test_approach2_fit_plans_without_a_loss(tmp_path):
    path = _fit_file(tmp_path, {"approach": "2", "approach2": APPROACH2})
    out = json.loads(run("plan", "--flops", "1e20", "--law", path, "--json").stdout)
    optimal = next(a for a in out["allocations"] if a["rule"] == "optimal")
    assert optimal["target_params"] == pytest.approx(0.09 * 1e20**0.45, rel=1e-12)  # N_opt = k C^a by hand
    assert optimal["predicted_loss"] is None and out["optimal_loss"] is None
    assert {a["rule"] for a in out["allocations"]} == {"optimal", "chinchilla", "gpt3", "llama", "kaplan"}
    text = run("plan", "--flops", "1e20", "--law", path).stdout
    assert "no loss prediction" in text and "Approach 2" in text


def test_fit_file_picks_approach_3_then_2_then_1_and_the_suffix_overrides(tmp_path):
    law3 = {k: getattr(EPOCH, k) for k in ("E", "A", "B", "alpha", "beta")}
    approach1 = {**APPROACH2, "params_coefficient": 0.2}
    path = _fit_file(tmp_path, {**law3, "approach2": APPROACH2, "approach1": approach1})
    assert get_law(path) == get_law(f"{path}:3") and get_law(path).has_loss
    assert get_law(f"{path}:2").params_coefficient == 0.09
    assert get_law(f"{path}:1").params_coefficient == 0.2
    only1 = _fit_file(tmp_path, {"approach": "1", "approach1": approach1}, "only1.json")
    assert get_law(only1).approach == "1"
    with pytest.raises(ScalingError, match="holds no Approach 2 law .*only1.json:1"):
        get_law(f"{only1}:2")


def test_inference_and_data_limit_need_a_law_with_a_loss(tmp_path):
    path = _fit_file(tmp_path, {"approach": "2", "approach2": APPROACH2})
    with pytest.raises(ScalingError, match="needs a law with a loss"):
        plan(1e20, path, unique_tokens=1e9)
    with pytest.raises(ScalingError, match="needs a law with a loss"):
        allocate("inference", 1e20, get_law(path), inference_tokens=1e12)


# --- repeated data (Muennighoff et al. 2023) -------------------------------------------------------------------

MUENNIGHOFF = NAMED_LAWS["muennighoff"]


def test_repeated_data_loss_matches_the_papers_own_figure_1_numbers():
    # The paper's code (Muennighoff et al. 2023, with their fitted law) for the two models of their Figure 1
    # (right), 25B unique tokens: 6.34B params on 242B tokens and 8.67B on 178B.
    assert MUENNIGHOFF.loss(6.34e9, 242e9, 25e9) == pytest.approx(2.2256440889984477, rel=1e-12)
    assert MUENNIGHOFF.loss(8.67e9, 178e9, 25e9) == pytest.approx(2.2269634075087867, rel=1e-12)


def test_data_constrained_optimum_matches_the_papers_allocation():
    # Their grid search at the compute of 8.67B params on 178B tokens with 25B unique tokens: "227B tokens,
    # 9.1 epochs, 6.8B parameters" (fewer parameters, more epochs than the unconstrained optimum).
    c = 6 * 8.67e9 * 178e9
    a = allocate("data-constrained", c, MUENNIGHOFF, unique_tokens=25e9)
    assert a.params == pytest.approx(6.8e9, rel=0.01)
    assert a.tokens == pytest.approx(227e9, rel=0.01)
    assert a.epochs == pytest.approx(9.1, abs=0.05)
    assert a.params < MUENNIGHOFF.compute_optimal(c)[0]
    # No N does better at that compute (a scan independent of the rule's optimiser).
    ns = np.geomspace(1e9, 5e10, 4001)
    assert a.predicted_loss <= MUENNIGHOFF.loss(ns, c / (6 * ns), 25e9).min() + 1e-12


def test_four_repeated_epochs_are_worth_93_percent_of_fresh_tokens_and_the_value_saturates():
    # Muennighoff et al. 2023's effective data, by hand: 4 epochs of U are U (1 + R*_D (1 - e^(-3/R*_D))).
    assert effective_data(4.0, 1.0, R_STAR_TOKENS) == pytest.approx(1 + 15.387756 * (1 - math.exp(-3 / 15.387756)))
    assert effective_data(4.0, 1.0, R_STAR_TOKENS) / 4 == pytest.approx(0.93, abs=0.005)
    assert effective_data(40.0, 1.0, R_STAR_TOKENS) / 40 < 0.4
    assert effective_data(1e6, 1.0, R_STAR_TOKENS) == pytest.approx(1 + R_STAR_TOKENS)  # (1 + R*_D) U at most
    assert effective_data(0.5, 1.0, R_STAR_TOKENS) == 0.5  # fewer tokens than unique: all fresh


@pytest.mark.parametrize("law", ["muennighoff", "epoch", "chinchilla"])
@pytest.mark.parametrize("unique", [1e9, 1e11])
def test_repeating_up_to_four_epochs_costs_little_compute_and_forty_nearly_all(law, unique):
    """At the budget where unlimited data would want k epochs of U, the best split of U reaches the loss that
    fresh data reaches with this share of the compute: most of it up to 4 epochs, ~5-10% at 40."""
    law = NAMED_LAWS[law]
    share = {}
    for epochs in (2, 4, 40):
        c = 6 * (epochs * unique * law.G) ** (1 / law.b)  # D_opt(C) = epochs x U
        best = allocate("data-constrained", c, law, unique_tokens=unique).predicted_loss
        share[epochs] = law.compute_for_loss(best) / c
        assert best > law.optimal_loss(c)
    assert share[2] > 0.9 and share[4] > 0.75 and share[40] < 0.12


@pytest.mark.parametrize("law", ["epoch", "chinchilla"])
def test_with_few_unique_tokens_the_rule_names_the_smallest_model_on_the_flat_minimum(law):
    """With U so small that N' and D' both saturate, the loss is flat (to 1e-12) over decades of N: the rule
    returns the smallest N whose loss is within 1e-9 (relative) of the minimum, found here by brute force on
    the law's own loss, and any larger model gains nothing."""
    law, c, u = NAMED_LAWS[law], 1e22, 1e7
    _assert_smallest_on_the_plateau(law, c, u, math.log(1e5), math.log(1e12))


@pytest.mark.parametrize("law", ["epoch", "chinchilla"])
def test_the_plateau_is_followed_below_the_rules_search_range(law):
    """At 1e26 FLOPs with 1e7 or 1e3 unique tokens the plateau starts more than 4 decades below the fresh-data
    N_opt, where the rule's scan starts: the smallest N is still found."""
    for u in (1e7, 1e3):
        _assert_smallest_on_the_plateau(NAMED_LAWS[law], 1e26, u, math.log(10.0), math.log(1e12))


def _assert_smallest_on_the_plateau(law, c, u, lo, hi):
    log_n = np.linspace(lo, hi, 200_001)
    n = np.exp(log_n)
    losses = law.loss(n, c / (6 * n), u)
    assert np.ptp(losses[np.argmin(losses):np.argmin(losses) + 40_000]) < 1e-9 * losses.min()  # a plateau
    first = n[np.argmax(losses <= losses.min() * (1 + 1e-9))]
    got = allocate("data-constrained", c, law, unique_tokens=u)
    assert got.params == pytest.approx(first, rel=2e-4)  # one grid step of the brute force
    assert got.predicted_loss == pytest.approx(losses.min(), rel=1.1e-9)


def test_compute_buys_almost_nothing_past_forty_epochs():
    # Where unlimited data would want 40 epochs of U, doubling the compute gains under a tenth of what it gains
    # on fresh data; where it would want 2, most of it.
    u = 25e9
    gains = {}
    for epochs in (2, 40):
        c = 6 * (epochs * u * MUENNIGHOFF.G) ** (1 / MUENNIGHOFF.b)  # D_opt(C) = epochs x U
        assert MUENNIGHOFF.compute_optimal(c)[1] == pytest.approx(epochs * u, rel=1e-9)
        limited = [allocate("data-constrained", x, MUENNIGHOFF, unique_tokens=u).predicted_loss for x in (c, 2 * c)]
        fresh = [MUENNIGHOFF.optimal_loss(x) for x in (c, 2 * c)]
        gains[epochs] = (limited[0] - limited[1]) / (fresh[0] - fresh[1])
    assert gains[2] > 0.85 and gains[40] < 0.1


def test_plan_with_unique_tokens_reports_epochs_and_the_cost_of_repeating():
    out = plan(1e21, "epoch", unique_tokens=1e10)
    rows = {a["rule"]: a for a in out["allocations"]}
    assert "data-constrained" in rows
    for a in rows.values():
        assert a["epochs"] == pytest.approx(a["tokens"] / 1e10, rel=1e-12)
        assert a["predicted_loss"] == pytest.approx(EPOCH.loss(a["params"], a["tokens"], 1e10), rel=1e-12)
        assert a["data_limit_cost"] >= 0
    rep = out["repetition"]
    assert rep["constrained"]["loss"] <= rep["optimal_loss_repeated"]
    assert rep["data_limit_cost"] == pytest.approx(rep["constrained"]["loss"] - EPOCH.optimal_loss(1e21), rel=1e-12)
    assert EPOCH.optimal_loss(rep["compute_equivalent"]) == pytest.approx(rep["constrained"]["loss"], rel=1e-12)
    # Without the limit there is no data-constrained row, and every loss is the fresh-data one.
    free = plan(1e21, "epoch")
    assert "data-constrained" not in {a["rule"] for a in free["allocations"]} and "repetition" not in free


def test_unique_tokens_beyond_what_the_optimum_reads_cost_nothing_and_say_so():
    """The epoch law's optimum at 1e21 reads 60.0B tokens (D_opt = C / (6 G (C/6)^a), G = (alpha A / beta
    B)^(1/(alpha+beta)), with the replication's E, A, B, alpha, beta): 10T unique tokens are never repeated, so
    there is no data limit to price (it printed "costs -0.0000 nats")."""
    text = run("plan", "--flops", "1e21", "--law", "epoch", "--unique-tokens", "1e13").stdout
    assert "reads 60B of them (0.006 epochs), so the data do not limit this budget" in text
    assert "costs" not in text
    limited = run("plan", "--flops", "1e21", "--law", "epoch", "--unique-tokens", "1e10").stdout  # the control
    assert "the data limit costs +" in limited


def test_an_empty_rule_list_is_refused_and_none_plans_every_rule_that_applies():
    with pytest.raises(ScalingError, match="rules is empty"):
        plan(1e21, "epoch", rules=[])
    assert [a["rule"] for a in plan(1e21, "epoch", rules=["gpt3"])["allocations"]] == ["gpt3"]
    assert len(plan(1e21, "epoch")["allocations"]) > 1  # None: every rule that needs no extra input


def test_judge_with_unique_tokens_counts_the_repeats():
    # The paper's Figure 1 model: 8.67B params on 178B tokens of 25B unique (7.1 epochs).
    out = judge(8.67e9, 178e9, "muennighoff", unique_tokens=25e9)
    assert out["epochs"] == pytest.approx(178 / 25)
    assert out["predicted_loss"] == pytest.approx(2.2269634075087867, rel=1e-12)
    assert out["fresh_loss"] == pytest.approx(MUENNIGHOFF.loss(8.67e9, 178e9), rel=1e-12)
    assert out["repetition"]["constrained"]["params"] == pytest.approx(6.8e9, rel=0.01)
    text = run("plan", "--params", "8.67e9", "--tokens", "178e9", "--unique-tokens", "25e9", "--law",
               "muennighoff").stdout
    assert "7.12 epochs of 25B unique tokens: 2.2270" in text


def test_judge_with_an_approach2_law_gives_the_split_and_no_loss(tmp_path):
    path = _fit_file(tmp_path, {"approach": "2", "approach2": APPROACH2})
    out = json.loads(run("plan", "--params", "1e9", "--tokens", "2e10", "--law", path, "--json").stdout)["runs"][0]
    assert out["predicted_loss"] is None and out["compute_equivalent"] is None
    assert out["optimal"]["params_closed_form"] == pytest.approx(0.09 * (6 * 1e9 * 2e10) ** 0.45, rel=1e-12)
    assert "no loss to compare" in run("plan", "--params", "1e9", "--tokens", "2e10", "--law", path).stdout


def test_plentiful_unique_tokens_change_nothing():
    out = plan(1e21, "epoch", unique_tokens=1e15, rules=["optimal", "data-constrained"])
    opt, dc = out["allocations"]
    assert dc["target_params"] == pytest.approx(opt["target_params"], rel=1e-4)
    assert opt["predicted_loss"] == pytest.approx(EPOCH.loss(opt["params"], opt["tokens"]), rel=1e-12)


# --- no answer lost to the shape solver -----------------------------------------------------------------------

def test_above_the_solver_the_plan_still_answers():
    out = json.loads(run("plan", "--flops", "1.75e28", "--law", "epoch", "--json").stdout)
    optimal = next(a for a in out["allocations"] if a["rule"] == "optimal")
    n, d = EPOCH.compute_optimal(1.75e28)
    assert optimal["shape"] is None and "above the largest shape" in optimal["shape_note"]
    assert (optimal["params"], optimal["tokens"]) == pytest.approx((n, d), rel=1e-12)
    assert optimal["predicted_loss"] == pytest.approx(epoch_loss(n, d), rel=1e-12)
    text = run("plan", "--flops", "1.75e28", "--law", "epoch").stdout
    assert "optimal: no shape: 1.43e+13 parameters is above the largest shape" in text
    # grid and the harness need a real shape: they still refuse, in one line.
    proc = run("grid", "--flops", "1.75e28", "--law", "epoch", "--allocations", "optimal", check=False)
    assert proc.returncode == 2 and "no shape near" in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("flops", ["1e12", "1e13"])
def test_small_budgets_keep_every_rule_and_flag_losses_above_a_uniform_guess(flops):
    proc = run("plan", "--flops", flops, "--json")
    out = json.loads(proc.stdout)
    assert [a["rule"] for a in out["allocations"]] == ["optimal", "chinchilla", "gpt3", "llama", "kaplan"]
    for a in out["allocations"]:
        if a["shape"] is None:
            assert "below the smallest shape with vocab 32000" in a["shape_note"]
            assert a["params"] == a["target_params"]
        else:  # the count the rule's N is: Kaplan's counts no embeddings
            have = a["params"] if a["counts_embeddings"] else a["non_embedding_params"]
            assert have / a["target_params"] - 1 == pytest.approx(a["shape_deviation"], rel=1e-12)
        assert a["above_uniform"] == (a["predicted_loss"] > math.log(32000))
    assert any(a["above_uniform"] for a in out["allocations"])
    assert "uniform guess" in proc.stderr and "ln(32000) = 10.37" in proc.stderr


def test_llama_rule_at_1e14_shows_the_shapes_true_count_and_deviation():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # losses above a uniform guess: the next test's subject
        out = plan(1e14)
    llama = next(a for a in out["allocations"] if a["rule"] == "llama")
    assert llama["target_params"] == pytest.approx(math.sqrt(1e14 / (6 * 1e12 / 6_738_415_616)), rel=1e-12)
    assert llama["params"] == 512_856 and llama["shape_deviation"] == pytest.approx(0.53, abs=0.01)
    assert "+53% off the rule's 335K" in run("plan", "--flops", "1e14").stdout


# --- a law used outside its data ----------------------------------------------------------------------------------

REFERENCE_RANGE = {"params": [7.1e3, 6.4e5], "tokens": [1.2e6, 8e7], "flops": [1e11, 3e12], "loss": [1.5, 3.0],
                   "vocab_size": 256}


def test_extrapolation_far_beyond_the_data_range_warns_with_decades(tmp_path):
    law = {k: getattr(EPOCH, k) for k in ("E", "A", "B", "alpha", "beta")}
    path = _fit_file(tmp_path, {**law, "data_range": REFERENCE_RANGE})
    proc = run("plan", "--flops", "1e21", "--law", path)
    n, d = EPOCH.compute_optimal(1e21)
    decades = math.log10(1e21 / 3e12)
    assert f"flops 1e+21 {decades:.1f} decades above" in proc.stderr
    assert f"params {n:.3g} {math.log10(n / 6.4e5):.1f} decades above" in proc.stderr
    assert "vocab 256 and this plan uses 32000" in proc.stderr
    assert all(line.startswith("scaling plan: warning:") for line in proc.stderr.splitlines())
    # A byte-level law (the reference sweep's) inside its range, with its vocabulary: silent.
    byte_level = {"E": 1.2373, "A": 359.19, "B": 33.558, "alpha": 0.74508, "beta": 0.29923}
    inside = _fit_file(tmp_path, {**byte_level, "data_range": REFERENCE_RANGE}, "bytes.json")
    quiet = run("plan", "--flops", "1e12", "--law", inside, "--vocab", "256", "--seq-len", "128", "--rules", "optimal")
    assert quiet.stderr == ""
    # Without a data range, it says it cannot tell.
    bare = _fit_file(tmp_path, byte_level, "bare.json")
    assert "states no data_range" in run("plan", "--flops", "1e21", "--law", bare).stderr


def test_judge_warns_for_a_run_outside_the_fit(tmp_path):
    law = {k: getattr(EPOCH, k) for k in ("E", "A", "B", "alpha", "beta")}
    path = _fit_file(tmp_path, {**law, "data_range": REFERENCE_RANGE})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = judge("llama-13b", 1e12, path)
    assert [str(w.message) for w in caught] == out["warnings"]
    assert "decades above" in out["warnings"][0] and "vocab 256 and this plan uses 32000" in out["warnings"][1]


# --- the inference rule's compute ---------------------------------------------------------------------------------

def test_inference_rule_is_flagged_for_training_past_the_budget():
    proc = run("plan", "--gpu-hours", "1000", "--gpu", "h100-sxm", "--inference-tokens", "1e12", "--json")
    out = json.loads(proc.stdout)
    budget = 1000 * 3600 * 989e12 * 0.4
    inference = next(a for a in out["allocations"] if a["rule"] == "inference")
    assert inference["budget"] == pytest.approx(budget)
    assert inference["budget_ratio"] == pytest.approx(inference["flops"] / budget, rel=1e-12)
    assert inference["budget_ratio"] > 1.3
    assert all(a["budget_ratio"] == pytest.approx(1) for a in out["allocations"] if a["rule"] != "inference")
    text = run("plan", "--gpu-hours", "1000", "--gpu", "h100-sxm", "--inference-tokens", "1e12").stdout
    assert f"trains on {inference['budget_ratio']:.2f}x the budget" in text and "fixes the loss" in text


# --- bad input: one line, exit 2 ----------------------------------------------------------------------------------

BAD = {
    "negative params": ["plan", "--params", "-1", "--tokens", "1e12"],
    "nan params": ["plan", "--params", "nan", "--tokens", "1e12"],
    "zero params": ["plan", "--params", "0", "--tokens", "1e12"],
    "text params": ["plan", "--params", "big", "--tokens", "1e12"],
    "negative tokens": ["plan", "--params", "1e9", "--tokens", "-5"],
    "zero tokens": ["plan", "--preset", "llama-7b", "--tokens", "0"],
    "nan tokens": ["plan", "--preset", "llama-7b", "--tokens", "nan"],
    "unknown preset": ["plan", "--preset", "llama-8b", "--tokens", "1e12"],
    "params and preset": ["plan", "--params", "1e9", "--preset", "llama-7b", "--tokens", "1e12"],
    "params with flops": ["plan", "--params", "1e9", "--tokens", "1e12", "--flops", "1e21"],
    "params without tokens": ["plan", "--params", "1e9"],
    "tokens without a model": ["plan", "--tokens", "1e12"],
    "mismatched lists": ["plan", "--preset", "llama-7b,llama-13b,gpt3-175b", "--tokens", "1e12,2e12"],
    "negative unique tokens": ["plan", "--flops", "1e21", "--unique-tokens", "-1"],
    "zero unique tokens": ["plan", "--flops", "1e21", "--unique-tokens", "0"],
    "nan unique tokens": ["plan", "--flops", "1e21", "--unique-tokens", "nan"],
    "data-constrained without unique tokens": ["plan", "--flops", "1e21", "--rules", "data-constrained"],
    "approach absent from the file": ["plan", "--flops", "1e21", "--law", "FIT:2"],
    "fit with no usable law": ["plan", "--flops", "1e21", "--law", "EMPTY"],
    "draws of unequal length": ["plan", "--flops", "1e21", "--law", "RAGGED"],
    "bad data range": ["plan", "--flops", "1e21", "--law", "BADRANGE"],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, case):
    law = {k: getattr(EPOCH, k) for k in ("E", "A", "B", "alpha", "beta")}
    files = {"FIT": _fit_file(tmp_path, law, "fit.json"),
             "EMPTY": _fit_file(tmp_path, {"approach": "2", "n_points": 3}, "empty.json"),
             "RAGGED": _fit_file(tmp_path, {**law, "draws": {"E": [1.8, 1.9], "A": [480.0], "B": [2e3, 2e3],
                                                             "alpha": [0.35, 0.35], "beta": [0.37, 0.37]}},
                                 "ragged.json"),
             "BADRANGE": _fit_file(tmp_path, {**law, "data_range": {"params": [5e5, 1e3]}}, "range.json")}
    args = [files.get(a.split(":")[0], a) + (":" + a.split(":")[1] if a.startswith("FIT:") else "")
            for a in BAD[case]]
    proc = run(*args, check=False)
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_judged_run_whose_optimum_has_no_shape_says_so_once():
    # 2.5M tokens at 1.85e12 FLOPs: the law's optimum (~2e5 parameters) is under the smallest shape with a
    # 32,000-token vocabulary (d 8, one layer: 2 x 32000 x 8 embedding and output weights alone)
    text = run("plan", "--params", "123456", "--tokens", "2.5e6", "--law", "epoch").stdout
    line = next(x for x in text.splitlines() if "law-optimal split" in x)
    assert "/param; no shape: " in line and "is below the smallest shape with vocab 32000" in line
    assert "no no shape" not in line


def test_a_small_share_of_the_compute_is_printed_to_two_figures_not_as_0_percent():
    args = ("plan", "--flops", "1e30", "--law", "epoch", "--unique-tokens", "1e13")
    fraction = json.loads(run(*args, "--json").stdout)["repetition"]["compute_equivalent"] / 1e30
    assert 0.001 < fraction < 0.01  # the case: a share '.0%' prints as 0%
    assert f"with {100 * fraction:.2g}% of the compute" in run(*args).stdout
