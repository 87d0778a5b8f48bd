"""Approach 3 in Kaplan et al. 2020's form (`scaling.fitting.kaplan`): the objective against scipy's Huber of the
law, its gradient and Hessian against finite differences,
the compute-optimal N against a brute-force search along C = 6ND, recovery of a known law's a from a noisy isoFLOP
sweep with an interval that holds it, the lack-of-fit test telling the two forms apart on replicated runs, and what
Chinchilla's form makes of Kaplan-shaped runs at the reference sweep's design."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime
from scipy.special import huber

from scaling.fitting import FitOptions
from scaling.fitting.api import prepare
from scaling.fitting.kaplan import KaplanObjective, fit_kaplan, law_from_theta
from scaling.fitting.parametric import fit_parametric, lack_of_fit
from scaling.laws import KaplanLaw, ParametricLaw
from tests.synthetic_runs import LAW as CHINCHILLA

KAPLAN = KaplanLaw(E=1.2, N_c=5e5, D_c=2e8, alpha_N=0.20, alpha_D=0.15)  # a = 0.15 / 0.35 = 3/7
BUDGETS = (3e10, 1e11, 3e11, 1e12, 3e12, 1e13)


def _sweep(law, seed: int, noise: float = 0.005, seeds: int = 1) -> pd.DataFrame:
    """7 sizes (1/8 to 8 x the law's N_opt) per budget, `seeds` noisy runs each."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in BUDGETS:
        for n in law.compute_optimal(c)[0] * np.geomspace(1 / 8, 8, 7):
            for _ in range(seeds):
                d = c / (6 * n)
                rows.append({"params": n, "tokens": d, "flops": c, "budget": c,
                             "loss": float(law.loss(n, d)) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def test_the_objective_its_gradient_and_hessian():
    """The batched objective equals the weighted Huber sum of ln L(N, D) - ln loss computed from KaplanLaw itself;
    its gradient and Hessian equal central differences of the value and of the gradient, at points where some
    residuals fall inside the Huber threshold and some outside."""
    rng = np.random.default_rng(0)
    n, d = rng.uniform(1e4, 1e7, 40), rng.uniform(1e5, 1e9, 40)
    loss, weights = rng.uniform(1.4, 3.0, 40), rng.integers(0, 3, 40).astype(float)
    thetas = np.array([[0.1, 13, 18, 1.3, 0.12], [-5, 10, 13, 1, 0.4], [0.5, 5, 8, 2, 0.1], [0.3, 12, 16, 0.8, 0.3]])
    for delta in (1e-3, 0.1):
        objective = KaplanObjective(np.log(n), np.log(d), np.log(loss), weights, delta)
        value, grad, hess = objective.value_grad_hess(thetas)
        for theta, f, g, h in zip(thetas, value, grad, hess, strict=True):
            law = law_from_theta(theta)
            assert f == pytest.approx(weights @ huber(delta, np.log(law.loss(n, d) / loss)), rel=1e-10)
            numeric = approx_fprime(theta, lambda t, o=objective: o.value(t[None])[0], 1e-7)
            assert g == pytest.approx(numeric, rel=1e-4, abs=1e-8)
            step = 1e-6 * np.eye(5)
            numeric = np.stack([(objective.value_grad((theta + s)[None])[1][0]
                                 - objective.value_grad((theta - s)[None])[1][0]) / 2e-6 for s in step], axis=1)
            assert h == pytest.approx(numeric, rel=1e-5, abs=1e-7 * np.abs(numeric).max())
    # alpha_D = 0 is no law, but a Newton step can land on it: its Hessian is still the differences' (finite)
    objective = KaplanObjective(np.log(n), np.log(d), np.log(loss), weights, 0.1)
    theta = np.array([0.1, 13, 18, 1.3, 0])
    hess = objective.value_grad_hess(theta[None])[2][0]
    numeric = np.stack([(objective.value_grad((theta + s)[None])[1][0]
                         - objective.value_grad((theta - s)[None])[1][0]) / 2e-6 for s in 1e-6 * np.eye(5)], axis=1)
    assert hess == pytest.approx(numeric, rel=1e-5, abs=1e-7 * np.abs(numeric).max())


def test_the_compute_optimal_size_is_the_minimum_along_the_isoflop_line():
    for c in (1e12, 1e18, 1e24):
        n = np.geomspace(1e2, 1e14, 400001)
        brute = n[np.argmin(KAPLAN.loss(n, c / (6 * n)))]
        assert KAPLAN.compute_optimal(c)[0] == pytest.approx(brute, rel=1e-3)
    n1, n2 = KAPLAN.compute_optimal(1e12)[0], KAPLAN.compute_optimal(1e18)[0]
    assert np.log(n2 / n1) / np.log(1e6) == pytest.approx(3 / 7, rel=1e-9) == KAPLAN.a


@pytest.mark.parametrize("seed", [0, 1])
def test_a_known_laws_a_is_recovered_with_an_interval_that_holds_it(seed):
    from scaling.fitting import fit

    section = fit(_sweep(KAPLAN, seed), approach="3", form="kaplan", bootstrap=400).to_dict()
    assert section["form"] == "kaplan" and section["a"] == pytest.approx(3 / 7, abs=0.02)
    lo, hi = section["ci"]["a"]
    assert lo <= 3 / 7 <= hi and hi - lo < 0.1 and section["ci"]["failed"] == 0
    assert section["b"] == pytest.approx(1 - section["a"])
    assert len(section["draws"]["alpha_N"]) == 400


def test_the_lack_of_fit_test_tells_the_two_forms_apart():
    """Two seeds per run, 0.3% noise: each form fits its own law's runs to the seeds' scatter and misses the
    other's (lack-of-fit p < 0.01)."""
    for truth in ("kaplan", "chinchilla"):
        law = KAPLAN if truth == "kaplan" else CHINCHILLA
        frame = _sweep(law if truth == "kaplan" else _ChinchillaAt(law), 3, noise=0.003, seeds=2)
        n, d, loss = frame["params"].to_numpy(), frame["tokens"].to_numpy(), frame["loss"].to_numpy()
        kaplan = fit_kaplan(n, d, loss).law
        chinchilla = fit_parametric(n, d, loss).law
        p_kaplan = lack_of_fit(n, d, loss, kaplan)["p"]
        p_chinchilla = lack_of_fit(n, d, loss, chinchilla)["p"]
        if truth == "kaplan":
            assert p_kaplan > 0.01 > p_chinchilla
        else:
            assert p_chinchilla > 0.01 > p_kaplan


class _ChinchillaAt:
    """Chinchilla's law at the sweep's scale: the replication's law with N and D scaled down 1e4 times, so that
    its optima fall among these budgets."""

    def __init__(self, law):
        self.law = law

    def loss(self, n, d):
        return self.law.loss(n * 1e4, d * 1e4)

    def compute_optimal(self, c):
        n, d = self.law.compute_optimal(c * 1e8)
        return n / 1e4, d / 1e4


def test_the_backtest_in_this_form_covers_the_known_laws_optimum_at_the_held_out_budget():
    """6 budgets from the known law, the largest held out: the fit on the other five predicts its N_opt and the
    loss there within their intervals, around the law's closed form."""
    from scaling.fitting.backtest import backtest

    opts = FitOptions(bootstrap=400)
    data = prepare(_sweep(KAPLAN, 4), opts)
    bt = backtest(data, data, opts, approaches=("3k",))
    pred, held = bt["predicted"]["approach3k"], BUDGETS[-1]
    n_true, d_true = KAPLAN.compute_optimal(held)
    assert bt["holdout_flops"] == held and bt["fitted_budgets"] == list(BUDGETS[:-1])
    assert pred["params_opt_ci"][0] <= n_true <= pred["params_opt_ci"][1]
    assert pred["loss_ci"][0] <= float(KAPLAN.loss(n_true, d_true)) <= pred["loss_ci"][1]
    assert pred["params_opt"] == pytest.approx(n_true, rel=0.1)


REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"


def test_chinchillas_form_on_kaplan_shaped_runs_of_the_reference_design_is_low_and_wide():
    """The committed reference sweep's runs (N, D), losses drawn from a known law with the seeds' scatter (1% in
    log loss). From Kaplan's form as fitted to those runs (a = 0.438), Chinchilla's form returns a far below the
    truth with an interval wider than +-0.08 that misses it, as on the real runs (0.267 [0.169, 0.400]); from a
    law in Chinchilla's form (a = 0.449), the same design and noise pin a within +-0.05 of the truth. The design
    can pin a; what widens Chinchilla's form's interval on the reference is the surface's shape."""
    from scaling.fitting import fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's three duplicate runs, dropped
        design = prepare(str(REFERENCE), FitOptions())
    n, d = design.params, design.tokens
    assert len(n) == 69
    truths = {"kaplan": KaplanLaw(E=0.0, N_c=9.15e5, D_c=1.256e8, alpha_N=0.148, alpha_D=0.115),
              "chinchilla": ParametricLaw(E=1.154, A=48.76, B=78.66, alpha=0.479, beta=0.390)}
    for name, law in truths.items():
        true_a = law.a
        for seed in range(2):
            noise = np.random.default_rng(seed).standard_normal(len(n))
            loss = np.asarray(law.loss(n, d), dtype=float) * np.exp(0.01 * noise)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the misfit's own warnings
                out = fit(pd.DataFrame({"params": n, "tokens": d, "loss": loss}), approach="3", bootstrap=400)
            out = out.to_dict()
            lo, hi = out["ci"]["a"]
            if name == "kaplan":
                assert out["a"] < true_a - 0.1 and hi < true_a and (hi - lo) / 2 > 0.08
            else:
                assert lo <= true_a <= hi and (hi - lo) / 2 < 0.05


def test_a_report_on_kaplan_shaped_runs_says_what_chinchillas_form_reads_there(tmp_path):
    """A sweep drawn from Kaplan's form, two seeds per run: the report favours Kaplan's form and fits Chinchilla's
    form to runs drawn from Kaplan's fitted law at the same N and D with the seeds' scatter; the real runs, drawn
    from (nearly) that law, give a Chinchilla-form a near the draws' median, and the report's sentence says
    whether it lies inside their range."""
    from scaling.report import READING_DRAWS, build
    from tests.synthetic_runs import write_sweep

    frame = _sweep(KAPLAN, 0, noise=0.005, seeds=2)
    frame["rule"] = "optimal"
    frame["size_factor"] = [n / KAPLAN.compute_optimal(c)[0] for n, c in zip(frame["params"], frame["budget"],
                                                                             strict=True)]
    frame["run"] = [f"run{i:03d}" for i in range(len(frame))]
    write_sweep(tmp_path, frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = build(tmp_path / "isoflop", bootstrap=200)
    reading, chinchilla = report.fits["3k"]["chinchilla_reading"], report.fits["3"]
    assert reading["fitted"] == reading["draws"] == READING_DRAWS
    assert reading["noise_sd"] == chinchilla["lack_of_fit"]["replicate_sd"]
    lo, hi = reading["range"]
    assert abs(chinchilla["a"] - reading["median"]) < hi - lo  # near the draws (inside their range 39 times in 41)
    text = (tmp_path / "isoflop" / "report.md").read_text()
    assert f"give Chinchilla's form a = {reading['median']:.3f}" in text
    inside = lo <= chinchilla["a"] <= hi
    assert ("is what that form reads from a surface of this shape" in text) is inside
    assert ("so the shape of the surface may not account for it alone" in text) is not inside
