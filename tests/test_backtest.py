"""The backtest: fit on all budgets but one, predict the held-out budget's N_opt and minimum loss with intervals,
compare with its runs. Against a known law (the predictions cover its closed-form optimum), a held-out budget
drawn from another law (the backtest must fail), and the closed form of the minimum loss along the optimum."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from scaling.errors import ScalingError
from scaling.fitting import fit
from scaling.fitting.power_law import fit_power_law, fit_saturating
from scaling.laws import ParametricLaw
from tests.synthetic_runs import BUDGETS, LAW, isoflop_sweep

HELD = BUDGETS[-1]  # 3e20, the largest


def backtest(frame, **options) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(frame, approach="all", **{"bootstrap": 400, "holdout_budget": "largest", **options}).to_dict()[
            "backtest"]


def _covers(interval, value) -> bool:
    return interval[0] <= value <= interval[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_predictions_from_the_smaller_budgets_cover_the_known_laws_optimum(seed):
    """6 budgets x 7 sizes from the replication's law with 0.5% noise; the largest held out. The truth there is
    the law's closed form: N_opt = G (C/6)^a and its loss L(N_opt, D_opt)."""
    bt = backtest(isoflop_sweep(seed), seed=seed)
    n_true, loss_true = LAW.compute_optimal(HELD)[0], LAW.optimal_loss(HELD)
    assert bt["holdout_flops"] == HELD and bt["fitted_budgets"] == list(BUDGETS[:-1])
    for name in ("approach2", "approach3"):
        pred = bt["predicted"][name]
        assert _covers(pred["params_opt_ci"], n_true), (name, pred["params_opt_ci"], n_true)
        assert _covers(pred["loss_ci"], loss_true), (name, pred["loss_ci"], loss_true)
        assert bt["within"][name] == {"params_opt": True, "loss": True}
        assert abs(bt["loss_error_pct"][name]) < 2
    assert bt["within_interval"] is True
    assert _covers(bt["observed"]["params_opt_ci"], bt["observed"]["params_opt"])


def test_a_held_out_budget_from_another_law_fails_the_backtest():
    """The largest budget's runs come from the law with E raised by 0.15 nats (a change of data or tokenizer
    at the big run): the losses predicted from the smaller budgets are too low, and both approaches say so."""
    sweep = isoflop_sweep(0)
    other = ParametricLaw(E=LAW.E + 0.15, A=LAW.A, B=LAW.B, alpha=LAW.alpha, beta=LAW.beta, name="shifted")
    held = sweep["budget"] == HELD
    sweep.loc[held, "loss"] *= other.loss(sweep.loc[held, "params"], sweep.loc[held, "tokens"]) / LAW.loss(
        sweep.loc[held, "params"], sweep.loc[held, "tokens"])
    bt = backtest(sweep)
    assert bt["within_interval"] is False
    for name in ("approach2", "approach3"):
        assert bt["within"][name]["loss"] is False
        expected = -100 * 0.15 / (LAW.optimal_loss(HELD) + 0.15)
        assert bt["loss_error_pct"][name] == pytest.approx(expected, abs=1.5)


def test_the_minimum_loss_along_the_optimum_is_the_saturating_closed_form():
    """Along Chinchilla's optimum L_opt(C) = E + K C^-g with g = alpha beta / (alpha + beta): the saturating fit
    recovers E and g from 5 budgets and extrapolates half a decade within 0.002 nats, where a pure power law (a
    line in log-log) overshoots the fall by more than 0.03."""
    flops = np.array(BUDGETS)
    loss = np.array([LAW.optimal_loss(c) for c in flops])
    law = fit_saturating(flops[:-1], loss[:-1])
    assert law.floor == pytest.approx(LAW.E, rel=0.01)
    assert law.exponent == pytest.approx(LAW.alpha * LAW.beta / (LAW.alpha + LAW.beta), rel=0.03)
    assert abs(law(flops[-1:])[0] - loss[-1]) < 0.002
    line = fit_power_law(flops[:-1], loss[:-1])
    assert loss[-1] - line(flops[-1:])[0] > 0.03


def test_any_budget_can_be_held_out_and_others_are_refused():
    bt = backtest(isoflop_sweep(2), holdout_budget=1e19, bootstrap=200)
    assert bt["holdout_flops"] == 1e19 and 1e19 not in bt["fitted_budgets"] and len(bt["fitted_budgets"]) == 5
    with pytest.raises(ScalingError, match=r"--holdout-budget 5e\+19 is not one of the isoFLOP budgets \(1e\+18, "):
        fit(isoflop_sweep(2), approach="2", bootstrap=0, holdout_budget=5e19)
    with pytest.raises(ScalingError, match="predicts by Approaches 2 and 3"):
        fit(isoflop_sweep(2), approach="1", bootstrap=0, holdout_budget="largest")
    two = isoflop_sweep(2, budgets=(1e18, 1e19))
    with pytest.raises(ScalingError, match="3 or more budgets, 2 to fit and 1 to hold out; these runs have 2"):
        fit(two, approach="2", bootstrap=0, holdout_budget="largest")


def test_without_a_bootstrap_there_is_no_verdict():
    bt = backtest(isoflop_sweep(3), bootstrap=0)
    assert bt["within_interval"] is None and bt["within"] == {"approach2": None, "approach3": None}
    assert "params_opt_ci" not in bt["predicted"]["approach2"] and bt["predicted"]["approach3"]["loss"] > LAW.E


