"""`fit()`: runs the approaches asked for on one data set and assembles the fit JSON (its schema is below).

- Approach 3 (`parametric`): L = E + A/N^alpha + B/D^beta by Huber on log losses, from Hoffmann's 4,500-start
  grid. Approach 2 (`isoflop`): isoFLOP parabolas, then N_opt ~ C^a. Approach 1 (`envelope`): the envelope of
  training curves, then N_opt ~ C^a. Inputs: `data`.
- Bootstrap (`bootstrap`): K resamples (default 1,000, seed 0), percentile intervals at `level` (0.95).
  Approach 3 resamples the final-loss points and refits each resample from the full-data optimum (the
  replication's practice; the batched Newton takes every resample at once). Approach 2 resamples runs within
  each budget. Approach 1 resamples whole runs (their curves).

The fit JSON (`scaling fit --json`, `--out FIT.json`). Its top level is Approach 3's law, so `law_from_json`
and `scaling plan --law FIT.json` read it as they read any law:

    {"approach": "3" | "2" | "1" | "all",      what was asked
     "source": "runs.csv", "n_points": 240, "dropped_highest_loss": 5,
     "data_range": {"params": [min, max], "tokens": [..], "flops": [..], "loss": [..], "vocab_size": V | null},
     ["runs": {"used", "total", "loss_column", "skipped": [{"run", "reason"}]}],   results dirs only
     "E", "A", "B", "alpha", "beta",            Approach 3's law (absent when Approach 3 did not run)
     "a", "b", "G",                             N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b
     "objective", "loss", "delta", ["asymmetry"],   the minimised sum of Huber terms and its settings
     "starts": {"grid", "run", "reached_best", "engine"},
     "budgets": [{"flops", "params", "tokens", "loss", "ci": {"params": [lo, hi], "tokens": [..], "loss": [..]}}],
     "ci": {"level": 0.95, "resamples": K, "seed": 0, "failed": 0, "E": [lo, hi], "A", "B", "alpha", "beta",
            "a", "b"},
     "draws": {"E": [...], "A": [...], "B": [...], "alpha": [...], "beta": [...]},
     "approach2": {"a", "b", "params_coefficient", "tokens_coefficient",   N_opt = params_coefficient C^a
                   "n_budgets", "per_budget": [{"flops", "n_runs", "params_tried", "params_opt", "tokens_opt",
                                                "loss_opt", "bracketed"}],
                   "budgets": [...], "ci": {...},
                   "draws": {"a": [...], "params_coefficient": [...], "b": [...], "tokens_coefficient": [...]}},
     "approach1": {"a", "b", "params_coefficient", "tokens_coefficient", "n_runs", "envelope_points",
                   "flops_range", "budgets": [...], "ci": {...}, "draws": {...as approach2's}}}

`data_range` spans the final-loss points actually fitted (after duplicates and `--drop-highest-loss` are
dropped): params, tokens (D), flops (C) and loss as [min, max]; `vocab_size` is the one every run's summary
(`data.vocab_size`) or every row of a `vocab_size` column agrees on, else null. A planner reads it to tell
interpolation from extrapolation. `runs` (results dirs) counts the runs used and names those skipped, and why.

Budget rows hold N_opt and D_opt at the budgets asked for (Approach 3 adds the predicted loss there, the law's
L(N_opt, D_opt); Approaches 1 and 2 fit no loss). `failed` counts resamples whose refit did not converge or gave
a non-finite parameter (for Approaches 1/2: lost all but one budget); they are left out of the intervals.

`draws` (absent when bootstrap = 0) are the bootstrap resamples that did not fail, one list entry per
resample, in resample order and NaN-free, so the intervals are their percentiles: Approach 3's five
parameters (a law per draw), Approaches 1/2's exponents and coefficients (N_opt = params_coefficient C^a and
D_opt = tokens_coefficient C^b per draw). 1,000 resamples make ~100 KB per approach. NaN is written as null.

Warnings (one line each) where the numbers need care: a budget more than EXTRAPOLATION_DECADES (3) decades
beyond the compute of the runs fitted (Chinchilla extrapolated 2.3: from ~3e21 to 5.8e23 FLOPs); a point
estimate outside its own bootstrap interval; more than 10% of the resamples failed (FAILED_SHARE); a long
table cut to one final point per run (Approaches 2, 3). A fit that overflows or divides by zero is refused in
one line (a ScalingError), as is data that cannot identify the parameters (`parametric.check_identifiable`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from scaling.atomic import atomic_write_json, json_ready
from scaling.errors import ScalingError
from scaling.fitting.data import FitData, drop_duplicates, drop_highest_losses, read_fit_data, warn_isolated
from scaling.fitting.options import APPROACHES, FitOptions
from scaling.laws import ParametricLaw

CHUNK = 500  # bootstrap resamples per batched refit: a progress tick, and arrays that stay in cache
EXTRAPOLATION_DECADES = 3.0  # a budget this far beyond the data's compute range is flagged
FAILED_SHARE = 0.1  # more failed bootstrap resamples than this share are flagged
NUMERIC_FAILURES = (OverflowError, ZeroDivisionError, FloatingPointError, np.linalg.LinAlgError)
PARAMS_3 = ("E", "A", "B", "alpha", "beta")
PARAMS_12 = ("a", "params_coefficient", "b", "tokens_coefficient")
QUANTITY = {"params": "N_opt", "tokens": "D_opt", "loss": "loss"}


@dataclass(frozen=True)
class FitResult:
    """The data fitted, the fit JSON, and Approach 3's fit (for `.law`) where it ran."""

    data: FitData
    payload: dict
    parametric: object | None = None  # parametric.ParametricFit

    @property
    def law(self) -> ParametricLaw:
        if self.parametric is None:
            raise ScalingError("no law: Approach 3 did not run (ask for approach='3' or 'all')")
        return self.parametric.law

    def to_dict(self) -> dict:
        return self.payload


