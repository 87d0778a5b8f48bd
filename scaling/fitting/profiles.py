"""Does Approach 3's law reproduce Approach 2's isoFLOP profiles? Where the two approaches' exponents differ,
this says where the law's form parts from the data.

Along an isoFLOP line (D = C / 6N, x = ln N) the law L = E + A/N^alpha + B/D^beta has the curvature
L'' = alpha^2 A N^-alpha + beta^2 B D^-beta; at its optimum, where alpha A N^-alpha = beta B D^-beta (Hoffmann et
al. 2022, Eq. 4), L'' = alpha beta (L_opt - E). So in that form a profile's sharpness falls in step with the
reducible loss as C grows, by the same factor at every budget: a sweep whose profiles stay sharp while the loss
falls (or flatten while it does not) is one the form cannot follow, and its a then trades the profiles' widths
against their depths.

Per budget, on the runs of Approach 2's window (`isoflop.window_runs`): the parabola's curvature d^2L/d(ln N)^2
(twice its quadratic coefficient), with a `level` interval from Approach 2's residual bootstrap (the same pooled
residuals as `isoflop.bootstrap_isoflop`); and the same parabola fitted to the law's losses at the same runs' (N,
D), so that both are read alike, whatever the window's span and skew (a window need not hold the law's own
optimum, so the law's curvature there is not alpha beta (L_opt - E) exactly); and the law's loss at the
parabola's vertex. C is the budget (under another compute convention too).
Over the budgets, the rate curvature ~ C^k of each (least squares in logs, unweighted), the observed rate with an
interval from the same draws (a draw in which a parabola opens downwards has no rate and is left out). The
verdict is the rates': the law agrees where its rate lies inside the observed interval. On sweeps drawn from a
known law (6 budgets x 7 sizes, 60 seeds at each of 0.5% and 0.2% noise) the 95% interval held the true rate 55
and 53 times in 60, a little under 95%: the bootstrap keeps each window where the data put it, while noise also
moves the window. (Weighting each budget by the precision of its draws held it 52 times in 60 at each noise, so
it was not used.) The per-budget verdicts are descriptive, their intervals a little narrow for the same reason
and because each window has 2 residual degrees of freedom: they held the true law's curvature at 54 of 60
budgets. Fewer than `min_resamples` draws in which every profile opens upwards give no interval of the rate.

The check rejects a fitted law, not the form: on the reference sweep the law fitted on every run flattens faster
than the profiles, while the same form fitted on Approach 2's windows (the report checks both) flattens at their
rate; both are flatter than the profiles at 6 of its 7 budgets.
"""

from __future__ import annotations

import numpy as np

from scaling.errors import ScalingError
from scaling.fitting.data import FitData
from scaling.fitting.options import FitOptions


def parabola_curvature(x, ys) -> np.ndarray:
    """d^2y/dx^2 of the least-squares parabola through (x, each row of `ys`): twice its quadratic coefficient."""
    from scaling.fitting.isoflop import parabola_fit

    _, spread, coef = parabola_fit(x, ys)
    return 2 * coef[:, 2] / spread**2


def _slope(x, logs) -> np.ndarray:
    """Least-squares slope of `logs` (budgets, or K x budgets: one slope per row) on x; NaN where a row holds NaN."""
    xc = x - x.mean()
    return (logs - logs.mean(axis=-1, keepdims=True)) @ xc / (xc @ xc)


def _log(values) -> np.ndarray:
    """ln of the positive values, NaN elsewhere (a parabola opening downwards has no rate)."""
    values = np.asarray(values, dtype=float)
    return np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)


