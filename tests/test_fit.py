"""`scaling fit`: Approaches 1, 2, 3 and their bootstrap against the replication's published numbers, closed
forms, synthetic sweeps from a known law, and a second, independent computation (scipy's L-BFGS-B)."""

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

from scaling.errors import ScalingError
from scaling.fitting import fit
from scaling.fitting.bootstrap import resample_counts
from scaling.fitting.data import drop_highest_losses, read_csv
from scaling.fitting.isoflop import budget_groups, profile_minima
from scaling.fitting.parametric import LogHuberObjective, fit_parametric, refit_resamples
from scaling.laws import law_from_json
from tests.synthetic_runs import LAW, isoflop_sweep, training_curves, write_run, write_sweep

CHINCHILLA = Path(__file__).resolve().parent / "data" / "chinchilla_svg_extracted_data.csv"
CHINCHILLA_COLUMNS = {"params_col": "Model Size", "flops_col": "Training FLOP"}

# Besiroglu et al. 2024 (tests/data/README.md): the grid optimum of the replication protocol, and the 95%
# bootstrap intervals from 4,000 resamples.
GRID_OPTIMUM = {"E": 1.8172, "A": 477.8, "B": 2143, "alpha": 0.3473, "beta": 0.3672}
GRID_OBJECTIVE = 0.0010182740
REPLICATION_CI = {"alpha": (0.317, 0.373), "beta": (0.331, 0.415)}


@pytest.fixture(scope="module")
def chinchilla():
    return drop_highest_losses(read_csv(CHINCHILLA, **CHINCHILLA_COLUMNS), 5)


def run_cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", *map(str, args)], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


# --- the objective ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["huber", "asymmetric"])
def test_objective_gradient_and_hessian_match_finite_differences(loss):
    rng = np.random.default_rng(0)
    sweep = isoflop_sweep(0, noise=0.02)
    counts = rng.integers(0, 3, size=(2, len(sweep))).astype(float)
    obj = LogHuberObjective(np.log(sweep["params"]), np.log(sweep["tokens"]), np.log(sweep["loss"]), loss=loss,
                            delta=1e-2, weights=counts)
    theta = np.array([[6.1, 7.5, 0.6, 0.34, 0.36], [5.0, 6.0, 0.5, 0.3, 0.3]])
    f, g, hess = obj.value_grad_hess(theta)
    step = 1e-6
    for i in range(5):
        e = np.zeros(5)
        e[i] = step
        num_g = (obj.value(theta + e) - obj.value(theta - e)) / (2 * step)
        num_h = (obj.value_grad(theta + e)[1] - obj.value_grad(theta - e)[1]) / (2 * step)
        assert g[:, i] == pytest.approx(num_g, rel=1e-5, abs=1e-9)
        assert hess[:, :, i] == pytest.approx(num_h, rel=1e-4, abs=1e-7)


def test_objective_equals_scipy_huber_of_logsumexp_residuals(chinchilla):
    log_n, log_d, log_l = np.log(chinchilla.params), np.log(chinchilla.tokens), np.log(chinchilla.loss)
    theta = np.array([6.0, 7.0, 0.5, 0.3, 0.35])
    a, b, e, alpha, beta = theta
    pred = logsumexp(np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)]), axis=0)
    expected = huber(1e-3, pred - log_l).sum()
    assert LogHuberObjective(log_n, log_d, log_l).value(theta)[0] == pytest.approx(expected, rel=1e-12)


# --- Approach 3 on the Chinchilla data (Besiroglu et al. 2024) -----------------------------------------------------

def test_chinchilla_fit_reaches_the_replications_grid_optimum(chinchilla):
    assert len(chinchilla) == 240
    result = fit_parametric(chinchilla.params, chinchilla.tokens, chinchilla.loss)
    assert result.objective <= 0.0010183
    assert result.objective == pytest.approx(GRID_OBJECTIVE, rel=1e-7)
    out = result.to_dict()
    for key, published in GRID_OPTIMUM.items():
        assert out[key] == pytest.approx(published, rel=0.01), key
    assert abs(out["a"] - 0.513) <= 0.003
    assert result.starts == 4500