def _intervals(samples: dict, level: float) -> dict:
    from scaling.fitting.bootstrap import percentile_interval

    return {name: percentile_interval(values, level).tolist() for name, values in samples.items()}


def _budget_rows(flops, estimates: dict, samples: dict | None, level: float) -> list[dict]:
    """One row per budget: the estimates there and, with a bootstrap, their intervals."""
    from scaling.fitting.bootstrap import percentile_interval

    rows = []
    for j, c in enumerate(flops):
        row = {"flops": float(c), **{k: float(np.asarray(v)[j]) for k, v in estimates.items()}}
        if samples is not None:
            row["ci"] = {k: percentile_interval(samples[k][:, j], level).tolist() for k in estimates}
        rows.append(row)
    return rows


def _outside(value: float, interval) -> bool:
    lo, hi = interval
    if not all(math.isfinite(v) for v in (value, lo, hi)):
        return False
    slack = 1e-9 * max(abs(value), abs(lo), abs(hi))
    return value < lo - slack or value > hi + slack


def _warn_outside(label: str, point: dict, ci: dict, rows: list[dict], level: float) -> None:
    """One warning naming every point estimate that lies outside its own bootstrap interval."""
    names = [k for k, v in point.items() if k in ci and _outside(v, ci[k])]
    checked = len([k for k in point if k in ci])
    for row in rows:
        for k, interval in row.get("ci", {}).items():
            checked += 1
            if _outside(row[k], interval):
                names.append(f"{QUANTITY[k]} at {row['flops']:.3g} FLOPs")
    if names:
        warnings.warn(f"{label}: {len(names)} of {checked} point estimates lie outside their own {level * 100:g}% "
                      f"bootstrap interval ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''}): the "
                      f"resamples disagree with the full-data fit, so read those intervals with care", stacklevel=4)


def _warn_few(label: str, ok: int, k: int, level: float) -> None:
    """Warn when more than FAILED_SHARE of the resamples failed: the intervals then rest on the easy resamples."""
    if k - ok > FAILED_SHARE * k:
        warnings.warn(f"{label}: {k - ok} of {k} bootstrap resamples failed (no convergence, a non-finite value, "
                      f"or all but one budget lost) and are left out of the {level * 100:g}% intervals, which may "
                      f"then be too narrow", stacklevel=4)


