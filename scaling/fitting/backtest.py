"""The backtest a lab runs before a large run: hold out one isoFLOP budget (default the largest), fit on the
others, predict the held-out budget's compute-optimal N and its minimum loss, and see whether what was observed
there falls inside the predictions' intervals.

- Observed at the held-out budget: Approach 2's windowed parabola on that budget (`isoflop`): its vertex N_opt
  (with the residual bootstrap's interval, the noise pooled over every budget), and the loss of its best run
  (the mean over that size's seeds).
- Predicted from the other budgets: Approach 2 (N_opt = k C^a; the minimum loss by L_min = E' + k C^-g through
  the fitted budgets' parabola minima, the form Chinchilla's law takes along its optimum: see `power_law`; its
  intervals hold the fitted budgets' scatter about those laws, `scatter`, once more for the new budget), and
  Approach 3 fitted on its runs (every run, unless its options choose some) not at the held-out budget (N_opt by
  its closed form under the conventions, the loss its L(N_opt, D_opt)); each with its bootstrap interval, at the
  held-out budget's C.
- Agreement (`within`): the observation and the prediction are both uncertain and independent (disjoint data),
  so their bootstrap draws are paired at random and a prediction agrees where the `level` interval of the
  difference covers 0: log N_opt predicted minus log N_opt observed; for the loss, the predicted minimum minus
  (the best run's loss + a noise draw N(0, sigma^2 / seeds), sigma the parabolas' pooled residual sd: one run's
  loss scatters about the law by that much). `within_interval`: every prediction agrees (null without a
  bootstrap). `loss_error_pct`, `params_error_pct`: 100 (predicted - observed) / observed.
- Rolled forward (`rolling`): the same for every budget with enough budgets below it, each fitted on those
  below alone, so that one forecast's error is not taken for the typical one.

Warnings of the refits on the smaller data are kept in the section's `warnings`, not raised again.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from scaling.errors import ScalingError, first_line
from scaling.fitting.data import FitData
from scaling.fitting.options import FitOptions

CURVE_POINTS = 24  # C values of the predicted curves drawn in backtest.png


class NoMinimum(ScalingError):
    """The held-out budget's profile has no parabola minimum: nothing observed to compare a prediction with."""