def test_cli_backtest_prints_a_line_per_approach_and_writes_the_section(tmp_path):
    csv = tmp_path / "runs.csv"
    isoflop_sweep(0).to_csv(csv, index=False)
    out = tmp_path / "fit.json"
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", "fit", str(csv), "--approach", "all", "--bootstrap",
                           "200", "--holdout-budget", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Backtest: 3e+20 FLOPs held out, predicted from 1e+18, 3e+18, 1e+19, 3e+19, 1e+20" in proc.stdout
    assert "  approach2: N_opt" in proc.stdout and "  approach3: N_opt" in proc.stdout
    section = json.loads(out.read_text())["backtest"]
    assert {"holdout_flops", "predicted", "observed", "within_interval", "loss_error_pct"} <= set(section)
    bad = subprocess.run([sys.executable, "-m", "scaling.cli", "fit", str(csv), "--approach", "2", "--bootstrap",
                          "0", "--holdout-budget", "7e19"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def rolled(frame, min_fitted: int = 4, **options) -> dict:
    from scaling.fitting import FitOptions
    from scaling.fitting.api import prepare
    from scaling.fitting.backtest import rolling

    opts = FitOptions(**{"bootstrap": 400, **options})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rolling(prepare(frame, opts), opts, min_fitted)


def test_rolled_forward_each_budget_is_forecast_from_the_smaller_ones_and_covers_the_known_law():
    """6 budgets from the replication's law: with 4 or more fitted, 1e20 is forecast from the 4 below it and 3e20
    from the 5 below; each prediction's interval covers the law's closed-form N_opt and optimal loss there."""
    out = rolled(isoflop_sweep(0))
    assert [r["holdout_flops"] for r in out["rows"]] == [1e20, 3e20]
    assert [r["n_fitted"] for r in out["rows"]] == [4, 5]
    for row in out["rows"]:
        c = row["holdout_flops"]
        assert _covers(row["predicted"]["params_opt_ci"], LAW.compute_optimal(c)[0])
        assert _covers(row["predicted"]["loss_ci"], LAW.optimal_loss(c))
        assert abs(row["loss_error_pct"]) < 2
    assert out["agree"] == {"params_opt": [2, 2], "loss": [2, 2]}
    errors = [r["loss_error_pct"] for r in out["rows"]]
    assert out["loss_error_pct"]["mean_abs"] == pytest.approx(np.mean(np.abs(errors)))


def test_rolled_forward_a_forecast_never_reads_a_larger_budget():
    """The largest budget's losses raised by 10% (another law up there): the forecast of 1e20 is unchanged to the
    last digit, and that of 3e20 now misses by 1/1.1 - 1 = -9.1% and says so."""
    sweep = isoflop_sweep(1)
    base = rolled(sweep)
    shifted = sweep.copy()
    shifted.loc[shifted["budget"] == HELD, "loss"] *= 1.1
    out = rolled(shifted)
    assert out["rows"][0] == base["rows"][0]
    top = out["rows"][1]
    expected = 100 * ((1 + base["rows"][1]["loss_error_pct"] / 100) / 1.1 - 1)
    assert top["loss_error_pct"] == pytest.approx(expected, rel=1e-9)
    assert top["within"]["loss"] is False and out["agree"]["loss"] == [1, 2]


def test_rolled_forward_needs_enough_budgets_below_a_forecast():
    with pytest.raises(ScalingError, match="from 4 or more below it; these runs have isoFLOP profiles at 4 budgets"):
        rolled(isoflop_sweep(2, budgets=BUDGETS[:4]), bootstrap=0)
    out = rolled(isoflop_sweep(2, budgets=BUDGETS[:4]), 3, bootstrap=0)  # 3e19 from the 3 below it
    assert [r["holdout_flops"] for r in out["rows"]] == [3e19] and out["rows"][0]["n_fitted"] == 3
    assert out["agree"] is None and out["rows"][0]["within"] is None  # no bootstrap, no verdict


def test_rolled_forward_skips_a_budget_it_cannot_forecast_and_goes_on():
    """1e20 made concave in log N (a profile with no minimum to compare with) is skipped with the reason, and
    3e20 is still forecast, from the 4 budgets below it that have a minimum; minima that rise with C over the
    lowest 4 budgets leave the saturating loss law nothing with k > 0 to fit: that forecast is skipped, not
    averaged in as NaN."""
    sweep = isoflop_sweep(0)
    at = sweep["budget"] == 1e20
    log_n = np.log(sweep.loc[at, "params"])
    sweep.loc[at, "loss"] = 3.0 - 0.1 * (log_n - log_n.min()) ** 2
    out = rolled(sweep)
    assert [r["holdout_flops"] for r in out["rows"]] == [3e20] and out["rows"][0]["n_fitted"] == 4
    assert [s["holdout_flops"] for s in out["skipped"]] == [1e20]
    assert out["skipped"][0]["reason"] == "its own profile has no parabola minimum"

    rising = isoflop_sweep(0)
    for c, scale in zip(BUDGETS, (1.0, 1.1, 1.2, 1.3, 0.9, 0.88), strict=True):
        rising.loc[rising["budget"] == c, "loss"] *= scale
    out = rolled(rising, bootstrap=0)
    assert [s["holdout_flops"] for s in out["skipped"]] == [1e20]
    assert "no finite prediction" in out["skipped"][0]["reason"]
    assert [r["holdout_flops"] for r in out["rows"]] == [3e20]
    assert all(np.isfinite(v) for v in out["loss_error_pct"].values())


def test_the_cli_text_of_a_backtest_carries_its_warnings():
    """The refits' warnings reach the terminal, not only the JSON."""
    from scaling.cli import backtest_lines

    bt = backtest(isoflop_sweep(3), bootstrap=0)
    bt["warnings"] = bt["warnings"] + ["approach 2: the fitted budgets cannot place the profiles' skew"]
    text = backtest_lines(bt)
    assert all(f"  warning: {w}" in text.splitlines() for w in bt["warnings"])
