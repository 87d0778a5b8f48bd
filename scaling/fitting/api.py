"""`fit()`: runs the approaches asked for on one data set and assembles the fit JSON (its schema is below).

- Approach 3 (`parametric`): L = E + A/N^alpha + B/D^beta by Huber on log losses, from Hoffmann's 4,500-start
  grid (`tie_exponents`: alpha = beta, 4 parameters); with `form="kaplan"`, Kaplan et al.'s form
  E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (`kaplan`) in its place, a law `scaling plan` reads too.
  Approach 2 (`isoflop`): isoFLOP parabolas on a window around each budget's best run (`window`, default 2
  sizes either side), then N_opt ~ C^a. Approach 1 (`envelope`): the envelope of training curves, then
  N_opt ~ C^a. Inputs: `data`, under the conventions `compute` (6nd | exact) and `params` (total |
  non-embedding) (`data.apply_conventions`).
- Bootstrap (`bootstrap`): K resamples (default 1,000, seed 0), percentile intervals at `level` (0.95).
  Approach 3 resamples the final-loss points and refits each resample from the full-data optimum (the
  replication's practice; the batched Newton takes every resample at once). Approach 2 resamples the windows'
  parabola residuals, pooled over budgets, so every resample keeps every size (`isoflop` says why). Approach 1
  resamples whole runs (their curves).
- Backtest (`holdout_budget`, `backtest`): one isoFLOP budget held out, predicted by Approaches 2 and 3 from the
  others, compared with its runs.

The fit JSON (`scaling fit --json`, `--out FIT.json`). Its top level is Approach 3's law, so `law_from_json`
and `scaling plan --law FIT.json` read it as they read any law:

    {"approach": "3" | "2" | "1" | "all",      what was asked
     "source": "runs.csv", "n_points": 240, "dropped_highest_loss": 5,
     "data_range": {"params": [min, max], "tokens": [..], "flops": [..], "loss": [..], "vocab_size": V | null},
     "conventions": {"compute": "6nd" | "exact", "params": "total" | "non-embedding"},   which N and C
     ["runs": {"used", "total", "loss_column", "skipped": [{"run", "reason"}]}],   results dirs only
     "E", "A", "B", "alpha", "beta",            Approach 3's law (absent when Approach 3 did not run)
     ["form": "kaplan", "E", "N_c", "D_c", "alpha_N", "alpha_D"],   in its place with form="kaplan"
     "a", "b", ["G"],                           N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b (G with C = 6ND only)
     ["flops_per_token": {"coefficient": c, "exponent": p}],   C = c N^p D, where C is not 6ND: a and b follow it
     "objective", "loss", "delta", ["asymmetry"], ["tie_exponents": true],   the minimised sum and its settings
     "starts": {"grid", "run", "reached_best", "engine"},
     ["lack_of_fit": {"residual_sd", "replicate_sd", "F", "dof": [misfit, pure error], "p"}],   with seeds
     ["law_window": {"k", "points"}],           fitted on Approach 2's windows only (`law_window`)
     ["min_tokens_per_param": {"tokens_per_param", "points"}],   fitted on the runs with D/N >= it only
     "budgets": [{"flops", "params", "tokens", "loss", "ci": {"params": [lo, hi], "tokens": [..], "loss": [..]}}],
     "ci": {"level": 0.95, "resamples": K, "seed": 0, "failed": 0, "E": [lo, hi], "A", "B", "alpha", "beta",
            "a", "b"},
     "draws": {"E": [...], "A": [...], "B": [...], "alpha": [...], "beta": [...]},
     "approach2": {"a", "b", "params_coefficient", "tokens_coefficient",   N_opt = params_coefficient C^a
                   "min_loss": {"floor", "coefficient", "exponent", "reference_flops"},
                                              L_min = floor + coefficient (C / reference_flops)^-exponent
                   "n_budgets", "window": 2 | "all", "noise_sd",   pooled residual sd of the parabolas
                   "skew": {"params", "tokens", "applied", "reason", "shift_pct", "p" | "params_ci", "tokens_ci"}
                           | None,            the profiles' shared kappa in ln N and ln D (None: no window of 4
                                              sizes); applied with --skew (then its intervals), else tested (p);
                                              reason: why it cannot be allowed for (then neither)
                   "per_budget": [{"flops", "compute", "n_runs", "params_tried", "params_window", "n_window",
                                   "params_best", "loss_best", "params_opt", "tokens_opt", "loss_opt", "bracketed",
                                   "in_window", "steps_from_best", "params_opt_ci", "tokens_opt_ci",
                                   "loss_opt_ci"}],
                   "budgets": [...], "ci": {...},
                   "scatter": {"params" | "loss": {"tau", "chi2", "dof"}},   the optima's scatter about the
                                              laws beyond their own noise (tau in log N, nats), in the intervals
                   "draws": {"a": [...], "params_coefficient": [...], "b": [...], "tokens_coefficient": [...]}},
     "approach1": {"a", "b", "params_coefficient", "tokens_coefficient", "n_runs", "envelope_points",
                   "flops_range", "budgets": [...], "ci": {...}, "draws": {...as approach2's}},
     ["backtest": {"holdout_flops", "holdout_compute", "fitted_budgets", "level", "resamples",
                   "observed": {"params_opt", "params_opt_ci", "tokens_opt", "loss_opt", "params_best",
                                "loss_best", "runs_best", "noise_sd"},
                   "predicted": {"approach2" | "approach3": {"params_opt", "params_opt_ci", "tokens_opt",
                                                            "tokens_opt_ci", "loss", "loss_ci"}},
                   "within": {"approach2" | "approach3": {"params_opt": bool, "loss": bool} | null},
                   "within_interval": bool | null, "loss_error_pct": {...}, "params_error_pct": {...},
                   "scatter": {...as approach2's, of the fitted budgets} | null,
                   "fitted": [{"flops", "compute", "params_opt", "tokens_opt", "loss_opt", "loss_best"}],
                   "curves": {"flops": [...], "approach2" | "approach3": {"params_opt", "params_opt_ci": [lo, hi],
                                                                          "loss", "loss_ci"}},
                   "warnings": [...]}]}   with holdout_budget only

`data_range` spans the final-loss points actually fitted (after duplicates and `--drop-highest-loss` are
dropped): params (N under the conventions), tokens (D), flops (C under the conventions) and loss as [min, max];
`vocab_size` is the one every run's summary (`data.vocab_size`) or every row of a `vocab_size` column agrees on,
else null. A planner reads it to tell interpolation from extrapolation. `runs` (results dirs) counts the runs
used and names those skipped, and why. `scaling plan` counts N with embeddings and C = 6ND: a fit in other
conventions says so in a warning.

Budget rows hold N_opt and D_opt at the budgets asked for (Approach 3 adds the predicted loss there, the law's
L(N_opt, D_opt); Approaches 1 and 2 give no loss there). `failed` counts resamples whose refit did not converge
or gave a non-finite parameter (for Approaches 1/2: lost all but one budget); they are left out of the intervals.
Approach 2's `per_budget` rows: `flops` the budget, `compute` its C in the power laws (the budget, or under
another convention the runs' C interpolated to N_opt), the window fitted and the best run, the vertex, whether
the sizes tried bracket it (`bracketed`) and the window holds it (`in_window`), how many grid steps it lies from
the best run, and the bootstrap's interval of each optimum.

`draws` (absent when bootstrap = 0) are the bootstrap resamples that did not fail, one list entry per
resample, in resample order and NaN-free, so the intervals are their percentiles: Approach 3's five
parameters (a law per draw), Approaches 1/2's exponents and coefficients (N_opt = params_coefficient C^a and
D_opt = tokens_coefficient C^b per draw). 1,000 resamples make ~100 KB per approach. NaN is written as null.

`backtest` (`scaling.fitting.backtest`): the held-out budget (nominal, and its C under the conventions), what
its runs show (`observed`), each approach's prediction from the other budgets with intervals, whether each
agrees (the interval of prediction minus observation, both resampled, covers 0), `within_interval` (all agree;
null without a bootstrap), the errors in percent of the observation, the fitted budgets' optima and the
predicted curves with their bands (for backtest.png), and the refits' own warnings.

Warnings (one line each) where the numbers need care: a budget more than EXTRAPOLATION_DECADES (3) decades
beyond the compute of the runs fitted (Chinchilla extrapolated 2.3: from ~3e21 to 5.8e23 FLOPs); a point
estimate outside its own bootstrap interval; more than 10% of the resamples failed (FAILED_SHARE); a long
table cut to one final point per run (Approaches 2, 3); an isoFLOP vertex far from its budget's best run or
outside its window (`isoflop`); Approach 3 under-determined (fewer than 2 points per parameter, or one
tokens/param: `parametric.underdetermined`); an exponent a whose interval is wider than +-UNPINNED_HALF_WIDTH
(0.25); conventions other than the planner's. A fit that overflows or
divides by zero is refused in one line (a ScalingError), as is data that cannot identify the parameters
(`parametric.check_identifiable`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from scaling.atomic import atomic_write_json, json_ready
from scaling.errors import ScalingError
from scaling.fitting.data import (
    FitData,
    drop_duplicates,
    drop_highest_losses,
    profile_runs,
    read_fit_data,
    warn_isolated,
)
from scaling.fitting.options import APPROACHES, FitOptions
from scaling.laws import KAPLAN_KEYS, LAW_KEYS, PLANNER_CONVENTIONS, KaplanLaw, ParametricLaw

EXTRAPOLATION_DECADES = 3.0  # a budget this far beyond the data's compute range is flagged
FAILED_SHARE = 0.1  # more failed bootstrap resamples than this share are flagged
# An interval on a wider than +- this says nothing a planner can use: it spans every exponent proposed for language
# models, Kaplan et al.'s and Chinchilla's alike, and more
UNPINNED_HALF_WIDTH = 0.25
NUMERIC_FAILURES = (OverflowError, ZeroDivisionError, FloatingPointError, np.linalg.LinAlgError)
PARAMS_3 = LAW_KEYS  # Approach 3's terms in Chinchilla's form
PARAMS_12 = ("a", "params_coefficient", "b", "tokens_coefficient")
QUANTITY = {"params": "N_opt", "tokens": "D_opt", "loss": "loss"}


@dataclass(frozen=True)
class FitResult:
    """The data fitted, the fit JSON, and Approach 3's fit (for `.law`) where it ran."""

    data: FitData
    payload: dict
    parametric: object | None = None  # parametric.ParametricFit or kaplan.KaplanFit

    @property
    def law(self) -> ParametricLaw | KaplanLaw:
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