def test_batched_engine_finds_the_same_optimum_as_a_scipy_loop(chinchilla):
    grid = {"a": [5, 10], "b": [5, 10], "e": [0, 0.5], "alpha": [0.5], "beta": [0.5]}
    loop = fit_parametric(chinchilla.params, chinchilla.tokens, chinchilla.loss, grid=grid, engine="scipy")
    batched = fit_parametric(chinchilla.params, chinchilla.tokens, chinchilla.loss)
    assert loop.objective == pytest.approx(batched.objective, rel=1e-9)
    assert loop.theta == pytest.approx(batched.theta, abs=1e-5)


def test_bootstrap_refits_match_scipy_refits_from_the_same_start(chinchilla):
    best = fit_parametric(chinchilla.params, chinchilla.tokens, chinchilla.loss)
    counts = resample_counts(len(chinchilla), 8, np.random.default_rng(7))
    theta, converged = refit_resamples(best, chinchilla.params, chinchilla.tokens, chinchilla.loss, counts)
    assert converged.all()
    log_n, log_d, log_l = np.log(chinchilla.params), np.log(chinchilla.tokens), np.log(chinchilla.loss)
    for w, mine in zip(counts, theta, strict=True):
        obj = LogHuberObjective(log_n, log_d, log_l, weights=w)
        ref = minimize(obj.scipy_value_grad, best.theta, jac=True, method="L-BFGS-B",
                       options={"ftol": 0, "gtol": 1e-12, "maxiter": 15000})
        assert obj.value(mine)[0] <= ref.fun * (1 + 1e-9)
        assert mine == pytest.approx(ref.x, abs=1e-4)


def _chinchilla_intervals(resamples):
    out = fit(CHINCHILLA, bootstrap=resamples, drop_highest_loss=5, **CHINCHILLA_COLUMNS).to_dict()
    return out["ci"]


def test_chinchilla_bootstrap_intervals_are_close_to_the_replications():
    ci = _chinchilla_intervals(400)  # the 4,000-resample check is the slow test below
    for name, (lo, hi) in REPLICATION_CI.items():
        assert ci[name][0] == pytest.approx(lo, abs=0.008), name
        assert ci[name][1] == pytest.approx(hi, abs=0.012), name
    assert ci["failed"] == 0


@pytest.mark.slow
def test_chinchilla_bootstrap_with_4000_resamples_matches_the_replications_intervals():
    ci = _chinchilla_intervals(4000)
    for name, (lo, hi) in REPLICATION_CI.items():
        assert ci[name][0] == pytest.approx(lo, abs=0.003), name
        assert ci[name][1] == pytest.approx(hi, abs=0.003), name


# --- Approach 2 ----------------------------------------------------------------------------------------------------

def test_profile_minimum_of_exact_parabolas_and_skewed_parabolas_is_exact():
    """kappa 0: the vertex of a parabola. kappa != 0: y = c0 + c1 z + c2 (z^2 + kappa z^3 / 3), z = x - mean x, with
    c1 chosen so that f'(v) = c1 + 2 c2 v + kappa c2 v^2 = 0 at a chosen v: the minimum is at v, whichever side."""
    x = np.linspace(-2.0, 3.0, 7)
    where, value = profile_minima(x, 2.0 + 0.5 * (x - 0.7) ** 2)
    assert where == pytest.approx([0.7], abs=1e-12) and value == pytest.approx([2.0], abs=1e-12)
    z = x - x.mean()
    for kappa, v in ((-0.4, 0.9), (0.6, -1.1), (-1.5, 0.2)):
        c2 = 0.3
        c1 = -c2 * v * (2 + kappa * v)
        y = 1.0 + c1 * z + c2 * (z * z + kappa * z**3 / 3)
        where, value = profile_minima(x, y, kappa)
        assert where - x.mean() == pytest.approx([v], abs=1e-9)
        assert value == pytest.approx([1.0 + c1 * v + c2 * (v * v + kappa * v**3 / 3)], abs=1e-12)
    assert np.isnan(profile_minima(x, -(x - 0.7) ** 2)[0][0])  # opens downwards: no minimum


