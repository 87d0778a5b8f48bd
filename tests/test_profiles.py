"""Approach 3's law against the isoFLOP profiles (`scaling.fitting.profiles`): the curvature of a profile about
its optimum against the closed form alpha beta (L_opt - E); a sweep drawn from a law agrees with its fitted law
and its curvature falls as C^-(alpha beta / (alpha + beta)), the rate of the reducible loss along the optimum; and
profiles that keep their sharpness while the loss falls, which no law of that form makes, are flagged."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.fitting import FitOptions, fit
from scaling.fitting.api import prepare
from scaling.fitting.profiles import parabola_curvature, profile_check
from scaling.laws import ParametricLaw
from tests.synthetic_runs import BUDGETS, LAW, isoflop_sweep


def _check(frame: pd.DataFrame, law=None, bootstrap: int = 400) -> dict:
    opts = FitOptions(bootstrap=bootstrap)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if law is None:
            s = fit(frame, approach="3", bootstrap=0).to_dict()
            law = ParametricLaw(**{k: s[k] for k in ("E", "A", "B", "alpha", "beta")})
        return profile_check(prepare(frame, opts), law, opts)


def test_the_curvature_about_the_optimum_is_alpha_beta_times_the_reducible_loss():
    """Along D = C/6N, d^2L/d(ln N)^2 at the optimum = alpha beta (L_opt - E) (from Hoffmann's Eq. 4): a
    parabola through five sizes within +-3% of N_opt reads it."""
    for c in (1e18, 1e21, 1e24):
        n = LAW.compute_optimal(c)[0] * np.geomspace(0.97, 1.03, 5)
        curvature = parabola_curvature(np.log(n), LAW.loss(n, c / (6 * n)))[0]
        assert curvature == pytest.approx(LAW.alpha * LAW.beta * (LAW.optimal_loss(c) - LAW.E), rel=1e-3)


def test_parabola_curvature_of_an_exact_parabola_and_of_each_row():
    x = np.log(np.geomspace(1e5, 1e7, 6))
    ys = np.stack([3 + 0.2 * (x - 12) ** 2, 1 - 0.05 * x + 0.7 * x**2])
    assert parabola_curvature(x, ys) == pytest.approx([0.4, 1.4], rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_sweep_from_the_law_agrees_with_its_fitted_law_and_falls_at_the_laws_rate(seed):
    """6 budgets x 7 sizes (1/4 to 4 x N_opt) from the replication's law, 0.5% noise. Every profile has the same
    shape in ln(N / N_opt), scaled by the reducible loss, so the curvature falls as C^-(alpha beta / (alpha +
    beta)): the fitted law's does, and the profiles' interval holds it."""
    check = _check(isoflop_sweep(seed))
    rate = -LAW.alpha * LAW.beta / (LAW.alpha + LAW.beta)
    trend = check["trend"]
    assert [r["flops"] for r in check["budgets"]] == list(BUDGETS) and check["tested"] == 6
    assert trend["law"] == pytest.approx(rate, abs=0.02)
    assert trend["observed_ci"][0] <= rate <= trend["observed_ci"][1] and trend["agrees"] is True
    for r in check["budgets"]:
        assert r["curvature_ci"][0] < r["curvature"] < r["curvature_ci"][1]
        assert r["law_loss_at_opt"] == pytest.approx(r["loss_opt"], rel=0.01)


def test_noise_free_profiles_have_the_laws_curvature_exactly():
    """Without noise the profiles are the law's own losses: the same parabolas, the same curvatures."""
    check = _check(isoflop_sweep(0, noise=0.0), law=LAW, bootstrap=0)
    for r in check["budgets"]:
        assert r["curvature"] == pytest.approx(r["law_curvature"], rel=1e-9)


def test_profiles_that_keep_their_sharpness_while_the_loss_falls_are_flagged():
    """Parabolic profiles of one curvature (0.2 per (ln N)^2) at every budget while their minimum falls (by
    0.36 nats over 2.5 decades): E + A/N^alpha + B/D^beta cannot follow them, its curvature at the optimum being
    alpha beta (L_opt - E), which falls with the loss."""
    rng = np.random.default_rng(0)
    rows = []
    for c in BUDGETS:
        n_opt = 0.1 * c**0.5
        for n in n_opt * np.geomspace(1 / 4, 4, 7):
            loss = 1.7 + 40 * c**-0.08 + 0.1 * np.log(n / n_opt) ** 2
            rows.append({"params": n, "tokens": c / (6 * n), "flops": c, "budget": c,
                         "loss": loss * np.exp(0.002 * rng.standard_normal())})
    check = _check(pd.DataFrame(rows))
    trend = check["trend"]
    assert trend["observed"] == pytest.approx(0.0, abs=0.03) and trend["observed_ci"][0] < 0 < trend["observed_ci"][1]
    assert trend["law"] < trend["observed_ci"][0] and trend["agrees"] is False
    assert check["agree"] < check["tested"]


def test_without_a_bootstrap_there_are_no_intervals_or_verdicts():
    check = _check(isoflop_sweep(0), law=LAW, bootstrap=0)
    assert check["tested"] == 0 and check["agree"] is None
    assert check["trend"]["observed_ci"] is None and check["trend"]["agrees"] is None
    assert all(r["curvature_ci"] is None and r["agrees"] is None for r in check["budgets"])