def profile_check(iso: FitData, laws: dict, opts: FitOptions) -> dict:
    """The check of the module docstring on the isoFLOP runs `iso`, for each law of `laws` (name -> ParametricLaw,
    under the same conventions as `iso`). Returns {"level", "resamples", "draws_used", "note", "no_minimum",
    "budgets": [{"flops", "n_window", "curvature", "curvature_ci", "loss_opt"}], "trend": {"observed",
    "observed_ci"}, "laws": {name: {"budgets": [{"curvature", "agrees", "loss_at_opt"}], "trend", "agrees",
    "agree", "tested"}}}. `note` says why there are no intervals (no bootstrap, no residual degrees of freedom, too
    few draws with every profile opening upwards); without them there are no verdicts."""
    from scaling.fitting import isoflop
    from scaling.fitting.api import isoflop_compute
    from scaling.fitting.bootstrap import percentile_interval
    from scaling.fitting.options import min_resamples

    fit = isoflop.fit_isoflop(iso.params, iso.tokens, iso.flops, iso.loss, budget=iso.budget,
                              budget_tol=opts.budget_tol, min_runs=opts.min_runs, window=opts.window,
                              skew=False, compute=isoflop_compute(iso))
    pool = isoflop.residual_pool(fit)
    note = None if opts.bootstrap else "no bootstrap"
    if opts.bootstrap and not len(pool):
        note = "no residual degrees of freedom to draw from (every window holds 3 runs of 3 sizes)"
    resamples = opts.bootstrap if note is None else 0
    rng = np.random.default_rng([opts.seed, 4])
    rows = [r for r in fit.per_budget if r["params_opt"] is not None]
    out, draws = [], np.empty((resamples, len(rows)))
    for j, (row, p) in enumerate(zip(rows, fit.profiles, strict=True)):
        entry = {"flops": p.flops, "n_window": len(p.members), "curvature_ci": None, "loss_opt": row["loss_opt"],
                 "curvature": float(parabola_curvature(p.log_n, p.loss)[0])}
        if resamples:
            draws[:, j] = parabola_curvature(p.log_n, p.fitted + rng.choice(pool, size=(resamples, len(p.members))))
            entry["curvature_ci"] = [float(v) for v in percentile_interval(draws[:, j], opts.level)]
        out.append(entry)
    x = np.log([e["flops"] for e in out])
    observed = _log([e["curvature"] for e in out])
    trend = {"observed": float(_slope(x, observed)) if len(out) >= 2 and np.all(np.isfinite(observed)) else None,
             "observed_ci": None}
    used = 0
    if resamples and trend["observed"] is not None:
        slopes = _slope(x, _log(draws))
        used = int(np.isfinite(slopes).sum())
        if used < min_resamples(opts.level):
            note = (f"only {used} of {resamples} draws have every profile opening upwards, too few for a "
                    f"{opts.level * 100:g}% interval of the rate")
        else:
            trend["observed_ci"] = [float(v) for v in percentile_interval(slopes, opts.level)]
    checked = {name: _law_check(law, fit.profiles, rows, out, x, trend) for name, law in laws.items()}
    return {"level": opts.level, "resamples": resamples, "draws_used": used, "note": note,
            "no_minimum": [r["flops"] for r in fit.per_budget if r["params_opt"] is None],
            "budgets": out, "trend": trend, "laws": checked}


def _law_check(law, profiles, rows, observed: list[dict], x, trend: dict) -> dict:
    """One law against the profiles: its curvature on each window's runs (inside that budget's interval?), its
    loss at each vertex, and its rate (inside the profiles' interval?)."""
    budgets = []
    for p, row, seen in zip(profiles, rows, observed, strict=True):
        predicted = np.asarray(law.loss(np.exp(p.log_n), np.exp(p.log_d)), dtype=float)
        if not np.all(np.isfinite(predicted)):
            raise ScalingError(f"the law has no finite loss at the runs of budget {p.flops:.3g} FLOPs")
        curvature = float(parabola_curvature(p.log_n, predicted)[0])
        ci = seen["curvature_ci"]
        budgets.append({"curvature": curvature, "agrees": None if ci is None else bool(ci[0] <= curvature <= ci[1]),
                        "loss_at_opt": float(law.loss(row["params_opt"], row["tokens_opt"]))})
    logs = _log([b["curvature"] for b in budgets])
    rate = float(_slope(x, logs)) if len(budgets) >= 2 and np.all(np.isfinite(logs)) else None
    ci = trend["observed_ci"]
    verdicts = [b["agrees"] for b in budgets if b["agrees"] is not None]
    return {"budgets": budgets, "trend": rate,
            "agrees": None if ci is None or rate is None else bool(ci[0] <= rate <= ci[1]),
            "agree": sum(verdicts) if verdicts else None, "tested": len(verdicts)}