def _warn_unpinned(label: str, a: float, ci: dict, level: float) -> None:
    """Warn when a's interval is wider than +- UNPINNED_HALF_WIDTH: the fit then gives a number the runs do not
    support, and the interval alone is easy to read past."""
    lo, hi = ci.get("a", (np.nan, np.nan))
    if np.isfinite(lo) and np.isfinite(hi) and (hi - lo) / 2 > UNPINNED_HALF_WIDTH:
        warnings.warn(f"{label}: a = {a:.3f}, but its {level * 100:g}% interval [{lo:.3f}, {hi:.3f}] is wider than "
                      f"+-{UNPINNED_HALF_WIDTH:g}: these runs do not pin how N_opt grows with C; add budgets over "
                      f"a wider range of compute, or sizes and seeds around each optimum", stacklevel=4)


def _warn_few(label: str, ok: int, k: int, level: float) -> None:
    """Warn when more than FAILED_SHARE of the resamples failed: the intervals then rest on the easy resamples."""
    if k - ok > FAILED_SHARE * k:
        warnings.warn(f"{label}: {k - ok} of {k} bootstrap resamples failed (no convergence, a non-finite value, "
                      f"or all but one budget lost) and are left out of the {level * 100:g}% intervals, which may "
                      f"then be too narrow", stacklevel=4)