def _law_samples(theta: np.ndarray, flops) -> dict:
    """E, A, B, alpha, beta, a, b and N_opt, D_opt, L(N_opt, D_opt) at `flops`, one value per row of theta."""
    a_, b_, e_, alpha, beta = theta.T
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        big_a, big_b, big_e = np.exp(a_), np.exp(b_), np.exp(e_)
        expo_n, expo_d = beta / (alpha + beta), alpha / (alpha + beta)
        g = np.where((alpha > 0) & (beta > 0), (alpha * big_a / (beta * big_b)) ** (1.0 / (alpha + beta)), np.nan)
        half = np.asarray(flops, dtype=float)[None, :] / 6.0
        n_opt = g[:, None] * half ** expo_n[:, None]
        d_opt = half ** expo_d[:, None] / g[:, None]
        loss = big_e[:, None] + big_a[:, None] / n_opt ** alpha[:, None] + big_b[:, None] / d_opt ** beta[:, None]
    return {"E": big_e, "A": big_a, "B": big_b, "alpha": alpha, "beta": beta, "a": expo_n, "b": expo_d,
            "params": n_opt, "tokens": d_opt, "loss": loss}


def _approach3(data: FitData, opts: FitOptions, budgets) -> tuple[object, dict]:
    from scaling.fitting.bootstrap import progress, resample_counts
    from scaling.fitting.parametric import check_identifiable, fit_parametric, refit_resamples

    check_identifiable(data.params, data.tokens, duplicates=data.duplicates)
    best = fit_parametric(data.params, data.tokens, data.loss, loss_kind=opts.loss, delta=opts.delta,
                          asymmetry=opts.asymmetry, grid=opts.grid, engine=opts.engine)
    out = best.to_dict()
    if not all(math.isfinite(out[k]) for k in PARAMS_3):
        raise ScalingError("approach 3: the best fit has a non-finite parameter ("
                           + ", ".join(f"{k}={out[k]:.3g}" for k in PARAMS_3) + "): the data do not follow "
                           "E + A/N^alpha + B/D^beta")
    if best.theta[3] <= 0 or best.theta[4] <= 0:
        warnings.warn(f"approach 3: the best fit has alpha={best.theta[3]:.3g}, beta={best.theta[4]:.3g}; a law "
                      f"needs both > 0, so `scaling plan` cannot use it: the data do not follow "
                      f"E + A/N^alpha + B/D^beta", stacklevel=2)
    point = _law_samples(best.theta[None, :], budgets)
    estimates = {k: point[k][0] for k in ("params", "tokens", "loss")}
    k = opts.bootstrap
    if not k:
        out["budgets"] = _budget_rows(budgets, estimates, None, opts.level)
        return best, out
    counts = resample_counts(len(data), k, np.random.default_rng([opts.seed, 3]))
    theta = np.empty((k, 5))
    converged = np.empty(k, dtype=bool)
    bar = progress(k, "approach 3 bootstrap", opts.progress)
    for start in range(0, k, CHUNK):
        theta[start:start + CHUNK], converged[start:start + CHUNK] = refit_resamples(
            best, data.params, data.tokens, data.loss, counts[start:start + CHUNK])
        bar.update(len(counts[start:start + CHUNK]))
    bar.close()
    samples = _law_samples(theta, budgets)
    ok = converged & np.all([np.isfinite(samples[name]) for name in PARAMS_3], axis=0)
    samples = {name: np.where(ok.reshape((-1,) + (1,) * (v.ndim - 1)), v, np.nan) for name, v in samples.items()}
    _warn_few("approach 3", int(ok.sum()), k, opts.level)
    out["budgets"] = _budget_rows(budgets, estimates, samples, opts.level)
    scalars = {name: samples[name] for name in (*PARAMS_3, "a", "b")}
    out["ci"] = {"level": opts.level, "resamples": k, "seed": opts.seed, "failed": int((~ok).sum()),
                 **_intervals(scalars, opts.level)}
    out["draws"] = {name: samples[name][ok].tolist() for name in PARAMS_3}
    _warn_outside("approach 3", {name: out[name] for name in scalars}, out["ci"], out["budgets"], opts.level)
    return best, out


