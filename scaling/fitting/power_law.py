"""y = k C^p fitted by ordinary least squares in log space: log y = log k + p log C (Hoffmann et al. 2022,
Approaches 1 and 2 fit N_opt ~ C^a and D_opt ~ C^b this way). Batched: one fit per row of `y`, NaN entries
(a budget missing from a resample) left out of that row's fit.

The minimum loss per budget falls as y = E' + k C^-g (`fit_saturating`): along the optimum of Chinchilla's
L = E + A/N^alpha + B/D^beta the loss is exactly E + K C^(-alpha beta / (alpha + beta)), so a pure power law
through the minima (a straight line in log-log) overshoots the fall of a loss that flattens towards E: on a
sweep from the replication's law it predicted the minimum 0.07-0.09 nats too low half a decade ahead."""

from __future__ import annotations

import math
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
    """Least squares of log y on log C. `y` is (m,) or (K, m) over the m values of `flops` ((m,), or (K, m) where
    each row has its own C); rows with fewer than two finite values (or a single C) get NaN."""
    logy = np.log(np.asarray(y, dtype=float))
    batched = logy.ndim == 2 or np.ndim(flops) == 2
    x = np.atleast_2d(np.log(np.asarray(flops, dtype=float)))
    logy = np.atleast_2d(logy)
    x, logy = np.broadcast_arrays(x, logy)
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


SATURATING_EXPONENTS = np.geomspace(1e-3, 2.0, 400)  # the grid of g over which fit_saturating profiles


@dataclass(frozen=True)
class SaturatingLaw:
    """y = floor + coefficient (C / reference)^-exponent (arrays when batched: one law per row)."""

    floor: np.ndarray | float
    coefficient: np.ndarray | float
    exponent: np.ndarray | float
    reference: float  # C at which the coefficient is the excess over the floor

    def __call__(self, flops) -> np.ndarray:
        """y at each C of `flops`; batched laws give one row per law (K x len(flops))."""
        ratio = np.atleast_1d(np.asarray(flops, dtype=float)) / self.reference
        floor, coef, expo = (np.asarray(v, dtype=float)[..., None] for v in (self.floor, self.coefficient,
                                                                             self.exponent))
        return floor + coef * ratio ** -expo

    def to_dict(self) -> dict:
        return {"floor": float(self.floor), "coefficient": float(self.coefficient), "exponent": float(self.exponent),
                "reference_flops": self.reference}


def fit_saturating(flops, y) -> SaturatingLaw:
    """y = E' + k (C / C_ref)^-g by least squares, C_ref the geometric mean of `flops` (as `fit_power_law`: `y`
    (m,) or (K, m), `flops` (m,) or (K, m)). For each g of SATURATING_EXPONENTS, E' and k are linear least
    squares (E' held at 0 where it would go negative: a loss has no negative floor; k > 0); the g with the least
    squared error wins. Rows with fewer than two finite values get NaN."""
    y = np.asarray(y, dtype=float)
    batched = y.ndim == 2 or np.ndim(flops) == 2
    logc = np.atleast_2d(np.log(np.asarray(flops, dtype=float)))
    y = np.atleast_2d(y)
    logc, y = np.broadcast_arrays(logc, y)
    ok = np.isfinite(y) & np.isfinite(logc)
    reference = float(np.exp(np.mean(logc[ok]))) if ok.any() else 1.0
    rel = np.where(ok, logc - math.log(reference), 0.0)
    w, yv = ok.astype(float), np.where(ok, y, 0.0)
    n = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = np.exp(-SATURATING_EXPONENTS[:, None, None] * rel[None]) * w  # (G, K, m)
        sz, szz = z.sum(axis=2), (z * z).sum(axis=2)
        sy, szy = yv.sum(axis=1), (z * yv).sum(axis=2)
        det = n * szz - sz * sz
        k = (n * szy - sz * sy) / det
        floor = (sy - k * sz) / n
        through_zero = floor < 0
        k = np.where(through_zero, szy / szz, k)
        floor = np.where(through_zero, 0.0, floor)
        sse = (((floor[..., None] + k[..., None] * z - yv) * w) ** 2).sum(axis=2)
        sse = np.where((k > 0) & np.isfinite(sse), sse, np.inf)
    best = np.argmin(sse, axis=0)
    rows = np.arange(y.shape[0])
    floor, k, g = floor[best, rows], k[best, rows], SATURATING_EXPONENTS[best]
    bad = (n < 2) | ~np.isfinite(sse[best, rows])
    floor, k, g = (np.where(bad, np.nan, v) for v in (floor, k, g))
    if not batched:
        return SaturatingLaw(float(floor[0]), float(k[0]), float(g[0]), reference)
    return SaturatingLaw(floor, k, g, reference)
