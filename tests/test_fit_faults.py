"""Faults injected into the fits' input: data that cannot identify a parameter, numeric breakdowns, duplicates,
outliers, columns that disagree, too few resamples, far budgets, bad summaries, long tables cut to runs. Each
refusal is one line (exit 2 on the command line) that leaves the disk as it was; each warning is one line with
its counts and names. Then the fit JSON's `data_range` and `draws` checked against the data and the intervals."""

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.cli import main
from scaling.errors import ScalingError
from scaling.fitting import fit
from scaling.fitting.options import FitOptions, min_resamples
from scaling.results import select_runs
from tests.synthetic_runs import LAW, isoflop_sweep, training_curves, write_run, write_sweep

SWEEP = isoflop_sweep(0)  # 6 budgets x 7 sizes from the known law, 0.5% noise


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root):
    """Every file and folder under root with its bytes and modification time: what a refusal must not touch."""
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_mtime_ns, None if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*"))}


def assert_one_line(text: str):
    assert "\n" not in text.strip() and "Traceback" not in text, text


def refused_by_cli(capsys, tmp_path, frame_or_path, *args, says: str):
    """`scaling fit` on the data (a frame is written as CSV): exit 2, one line saying `says`, no file changed."""
    path = frame_or_path
    if isinstance(frame_or_path, pd.DataFrame):
        path = tmp_path / "runs.csv"
        frame_or_path.to_csv(path, index=False)
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, "fit", path, "--out", tmp_path / "fit.json", *args)
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert says in err, err
    assert snapshot(tmp_path) == before
    return err


def caught(call):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in seen if issubclass(w.category, UserWarning)]


# --- 1. data that cannot identify a parameter ----------------------------------------------------------------------

def _one_size():
    return SWEEP.assign(params=1e8, tokens=SWEEP["flops"] / 6e8)


def _two_sizes():
    n = np.where(np.arange(len(SWEEP)) % 2, 1e8, 3e8)
    return SWEEP.assign(params=n, tokens=SWEEP["flops"] / (6 * n))


def _one_token_count():
    return SWEEP.assign(tokens=1e10, flops=6e10 * SWEEP["params"]).drop(columns="budget")


def _one_ratio():
    return SWEEP.assign(tokens=20 * SWEEP["params"], flops=120 * SWEEP["params"] ** 2).drop(columns="budget")


def _four_points():
    four = SWEEP.iloc[[0, 8, 16, 24]]
    return pd.concat([four.assign(loss=four["loss"] * (1 + 0.01 * s)) for s in range(3)], ignore_index=True)


@pytest.mark.parametrize("make, says", [
    (_one_size, "cannot identify A and alpha: the 42 runs hold only 1 distinct N (1e+08)"),
    (_two_sizes, "cannot identify A and alpha: the 42 runs hold only 2 distinct N"),
    (_one_token_count, "cannot identify B and beta: the 42 runs hold only 1 distinct D (1e+10)"),
    (_one_ratio, "lie on one line (one tokens/param ratio, D/N = 20)"),
    (lambda: SWEEP[SWEEP["budget"] == 1e19], "lie on one line (one compute budget, 6ND = 1e+19 FLOPs)"),
    (_four_points, "the data hold 4 distinct (N, D) point(s) among 12 run(s)"),
])
def test_approach_3_refuses_data_that_cannot_identify_its_parameters(capsys, tmp_path, make, says):
    refused_by_cli(capsys, tmp_path, make(), "--bootstrap", "0", says=says)


def test_the_first_identifiable_design_is_fitted():
    """Three sizes crossed with three token counts: the fewest distinct N and D that identify the law, fitted
    exactly when the losses are the law's."""
    n, d = np.meshgrid([1e8, 4e8, 1.6e9], [2e9, 8e9, 3.2e10])
    frame = pd.DataFrame({"params": n.ravel(), "tokens": d.ravel()}).assign(loss=lambda f: LAW.loss(f["params"],
                                                                                                    f["tokens"]))
    out = fit(frame, bootstrap=0).to_dict()
    for key in ("E", "A", "B", "alpha", "beta"):
        assert out[key] == pytest.approx(getattr(LAW, key), rel=1e-3), key