def _power_law_section(label: str, result, draw, opts: FitOptions, budgets) -> dict:
    """The JSON of Approach 1 or 2: its fit, budget rows and, where `draw()` gives bootstrap samples, intervals
    and draws (a resample fails where any of a, b or their coefficients is not finite)."""
    out = result.to_dict()
    if not all(math.isfinite(out[k]) for k in PARAMS_12):
        raise ScalingError(f"{label}: the power-law fit has a non-finite exponent or coefficient (a={out['a']:.3g}, "
                           f"b={out['b']:.3g}): the optima do not identify how N_opt and D_opt grow with C")
    samples = draw() if opts.bootstrap else None
    if samples is not None:
        ok = np.all([np.isfinite(samples[name]) for name in PARAMS_12], axis=0)
        samples = {name: np.where(ok.reshape((-1,) + (1,) * (np.ndim(v) - 1)), v, np.nan)
                   for name, v in samples.items()}
        _warn_few(label, int(ok.sum()), opts.bootstrap, opts.level)
    out["budgets"] = _budget_rows(budgets, result.at_budgets(budgets), samples, opts.level)
    if samples is not None:
        out["ci"] = {"level": opts.level, "resamples": opts.bootstrap, "seed": opts.seed,
                     "failed": int((~ok).sum()), **_intervals({"a": samples["a"], "b": samples["b"]}, opts.level)}
        out["draws"] = {name: samples[name][ok].tolist() for name in PARAMS_12}
        _warn_outside(label, {"a": out["a"], "b": out["b"]}, out["ci"], out["budgets"], opts.level)
    return out


def _approach2(data: FitData, opts: FitOptions, budgets):
    from scaling.fitting.isoflop import bootstrap_isoflop, fit_isoflop

    result = fit_isoflop(data.params, data.tokens, data.flops, data.loss, budget=data.budget,
                         budget_tol=opts.budget_tol, min_runs=opts.min_runs)
    rng = np.random.default_rng([opts.seed, 2])
    return result, _power_law_section("approach 2", result, lambda: bootstrap_isoflop(
        result, data.params, data.tokens, data.loss, rng, opts.bootstrap, budgets), opts, budgets)


def _approach1(data: FitData, opts: FitOptions, budgets):
    from scaling.fitting.envelope import bootstrap_envelope, fit_envelope

    if data.curves is None:
        raise ScalingError(f"approach 1 needs loss curves and {data.source} holds one loss per run: give a results "
                           f"dir with metrics.jsonl, or a long-format CSV (one row per logged point) with a run "
                           f"column (--run-col)")
    result = fit_envelope(data.curves)
    rng = np.random.default_rng([opts.seed, 1])
    return result, _power_law_section("approach 1", result,
                                      lambda: bootstrap_envelope(result, rng, opts.bootstrap, budgets), opts, budgets)