def _law_samples(theta: np.ndarray, flops, per_token: tuple[float, float] = (6.0, 1.0)) -> dict:
    """E, A, B, alpha, beta, a, b and N_opt, D_opt, L(N_opt, D_opt) at `flops`, one value per row of theta; C =
    c N^p D with (c, p) = `per_token` (6ND: (6, 1); see `scaling.laws.optimal_allocation`)."""
    from scaling.laws import optimal_allocation

    a_, b_, e_, alpha, beta = theta.T
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        big_a, big_b, big_e = np.exp(a_), np.exp(b_), np.exp(e_)
        n_opt, d_opt, expo_n, expo_d = optimal_allocation(alpha, beta, big_a, big_b, flops, *per_token)
        bad = ~((alpha > 0) & (beta > 0))
        n_opt[bad], d_opt[bad] = np.nan, np.nan
        loss = big_e[:, None] + big_a[:, None] / n_opt ** alpha[:, None] + big_b[:, None] / d_opt ** beta[:, None]
    return {"E": big_e, "A": big_a, "B": big_b, "alpha": alpha, "beta": beta, "a": expo_n, "b": expo_d,
            "params": n_opt, "tokens": d_opt, "loss": loss}


def frontier_runs(data: FitData, opts: FitOptions) -> FitData:
    """The runs of Approach 2's windows (`isoflop.window_runs` with k = `opts.law_window`): at each isoFLOP
    budget (3 or more sizes; the profile runs, `profile_runs`, as Approach 2 reads them), the best size and its
    k neighbours each side; runs elsewhere are left out.
    Approach 3 fitted on them models the loss where the compute-optimal choice is made, not across tokens per
    parameter that span 4 decades, where a form that does not hold (see `parametric.lack_of_fit`) would trade
    its exponents against the far ends."""
    from scaling.fitting.backtest import isoflop_budgets
    from scaling.fitting.isoflop import window_runs

    data = profile_runs(data)
    labels, _, profiled = isoflop_budgets(data, opts)
    keep = np.zeros(len(data), dtype=bool)
    for g in profiled:
        members = np.flatnonzero(labels == g)
        inside, _ = window_runs(np.log(data.params[members]), data.loss[members], opts.law_window)
        keep[members[inside]] = True
    if not keep.any():
        raise ScalingError(f"approach 3 on the isoFLOP windows (--law-window {opts.law_window}) needs budgets with "
                           f"3 or more sizes; these runs have none: fit every run (--law-window all)")
    return data.subset(np.flatnonzero(keep))


