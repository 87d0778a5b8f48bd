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
     "E", "A", "B", "alpha", "beta",            Approach 3's law (absent when Approach 3 did not run)
     "a", "b", "G",                             N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b
     "objective", "loss", "delta", ["asymmetry"],   the minimised sum of Huber terms and its settings
     "starts": {"grid", "run", "reached_best", "engine"},
     "budgets": [{"flops", "params", "tokens", "loss", "ci": {"params": [lo, hi], "tokens": [..], "loss": [..]}}],
     "ci": {"level": 0.95, "resamples": K, "seed": 0, "failed": 0, "E": [lo, hi], "A", "B", "alpha", "beta",
            "a", "b"},
     "approach2": {"a", "b", "params_coefficient", "tokens_coefficient",   N_opt = params_coefficient C^a
                   "n_budgets", "per_budget": [{"flops", "n_runs", "params_tried", "params_opt", "tokens_opt",
                                                "loss_opt", "bracketed"}],
                   "budgets": [...], "ci": {...}},
     "approach1": {"a", "b", "params_coefficient", "tokens_coefficient", "n_runs", "envelope_points",
                   "flops_range", "budgets": [...], "ci": {...}}}

Budget rows hold N_opt and D_opt at the budgets asked for (Approach 3 adds the predicted loss there, the law's
L(N_opt, D_opt); Approaches 1 and 2 fit no loss). `failed` counts resamples whose refit did not converge (or,
for Approaches 1/2, lost all but one budget); they are left out of the intervals. NaN is written as null.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from scaling.atomic import atomic_write_json, json_ready
from scaling.errors import ScalingError
from scaling.fitting.data import FitData, drop_highest_losses, read_fit_data
from scaling.fitting.options import APPROACHES, FitOptions
from scaling.laws import ParametricLaw

CHUNK = 500  # bootstrap resamples per batched refit: a progress tick, and arrays that stay in cache


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
    from scaling.fitting.parametric import fit_parametric, refit_resamples

    best = fit_parametric(data.params, data.tokens, data.loss, loss_kind=opts.loss, delta=opts.delta,
                          asymmetry=opts.asymmetry, grid=opts.grid, engine=opts.engine)
    out = best.to_dict()
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
    samples = _law_samples(np.where(converged[:, None], theta, np.nan), budgets)
    out["budgets"] = _budget_rows(budgets, estimates, samples, opts.level)
    scalars = {name: samples[name] for name in ("E", "A", "B", "alpha", "beta", "a", "b")}
    out["ci"] = {"level": opts.level, "resamples": k, "seed": opts.seed, "failed": int((~converged).sum()),
                 **_intervals(scalars, opts.level)}
    return best, out


def _power_law_section(result, draw, opts: FitOptions, budgets) -> dict:
    """The JSON of Approach 1 or 2: its fit, budget rows and, where `draw()` gives bootstrap samples, intervals."""
    samples = draw() if opts.bootstrap else None
    out = result.to_dict()
    out["budgets"] = _budget_rows(budgets, result.at_budgets(budgets), samples, opts.level)
    if samples is not None:
        failed = ~np.isfinite(samples["a"])
        out["ci"] = {"level": opts.level, "resamples": opts.bootstrap, "seed": opts.seed,
                     "failed": int(failed.sum()), **_intervals({"a": samples["a"], "b": samples["b"]}, opts.level)}
    return out


def _approach2(data: FitData, opts: FitOptions, budgets):
    from scaling.fitting.isoflop import bootstrap_isoflop, fit_isoflop

    result = fit_isoflop(data.params, data.tokens, data.flops, data.loss, budget=data.budget,
                         budget_tol=opts.budget_tol, min_runs=opts.min_runs)
    rng = np.random.default_rng([opts.seed, 2])
    return result, _power_law_section(result, lambda: bootstrap_isoflop(
        result, data.params, data.tokens, data.loss, rng, opts.bootstrap, budgets), opts, budgets)


def _approach1(data: FitData, opts: FitOptions, budgets):
    from scaling.fitting.envelope import bootstrap_envelope, fit_envelope

    if data.curves is None:
        raise ScalingError(f"approach 1 needs loss curves and {data.source} holds one loss per run: give a results "
                           f"dir with metrics.jsonl, or a long-format CSV (one row per logged point) with a run "
                           f"column (--run-col)")
    result = fit_envelope(data.curves)
    rng = np.random.default_rng([opts.seed, 1])
    return result, _power_law_section(result, lambda: bootstrap_envelope(result, rng, opts.bootstrap, budgets),
                                      opts, budgets)


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
    data = drop_highest_losses(read_fit_data(source, **columns), drop_highest_loss)

    payload = {"approach": approach, "source": data.source, "n_points": len(data),
               "dropped_highest_loss": data.dropped}
    fits = {}
    runners = {"3": _approach3, "2": _approach2, "1": _approach1}
    for name in ("3", "2", "1"):
        if approach not in (name, "all"):
            continue
        try:
            fits[name], section = runners[name](data, opts, budgets)
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


def write_fit(payload: dict, path: str | Path) -> None:
    """The fit JSON at `path`, written atomically (a reader never sees half a file)."""
    atomic_write_json(path, payload)