def fit(source, *, approach: str | int = "3", budgets=(), drop_highest_loss: int = 0,
        options: FitOptions | None = None, params_col: str = "params", tokens_col: str = "tokens",
        flops_col: str = "flops", loss_col: str = "loss", run_col: str = "run", budget_col: str = "budget",
        **option_values) -> FitResult:
    """Fit `source` (a CSV path, a results dir or a DataFrame) by the approach(es) asked ("1", "2", "3" or
    "all"); N_opt, D_opt (and Approach 3's loss) with intervals at `budgets`. Options come as a FitOptions or
    as its fields by keyword (`bootstrap=1000, seed=0, ...`); the `*_col` arguments name a table's columns."""
    from scaling.allocation import check_budget

    approach = str(approach)
    if approach not in APPROACHES:
        raise ScalingError(f"unknown approach {approach!r}: choose 1, 2, 3 or all")
    known = {f.name for f in fields(FitOptions)}
    unknown = sorted(set(option_values) - known)
    if unknown:
        raise ScalingError(f"unknown fit option(s) {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    if options is not None and option_values:
        raise ScalingError("give fit options either as a FitOptions or by keyword, not both")
    opts = options or FitOptions(**option_values)
    budgets = [check_budget(c, "every --budgets value") for c in budgets]
    columns = {"params_col": params_col, "tokens_col": tokens_col, "flops_col": flops_col, "loss_col": loss_col,
               "run_col": run_col, "budget_col": budget_col}
    data = drop_duplicates(read_fit_data(source, **columns))
    if approach != "1" and data.rows_read is not None and data.rows_read > len(data):
        warnings.warn(f"{data.source}: the {data.rows_read} rows are loss curves of {len(data)} runs (column "
                      f"{data.run_col!r}): the final-loss fits use each run's last point (most tokens), "
                      f"{len(data)} points; --run-col names another column if the rows are separate runs",
                      stacklevel=2)
    data = drop_highest_losses(data, drop_highest_loss)
    warn_isolated(data)
    _warn_extrapolation(data, budgets)

    payload = {"approach": approach, "source": data.source, "n_points": len(data),
               "dropped_highest_loss": data.dropped, "data_range": data_range(data)}
    if data.selection is not None:
        payload["runs"] = data.selection
    fits = {}
    runners = {"3": _approach3, "2": _approach2, "1": _approach1}
    for name in ("3", "2", "1"):
        if approach not in (name, "all"):
            continue
        try:
            try:
                with np.errstate(all="ignore"):  # the fits test for non-finite values themselves
                    fits[name], section = runners[name](data, opts, budgets)
            except NUMERIC_FAILURES as err:
                raise ScalingError(f"approach {name}: the fit broke down numerically ({type(err).__name__}: "
                                   f"{str(err).strip() or 'no detail'}) on {len(data)} points: the data do not "
                                   f"support it; check them for repeated or degenerate rows") from None
        except ScalingError as err:
            if approach != "all":
                raise
            warnings.warn(f"approach {name} skipped: {err}", stacklevel=2)
            continue
        if name == "3":
            payload.update(section)
        else:
            payload[f"approach{name}"] = section
    if not fits:
        raise ScalingError(f"no approach could fit {data.source}: see the warnings above")
    return FitResult(data, json_ready(payload), fits.get("3"))


def data_range(data: FitData) -> dict:
    """[min, max] of the params, tokens, flops and loss fitted, and the vocabulary size where it is one."""
    out = {k: [float(np.min(v)), float(np.max(v))] for k, v in (("params", data.params), ("tokens", data.tokens),
                                                                 ("flops", data.flops), ("loss", data.loss))}
    return {**out, "vocab_size": data.vocab_size}


def _warn_extrapolation(data: FitData, budgets) -> None:
    """One warning for the budgets more than EXTRAPOLATION_DECADES beyond the compute of the runs fitted."""
    lo, hi = np.log10(np.min(data.flops)), np.log10(np.max(data.flops))
    far = []
    for c in budgets:
        beyond = max(np.log10(c) - hi, lo - np.log10(c))
        if beyond > EXTRAPOLATION_DECADES:
            far.append(f"{c:.3g} ({beyond:.1f} decades {'beyond' if np.log10(c) > hi else 'below'})")
    if far:
        warnings.warn(f"{len(far)} budget(s) lie more than {EXTRAPOLATION_DECADES:g} decades outside the compute of "
                      f"the runs fitted ({10 ** lo:.3g} to {10 ** hi:.3g} FLOPs): {', '.join(far)} FLOPs; the "
                      f"predictions there extrapolate the law far past its data", stacklevel=3)


def write_fit(payload: dict, path: str | Path) -> None:
    """The fit JSON at `path`, written atomically (a reader never sees half a file)."""
    atomic_write_json(path, payload)
