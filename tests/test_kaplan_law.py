"""Kaplan et al.'s form as a law the planner plans with (`scaling.laws.KaplanLaw`): its closed forms against
numerical searches on its own loss, the inference-aware and data-constrained rules against brute force, and a
fit file in this form (`scaling fit --form kaplan`) read back by `scaling plan`, its intervals against the draws
taken one law at a time."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from scaling.allocation import allocate
from scaling.errors import ScalingError
from scaling.fitting import FitOptions, fit, write_fit
from scaling.fitting.bootstrap import percentile_interval
from scaling.laws import R_STAR_PARAMS, R_STAR_TOKENS, KaplanLaw, effective_data, load_law
from scaling.planning import judge, plan
from tests.test_kaplan import KAPLAN, _sweep

LAWS = [KAPLAN, KaplanLaw(E=0.0, N_c=9e5, D_c=1.3e8, alpha_N=0.148, alpha_D=0.115),
        KaplanLaw(E=1.7, N_c=8.8e13, D_c=5.4e13, alpha_N=0.076, alpha_D=0.095)]  # the last: Kaplan et al.'s Eq. 1.5


def _optimal_loss_by_search(law, flops):
    """min over N of L(N, C / 6N), by a bounded search in log N (no closed form)."""
    run = minimize_scalar(lambda x: law.loss(math.exp(x), flops / (6 * math.exp(x))), bounds=(0.0, 60.0),
                          method="bounded", options={"xatol": 1e-12})
    return run.fun, math.exp(run.x)


@pytest.mark.parametrize("law", LAWS)
def test_a_and_b_are_the_exponents_of_the_searched_optima(law):
    (n1, d1), (n2, d2) = (law.compute_optimal(c) for c in (1e14, 1e20))
    assert math.log(_optimal_loss_by_search(law, 1e20)[1] / _optimal_loss_by_search(law, 1e14)[1]) / math.log(1e6) \
        == pytest.approx(law.a, abs=1e-4)
    assert math.log(d2 / d1) / math.log(1e6) == pytest.approx(law.b, rel=1e-9)
    assert law.a + law.b == pytest.approx(1.0)


@pytest.mark.parametrize("law", LAWS)
def test_the_optimal_loss_and_its_inverse_match_a_search_along_the_isoflop_line(law):
    for flops in (1e12, 1e17, 1e22, 1e30):
        best, n_best = _optimal_loss_by_search(law, flops)
        assert law.optimal_loss(flops) == pytest.approx(best, rel=1e-9)
        assert law.compute_optimal(flops)[0] == pytest.approx(n_best, rel=1e-4)
        # compute_for_loss against a root search on the searched optimal loss
        root = math.exp(brentq(lambda lc, target=best: _optimal_loss_by_search(law, math.exp(lc))[0] - target,
                               math.log(flops) - 5, math.log(flops) + 5, xtol=1e-12))
        assert law.compute_for_loss(best) == pytest.approx(root, rel=1e-6)
    assert law.compute_for_loss(law.E) == math.inf


@pytest.mark.parametrize("law", LAWS)
def test_tokens_for_loss_params_for_tokens_and_the_smallest_model_invert_the_law(law):
    n = law.compute_optimal(1e15)[0]
    target = law.loss(n, 1e15 / (6 * n))
    assert law.loss(n, law.tokens_for_loss(n, target)) == pytest.approx(target, rel=1e-10)
    smallest = law.min_params_for_loss(target)
    assert law.loss(smallest, 1e40) == pytest.approx(target, rel=1e-8)  # endless data only just reaches it
    assert law.tokens_for_loss(0.99 * smallest, target) == math.inf
    assert math.isfinite(law.tokens_for_loss(1.01 * smallest, target))
    assert law.min_params_for_loss(law.E) == math.inf == law.tokens_for_loss(n, law.E)  # nothing reaches E
    assert law.tokens_for_loss(n, 1e6) < 1  # a loss far above the law's: almost no data (no overflow on the way)
    for tokens in (1e7, 1e11):
        paired = law.params_for_tokens(tokens)
        assert law.compute_optimal(6 * paired * tokens)[1] == pytest.approx(tokens, rel=1e-9)


@pytest.mark.parametrize("law", LAWS[:2])
def test_the_inference_rule_with_this_law_is_the_brute_force_minimum_at_equal_loss(law):
    flops, served = 1e13, 3e10
    target = law.optimal_loss(flops)
    got = allocate("inference", flops, law, inference_tokens=served)
    assert got.predicted_loss == pytest.approx(target, rel=1e-9)
    grid = np.geomspace(law.min_params_for_loss(target) * 1.000001, law.compute_optimal(flops)[0], 200001)
    cost = [6 * n * law.tokens_for_loss(n, target) + 2 * n * served for n in grid]
    best = grid[int(np.argmin(cost))]
    assert got.params == pytest.approx(best, rel=1e-3)
    assert got.params < law.compute_optimal(flops)[0]  # serving tokens pull the model smaller


@pytest.mark.parametrize("law", LAWS[:2])
def test_the_data_constrained_rule_with_this_law_is_the_brute_force_minimum(law):
    flops = 1e13
    n_opt, d_opt = law.compute_optimal(flops)
    unique = d_opt / 20  # the optimal split would read its data 20 times
    got = allocate("data-constrained", flops, law, unique_tokens=unique)
    grid = np.geomspace(n_opt / 100, n_opt * 100, 400001)
    losses = law.loss(grid, flops / (6 * grid), unique)
    assert got.params == pytest.approx(grid[int(np.argmin(losses))], rel=2e-3)
    assert got.predicted_loss <= law.loss(n_opt, d_opt, unique)  # no worse than the unconstrained split
    assert law.loss(n_opt, d_opt, unique_tokens=1e30) == pytest.approx(law.loss(n_opt, d_opt), rel=1e-12)


@pytest.mark.parametrize("law", LAWS)
def test_repeated_data_enters_as_muennighoffs_effective_params_and_tokens(law):
    """L(N', D') with U_N the N whose compute-optimal split reads exactly U tokens (found by a root search on
    the split, not by the law's own U_N)."""
    u = 1e8
    log_c = brentq(lambda lc: math.log(law.compute_optimal(math.exp(lc))[1] / u), 0.0, 300.0, xtol=1e-13)
    u_n = law.compute_optimal(math.exp(log_c))[0]
    for n, d in ((3 * u_n, 10 * u), (u_n / 2, 40 * u), (10 * u_n, u / 2), (u_n / 3, u / 3)):
        expected = law.loss(effective_data(n, u_n, R_STAR_PARAMS), effective_data(d, u, R_STAR_TOKENS))
        assert law.loss(n, d, unique_tokens=u) == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory):
    result = fit(_sweep(KAPLAN, 5), approach="3", form="kaplan", bootstrap=300)
    path = tmp_path_factory.mktemp("kaplan") / "law_kaplan.json"
    write_fit(result.to_dict(), path)
    return path, result


