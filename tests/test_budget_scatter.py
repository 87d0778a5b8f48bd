"""Approach 2's intervals hold the scatter of the budgets' optima about N_opt ~ C^a (each budget's own ladder of
sizes, batch and steps moves its vertex by an amount no rerun at that budget redraws), estimated by the method
of Paule & Mandel: checked against sweeps simulated with a known scatter, for the estimate and for the coverage of the
intervals it gives."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.fitting import fit
from scaling.fitting import isoflop as isoflop_module
from scaling.fitting.isoflop import between_budget_scatter
from scaling.laws import ParametricLaw

# The replication's Chinchilla law, rounded (Besiroglu et al. 2024): a = beta / (alpha + beta) = 0.5139.
LAW = ParametricLaw(E=1.82, A=482.0, B=2085.0, alpha=0.35, beta=0.37, name="rounded epoch")
TRUE_A = LAW.beta / (LAW.alpha + LAW.beta)


def shifted_sweep(seed: int, tau: float, budgets, noise: float = 0.003, sizes: int = 9,
                  span: float = 64.0) -> tuple[pd.DataFrame, np.ndarray]:
    """`sizes` sizes over `span` x around the law's optimum at each budget, log-normal loss noise `noise`; each
    budget's whole profile is moved along its isoFLOP line by exp(u), u ~ N(0, tau^2), so its optimum is off the
    law's by u in log N, as a budget with its own shapes and batch would be. Returns (runs, the u drawn)."""
    rng = np.random.default_rng(seed)
    rows, shifts = [], tau * rng.standard_normal(len(budgets))
    for c, u in zip(budgets, shifts, strict=True):
        n_opt = LAW.compute_optimal(c)[0]
        for n in n_opt * np.geomspace(span**-0.5, span**0.5, sizes):
            loss = LAW.loss(n / np.exp(u), c / (6 * n / np.exp(u)))  # the law's profile, moved by exp(u)
            rows.append({"params": n, "tokens": c / (6 * n), "flops": c, "budget": c,
                         "loss": loss * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows), shifts


def approach2(frame, **options) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(frame, approach="2", **options).to_dict()["approach2"]


def test_the_estimate_brings_the_chi2_to_its_degrees_of_freedom_and_is_never_negative():
    # equal variances: sum r^2 / (v + tau^2) = dof has the closed form tau^2 = sum r^2 / dof - v = 4 / 2 - 0.5
    assert between_budget_scatter([1, -1, 1, -1], [0.5] * 4, 2) == pytest.approx(1.5)
    assert between_budget_scatter([0.1, -0.1, 0.1], [1.0] * 3, 1) == 0.0  # chi^2 0.03 on 1: within the noise
    assert np.isnan(between_budget_scatter([0.0, 0.0], [1.0, 1.0], 0))  # a line through 2 points
    # a budget whose resamples all agree (v = 0) and that lies on the law adds nothing: the others' equal variances
    # give the closed form tau^2 = (0.3^2 + 0.2^2) / 1 - 0.01
    assert between_budget_scatter([0.0, 0.3, 0.2], [0.0, 0.01, 0.01], 1) == pytest.approx(0.12)


def test_large_residuals_on_precise_budgets_give_scatter_where_the_unweighted_moments_give_none():
    """Two budgets with tight optima 0.3 off the law, two vague ones on it: chi^2 18 on 2 degrees of freedom.
    The unweighted moment estimate (RSS 0.18 against the 1.01 that the noise alone would give) is 0; this one
    is the tau^2 at which the chi^2, recomputed here, equals 2."""
    r, v = np.array([0.3, -0.3, 0.01, -0.01]), np.array([0.01, 0.01, 1.0, 1.0])
    assert float(np.sum(r * r)) < float(np.sum(0.5 * v))  # DerSimonian-Laird, leverage 1/2: held at 0
    tau2 = between_budget_scatter(r, v, 2)
    assert tau2 > 0.05
    assert float(np.sum(r * r / (v + tau2))) == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize("tau", [0.0, 0.2])
def test_the_scatter_is_recovered_from_many_budgets(tau):
    """40 budgets over 4 decades, each profile moved by a known u: tau comes back within 0.02 of the sd of the
    u drawn (low loss noise, so the vertices carry u and little else), and 0 where the budgets lie on the law."""
    budgets = np.geomspace(1e18, 1e22, 40)
    for seed in range(3):
        frame, shifts = shifted_sweep(seed, tau, budgets, noise=0.001)
        out = approach2(frame, bootstrap=200, seed=0)
        assert out["scatter"]["params"]["dof"] == 38
        assert out["scatter"]["params"]["tau"] == pytest.approx(np.std(shifts), abs=0.02)
        assert out["scatter"]["loss"]["tau"] < 0.01  # the profiles move sideways: their minima stay on the law


def test_intervals_cover_the_known_exponent_when_budgets_scatter_and_would_not_without_it(monkeypatch):
    """30 sweeps of 6 budgets over 2.5 decades, 7 sizes over 16x each, every budget's optimum off the law by
    tau = 0.2 in log N: the
    intervals with the scatter term cover the true a in at least 24 of 30 (95% nominal; with 4 degrees of
    freedom a normal draw understates it a little), those from the runs' noise alone in far fewer."""
    budgets = np.geomspace(1e18, 3e20, 6)
    sweeps = [shifted_sweep(seed, 0.2, budgets, sizes=7, span=16.0)[0] for seed in range(30)]

    def covered() -> int:
        hits = 0
        for frame in sweeps:
            lo, hi = approach2(frame, bootstrap=200, seed=0)["ci"]["a"]
            hits += lo <= TRUE_A <= hi
        return hits

    with_scatter = covered()
    monkeypatch.setattr(isoflop_module, "between_budget_scatter", lambda *_: 0.0)
    noise_only = covered()
    assert with_scatter >= 24
    assert noise_only <= with_scatter - 8


def test_two_budgets_leave_no_measure_of_their_scatter_and_say_so():
    """Two optima fix a line: tau cannot be estimated (0 degrees of freedom), so the interval of a holds the
    budgets' own noise only; three budgets leave one degree of freedom and no such warning."""
    import warnings

    from scaling import fit
    from tests.synthetic_runs import isoflop_sweep

    sweep = isoflop_sweep(0)
    budgets = sorted(sweep["budget"].unique())
    for kept, warned in ((2, True), (3, False)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fit(sweep[sweep["budget"].isin(budgets[:kept])], approach="2", bootstrap=200).to_dict()
        said = [str(w.message) for w in caught if "degree of freedom to measure" in str(w.message)]
        assert (said == [said[0]] if warned else said == []), said
        assert out["approach2"]["scatter"]["params"]["dof"] == kept - 2