def isoflop_budgets(data: FitData, opts: FitOptions) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(label per run, C per label, the labels with an isoFLOP profile: min_runs runs of 3 or more sizes)."""
    from scaling.fitting.isoflop import budget_groups, is_profile

    labels, centres = budget_groups(data.flops, data.budget, opts.budget_tol)
    profiled = [g for g in range(len(centres)) if is_profile(data.params[labels == g], opts.min_runs)]
    return labels, centres, profiled


def _held_out(centres, profiled: list[int], holdout, tol: float) -> int:
    """The label of the budget held out: the largest profiled one, or the one within `tol` dex of `holdout`."""
    if holdout is None:
        return max(profiled, key=lambda g: centres[g])
    distance = {g: abs(math.log10(centres[g] / holdout)) for g in profiled}
    nearest = min(distance, key=distance.get)
    if distance[nearest] > max(tol, 1e-9):
        listed = ", ".join(f"{centres[g]:.3g}" for g in sorted(profiled, key=lambda g: centres[g]))
        raise ScalingError(f"--holdout-budget {holdout:.3g} is not one of the isoFLOP budgets ({listed} FLOPs): "
                           f"hold out one of those")
    return nearest


def _interval(values, level: float) -> list[float]:
    from scaling.fitting.bootstrap import percentile_interval

    return percentile_interval(values, level).tolist()


def _agrees(error, level: float) -> bool | None:
    """Whether the `level` interval of the paired differences covers 0 (None with too few finite draws)."""
    error = np.asarray(error, dtype=float)
    error = error[np.isfinite(error)]
    if len(error) < 2:
        return None
    lo, hi = _interval(error, level)
    return bool(lo <= 0.0 <= hi)


def _section(quantities: dict, draws: dict | None, level: float) -> dict:
    """{"params_opt", "tokens_opt", "loss", and their _ci where there are draws}."""
    out = {k: float(v) for k, v in quantities.items()}
    if draws is not None:
        out.update({f"{k}_ci": _interval(draws[k], level) for k in quantities})
    return out


def _curve(values: dict, draws: dict | None, level: float) -> dict:
    out = {k: np.asarray(v, dtype=float).tolist() for k, v in values.items()}
    if draws is not None:
        for k in values:
            lo, hi = _interval(draws[k], level)
            out[f"{k}_ci"] = [np.asarray(lo).tolist(), np.asarray(hi).tolist()]
    return out


def _observe(iso: FitData, opts: FitOptions, labels, held: int, c_held: float):
    """Approach 2 on every budget: the held-out budget's row, its column among the used budgets, the fit, and
    the bootstrap's draws (None without a bootstrap), the same stream as `fit`'s Approach 2, so the same
    intervals."""
    from scaling.fitting import isoflop
    from scaling.fitting.api import isoflop_compute

    full = isoflop.fit_isoflop(iso.params, iso.tokens, iso.flops, iso.loss, budget=iso.budget,
                               budget_tol=opts.budget_tol, min_runs=opts.min_runs, window=opts.window,
                               skew=opts.skew, compute=isoflop_compute(iso))
    used = [r for r in full.per_budget if r["params_opt"] is not None]
    column = next((j for j, r in enumerate(used) if math.isclose(r["flops"], c_held, rel_tol=1e-12)), None)
    if column is None:
        raise NoMinimum(f"the held-out budget {c_held:.3g} FLOPs has no parabola minimum to compare with: hold "
                           f"out another budget")
    draws = isoflop.bootstrap_isoflop(full, np.random.default_rng([opts.seed, 2]), opts.bootstrap) \
        if opts.bootstrap else None
    return used[column], column, full, draws


def _predict2(train, opts: FitOptions, at):
    """Approach 2's N_opt, D_opt and minimum loss at `at` from the fit on the other budgets, their draws (which
    hold a new budget's scatter about the law: `isoflop.bootstrap_isoflop`) and the fitted budgets' scatter."""
    from scaling.fitting import isoflop

    draws = isoflop.bootstrap_isoflop(train, np.random.default_rng([opts.seed, 2]), opts.bootstrap, at) \
        if opts.bootstrap else None
    values = {"params_opt": train.params_law(at), "tokens_opt": train.tokens_law(at),
              "loss": train.loss_law(at)}
    if draws is None:
        return values, None, None
    return values, {"params_opt": draws["params"], "tokens_opt": draws["tokens"], "loss": draws["loss_min"]}, \
        draws["scatter"]


def _without(law_data: FitData, opts: FitOptions, c_held: float) -> FitData:
    """Every run but those at the held-out budget (all of them where no budget lies within budget_tol of it)."""
    labels, centres, _ = isoflop_budgets(law_data, opts)
    distance = np.abs(np.log10(centres / c_held))
    keep = np.ones(len(law_data), dtype=bool) if distance.min() > max(opts.budget_tol, 1e-9) else \
        labels != int(np.argmin(distance))
    return law_data.subset(np.flatnonzero(keep))


def _predict3(law_data: FitData, opts: FitOptions, c_held: float, at):
    """Approach 3 fitted on every run not at the held-out budget: N_opt, D_opt, L(N_opt, D_opt) at `at`, their
    draws, and no budget scatter (a law of every run has no per-budget optima)."""
    from scaling.fitting.api import _approach3

    _, section, samples = _approach3(_without(law_data, opts, c_held), opts, at)
    rows = section["budgets"]
    values = {"params_opt": np.array([r["params"] for r in rows]),
              "tokens_opt": np.array([r["tokens"] for r in rows]), "loss": np.array([r["loss"] for r in rows])}
    return values, None if samples is None else {"params_opt": samples["params"], "tokens_opt": samples["tokens"],
                                                 "loss": samples["loss"]}, None


def _predict3k(law_data: FitData, opts: FitOptions, c_held: float, at):
    """Approach 3 in Kaplan et al.'s form (`kaplan`), fitted as `_predict3` fits Chinchilla's."""
    return _predict3(law_data, replace(opts, form="kaplan"), c_held, at)


PREDICT_LAW = {"3": _predict3, "3k": _predict3k}  # the laws of every run the backtest can predict by


def _skew_placed(train_iso: FitData, opts: FitOptions) -> bool:
    """Whether Approach 2 on the fitted budgets alone allows for the profiles' skew (False where it cannot, or
    where those budgets give no fit at all: the backtest's own fit says why)."""
    from scaling.fitting import isoflop
    from scaling.fitting.api import isoflop_compute

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = isoflop.fit_isoflop(train_iso.params, train_iso.tokens, train_iso.flops, train_iso.loss,
                                      budget=train_iso.budget, budget_tol=opts.budget_tol, min_runs=opts.min_runs,
                                      window=opts.window, skew=True, compute=isoflop_compute(train_iso))
        except ScalingError:
            return False
    return bool(fit.skew and fit.skew["applied"])