def test_approach_2_refuses_one_budget_and_approach_1_one_size(capsys, tmp_path):
    refused_by_cli(capsys, tmp_path, SWEEP.assign(budget=1e19, flops=1e19, tokens=1e19 / (6 * SWEEP["params"])),
                   "--approach", "2", "--bootstrap", "0", says="approach 2 needs isoFLOP profiles at two or more")
    curves = training_curves(0, sizes=(1e8, 1e8, 1e8))
    curves = curves.assign(run=curves["run"], tokens=curves["tokens"] * (1 + curves["run"].str[-1].astype(int)))
    curves = curves.assign(flops=6 * curves["params"] * curves["tokens"])
    refused_by_cli(capsys, tmp_path, curves, "--approach", "1", "--bootstrap", "0",
                   says="approach 1 cannot identify a: the 3 runs have 1 distinct size(s)")


# --- 2. numeric breakdowns become one-line refusals ------------------------------------------------------------------

def test_thirty_identical_rows_are_one_line_not_an_overflow(capsys, tmp_path):
    err = refused_by_cli(capsys, tmp_path, pd.concat([SWEEP.iloc[[0]]] * 30, ignore_index=True), "--bootstrap", "0",
                         says="1 distinct (N, D) point(s) among 1 run(s), 29 exact duplicate(s) dropped")
    assert "Overflow" not in err


@pytest.mark.parametrize("error", [OverflowError(34, "Numerical result out of range"), ZeroDivisionError("float "
                                   "division by zero"), FloatingPointError("overflow encountered")])
def test_numeric_errors_inside_a_fit_become_one_line(monkeypatch, error):
    import scaling.fitting.parametric as parametric

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(parametric, "fit_parametric", broken)
    with pytest.raises(ScalingError, match=f"approach 3: the fit broke down numerically \\({type(error).__name__}") \
            as info:
        fit(SWEEP, bootstrap=0)
    assert_one_line(str(info.value))
    out, said = caught(lambda: fit(SWEEP, approach="all", bootstrap=0).to_dict())  # the others still run
    assert "E" not in out and "approach2" in out
    assert any(m.startswith("approach 3 skipped: approach 3: the fit broke down numerically") for m in said)


# --- 3. duplicates -----------------------------------------------------------------------------------------------

def test_a_table_given_twice_is_fitted_once_with_a_warning():
    once = fit(SWEEP, bootstrap=200).to_dict()
    twice, said = caught(lambda: fit(pd.concat([SWEEP, SWEEP], ignore_index=True), bootstrap=200).to_dict())
    assert said[0].startswith("DataFrame: dropped 42 duplicate point(s) with the same params, tokens and loss as "
                              "another, so the bootstrap resamples each run once: row 43 (= row 1), row 44 "
                              "(= row 2)")
    assert "and 34 more" in said[0] and len(said) == 1
    assert_one_line(said[0])
    assert twice["n_points"] == 42 and twice["ci"] == once["ci"]  # the same intervals as the data given once


def test_long_curves_given_twice_drop_the_repeated_points():
    curves = training_curves(0, sizes=np.geomspace(1e7, 1e9, 8), points=10)
    once, _ = caught(lambda: fit(curves, approach="1", bootstrap=200).to_dict()["approach1"])
    twice, said = caught(lambda: fit(pd.concat([curves, curves]), approach="1", bootstrap=200).to_dict())
    assert said[0] == ("DataFrame: dropped 80 logged point(s) that repeat an earlier one (same run, tokens and "
                       "loss) in 8 run(s): run00, run01, run02, run03, run04, run05, run06, run07")
    assert twice["approach1"]["ci"] == once["ci"] and twice["approach1"]["a"] == once["a"]


def test_a_results_dir_holding_a_run_twice_names_the_copy(tmp_path):
    sweep = SWEEP.iloc[:14].assign(run=[f"r{i:02d}" for i in range(14)])
    write_sweep(tmp_path, sweep, experiment="a")
    write_sweep(tmp_path, sweep.iloc[[3]], experiment="b")  # a copy of a/r03 under another experiment
    out, said = caught(lambda: fit(tmp_path, approach="2", bootstrap=0).to_dict())
    assert any("dropped 1 duplicate point(s) with the same params, tokens and loss as another, so the bootstrap "
               "resamples each run once: b/r03 (= a/r03)" in s for s in said), said
    assert any("the runs of 2 sweep directories are fitted as one (a: 14, b: 1)" in s for s in said), said
    assert out["n_points"] == 14