def data_rich_runs(data: FitData, opts: FitOptions) -> FitData:
    """The runs with at least `opts.min_tokens_per_param` tokens per parameter. The far, data-starved end of an
    isoFLOP profile (large models trained for a few hundred steps on a fraction of a token per parameter) is where
    a form fitted across the whole profile may not hold; leaving it out tests how far those runs set the law."""
    from scaling.fitting.parametric import check_identifiable

    keep = np.flatnonzero(data.tokens / data.params >= opts.min_tokens_per_param)
    if len(keep) == len(data):
        return data
    if not len(keep):
        raise ScalingError(f"approach 3 with --min-tokens-per-param {opts.min_tokens_per_param:g} leaves no run: the "
                           f"most tokens per parameter here is {np.max(data.tokens / data.params):.3g}")
    try:
        check_identifiable(data.params[keep], data.tokens[keep], n_params=4 if opts.tie_exponents else 5)
    except ScalingError:
        raise ScalingError(f"approach 3 with --min-tokens-per-param {opts.min_tokens_per_param:g} keeps {len(keep)} "
                           f"of {len(data)} runs, too few (or too alike) to identify its law: lower the "
                           f"threshold") from None
    return data.subset(keep)


def _restricted(data: FitData, opts: FitOptions) -> tuple[FitData, dict]:
    """Approach 3's runs under --law-window and --min-tokens-per-param, and what each left, for the fit's record."""
    said = {}
    if opts.law_window is not None:
        data = frontier_runs(data, opts)
        said["law_window"] = {"k": opts.law_window, "points": len(data)}
    if opts.min_tokens_per_param is not None:
        data = data_rich_runs(data, opts)
        said["min_tokens_per_param"] = {"tokens_per_param": opts.min_tokens_per_param, "points": len(data)}
    return data, said


def _law_of_fit(best):
    """The best fit's law, or one line saying why the data give none: a non-finite term, an exponent <= 0, or
    exponents so near 0 (losses that do not change with N and D) that the optimum has no finite split."""
    theta = best.theta
    if not np.isfinite(theta).all():
        raise ScalingError("approach 3: the best fit has a non-finite parameter (log A, log B, log E, alpha, beta = "
                           + ", ".join(f"{v:.3g}" for v in theta) + "): the data do not follow "
                           "E + A/N^alpha + B/D^beta")
    if theta[3] <= 0 or theta[4] <= 0:
        raise ScalingError(f"approach 3: the best fit has alpha={theta[3]:.3g}, beta={theta[4]:.3g}; a law needs "
                           f"both > 0: the losses do not fall with N and D as E + A/N^alpha + B/D^beta")
    try:
        return best.law
    except ScalingError as err:
        raise ScalingError(f"approach 3: {err}: the data do not follow E + A/N^alpha + B/D^beta") from None