def backtest(iso: FitData, law_data: FitData, opts: FitOptions, holdout=None, approaches=("2", "3")) -> dict:
    """The backtest section of the fit JSON (see the module docstring): Approach 2 reads `iso` (the isoFLOP
    runs), Approach 3 `law_data` (every run); `holdout` a budget's FLOPs (None: the largest)."""
    labels, centres, profiled = isoflop_budgets(iso, opts)
    if len(profiled) < 3:
        raise ScalingError(f"the backtest needs isoFLOP profiles (3 or more sizes) at 3 or more budgets, 2 to fit "
                           f"and 1 to hold out; these runs have {len(profiled)}")
    held = _held_out(centres, profiled, holdout, opts.budget_tol)
    c_held, level, k = float(centres[held]), opts.level, opts.bootstrap
    plain = opts.skew and not _skew_placed(iso.subset(np.flatnonzero(labels != held)), opts)
    if plain:  # the held-out budget's vertex is read as the fitted budgets' are, or the error mixes two readings
        opts = replace(opts, skew=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        row, column, full, observed_draws = _observe(iso, opts, labels, held, c_held)
    said = [] if "2" in approaches else [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
    if plain:
        said.append("approach 2: the fitted budgets cannot place the profiles' skew, so the backtest reads every "
                    "budget, the held-out one too, with plain parabolas")
    x_held = float(row["compute"])
    runs_best = int(np.sum(np.isclose(iso.params[labels == held], row["params_best"], rtol=1e-12)))
    observed = {"params_opt": row["params_opt"], "tokens_opt": row["tokens_opt"], "loss_opt": row["loss_opt"],
                "params_best": row["params_best"], "loss_best": row["loss_best"], "runs_best": runs_best,
                "noise_sd": full.noise_sd}
    loss_draws = None
    if observed_draws is not None:
        observed["params_opt_ci"] = _interval(observed_draws["params_opt"][:, column], level)
        loss_draws = row["loss_best"] + full.noise_sd / math.sqrt(runs_best) * \
            np.random.default_rng([opts.seed, 6]).standard_normal(k)
    predicted, curves, draws, fitted, scatter = {}, {}, {}, [], None
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        from scaling.fitting import isoflop
        from scaling.fitting.api import isoflop_compute

        train_iso = iso.subset(np.flatnonzero(labels != held))
        train = isoflop.fit_isoflop(train_iso.params, train_iso.tokens, train_iso.flops, train_iso.loss,
                                    budget=train_iso.budget, budget_tol=opts.budget_tol, min_runs=opts.min_runs,
                                    window=opts.window, skew=opts.skew,
                                    compute=isoflop_compute(train_iso))
        fitted = [{key: r[key] for key in ("flops", "compute", "params_opt", "tokens_opt", "loss_opt", "loss_best")}
                  for r in train.per_budget if r["params_opt"] is not None]
        grid = np.geomspace(min(train.budgets.min(), x_held) / 1.5, max(train.budgets.max(), x_held) * 1.5,
                            CURVE_POINTS)
        at = np.concatenate([[x_held], grid])
        curves["flops"] = grid.tolist()
        for name in approaches:
            try:
                values, d, spread = _predict2(train, opts, at) if name == "2" else \
                    PREDICT_LAW[name](law_data, opts, c_held, at)
            except ScalingError as err:
                said.append(f"approach {name} not backtested: {err}")
                continue
            scatter = spread if spread is not None else scatter
            predicted[f"approach{name}"], draws[f"approach{name}"] = _prediction(values, d, level)
            curves[f"approach{name}"] = _curve({q: v[1:] for q, v in values.items() if q != "tokens_opt"},
                                               None if d is None else {q: np.asarray(v)[:, 1:] for q, v in d.items()
                                                                       if q != "tokens_opt"}, level)
    said += [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
    within, loss_error, params_error = {}, {}, {}
    for name, pred in predicted.items():
        loss_error[name] = 100.0 * (pred["loss"] - row["loss_best"]) / row["loss_best"]
        params_error[name] = 100.0 * (pred["params_opt"] - row["params_opt"]) / row["params_opt"]
        if draws[name] is None or observed_draws is None:
            within[name] = None
            continue
        within[name] = {"params_opt": _agrees(np.log(draws[name]["params_opt"])
                                              - np.log(observed_draws["params_opt"][:, column]), level),
                        "loss": _agrees(draws[name]["loss"] - loss_draws, level)}
    verdicts = [v for w in within.values() if w for v in w.values()]
    return {"holdout_flops": c_held, "holdout_compute": x_held, "fitted_budgets": [r["flops"] for r in fitted],
            "level": level, "resamples": k, "observed": observed, "predicted": predicted, "within": within,
            "within_interval": None if not verdicts or None in verdicts else all(verdicts),
            "loss_error_pct": loss_error, "params_error_pct": params_error, "fitted": fitted, "curves": curves,
            "scatter": scatter, "warnings": said}


def _prediction(values: dict, draws: dict | None, level: float) -> tuple[dict, dict | None]:
    """The prediction at the held-out budget (column 0) with intervals, and its draws there."""
    at_held = {q: v[0] for q, v in values.items()}
    held_draws = None if draws is None else {q: np.asarray(v)[:, 0] for q, v in draws.items()}
    return _section(at_held, held_draws, level), held_draws


ROLLING_MIN_FITTED = 4  # budgets with a minimum below a forecast one: the saturating loss law keeps a degree of freedom


def rolling(iso: FitData, opts: FitOptions, min_fitted: int = ROLLING_MIN_FITTED) -> dict:
    """Approach 2's backtest repeated forward in compute ("rolling origin", as forecasts are judged): each
    isoFLOP budget with `min_fitted` or more budgets below it whose parabolas have a minimum is predicted from
    those below it alone (never from larger budgets), and compared with what its runs show. One held-out budget
    is one draw of the forecast error; several give its typical size and whether it leans one way. Every row
    resamples with the same bootstrap stream (`backtest`'s), so the rows' intervals are not independent draws.

    Returns {"min_fitted", "rows": one per forecast budget (holdout_flops, n_fitted, observed, predicted,
    params_error_pct, loss_error_pct, within), "skipped": [{"holdout_flops", "reason"}] for budgets that could
    not be forecast (no minimum of their own, too few below, no finite prediction), "agree": {"params_opt":
    [k, n], "loss": [k, n]} (None unless every row has a verdict), "loss_error_pct": {"mean", "mean_abs",
    "max_abs"}}; ScalingError where no budget can be forecast."""
    if not (isinstance(min_fitted, int) and min_fitted >= 3):
        raise ScalingError(f"a rolling backtest needs at least 3 fitted budgets per forecast, got {min_fitted!r}")
    labels, centres, profiled = isoflop_budgets(iso, opts)
    order = sorted(profiled, key=lambda g: centres[g])
    if len(order) <= min_fitted:
        raise ScalingError(f"a rolling backtest forecasts each budget from {min_fitted} or more below it; these "
                           f"runs have isoFLOP profiles at {len(order)} budgets: add budgets")
    rows, skipped = [], []
    for g in order[min_fitted:]:
        c = float(centres[g])
        below = iso.subset(np.flatnonzero(centres[labels] <= centres[g]))
        try:
            bt = backtest(below, below, opts, holdout=c, approaches=("2",))
        except NoMinimum:
            skipped.append({"holdout_flops": c, "reason": "its own profile has no parabola minimum"})
            continue
        except ScalingError as err:  # the budgets below cannot be fitted
            skipped.append({"holdout_flops": c, "reason": first_line(err)})
            continue
        pred = bt["predicted"].get("approach2")
        if len(bt["fitted_budgets"]) < min_fitted:
            skipped.append({"holdout_flops": c, "reason": f"only {len(bt['fitted_budgets'])} budgets below it have "
                                                          f"a parabola minimum"})
        elif pred is None or not all(math.isfinite(pred[q]) for q in ("params_opt", "loss")):
            skipped.append({"holdout_flops": c, "reason": "Approach 2 gave no finite prediction from the budgets "
                                                          "below it"})
        else:
            rows.append({"holdout_flops": bt["holdout_flops"], "n_fitted": len(bt["fitted_budgets"]),
                         "observed": bt["observed"], "predicted": pred,
                         "params_error_pct": bt["params_error_pct"]["approach2"],
                         "loss_error_pct": bt["loss_error_pct"]["approach2"], "within": bt["within"]["approach2"]})
    if not rows:
        reasons = "; ".join(f"{s['holdout_flops']:.3g}: {s['reason']}" for s in skipped)
        raise ScalingError(f"a rolling backtest could forecast no budget ({reasons})")
    errors = np.array([r["loss_error_pct"] for r in rows])
    agree = None  # counted only where every forecast has a verdict
    if all(r["within"] and None not in r["within"].values() for r in rows):
        agree = {q: [sum(bool(r["within"][q]) for r in rows), len(rows)] for q in ("params_opt", "loss")}
    return {"min_fitted": min_fitted, "rows": rows, "skipped": skipped, "agree": agree,
            "loss_error_pct": {"mean": float(errors.mean()), "mean_abs": float(np.abs(errors).mean()),
                               "max_abs": float(np.abs(errors).max())}}