# --- 4. values outside physical ranges, and isolated points -----------------------------------------------------

@pytest.mark.parametrize("row, says", [
    ({"params": 1e300, "tokens": 1e300, "flops": 6e300, "loss": 1.5},
     "column 'params' holds 1e+300 at row 43 (1 value(s) above 1e+16)"),
    ({"params": 1e9, "tokens": 3e16, "flops": 1.8e26, "loss": 1.9}, "column 'tokens' holds 3e+16 at row 43"),
    ({"params": 1e9, "tokens": 1e10, "flops": 6e19, "loss": 0.0}, "column 'loss' holds 0 at row 43"),
    ({"params": 1e9, "tokens": 1e10, "flops": 6e19, "loss": -2.0}, "column 'loss' holds -2 at row 43"),
])
def test_values_outside_physical_ranges_are_refused_naming_the_row(capsys, tmp_path, row, says):
    frame = pd.concat([SWEEP.drop(columns="budget"), pd.DataFrame([row])], ignore_index=True)
    refused_by_cli(capsys, tmp_path, frame, "--bootstrap", "0", says=says)


def test_tokens_derived_from_flops_are_range_checked(capsys, tmp_path):
    frame = pd.concat([SWEEP[["params", "flops", "loss"]],
                       pd.DataFrame([{"params": 10.0, "flops": 1e18, "loss": 2.0}])], ignore_index=True)
    refused_by_cli(capsys, tmp_path, frame, "--bootstrap", "0",
                   says="D = flops / (6 x params) is 1.67e+16 tokens at row 43, above 1e+16")


def test_an_isolated_point_is_named_in_one_warning():
    far = pd.DataFrame([{"params": 1e13, "tokens": 2e14, "flops": 1.2e28, "budget": 1.2e28, "loss": 1.9}])
    out, said = caught(lambda: fit(pd.concat([SWEEP, far], ignore_index=True), bootstrap=0).to_dict())
    lo, hi = SWEEP["params"].min(), SWEEP["params"].max()
    d_lo, d_hi = SWEEP["tokens"].min(), SWEEP["tokens"].max()
    assert said == [f"DataFrame: 1 point(s) lie more than 2 decades beyond the other 42 (N {lo:.3g}..{hi:.3g}, "
                    f"D {d_lo:.3g}..{d_hi:.3g}) in log N or log D and will dominate the fit: row 43 (N 1e+13, "
                    f"D 2e+14)"]
    assert out["n_points"] == 43


def test_a_dense_sweep_warns_of_nothing():
    _, said = caught(lambda: fit(SWEEP, approach="all", bootstrap=200, budgets=[1e21]).to_dict())
    assert said == ["approach 1 skipped: approach 1 needs loss curves and DataFrame holds one loss per run: give a "
                    "results dir with metrics.jsonl, or a long-format CSV (one row per logged point) with a run "
                    "column (--run-col)"]


@pytest.mark.parametrize("approach, form, label", [("2", "chinchilla", "approach 2"), ("3", "chinchilla", "approach 3"),
                                                   ("3", "kaplan", "approach 3 (Kaplan's form)")])
def test_an_exponent_the_runs_cannot_pin_is_named_in_a_warning(approach, form, label):
    """Two budgets a factor 2 apart, 2% noise: a comes with an interval wider than +-0.25 (every exponent proposed
    for language models), and each approach says so in one warning; the dense sweep above says nothing."""
    out, said = caught(lambda: fit(isoflop_sweep(0, noise=0.02, budgets=(1e18, 2e18)), approach=approach, form=form,
                                   bootstrap=200).to_dict())
    section = out["approach2"] if approach == "2" else out
    lo, hi = section["ci"]["a"]
    assert (hi - lo) / 2 > 0.25
    assert [w for w in said if "do not pin" in w] == [
        f"{label}: a = {section['a']:.3f}, but its 95% interval [{lo:.3f}, {hi:.3f}] is wider than +-0.25: these runs "
        f"do not pin how N_opt grows with C; add budgets over a wider range of compute, or sizes and seeds around "
        f"each optimum"]