def _approach3(data: FitData, opts: FitOptions, budgets) -> tuple[object, dict, dict | None]:
    from scaling.fitting import parametric
    from scaling.fitting.bootstrap import progress, refit_in_chunks, resample_counts

    data, said = _restricted(data, opts)
    if opts.form == "kaplan":
        return _approach3_kaplan(data, opts, budgets, said)
    n_params = 4 if opts.tie_exponents else 5
    parametric.check_identifiable(data.params, data.tokens, duplicates=data.duplicates, n_params=n_params)
    for line in parametric.underdetermined(data.params, data.tokens, n_params):
        warnings.warn(line, stacklevel=3)
    best = parametric.fit_parametric(data.params, data.tokens, data.loss, loss_kind=opts.loss, delta=opts.delta,
                          asymmetry=opts.asymmetry, grid=opts.grid, engine=opts.engine, tie=opts.tie_exponents)
    law = _law_of_fit(best)
    out = {**best.to_dict(), **said}
    per_token = parametric.per_token_compute(data.params, data.tokens, data.compute)
    if np.allclose(per_token, (6.0, 1.0), rtol=1e-9, atol=0):
        per_token = (6.0, 1.0)
    else:  # a and b under the compute convention (scaling.laws.optimal_allocation); G belongs to C = 6ND
        out.pop("G", None)
        out["flops_per_token"] = {"coefficient": per_token[0], "exponent": per_token[1]}
    _misfit(out, data, law, n_params, "E + A/N^alpha + B/D^beta")
    point = _law_samples(best.theta[None, :], budgets, per_token)
    out["a"], out["b"] = float(point["a"][0]), float(point["b"][0])
    estimates = {k: point[k][0] for k in ("params", "tokens", "loss")}
    k = opts.bootstrap
    if not k:
        out["budgets"] = _budget_rows(budgets, estimates, None, opts.level)
        return best, out, None
    counts = resample_counts(len(data), k, np.random.default_rng([opts.seed, 3]))
    bar = progress(k, "approach 3 bootstrap", opts.progress)
    theta, converged = refit_in_chunks(
        counts, lambda block: parametric.refit_resamples(best, data.params, data.tokens, data.loss, block), bar)
    bar.close()
    samples = _law_samples(theta, budgets, per_token)
    ok = converged & np.all([np.isfinite(samples[name]) for name in PARAMS_3], axis=0)
    samples = {name: np.where(ok.reshape((-1,) + (1,) * (v.ndim - 1)), v, np.nan) for name, v in samples.items()}
    _warn_few("approach 3", int(ok.sum()), k, opts.level)
    out["budgets"] = _budget_rows(budgets, estimates, samples, opts.level)
    scalars = {name: samples[name] for name in (*PARAMS_3, "a", "b")}
    out["ci"] = {"level": opts.level, "resamples": k, "seed": opts.seed, "failed": int((~ok).sum()),
                 **_intervals(scalars, opts.level)}
    out["draws"] = {name: samples[name][ok].tolist() for name in PARAMS_3}
    _warn_outside("approach 3", {name: out[name] for name in scalars}, out["ci"], out["budgets"], opts.level)
    _warn_unpinned("approach 3", out["a"], out["ci"], opts.level)
    return best, out, samples


def _misfit(out: dict, data: FitData, law, n_params: int, form: str, label: str = "approach 3") -> None:
    """The lack-of-fit test against the seeds (`parametric.lack_of_fit`) into `out`, and a warning when it fails."""
    from scaling.fitting import parametric

    misfit = parametric.lack_of_fit(data.params, data.tokens, data.loss, law, n_params)
    if misfit is None:
        return
    out["lack_of_fit"] = misfit
    if misfit["p"] < parametric.LACK_OF_FIT_P:
        warnings.warn(f"{label}: the law misses these runs by more than their seeds scatter (residual sd "
                      f"{misfit['residual_sd']:.3f} in log loss, seeds {misfit['replicate_sd']:.3f}; lack-of-fit "
                      f"F = {misfit['F']:.1f} on {misfit['dof'][0]} and {misfit['dof'][1]} degrees of freedom, "
                      f"p = {misfit['p']:.2g}): {form} does not hold over the range of these runs, so its a and b "
                      f"describe the form as much as the data; compare Approach 2", stacklevel=4)


