"""Approach 1 of Hoffmann et al. 2022 (Section 3.1): the envelope of training curves.

Every run's loss curve is read as a function of the FLOPs spent so far. At each FLOP value C the envelope is
the lowest loss any run reached there; the run that reached it gives N_opt(C) (its size) and D_opt(C) (its
tokens at C). Then N_opt ~ C^a and D_opt ~ C^b by least squares in log space over the envelope (`power_law`).
The paper reports a = b = 0.50.

The FLOP values are `points` (default 200) log-spaced from the smallest to the largest final FLOPs of the runs
(below the first run's end every point is mid-schedule). A run's loss and tokens between its logged points
are interpolated linearly in log-log; a run does not exist beyond its last point. Where the lowest curve at C
belongs to the smallest or the largest model that reaches C, the optimum is not bracketed (it may lie beyond
the sizes tried, as at the top of every sweep) and that C is left out of the power-law fit. The bootstrap
resamples whole runs (points along one curve are not independent).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from scaling.errors import ScalingError
from scaling.fitting.power_law import OptimalScaling, PowerLaw, fit_power_law

# The envelope's FLOP range must span at least this factor for a slope in log C to mean anything (runs of one
# budget end within a few per cent of it, where the fitted a is noise: 0.000 on a real sweep's one budget).
MIN_SPAN = 2.0


@dataclass(frozen=True)
class EnvelopeFit(OptimalScaling):
    params_law: PowerLaw
    tokens_law: PowerLaw
    n_runs: int
    flops_range: tuple[float, float]
    run_params: np.ndarray  # (R,) size of each run
    grid: np.ndarray  # (G,) FLOP values of the envelope
    run_loss: np.ndarray  # (R, G) each run's loss at each FLOP value, inf where the run does not reach it
    run_tokens: np.ndarray  # (R, G)
    points_used: int  # grid points whose optimum is bracketed

    def to_dict(self) -> dict:
        return {**self.laws_dict(), "n_runs": self.n_runs, "envelope_points": self.points_used,
                "flops_range": list(self.flops_range)}


def _curves_on_grid(curves, points: int):
    """Per-run params, the FLOP grid, and each run's loss and tokens interpolated onto it (inf/NaN outside)."""
    runs = [(name, run.sort_values("flops")) for name, run in curves.groupby("run", sort=True)]
    runs = [(name, run) for name, run in runs if len(run) >= 2]
    if len(runs) < 2:
        raise ScalingError(f"approach 1 needs loss curves of two or more runs with two or more points each; got "
                           f"{len(runs)}: give a results dir with metrics.jsonl, or a long-format CSV with one row "
                           f"per logged point and a run column (--run-col)")
    sizes = np.unique([run["params"].iloc[0] for _, run in runs])
    if len(sizes) < 3:
        raise ScalingError(f"approach 1 cannot identify a: the {len(runs)} runs have {len(sizes)} distinct size(s) "
                           f"and an optimum bracketed by a smaller and a larger model needs 3 or more: add runs of "
                           f"other sizes")
    finals = np.array([run["flops"].iloc[-1] for _, run in runs])
    lo, hi = finals.min(), finals.max()
    if hi < MIN_SPAN * lo:  # one budget's runs end within rounding of each other: no slope to read
        raise ScalingError(f"approach 1 needs runs whose final FLOPs span a factor of {MIN_SPAN:g} or more; these "
                           f"end between {lo:.3g} and {hi:.3g}: add runs with other budgets")
    grid = np.geomspace(lo, hi, points)
    loss = np.full((len(runs), points), np.inf)
    tokens = np.full((len(runs), points), np.nan)
    for i, (_, run) in enumerate(runs):
        logc = np.log(run["flops"].to_numpy(dtype=float))
        inside = (grid >= run["flops"].iloc[0]) & (grid <= run["flops"].iloc[-1])
        loss[i, inside] = np.exp(np.interp(np.log(grid[inside]), logc, np.log(run["loss"].to_numpy(dtype=float))))
        tokens[i, inside] = np.exp(np.interp(np.log(grid[inside]), logc,
                                             np.log(run["tokens"].to_numpy(dtype=float))))
    params = np.array([run["params"].iloc[0] for _, run in runs], dtype=float)
    return params, grid, loss, tokens


def _envelope(run_loss, run_tokens, params, present) -> tuple[np.ndarray, np.ndarray]:
    """N and D of the lowest curve at each grid point, for each row of `present` (K x R booleans). NaN where
    fewer than two runs reach that FLOP value, or where the lowest is the smallest or largest model there (the
    optimum is not bracketed)."""
    masked = np.where(present[:, :, None], run_loss[None, :, :], np.inf)
    best = masked.argmin(axis=1)
    reach = np.isfinite(masked)
    sizes = np.where(reach, params[None, :, None], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no run reaches that FLOP value
        smallest, largest = np.nanmin(sizes, axis=1), np.nanmax(sizes, axis=1)
    n = params[best]
    inside = (reach.sum(axis=1) >= 2) & (n > smallest) & (n < largest)
    d = run_tokens[best, np.arange(run_loss.shape[1])[None, :]]
    return np.where(inside, n, np.nan), np.where(inside, d, np.nan)


def fit_envelope(curves, *, points: int = 200) -> EnvelopeFit:
    """Approach 1 from `curves`, a DataFrame with columns run, params, tokens, flops, loss (one row per logged
    point; see the module docstring)."""
    params, grid, loss, tokens = _curves_on_grid(curves, points)
    n, d = _envelope(loss, tokens, params, np.ones((1, len(params)), dtype=bool))
    if np.isfinite(n[0]).sum() < 2:
        raise ScalingError("approach 1: the lowest curve is at the smallest or largest model at every FLOP value, "
                           "so no optimum is bracketed: add runs smaller and larger than the best one")
    return EnvelopeFit(fit_power_law(grid, n[0]), fit_power_law(grid, d[0]), len(params),
                       (float(grid[0]), float(grid[-1])), params, grid, loss, tokens, int(np.isfinite(n[0]).sum()))


def bootstrap_envelope(fit: EnvelopeFit, rng: np.random.Generator, resamples: int, flops_at=(),
                       chunk: int = 200) -> dict:
    """Resample runs with replacement, redraw the envelope, refit the power laws; per-resample samples of a, b, the
    coefficients and N_opt, D_opt at `flops_at`."""
    from scaling.fitting.bootstrap import resample_counts

    present = resample_counts(fit.n_runs, resamples, rng) > 0
    n = np.empty((resamples, len(fit.grid)))
    d = np.empty_like(n)
    for start in range(0, resamples, chunk):
        n[start:start + chunk], d[start:start + chunk] = _envelope(fit.run_loss, fit.run_tokens, fit.run_params,
                                                                   present[start:start + chunk])
    p_law, t_law = fit_power_law(fit.grid, n), fit_power_law(fit.grid, d)
    return {"a": p_law.exponent, "b": t_law.exponent, "params_coefficient": p_law.coefficient,
            "tokens_coefficient": t_law.coefficient, "params": p_law(flops_at), "tokens": t_law(flops_at)}
