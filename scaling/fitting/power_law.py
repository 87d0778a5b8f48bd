"""y = k C^p fitted by ordinary least squares in log space: log y = log k + p log C (Hoffmann et al. 2022,
Approaches 1 and 2 fit N_opt ~ C^a and D_opt ~ C^b this way). Batched: one fit per row of `y`, NaN entries
(a budget missing from a resample) left out of that row's fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PowerLaw:
    """y = coefficient * C^exponent (arrays when batched)."""

    exponent: np.ndarray | float
    coefficient: np.ndarray | float

    def __call__(self, flops) -> np.ndarray:
        """y at each C of `flops`; batched laws give one row per law (K x len(flops))."""
        logc = np.log(np.atleast_1d(np.asarray(flops, dtype=float)))
        return np.exp(np.log(self.coefficient)[..., None] + np.asarray(self.exponent)[..., None] * logc)


class OptimalScaling:
    """N_opt = k C^a and D_opt = k' C^b, as Approaches 1 and 2 both end: their shared accessors. The class
    using it has `params_law` and `tokens_law` (PowerLaw)."""

    params_law: PowerLaw
    tokens_law: PowerLaw

    @property
    def a(self) -> float:
        return float(self.params_law.exponent)

    @property
    def b(self) -> float:
        return float(self.tokens_law.exponent)

    def at_budgets(self, flops) -> dict:
        return {"params": self.params_law(flops), "tokens": self.tokens_law(flops)}

    def laws_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "params_coefficient": float(self.params_law.coefficient),
                "tokens_coefficient": float(self.tokens_law.coefficient)}


def fit_power_law(flops, y) -> PowerLaw:
    """Least squares of log y on log C. `y` is (m,) or (K, m) over the m values of `flops`; rows with fewer than
    two finite values (or a single C) get NaN."""
    x = np.log(np.asarray(flops, dtype=float))
    logy = np.log(np.asarray(y, dtype=float))
    batched = logy.ndim == 2
    logy = np.atleast_2d(logy)
    ok = np.isfinite(logy)
    n = ok.sum(axis=1)
    xs = np.where(ok, x, 0.0)
    ys = np.where(ok, logy, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_mean, y_mean = xs.sum(axis=1) / n, ys.sum(axis=1) / n
        dx = np.where(ok, x - x_mean[:, None], 0.0)
        slope = (dx * (ys - y_mean[:, None])).sum(axis=1) / (dx * dx).sum(axis=1)
        intercept = y_mean - slope * x_mean
    bad = (n < 2) | ~np.isfinite(slope)
    slope, intercept = np.where(bad, np.nan, slope), np.where(bad, np.nan, intercept)
    if not batched:
        return PowerLaw(float(slope[0]), float(np.exp(intercept[0])))
    return PowerLaw(slope, np.exp(intercept))