# --- 5. columns that disagree --------------------------------------------------------------------------------------

def test_flops_far_from_6nd_warn_with_the_count_and_the_worst_ratio():
    off = SWEEP.assign(flops=SWEEP["flops"] * np.where(np.arange(42) < 5, 100.0, 1.0))
    off.loc[2, "flops"] *= 3  # the worst: 300x
    _, said = caught(lambda: fit(off, approach="2", bootstrap=0))
    assert said == ["DataFrame: column 'flops' disagrees with 6 x params x tokens by more than 2.5x at 5 of 42 rows "
                    "(worst: 300x at row 3): D comes from 'tokens', the FLOP budgets from 'flops'; check the units"]


def test_flops_within_appendix_f_of_6nd_pass_quietly():
    """Chinchilla's Appendix F count exceeds 6ND by up to ~2x for small models (attention): no warning."""
    _, said = caught(lambda: fit(SWEEP.assign(flops=SWEEP["flops"] * 2.0), approach="3", bootstrap=0))
    assert said == []


# --- 6. bootstrap counts, far budgets, estimates outside their intervals ---------------------------------------------

def test_the_fewest_resamples_give_each_tail_five():
    assert min_resamples(0.95) == 200 and min_resamples(0.99) == 1000 and min_resamples(0.9) == 100
    for ok in (0, 200, 1000):
        FitOptions(bootstrap=ok)
    with pytest.raises(ScalingError, match="at least 1000"):
        FitOptions(bootstrap=999, level=0.99)


@pytest.mark.parametrize("k", ["1", "199"])
def test_too_few_resamples_are_refused(capsys, tmp_path, k):
    refused_by_cli(capsys, tmp_path, SWEEP, "--bootstrap", k,
                   says=f"--bootstrap {k} is too few resamples for a 95% percentile interval (each tail must hold "
                        f"5): give 0 for no intervals, or at least 200")


@pytest.mark.parametrize("args, says", [
    (("--bootstrap", "100001"), "--bootstrap 100001 is more resamples than the intervals can use: give at most "
                                "100,000"),
    (("--min-runs", "0"), "--min-runs takes a whole number of runs >= 1, got 0"),
    (("--approach", "2", "--min-runs", "50"), "(6 left out with fewer than 50 runs or 3 sizes: --min-runs 50 may "
                                              "ask for more runs than a budget has)"),
    # checked before any approach runs: with --approach all they used to pass as "approach 3 skipped", exit 0
    (("--approach", "all", "--delta", "-1"), "--delta (Approach 3's Huber width) takes a positive number, got -1.0"),
    (("--approach", "all", "--delta", "nan"), "--delta (Approach 3's Huber width) takes a positive number, got nan"),
    (("--approach", "all", "--loss", "asymmetric", "--asymmetry", "0"), "--asymmetry (the weight of over-predictions) "
                                                                        "takes a number >= 1, got 0.0"),
    (("--approach", "3", "--budget-tol", "-1"), "--budget-tol takes a distance in dex >= 0, got -1.0"),
    (("--budget-col", "nope"), "has no column 'nope' (named by --budget-col; columns: "),
    (("--run-col", "nope"), "has no column 'nope' (named by --run-col; columns: ")])
def test_options_out_of_range_are_one_line_naming_the_option(capsys, tmp_path, args, says):
    """A resample count no memory holds (1e11 asked for 50 TiB) and a --min-runs no budget meets are the
    option's fault, and the line says so."""
    refused_by_cli(capsys, tmp_path, SWEEP, *args, says=says)


def test_report_with_too_few_resamples_is_refused_before_writing(capsys, tmp_path):
    root = _harness_dir(tmp_path)
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, "report", root, "--bootstrap", "1", "--no-plots")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--bootstrap 1 is too few" in err
    assert snapshot(tmp_path) == before