def test_a_fit_file_in_this_form_plans_with_its_own_law_and_intervals(fit_file):
    path, result = fit_file
    fitted = load_law(str(path))
    assert isinstance(fitted.law, KaplanLaw) and fitted.approach == "3" and fitted.n_draws == 300
    assert fitted.law == KaplanLaw(**{k: result.payload[k] for k in KaplanLaw.KEYS}, name=fitted.law.name)
    out = plan(1e13, str(path))
    n_true = KAPLAN.compute_optimal(1e13)[0]
    assert out["optimal"]["params"] == pytest.approx(fitted.law.compute_optimal(1e13)[0])
    lo, hi = out["optimal"]["intervals"]["params"]
    assert lo <= n_true <= hi
    # the interval, again: one KaplanLaw per draw, its closed form, the percentiles
    laws = [KaplanLaw(*(fitted.draws[k][i] for k in KaplanLaw.KEYS)) for i in range(fitted.n_draws)]
    by_law = np.array([law.compute_optimal(1e13)[0] for law in laws])
    assert [lo, hi] == pytest.approx(list(percentile_interval(by_law, 0.95)), rel=1e-9)
    loss_lo, loss_hi = out["optimal"]["intervals"]["loss"]
    assert loss_lo <= KAPLAN.optimal_loss(1e13) <= loss_hi
    # with repeated data too: the loss interval at N', D', against the draws one law at a time
    unique = 1e13 / (6 * n_true) / 10
    by_law = np.array([law.loss(n_true, 1e13 / (6 * n_true), unique) for law in laws])
    assert fitted.loss_interval(n_true, 1e13 / (6 * n_true), unique) == pytest.approx(
        list(percentile_interval(by_law, 0.95)), rel=1e-9)
    run = judge(2 * n_true, 1e13 / (12 * n_true), str(path))
    assert run["loss_gap"] > 0 and 0 < run["compute_fraction"] < 1