def _approach3_kaplan(data: FitData, opts: FitOptions, budgets, said: dict) -> tuple[object, dict, dict | None]:
    """Approach 3 in Kaplan et al.'s form (`kaplan`; `opts.form` = "kaplan"): the law, a and b, the rows at
    `budgets` and, with a bootstrap, intervals and draws, in the keys of Chinchilla's form's section."""
    from scaling.fitting import kaplan, parametric
    from scaling.fitting.bootstrap import progress, resample_counts

    kaplan.require_6nd(data)
    parametric.check_identifiable(data.params, data.tokens, duplicates=data.duplicates, n_params=5)
    for line in parametric.underdetermined(data.params, data.tokens, 5):
        warnings.warn(line, stacklevel=3)
    fitted = kaplan.fit_kaplan(data.params, data.tokens, data.loss, delta=opts.delta)
    law = fitted.law
    out = {"form": "kaplan", **{k: getattr(law, k) for k in KAPLAN_KEYS}, "a": law.a, "b": law.b,
           "objective": fitted.objective, "loss": "huber", "delta": opts.delta, "starts": {"grid": len(kaplan.GRID)},
           **said}
    _misfit(out, data, law, 5, "E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D", "approach 3 (Kaplan's form)")
    n_opt, d_opt = law.optimal_params(budgets), law.optimal_tokens(budgets)
    estimates = {"params": n_opt, "tokens": d_opt, "loss": law.loss(n_opt, d_opt)}
    k = opts.bootstrap
    if not k:
        out["budgets"] = _budget_rows(budgets, estimates, None, opts.level)
        return fitted, out, None
    counts = resample_counts(len(data), k, np.random.default_rng([opts.seed, 5]))
    bar = progress(k, "approach 3 (Kaplan's form) bootstrap", opts.progress)
    thetas = kaplan.bootstrap_kaplan(law, data.params, data.tokens, data.loss, counts, opts.delta, bar)
    bar.close()
    r = thetas[:, 3]
    samples = {**kaplan.terms_of(thetas), "a": 1 / (1 + r), "b": r / (1 + r)}
    ok = np.all(np.isfinite(thetas), axis=1) & np.all([np.isfinite(v) for v in samples.values()], axis=0)
    _warn_few("approach 3 (Kaplan's form)", int(ok.sum()), k, opts.level)
    samples = {name: np.where(ok, v, np.nan) for name, v in samples.items()}
    drawn = KaplanLaw.draw_optimal({name: samples[name][:, None] for name in KAPLAN_KEYS}, budgets)
    per_budget = dict(zip(("params", "tokens", "loss"), drawn, strict=True))
    out["budgets"] = _budget_rows(budgets, estimates, per_budget, opts.level)
    out["ci"] = {"level": opts.level, "resamples": k, "seed": opts.seed, "failed": int((~ok).sum()),
                 **_intervals(samples, opts.level)}
    out["draws"] = {name: samples[name][ok].tolist() for name in KAPLAN_KEYS}
    _warn_outside("approach 3 (Kaplan's form)", {name: out[name] for name in samples}, out["ci"], out["budgets"],
                  opts.level)
    _warn_unpinned("approach 3 (Kaplan's form)", out["a"], out["ci"], opts.level)
    return fitted, out, {**samples, **per_budget}


def _power_law_section(label: str, result, draw, opts: FitOptions, budgets) -> dict:
    """The JSON of Approach 1 or 2: its fit, budget rows and, where `draw()` gives bootstrap samples, intervals
    and draws (a resample fails where any of a, b or their coefficients is not finite)."""
    out = result.to_dict()
    if not all(math.isfinite(out[k]) for k in PARAMS_12):
        raise ScalingError(f"{label}: the power-law fit has a non-finite exponent or coefficient (a={out['a']:.3g}, "
                           f"b={out['b']:.3g}): the optima do not identify how N_opt and D_opt grow with C")
    samples = draw() if opts.bootstrap else None
    if samples is not None and "scatter" in samples:  # Approach 2: the budgets' scatter about the law
        out["scatter"] = samples.pop("scatter")
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
        _warn_unpinned(label, out["a"], out["ci"], opts.level)
    return out, samples


def isoflop_compute(data: FitData):
    """The C per run Approach 2 interpolates to each budget's optimum, or None where the budgets count C as the
    conventions do (they are then the power law's C)."""
    if data.budget_compute:
        return None
    return data.compute if data.compute is not None else data.flops


def _approach2(data: FitData, opts: FitOptions, budgets):
    from scaling.fitting import isoflop

    data = profile_runs(data)
    result = isoflop.fit_isoflop(data.params, data.tokens, data.flops, data.loss, budget=data.budget,
                                 budget_tol=opts.budget_tol, min_runs=opts.min_runs, window=opts.window,
                                 skew=opts.skew, compute=isoflop_compute(data))
    rng = np.random.default_rng([opts.seed, 2])
    section, samples = _power_law_section("approach 2", result, lambda: isoflop.bootstrap_isoflop(
        result, rng, opts.bootstrap, budgets), opts, budgets)
    if samples is not None and "params_opt" in samples:  # per-budget intervals, in the order of the used budgets
        from scaling.fitting.bootstrap import percentile_interval

        rows = [r for r in section["per_budget"] if r["params_opt"] is not None]
        for j, row in enumerate(rows):
            for key in ("params_opt", "tokens_opt", "loss_opt"):
                row[f"{key}_ci"] = percentile_interval(samples[key][:, j], opts.level).tolist()
        if section.get("skew") is not None:
            _skew_test(section["skew"], samples, opts.level)
    return result, section, samples