def test_a_budget_far_beyond_the_data_is_flagged_in_decades():
    _, said = caught(lambda: fit(SWEEP, bootstrap=0, budgets=[1e21, 1e40]))
    decades = math.log10(1e40) - math.log10(SWEEP["flops"].max())
    assert said == [f"1 budget(s) lie more than 3 decades outside the compute of the runs fitted (1e+18 to 3e+20 "
                    f"FLOPs): 1e+40 ({decades:.1f} decades beyond) FLOPs; the predictions there extrapolate the law "
                    f"far past its data"]
    assert f"{decades:.1f}" == "19.5"


def test_a_point_estimate_outside_its_own_interval_is_flagged(monkeypatch):
    """Resamples shifted away from the full-data fit (every draw's a raised by 0.1): a lies above them all."""
    import scaling.fitting.isoflop as isoflop

    real = isoflop.bootstrap_isoflop

    def shifted(*args, **kwargs):
        samples = real(*args, **kwargs)
        return {**samples, "a": samples["a"] + 0.1}

    monkeypatch.setattr(isoflop, "bootstrap_isoflop", shifted)
    out, said = caught(lambda: fit(SWEEP, approach="2", bootstrap=200, budgets=[1e21]).to_dict()["approach2"])
    assert out["a"] < out["ci"]["a"][0]
    assert said == ["approach 2: 1 of 4 point estimates lie outside their own 95% bootstrap interval (a): the "
                    "resamples disagree with the full-data fit, so read those intervals with care"]


# --- 7. results dirs with bad summaries: skipped, named, counted, the same runs for fit and report -----------------

def _harness_run(root, name, n, d, loss, budget, factor, **override):
    summary = {"status": "completed", "params": n, "tokens": d, "flops": 6 * n * d, "final_val_loss": loss,
               "final_train_loss": loss + 0.02, "seed": 0, "budget": {"flops": budget, "tokens": None},
               "allocation": {"rule": "optimal", "size_factor": factor},
               "data": {"name": "synthetic", "tokenizer": "byte", "vocab_size": 256}, **override}
    metrics = [{"step": i + 1, "tokens": t, "flops": 6 * n * t, "train_loss": float(LAW.loss(n, t)) + 0.02,
                "val_loss": float(LAW.loss(n, t)) if i < 5 else loss} for i, t in enumerate(np.geomspace(d / 30, d, 6))]
    write_run(root / "sweep" / name, summary, metrics)


def _harness_dir(tmp_path, bad=()):
    """An isoFLOP sweep from the known law, 3 budgets x 5 sizes, plus the runs in `bad` (name -> summary fields)."""
    rng = np.random.default_rng(0)
    for c in (1e18, 1e19, 1e20):
        for f in (0.25, 0.5, 1.0, 2.0, 4.0):
            n = LAW.compute_optimal(c)[0] * f
            loss = float(LAW.loss(n, c / (6 * n)) * np.exp(0.003 * rng.standard_normal()))
            _harness_run(tmp_path / "results", f"iso_{c:g}_{f:g}", n, c / (6 * n), loss, c, f)
    for name, fields in bad:
        _harness_run(tmp_path / "results", name, 3e8, 5e9, 2.5, 1e19, 1.0, **fields)
    return tmp_path / "results"


BAD_RUNS = (("bad_text", {"final_val_loss": "abc"}), ("bad_null", {"final_val_loss": None}),
            ("bad_negative", {"final_val_loss": -1.0}), ("bad_params", {"params": "1e9x"}))


def test_select_runs_skips_bad_numbers_naming_each_run(tmp_path):
    root = _harness_dir(tmp_path, BAD_RUNS)
    with pytest.warns(UserWarning) as seen:
        selection = select_runs(root)
    said = [str(w.message) for w in seen]
    assert said == ["skipped 4 completed run(s) whose summary.json numbers are unusable: sweep/bad_negative "
                    "(final_val_loss -1 is not a finite positive number), sweep/bad_null (final_val_loss missing "
                    "(null or NaN)), sweep/bad_params (params '1e9x' is not a number), sweep/bad_text "
                    "(final_val_loss 'abc' is not a number)"]
    assert len(selection.runs) == 15 and selection.total == 19 and selection.loss_column == "final_val_loss"
    assert selection.runs["final_val_loss"].dtype == float and selection.runs["params"].dtype == float