def test_the_fit_file_names_its_form_and_bad_ones_get_one_line(tmp_path, fit_file):
    payload = json.loads(fit_file[0].read_text())
    assert payload["form"] == "kaplan" and "A" not in payload
    for change, message in (({"form": "hoffmann"}, "unknown law form 'hoffmann': choose one of chinchilla, kaplan"),
                            ({"form": ["kaplan"]}, "unknown law form \\['kaplan'\\]"),
                            ({"N_c": -1.0}, "N_c must be finite and positive"),
                            ({"E": -0.1}, "E must be finite and non-negative"),
                            ({"A": 400.0, "alpha": 0.3}, "holds A, alpha, which a kaplan-form law does not have"),
                            ({"form": "chinchilla"}, "holds N_c, D_c, alpha_N, alpha_D, which a chinchilla-form "
                                                     "law does not have.*says \"form\": \"kaplan\"")):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**payload, **change}))
        with pytest.raises(ScalingError, match=message):
            load_law(str(bad))
    bad.write_text(json.dumps({k: v for k, v in payload.items() if k != "D_c"}))
    with pytest.raises(ScalingError, match="lacks D_c: a kaplan-form law needs E, N_c, D_c, alpha_N, alpha_D"):
        load_law(str(bad))
    # a draw with E < 0 is no law: left out, as a draw with a negative exponent is
    draws = {k: list(v) for k, v in payload["draws"].items()}
    draws["E"][0], draws["alpha_D"][1] = -0.5, -0.1
    bad.write_text(json.dumps({**payload, "draws": draws}))
    assert load_law(str(bad)).n_draws == len(payload["draws"]["E"]) - 2


@pytest.mark.parametrize("options,message", [({"tie_exponents": True}, "drop --tie-exponents"),
                                             ({"compute": "exact"}, "drop --compute exact"),
                                             ({"loss": "asymmetric"}, "drop --loss asymmetric"),
                                             ({"engine": "scipy"}, "drop --engine scipy"),
                                             ({"form": "hoffmann"}, "unknown law form")])
def test_options_this_form_cannot_take_are_refused(options, message):
    with pytest.raises(ScalingError, match=message):
        FitOptions(**{"form": "kaplan", **options})


def test_scaling_fit_form_kaplan_then_scaling_plan(tmp_path):
    csv = tmp_path / "runs.csv"
    _sweep(KAPLAN, 6).to_csv(csv, index=False)
    law = tmp_path / "law.json"
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", "fit", str(csv), "--form", "kaplan", "--bootstrap",
                           "0", "--out", str(law)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D" in proc.stdout and "alpha_N" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", "plan", "--flops", "1e13", "--law", str(law),
                           "--vocab", "256", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["law"]["form"] == "kaplan"
    assert out["optimal"]["params"] == pytest.approx(KAPLAN.compute_optimal(1e13)[0], rel=0.15)
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", "fit", str(csv), "--form", "kaplan", "--compute",
                           "exact"], capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "drop --compute exact" in proc.stderr
