"""Approach 2 of Hoffmann et al. 2022 (Section 3.2): isoFLOP profiles.

For each FLOP budget C, fit a parabola to the final losses as a function of log N; its vertex is N_opt(C) and
its value there the best loss at C. The same in log D gives D_opt(C). Then N_opt ~ C^a and D_opt ~ C^b by least
squares in log space (`scaling.fitting.power_law`). The paper reports a = 0.49, b = 0.51.

Budgets: an exact budget per run where the data carry one (the harness's `budget.flops`, or `--budget-col`).
Otherwise runs are grouped by FLOPs C = 6ND: sorted by log10 C, a new group starts wherever two neighbours
differ by more than `budget_tol` dex (default 0.02, i.e. 4.7%), so each group holds runs of one nominal budget
(the digitised Chinchilla points scatter by ~0.01 dex around theirs); a group's C is the geometric mean of its
runs' FLOPs. Budgets with fewer than `min_runs` runs (default 3, the fewest a parabola needs; at least 3
distinct sizes in any case) are left out, with one warning that lists them.

A budget whose parabola opens downwards (or is flat) has no minimum and is left out; one whose vertex lies
outside the sizes tried (the minimum is not bracketed, an extrapolation) is kept; both warn, naming the budget.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from scaling.errors import ScalingError
from scaling.fitting.power_law import OptimalScaling, PowerLaw, fit_power_law


def budget_groups(flops, budget=None, tol_dex: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """(label per run, C per label): exact budgets when given, else FLOPs clustered within `tol_dex`."""
    if budget is not None:
        values, labels = np.unique(np.asarray(budget, dtype=float), return_inverse=True)
        return labels, values
    if not (math.isfinite(tol_dex) and tol_dex >= 0):
        raise ScalingError(f"the budget tolerance must be a non-negative number of decades, got {tol_dex!r}")
    logc = np.log10(np.asarray(flops, dtype=float))
    order = np.argsort(logc, kind="stable")
    starts = np.concatenate([[True], np.diff(logc[order]) > tol_dex])
    labels = np.empty(len(logc), dtype=int)
    labels[order] = np.cumsum(starts) - 1
    centres = np.array([10 ** logc[labels == g].mean() for g in range(labels.max() + 1)])
    return labels, centres


def parabola_vertices(x, y, counts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares parabolas y ~ c0 + c1 x + c2 x^2, one per row of `counts` (K x m multiplicities).
    Returns (x at the vertex, y there, c2); NaN vertex where c2 <= 0 or fewer than 3 distinct x carry weight."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    centre, spread = x.mean(), x.std() or 1.0
    z = (x - centre) / spread  # conditioning: the normal equations hold sums of z^4
    powers = np.stack([z**j for j in range(5)], axis=1)
    moments = counts @ powers
    normal = moments[:, [[0, 1, 2], [1, 2, 3], [2, 3, 4]]]
    rhs = counts @ (powers[:, :3] * y[:, None])
    distinct = np.unique(x, return_inverse=True)[1]
    enough = ((counts @ np.eye(distinct.max() + 1)[distinct]) > 0).sum(axis=1) >= 3
    coef = np.full((len(counts), 3), np.nan)
    if enough.any():
        coef[enough] = np.linalg.solve(normal[enough], rhs[enough][:, :, None])[:, :, 0]
    c0, c1, c2 = coef.T
    with np.errstate(invalid="ignore", divide="ignore"):
        zv = np.where(c2 > 0, -c1 / (2 * c2), np.nan)
    return centre + spread * zv, c0 + c1 * zv + c2 * zv**2, c2 / spread**2


@dataclass(frozen=True)
class IsoflopFit(OptimalScaling):
    """Per-budget vertices and the power laws through them."""

    per_budget: list[dict]
    params_law: PowerLaw  # N_opt = k C^a
    tokens_law: PowerLaw  # D_opt = k C^b
    groups: list[np.ndarray]  # indices of the runs behind each used budget
    budgets: np.ndarray  # C of each used budget

    def to_dict(self) -> dict:
        return {**self.laws_dict(), "n_budgets": len(self.budgets), "per_budget": self.per_budget}


def fit_isoflop(params, tokens, flops, loss, *, budget=None, budget_tol: float = 0.02,
                min_runs: int = 3) -> IsoflopFit:
    """Approach 2 on final losses (see the module docstring)."""
    params, tokens, loss = (np.asarray(v, dtype=float) for v in (params, tokens, loss))
    labels, centres = budget_groups(flops, budget, budget_tol)
    if len(centres) < 2:
        raise ScalingError(f"approach 2 needs isoFLOP profiles at two or more budgets; these runs share one "
                           f"(~{centres[0]:.3g} FLOPs): add runs at other budgets, or use --approach 3")
    groups, small = [], []
    for g, c in enumerate(centres):
        members = np.flatnonzero(labels == g)
        enough = len(members) >= min_runs and len(np.unique(params[members])) >= 3
        (groups if enough else small).append((c, members))
    if small:
        listed = ", ".join(f"{c:.3g}" for c, _ in small[:8]) + (", ..." if len(small) > 8 else "")
        warnings.warn(f"approach 2: left out {len(small)} budget(s) with fewer than {max(min_runs, 3)} runs or 3 "
                      f"model sizes: {listed} FLOPs", stacklevel=2)
    per_budget, used = [], []
    for c, members in groups:
        logn, logd = np.log(params[members]), np.log(tokens[members])
        ones = np.ones((1, len(members)))
        xn, ln, curv = (v[0] for v in parabola_vertices(logn, loss[members], ones))
        xd = parabola_vertices(logd, loss[members], ones)[0][0]
        row = {"flops": float(c), "n_runs": len(members), "params_tried": [float(params[members].min()),
                                                                           float(params[members].max())]}
        if not np.isfinite(xn) or not np.isfinite(xd):
            warnings.warn(f"approach 2: budget {c:.3g} FLOPs: the loss curve is flat or opens downwards "
                          f"(no minimum); left out", stacklevel=2)
            per_budget.append({**row, "params_opt": None, "tokens_opt": None, "loss_opt": None, "bracketed": False})
            continue
        bracketed = bool(logn.min() <= xn <= logn.max())
        if not bracketed:
            warnings.warn(f"approach 2: budget {c:.3g} FLOPs: the minimum is not bracketed (vertex at "
                          f"N = {math.exp(xn):.3g}, sizes tried {params[members].min():.3g} to "
                          f"{params[members].max():.3g}); kept as an extrapolation", stacklevel=2)
        per_budget.append({**row, "params_opt": math.exp(xn), "tokens_opt": math.exp(xd), "loss_opt": float(ln),
                           "bracketed": bracketed})
        used.append((c, members))
    if len(used) < 2:
        raise ScalingError(f"approach 2 needs a minimum at two or more budgets; found {len(used)} among "
                           f"{len(centres)} budget(s): add model sizes around each budget's optimum")
    budgets = np.array([c for c, _ in used])
    n_opt = np.array([r["params_opt"] for r in per_budget if r["params_opt"] is not None])
    d_opt = np.array([r["tokens_opt"] for r in per_budget if r["tokens_opt"] is not None])
    return IsoflopFit(per_budget, fit_power_law(budgets, n_opt), fit_power_law(budgets, d_opt),
                      [m for _, m in used], budgets)


def bootstrap_isoflop(fit: IsoflopFit, params, tokens, loss, rng: np.random.Generator, resamples: int,
                      flops_at=()) -> dict:
    """Stratified bootstrap: each used budget's runs are resampled within the budget, every budget's parabolas
    are refitted, then the power laws. Returns per-resample samples of a, b, the coefficients and N_opt, D_opt
    at `flops_at`."""
    from scaling.fitting.bootstrap import resample_counts

    params, tokens, loss = (np.asarray(v, dtype=float) for v in (params, tokens, loss))
    n_opt = np.empty((resamples, len(fit.groups)))
    d_opt = np.empty_like(n_opt)
    for j, members in enumerate(fit.groups):
        counts = resample_counts(len(members), resamples, rng)
        n_opt[:, j] = np.exp(parabola_vertices(np.log(params[members]), loss[members], counts)[0])
        d_opt[:, j] = np.exp(parabola_vertices(np.log(tokens[members]), loss[members], counts)[0])
    p_law, t_law = fit_power_law(fit.budgets, n_opt), fit_power_law(fit.budgets, d_opt)
    return {"a": p_law.exponent, "b": t_law.exponent, "params_coefficient": p_law.coefficient,
            "tokens_coefficient": t_law.coefficient, "params": p_law(flops_at), "tokens": t_law(flops_at)}