def test_fit_and_report_use_the_same_runs_and_say_so(capsys, tmp_path):
    root = _harness_dir(tmp_path, BAD_RUNS)
    code, out, err = cli(capsys, "fit", root, "--approach", "2", "--bootstrap", "0")
    assert code == 0, err
    line = (f"{root}: used 15 of 19 runs (final_val_loss); skipped 4: sweep/bad_negative (final_val_loss -1 is not "
            f"a finite positive number); sweep/bad_null (final_val_loss missing (null or NaN)); sweep/bad_params "
            f"(params '1e9x' is not a number); sweep/bad_text (final_val_loss 'abc' is not a number)")
    assert out.splitlines()[0] == line
    assert "skipped 4 completed run(s)" in err and "Traceback" not in err
    code, out, err = cli(capsys, "report", root, "--bootstrap", "0", "--no-plots")
    assert code == 0, err
    assert out.splitlines()[0] == line
    assert "row 2" not in out + err and "not fitted" not in out
    text = (root / "report.md").read_text()
    assert ("Runs: used 15 of the 19 run directories found; skipped 4: `sweep/bad_negative` (final_val_loss -1 is "
            "not a finite positive number); `sweep/bad_null` (final_val_loss missing (null or NaN)); "
            "`sweep/bad_params` (params '1e9x' is not a number); `sweep/bad_text` (final_val_loss 'abc' is not a "
            "number).") in text
    fits = json.loads((root / "fits.json").read_text())
    fitted, _ = caught(lambda: fit(root, approach="2", bootstrap=0).to_dict())
    assert fits["2"]["a"] == pytest.approx(fitted["approach2"]["a"], rel=1e-9)
    assert fitted["runs"]["used"] == 15 and len(fitted["runs"]["skipped"]) == 4


def test_a_dir_without_validation_losses_fits_training_losses_never_a_mix(tmp_path):
    root = _harness_dir(tmp_path)
    for summary_path in root.rglob("summary.json"):
        summary = json.loads(summary_path.read_text())
        summary["final_val_loss"] = None
        summary_path.write_text(json.dumps(summary))
    selection = select_runs(root)
    assert selection.loss_column == "final_train_loss" and len(selection.runs) == 15 and not selection.skipped


# --- 8. a long table cut to one point per run ---------------------------------------------------------------------

def test_a_long_table_cut_to_runs_says_so():
    curves = training_curves(0)  # 25 runs x 40 logged points
    _, said = caught(lambda: fit(curves, approach="all", bootstrap=0))  # Approaches 2 and 3 refuse: one ratio
    assert said[0] == ("DataFrame: the 1000 rows are loss curves of 25 runs (column 'run'): the final-loss fits use "
                       "each run's last point (most tokens), 25 points; --run-col names another column if the rows "
                       "are separate runs")
    _, said = caught(lambda: fit(curves, approach="1", bootstrap=0))  # Approach 1 uses every row
    assert said == []


# --- the fit JSON: data_range and draws -----------------------------------------------------------------------------