def test_noise_free_isoflop_profiles_give_the_laws_exponents_exactly():
    """On L(N, C/6N) the isoFLOP curves are one shape scaled by a budget-dependent factor, so the parabola vertex
    sits at the same multiple of the closed-form N_opt at every budget, and the fitted a equals beta/(alpha+beta)."""
    sweep = isoflop_sweep(0, noise=0.0)
    result = fit(sweep, approach="2", bootstrap=0)
    a2 = result.to_dict()["approach2"]
    assert a2["a"] == pytest.approx(LAW.a, abs=1e-9) and a2["b"] == pytest.approx(LAW.b, abs=1e-9)
    ratios = [r["params_opt"] / LAW.compute_optimal(r["flops"])[0] for r in a2["per_budget"]]
    assert ratios == pytest.approx([ratios[0]] * len(ratios), rel=1e-9)
    assert all(r["bracketed"] for r in a2["per_budget"])


def test_noise_free_sweep_gives_the_law_back_by_approach_3():
    out = fit(isoflop_sweep(0, noise=0.0), bootstrap=0).to_dict()
    for key in ("E", "A", "B", "alpha", "beta"):
        assert out[key] == pytest.approx(getattr(LAW, key), rel=1e-4), key


def test_unbracketed_minimum_warns_naming_the_budget():
    sweep = isoflop_sweep(0, noise=0.0, budgets=(1e18, 1e19, 1e20), factors=np.geomspace(1 / 16, 1 / 3, 5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(sweep, approach="2", bootstrap=0)
    said = [str(w.message) for w in caught]
    for budget in ("1e+18", "1e+19", "1e+20"):
        assert any(f"budget {budget} FLOPs: the minimum is not bracketed" in m for m in said), said


def test_concave_budget_is_left_out_with_a_warning():
    sweep = isoflop_sweep(0, noise=0.0)
    flat = sweep["budget"] == 1e19
    sweep.loc[flat, "loss"] = 3.0 - 0.01 * (np.log(sweep.loc[flat, "params"]) - 19) ** 2
    with pytest.warns(UserWarning, match=r"budget 1e\+19 FLOPs: the loss curve is flat or opens downwards"):
        out = fit(sweep, approach="2", bootstrap=0).to_dict()["approach2"]
    assert out["n_budgets"] == len(sweep["budget"].unique()) - 1


def test_chinchilla_flops_cluster_at_the_papers_isoflop_budgets(chinchilla):
    """Hoffmann et al. 2022, Figure 3 (left): isoFLOP profiles at 6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21
    and 3e21 FLOPs; the digitised points cluster just below each."""
    labels, centres = budget_groups(chinchilla.flops)
    big = [c for g, c in enumerate(centres) if (labels == g).sum() >= 8]
    for nominal in (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21):
        assert sum(0.85 * nominal < c <= 1.01 * nominal for c in big) == 1, nominal


def test_chinchilla_approach_2_lands_in_the_papers_interval():
    """Hoffmann et al. 2022, Table 2: Approach 2 gives a = 0.49 (0.462, 0.534), b = 0.51 (0.483, 0.529)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fit(CHINCHILLA, approach="2", bootstrap=0, drop_highest_loss=5, min_runs=8,
                  **CHINCHILLA_COLUMNS).to_dict()["approach2"]
    assert 0.462 < out["a"] < 0.534 and 0.483 < out["b"] < 0.529


# --- Approach 1 ----------------------------------------------------------------------------------------------------

def test_noise_free_envelope_recovers_a():
    curves = training_curves(0, sizes=np.geomspace(1e7, 1e9, 60), run_noise=0.0, point_noise=0.0)
    out = fit(curves, approach="1", bootstrap=0).to_dict()["approach1"]
    assert out["a"] == pytest.approx(LAW.a, abs=0.003) and out["b"] == pytest.approx(LAW.b, abs=0.003)


def budget_curves(budgets, points=30) -> pd.DataFrame:
    """Curves of the known law for runs that each end at their budget (a sweep's isoFLOP runs)."""
    frames = []
    for c in budgets:
        for n in np.geomspace(3e7, 3e9, 16):
            tokens = np.geomspace(c / (6 * n) / 100, c / (6 * n), points)
            frames.append(pd.DataFrame({"run": f"c{c:.3g}_n{n:.3g}", "params": n, "tokens": tokens,
                                        "flops": 6 * n * tokens, "loss": LAW.loss(n, tokens)}))
    return pd.concat(frames, ignore_index=True)


def test_the_envelope_of_one_budgets_runs_is_refused_not_a_slope_of_noise():
    """Runs of one budget end where it does: no range of C to read a slope over (a real sweep's one budget gave
    a = 0.000, b = 1.000 before); budgets 1.9x apart are refused too, 2.1x apart fitted."""
    for budgets in ([1e19], [1e19, 1.9e19]):
        with pytest.raises(ScalingError, match="final FLOPs span a factor of 2 or more"):
            fit(budget_curves(budgets), approach="1", bootstrap=0)
    assert fit(budget_curves([1e19, 2.1e19]), approach="1", bootstrap=0).to_dict()["approach1"]["a"] > 0


# --- every approach recovers a known law within its own CI ----------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_approach_recovers_the_known_exponent_within_its_ci(seed):
    sweep, curves = isoflop_sweep(seed), training_curves(seed, run_noise=0.002)
    found = {"3": fit(sweep, approach="3", bootstrap=200, seed=seed).to_dict(),
             "2": fit(sweep, approach="2", bootstrap=400, seed=seed).to_dict()["approach2"],
             "1": fit(curves, approach="1", bootstrap=400, seed=seed).to_dict()["approach1"]}
    for name, out in found.items():
        lo, hi = out["ci"]["a"]
        assert lo <= LAW.a <= hi, f"approach {name}: a = {LAW.a:.4f} outside [{lo:.4f}, {hi:.4f}]"
        assert lo <= out["a"] <= hi


@pytest.mark.slow
def test_ci_coverage_of_the_known_exponent_over_many_seeds():
    hits = {"1": 0, "2": 0, "3": 0}
    seeds = range(30)
    for seed in seeds:
        sweep, curves = isoflop_sweep(seed), training_curves(seed, run_noise=0.004)
        outs = {"3": fit(sweep, bootstrap=200, seed=seed).to_dict(),
                "2": fit(sweep, approach="2", bootstrap=400, seed=seed).to_dict()["approach2"],
                "1": fit(curves, approach="1", bootstrap=400, seed=seed).to_dict()["approach1"]}
        for name, out in outs.items():
            hits[name] += out["ci"]["a"][0] <= LAW.a <= out["ci"]["a"][1]
    assert all(h >= 0.9 * len(seeds) for h in hits.values()), hits


# --- the asymmetric loss, budgets, bootstrap seeding ----------------------------------------------------------------

def test_asymmetric_loss_puts_the_law_under_the_points():
    sweep = isoflop_sweep(3, noise=0.02)
    laws = {k: fit(sweep, loss=k, bootstrap=0).law for k in ("huber", "asymmetric")}
    above = {k: np.mean(law.loss(sweep["params"], sweep["tokens"]) > sweep["loss"]) for k, law in laws.items()}
    assert 0.3 < above["huber"] < 0.7
    assert above["asymmetric"] < 0.2


def test_budget_rows_follow_the_closed_form_of_the_fitted_law():
    out = fit(isoflop_sweep(1), bootstrap=200, budgets=[1e21, 1e23]).to_dict()
    law = fit(isoflop_sweep(1), bootstrap=0).law
    for row in out["budgets"]:
        n, d = law.compute_optimal(row["flops"])
        assert row["params"] == pytest.approx(n, rel=1e-9) and row["tokens"] == pytest.approx(d, rel=1e-9)
        assert row["loss"] == pytest.approx(law.loss(n, d), rel=1e-9)
        for key in ("params", "tokens", "loss"):
            assert row["ci"][key][0] <= row[key] <= row["ci"][key][1]


def test_bootstrap_is_reproducible_by_seed():
    sweep = isoflop_sweep(2)
    first, again = (fit(sweep, bootstrap=200, seed=11).to_dict()["ci"] for _ in range(2))
    other = fit(sweep, bootstrap=200, seed=12).to_dict()["ci"]
    assert first == again and first["alpha"] != other["alpha"]


def test_drop_highest_loss_drops_exactly_those_runs():
    sweep = isoflop_sweep(0)
    out = fit(sweep, bootstrap=0, drop_highest_loss=3).to_dict()
    assert out["n_points"] == len(sweep) - 3 and out["dropped_highest_loss"] == 3
    kept = fit(sweep.drop(sweep["loss"].nlargest(3).index), bootstrap=0).to_dict()
    assert out["E"] == pytest.approx(kept["E"], rel=1e-9)


# --- inputs: results dirs, CSVs, the CLI ----------------------------------------------------------------------------

def test_results_dir_fits_like_the_same_runs_as_a_table(tmp_path):
    sweep = isoflop_sweep(4)
    write_sweep(tmp_path, sweep)
    with pytest.warns(UserWarning, match="approach 1 skipped"):  # final losses only: no curves
        from_dir = fit(tmp_path, approach="all", bootstrap=0).to_dict()
        from_table = fit(sweep.drop(columns="budget"), approach="all", bootstrap=0).to_dict()
    assert from_dir["E"] == pytest.approx(from_table["E"], rel=1e-6)  # the optimiser's precision, not 1e-16
    assert from_dir["approach2"]["n_budgets"] == len(sweep["budget"].unique())
    assert from_dir["approach2"]["a"] == pytest.approx(from_table["approach2"]["a"], rel=1e-9)


def test_results_dir_leaves_out_runs_not_completed_naming_them(tmp_path):
    write_sweep(tmp_path, isoflop_sweep(5))
    write_run(tmp_path / "isoflop" / "still_going", None, [{"step": 1, "tokens": 10.0, "flops": 1e9,
                                                            "train_loss": 5.0}], partial_tail='{"step": 2, "tok')
    write_run(tmp_path / "isoflop" / "blew_up", {"status": "diverged", "params": 1e6, "tokens": 1e7}, [])
    with pytest.warns(UserWarning, match=r"left out 2 run\(s\).*isoflop/blew_up \(diverged\).*isoflop/still_going "
                                         r"\(running\)"):
        out = fit(tmp_path, bootstrap=0).to_dict()
    assert out["n_points"] == len(isoflop_sweep(5))


def test_results_dir_curves_feed_approach_1(tmp_path):
    curves = training_curves(1, sizes=np.geomspace(1e7, 1e9, 12), points=10, run_noise=0.0, point_noise=0.0)
    finals = curves.sort_values("tokens").groupby("run").tail(1).sort_values("run")
    write_sweep(tmp_path, finals, curves, experiment="curves")
    from_dir = fit(tmp_path, approach="1", bootstrap=0).to_dict()["approach1"]
    from_table = fit(curves, approach="1", bootstrap=0).to_dict()["approach1"]
    assert from_dir["n_runs"] == 12
    assert from_dir["a"] == pytest.approx(from_table["a"], rel=1e-9)


def test_fit_json_is_a_law_that_scaling_plan_takes(tmp_path):
    csv = tmp_path / "runs.csv"
    isoflop_sweep(6).to_csv(csv, index=False)
    out_path = tmp_path / "fit.json"
    printed = json.loads(run_cli("fit", csv, "--bootstrap", "200", "--budgets", "1e21", "--out", out_path,
                                 "--json").stdout)
    written = json.loads(out_path.read_text())
    assert written == printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.json", "runs.csv"]  # no temp file left behind
    assert {"E", "A", "B", "alpha", "beta", "a", "b", "objective", "ci", "approach", "n_points", "loss",
            "delta"} <= set(written)
    assert written["ci"]["level"] == 0.95 and len(written["ci"]["alpha"]) == 2
    law = law_from_json(out_path)
    plan = json.loads(run_cli("plan", "--flops", "1e21", "--law", out_path, "--json").stdout)
    optimal = next(a for a in plan["allocations"] if a["rule"] == "optimal")
    assert optimal["target_params"] == pytest.approx(law.compute_optimal(1e21)[0], rel=1e-9)
    assert written["budgets"][0]["params"] == pytest.approx(optimal["target_params"], rel=1e-9)


def test_cli_reads_the_chinchilla_csv_with_mapped_columns():
    out = json.loads(run_cli("fit", CHINCHILLA, "--params-col", "Model Size", "--flops-col", "Training FLOP",
                             "--drop-highest-loss", "5", "--bootstrap", "0", "--json").stdout)
    assert out["n_points"] == 240 and out["objective"] == pytest.approx(GRID_OBJECTIVE, rel=1e-7)
    table = run_cli("fit", CHINCHILLA, "--params-col", "Model Size", "--flops-col", "Training FLOP",
                    "--drop-highest-loss", "5", "--bootstrap", "200").stdout
    assert "Approach 3" in table and "0.0010182740" in table and "95% CI" in table


def _bad_inputs(tmp: Path) -> dict:
    """case -> (arguments after `scaling fit`, what the one line must say)."""
    good = isoflop_sweep(0)
    frames = {
        "missing column": good.drop(columns="loss"),
        "non-numeric value": good.astype({"loss": object}).assign(loss=lambda f: f["loss"].where(f.index != 3, "x")),
        "nan value": good.assign(loss=lambda f: f["loss"].where(f.index != 3, np.nan)),
        "non-positive value": good.assign(params=lambda f: f["params"].where(f.index != 3, -5.0)),
        "fewer points than parameters": good.head(4),
        "one budget only": good[good["budget"] == 1e19],
        "ok": good,
    }
    csv = {}
    for name, frame in frames.items():
        csv[name] = tmp / f"{name.replace(' ', '_')}.csv"
        frame.to_csv(csv[name], index=False)
    (tmp / "empty").mkdir()
    return {"missing column": ([csv["missing column"]], "no column 'loss'"),
            "non-numeric value": ([csv["non-numeric value"]], "non-numeric value 'x' at row 4"),
            "nan value": ([csv["nan value"]], "missing (NaN) value at row 4"),
            "non-positive value": ([csv["non-positive value"]], "'params' holds -5 at row 4"),
            "fewer points than parameters": ([csv["fewer points than parameters"]], "5 parameters"),
            "one budget only for approach 2": ([csv["one budget only"], "--approach", "2"], "two or more budgets"),
            "no curves for approach 1": ([csv["ok"], "--approach", "1"], "needs loss curves"),
            "empty results dir": ([tmp / "empty"], "holds no runs"),
            "missing file": ([tmp / "nope.csv"], "no such file"),
            "unknown approach": ([csv["ok"], "--approach", "4"], "invalid choice"),
            "negative bootstrap": ([csv["ok"], "--bootstrap", "-1"], "--bootstrap"),
            "bad budgets": ([csv["ok"], "--budgets", "1e21,-3"], "--budgets"),
            "negative seed": ([csv["ok"], "--seed", "-1"], "--seed")}


BAD_CASES = ["missing column", "non-numeric value", "nan value", "non-positive value",
             "fewer points than parameters", "one budget only for approach 2", "no curves for approach 1",
             "empty results dir", "missing file", "unknown approach", "negative bootstrap", "bad budgets",
             "negative seed"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_fit_input_is_one_line_and_exit_2(tmp_path, case):
    args, says = _bad_inputs(tmp_path)[case]
    proc = run_cli("fit", *args, *([] if "--bootstrap" in args else ["--bootstrap", "0"]), check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert says in proc.stderr


def test_library_raises_scaling_error_for_an_empty_frame():
    with pytest.raises(ScalingError, match="no rows"):
        fit(pd.DataFrame(columns=["params", "tokens", "loss"]))


def test_all_approaches_skip_what_the_data_cannot_support_with_a_warning():
    with pytest.warns(UserWarning, match="approach 1 skipped: approach 1 needs loss curves"):
        out = fit(isoflop_sweep(0), approach="all", bootstrap=0).to_dict()
    assert "E" in out and "approach2" in out and "approach1" not in out
    assert math.isfinite(out["approach2"]["a"])