def _skew_test(skew: dict, samples: dict, level: float) -> None:
    """The profiles' shared skew (`isoflop.shared_skew`), re-estimated by each resample: where the vertices allow for
    it, its interval. Where they are plain parabolas by choice (--no-skew; not where kappa cannot be placed), the
    resamples, drawn about plain parabolas, show how far kappa strays from 0 by noise alone, and `p` is the share
    that stray as far as the fit's (two-sided); a warning where p < 1 - level and allowing for the skew would move
    N_opt by more than half the budgets' standard error (median sd of their resampled ln N_opt): a bias past that
    takes the per-budget intervals' coverage well below their level."""
    from scaling.fitting.bootstrap import percentile_interval

    if skew["applied"]:
        for key in ("params", "tokens"):
            skew[f"{key}_ci"] = percentile_interval(samples[f"skew_{key}"], level).tolist()
        return
    if skew["reason"] is not None:  # a kappa that cannot be placed has nothing to test
        return
    draws = samples["skew_params"][np.isfinite(samples["skew_params"])]
    skew["p"] = float(np.mean(np.abs(draws) >= abs(skew["params"]))) if len(draws) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a budget whose every resample failed: NaN, left out
        se = float(np.nanmedian(np.nanstd(np.log(samples["params_opt"]), axis=0)))
    if (skew["p"] is not None and skew["p"] < 1 - level and skew["shift_pct"] is not None
            and abs(math.log1p(skew["shift_pct"] / 100)) > 0.5 * se):
        warnings.warn(f"approach 2: the isoFLOP profiles are skewed (kappa = {skew['params']:+.2f} in ln N, p = "
                      f"{skew['p']:.3g} against plain parabolas): their vertices sit off the minima, and allowing "
                      f"for it (--skew) moves N_opt by {skew['shift_pct']:+.1f}%", stacklevel=3)


def _approach1(data: FitData, opts: FitOptions, budgets):
    from scaling.fitting.envelope import bootstrap_envelope, fit_envelope

    data = profile_runs(data)
    if data.curves is None:
        raise ScalingError(f"approach 1 needs loss curves and {data.source} holds one loss per run: give a results "
                           f"dir with metrics.jsonl, or a long-format CSV (one row per logged point) with a run "
                           f"column (--run-col)")
    result = fit_envelope(data.curves)
    rng = np.random.default_rng([opts.seed, 1])
    section, samples = _power_law_section("approach 1", result, lambda: bootstrap_envelope(
        result, rng, opts.bootstrap, budgets), opts, budgets)
    return result, section, samples