def test_draws_reproduce_the_intervals_and_data_range_the_data():
    sweep, curves = isoflop_sweep(3), training_curves(3, sizes=np.geomspace(1e7, 1e9, 12), points=12)
    budgets = [1e19, 1e22]
    out, said = caught(lambda: fit(sweep, approach="all", bootstrap=200, budgets=budgets, seed=4).to_dict())
    out = json.loads(json.dumps(out))  # as written to a file
    assert [m[:22] for m in said] == ["approach 1 skipped: ap"]
    level = out["ci"]["level"]
    q = [50 * (1 - level), 100 - 50 * (1 - level)]
    draws = {k: np.array(v) for k, v in out["draws"].items()}
    assert set(draws) == {"E", "A", "B", "alpha", "beta"}
    assert all(len(v) == 200 - out["ci"]["failed"] and np.isfinite(v).all() for v in draws.values())
    for key in ("E", "A", "B", "alpha", "beta"):
        assert np.percentile(draws[key], q) == pytest.approx(out["ci"][key], rel=1e-12), key
    a = draws["beta"] / (draws["alpha"] + draws["beta"])
    assert np.percentile(a, q) == pytest.approx(out["ci"]["a"], rel=1e-12)
    for row in out["budgets"]:  # the closed form per draw: N_opt = G (C/6)^a
        g = (draws["alpha"] * draws["A"] / (draws["beta"] * draws["B"])) ** (1 / (draws["alpha"] + draws["beta"]))
        assert np.percentile(g * (row["flops"] / 6) ** a, q) == pytest.approx(row["ci"]["params"], rel=1e-9)
    a2 = out["approach2"]
    d2 = {k: np.array(v) for k, v in a2["draws"].items()}
    assert set(d2) == {"a", "params_coefficient", "b", "tokens_coefficient"}
    assert np.percentile(d2["a"], q) == pytest.approx(a2["ci"]["a"], rel=1e-12)
    assert np.percentile(d2["b"], q) == pytest.approx(a2["ci"]["b"], rel=1e-12)
    for row in a2["budgets"]:
        n_opt = d2["params_coefficient"] * row["flops"] ** d2["a"]
        assert np.percentile(n_opt, q) == pytest.approx(row["ci"]["params"], rel=1e-9)
    assert out["data_range"] == {"params": [sweep["params"].min(), sweep["params"].max()],
                                 "tokens": [sweep["tokens"].min(), sweep["tokens"].max()],
                                 "flops": [sweep["flops"].min(), sweep["flops"].max()],
                                 "loss": [sweep["loss"].min(), sweep["loss"].max()], "vocab_size": None}
    a1 = fit(curves, approach="1", bootstrap=200).to_dict()["approach1"]
    d1 = {k: np.array(v) for k, v in a1["draws"].items()}
    assert len(d1["a"]) == 200 - a1["ci"]["failed"]
    assert np.percentile(d1["a"], q) == pytest.approx(a1["ci"]["a"], rel=1e-12)


def test_no_draws_without_a_bootstrap_and_the_range_after_drops():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fit(SWEEP.assign(vocab_size=256), approach="all", bootstrap=0, drop_highest_loss=3).to_dict()
    assert "draws" not in out and "draws" not in out["approach2"]
    kept = SWEEP.drop(SWEEP["loss"].nlargest(3).index)
    assert out["data_range"]["loss"] == [kept["loss"].min(), kept["loss"].max()]
    assert out["data_range"]["vocab_size"] == 256
    mixed = SWEEP.assign(vocab_size=np.where(np.arange(42) < 5, 512, 256))
    assert fit(mixed, bootstrap=0).to_dict()["data_range"]["vocab_size"] is None


def test_a_results_dir_carries_its_vocabulary_and_runs(tmp_path):
    root = _harness_dir(tmp_path)
    out = fit(root, approach="2", bootstrap=0).to_dict()
    assert out["data_range"]["vocab_size"] == 256
    assert out["runs"] == {"used": 15, "total": 15, "loss_column": "final_val_loss", "skipped": []}


def test_losses_that_do_not_fall_with_n_or_d_give_no_law_in_one_line(capsys, tmp_path):
    """Constant losses fit alpha, beta ~ 1e-9, whose optimum G is 0 (the plan then divided by zero); noisy
    constant ones fit an exponent < 0. Both are refused as Approach 3's, naming why; a law file holding such
    exponents is refused by the planner in one line."""
    flat = SWEEP.assign(loss=3.0)
    err = refused_by_cli(capsys, tmp_path, flat, "--approach", "3", "--bootstrap", "0", says="approach 3: ")
    assert "no compute-optimal split" in err or "a law needs both > 0" in err  # exponents ~0, of either sign
    noisy = SWEEP.assign(loss=3.0 * np.exp(0.005 * np.random.default_rng(1).standard_normal(len(SWEEP))))
    with pytest.raises(ScalingError, match=r"approach 3: the best fit has alpha=.*a law needs both > 0"):
        fit(noisy, approach="3", bootstrap=0)
    law = tmp_path / "flat.json"
    law.write_text(json.dumps({"E": 3.0, "A": 3e-8, "B": 3e-8, "alpha": 9.8e-10, "beta": 1.06e-9}))
    code, out, err = cli(capsys, "plan", "--flops", "1e22", "--law", law)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no compute-optimal split" in err