def fit_options(options: FitOptions | None = None, **option_values) -> FitOptions:
    """FitOptions from a FitOptions or its fields by keyword (not both); unknown names refused in one line."""
    known = {f.name for f in fields(FitOptions)}
    unknown = sorted(set(option_values) - known)
    if unknown:
        raise ScalingError(f"unknown fit option(s) {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    if options is not None and option_values:
        raise ScalingError("give fit options either as a FitOptions or by keyword, not both")
    return options or FitOptions(**option_values)


def prepare(source, opts: FitOptions, **columns) -> FitData:
    """The data a fit reads: `source` read (`data.read_fit_data`), under the options' conventions, without exact
    duplicates."""
    from scaling.fitting.data import apply_conventions

    return drop_duplicates(apply_conventions(read_fit_data(source, **columns), opts.compute, opts.params))


def fit(source, *, approach: str | int = "3", budgets=(), drop_highest_loss: int = 0,
        options: FitOptions | None = None, params_col: str = "params", tokens_col: str = "tokens",
        flops_col: str = "flops", loss_col: str = "loss", run_col: str = "run", budget_col: str = "budget",
        holdout_budget=None, **option_values) -> FitResult:
    """Fit `source` (a CSV path, a results dir or a DataFrame) by the approach(es) asked ("1", "2", "3" or
    "all"); N_opt, D_opt (and Approach 3's loss) with intervals at `budgets`. Options come as a FitOptions or
    as its fields by keyword (`bootstrap=1000, seed=0, ...`); the `*_col` arguments name a table's columns.
    `holdout_budget` (a budget's FLOPs, or "largest") adds a backtest (`scaling.fitting.backtest`)."""
    from scaling.allocation import check_budget

    approach = str(approach)
    if approach not in APPROACHES:
        raise ScalingError(f"unknown approach {approach!r}: choose 1, 2, 3 or all")
    opts = fit_options(options, **option_values)
    if opts.min_tokens_per_param is not None and approach in ("1", "2"):
        raise ScalingError("--min-tokens-per-param chooses Approach 3's runs: ask for --approach 3 or all")
    budgets = [check_budget(c, "every --budgets value") for c in budgets]
    if holdout_budget is not None:
        if approach == "1":
            raise ScalingError("the backtest (--holdout-budget) predicts by Approaches 2 and 3: ask for "
                               "--approach 2, 3 or all")
        if holdout_budget != "largest":
            holdout_budget = check_budget(holdout_budget, "--holdout-budget")
    columns = {"params_col": params_col, "tokens_col": tokens_col, "flops_col": flops_col, "loss_col": loss_col,
               "run_col": run_col, "budget_col": budget_col}
    data = prepare(source, opts, **columns)
    if approach != "1" and data.rows_read is not None and data.rows_read > len(data):
        warnings.warn(f"{data.source}: the {data.rows_read} rows are loss curves of {len(data)} runs (column "
                      f"{data.run_col!r}): the final-loss fits use each run's last point (most tokens), "
                      f"{len(data)} points; --run-col names another column if the rows are separate runs",
                      stacklevel=2)
    data = drop_highest_losses(data, drop_highest_loss)
    warn_isolated(data)
    _warn_extrapolation(data, budgets)

    payload = {"approach": approach, "source": data.source, "n_points": len(data),
               "dropped_highest_loss": data.dropped, "data_range": data_range(data), "conventions": data.conventions}
    if data.selection is not None:
        payload["runs"] = data.selection
    fits, failed = {}, {}
    runners = {"3": _approach3, "2": _approach2, "1": _approach1}
    for name in ("3", "2", "1"):
        if approach not in (name, "all"):
            continue
        try:
            try:
                with np.errstate(all="ignore"):  # the fits test for non-finite values themselves
                    fits[name], section, _ = runners[name](data, opts, budgets)
            except NUMERIC_FAILURES as err:
                raise ScalingError(f"approach {name}: the fit broke down numerically ({type(err).__name__}: "
                                   f"{str(err).strip() or 'no detail'}) on {len(data)} points: the data do not "
                                   f"support it; check them for repeated or degenerate rows") from None
        except ScalingError as err:
            if approach != "all":
                raise
            failed[name] = err
            continue
        if name == "3":
            payload.update(section)
        else:
            payload[f"approach{name}"] = section
    if not fits:  # one error that says why each failed (an error's line is all the command line shows)
        raise ScalingError(f"no approach could fit {data.source}: "
                           + "; ".join(str(why) if str(why).startswith(f"approach {n}") else f"approach {n}: {why}"
                                       for n, why in failed.items()))
    for name, why in failed.items():
        warnings.warn(f"approach {name} skipped: {why}", stacklevel=2)
    if data.conventions != PLANNER_CONVENTIONS and set(fits) & {"2", "3"}:
        warnings.warn(f"fitted with N = {data.conventions['params']} parameters and C = "
                      f"{data.conventions['compute']} FLOPs: `scaling plan` counts N with embeddings and C = 6ND, so "
                      f"the laws in this fit are for comparison, not for planning", stacklevel=2)
    if holdout_budget is not None:
        from scaling.fitting.backtest import backtest

        held = None if holdout_budget == "largest" else holdout_budget
        payload["backtest"] = backtest(profile_runs(data), data, opts, held,
                                       approaches=[("3k" if x == "3" and opts.form == "kaplan" else x)
                                                   for x in ("2", "3") if approach in (x, "all")])
    return FitResult(data, json_ready(payload), fits.get("3"))


def data_range(data: FitData) -> dict:
    """[min, max] of the params, tokens, flops and loss fitted, and the vocabulary size where it is one."""
    flops = data.flops if data.compute is None else data.compute  # C under the conventions
    out = {k: [float(np.min(v)), float(np.max(v))] for k, v in (("params", data.params), ("tokens", data.tokens),
                                                                 ("flops", flops), ("loss", data.loss))}
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
