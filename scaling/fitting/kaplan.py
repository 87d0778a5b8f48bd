"""Approach 3 in Kaplan et al. 2020's form (their Eq. 1.5, with an irreducible term), beside Chinchilla's:

    L(N, D) = E + [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D

Chinchilla's form adds the N and D terms; Kaplan's adds them inside a power, so a model stops gaining from data
once D_c / D falls below its own (N_c / N)^(alpha_N / alpha_D): small models saturate early, large ones late.
Along an isoFLOP line the two forms bend differently: in Chinchilla's the curvature at the optimum is
alpha beta (L_opt - E) and falls with the reducible loss (`scaling.fitting.profiles`), in Kaplan's it need not.

Fitted as Approach 3 is (`parametric`): Huber (delta 1e-3) on log losses, theta = (e, n_c, d_c, r, alpha_D) with
E = exp(e), N_c = exp(n_c), D_c = exp(d_c), r = alpha_N / alpha_D, from a grid of starts (GRID) by L-BFGS-B;
bootstrap resamples of the points refitted from the best fit. Compute-optimal under C = 6ND: the bracket is
smallest where r N_c^r N^-(r+1) = 6 D_c / C, so N_opt = (r N_c^r C / (6 D_c))^(1 / (1 + r)), and
a = 1 / (1 + r) = alpha_D / (alpha_N + alpha_D), b = r / (1 + r); E does not move the optimum. (Kaplan et al.
allocated compute by another route, L(N, S_min), which gave their a = 0.73.)

On 30 sweeps drawn from a known law of this form (`tests/test_kaplan.py`'s, 6 budgets x 7 sizes, 0.5% noise) the
fit's a had sd 0.0040 about the truth (mean error 2e-6) and the 95% interval (400 resamples) held it 30 times, a
little wide (mean half-width 0.0103 against 1.96 sd = 0.0078).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber

from scaling.errors import ScalingError

# starts: e, n_c, d_c (logs), r = alpha_N / alpha_D, alpha_D: 3^4 x 2 = 162
GRID = np.array(list(itertools.product((-5.0, 0.0, 0.5), (5.0, 10.0, 15.0), (8.0, 13.0, 18.0), (0.5, 1.0, 2.0),
                                       (0.1, 0.4))))
NAMES = ("E", "N_c", "D_c", "alpha_N", "alpha_D")
# The Huber sum is ~1e-3 and its gradient tiny: with scipy's default tolerances a bootstrap refit stops at its start
# (its intervals came out 20% narrow and held a known law's a 27 times in 30); these are the polish's of `parametric`
OPTIONS = {"maxiter": 15000, "ftol": 1e-15, "gtol": 1e-10}


@dataclass(frozen=True)
class KaplanLaw:
    """L(N, D) = E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D."""

    E: float
    N_c: float
    D_c: float
    alpha_N: float
    alpha_D: float

    @classmethod
    def from_theta(cls, theta) -> KaplanLaw:
        e, n_c, d_c, r, alpha_d = (float(v) for v in theta)
        return cls(math.exp(e), math.exp(n_c), math.exp(d_c), r * alpha_d, alpha_d)

    def loss(self, params, tokens):
        return np.exp(_log_loss(self.theta, np.log(params), np.log(tokens)))

    @property
    def theta(self) -> np.ndarray:
        """(e, n_c, d_c, r, alpha_D); e = -inf where E underflowed to 0 (fits drive it there when the runs show no
        floor)."""
        with np.errstate(divide="ignore"):
            return np.array([np.log(self.E), math.log(self.N_c), math.log(self.D_c), self.alpha_N / self.alpha_D,
                             self.alpha_D])

    @property
    def a(self) -> float:
        return self.alpha_D / (self.alpha_N + self.alpha_D)

    def compute_optimal(self, flops):
        """(N_opt, D_opt) at C = 6ND (module docstring)."""
        r = self.alpha_N / self.alpha_D
        n = (r * self.N_c**r * np.asarray(flops, dtype=float) / (6 * self.D_c)) ** (1 / (1 + r))
        return n, np.asarray(flops, dtype=float) / (6 * n)


def _log_loss(theta, log_n, log_d):
    e, n_c, d_c, r, alpha_d = theta
    inner = np.logaddexp(r * (n_c - log_n), d_c - log_d)
    return np.logaddexp(e, alpha_d * inner)


def _objective(theta, log_n, log_d, log_loss, weights, delta):
    """The weighted Huber sum on log residuals and its gradient in theta (chain rule through the two log-sum-exps)."""
    e, n_c, d_c, r, alpha_d = theta
    with np.errstate(all="ignore"):
        u = r * (n_c - log_n)
        inner = np.logaddexp(u, d_c - log_d)
        share_n = np.exp(u - inner)  # the N term's share of the bracket
        pred = np.logaddexp(e, alpha_d * inner)
        share_e = np.exp(e - pred)  # E's share of the loss
        res = pred - log_loss
        value = float(weights @ huber(delta, res))
        slope = weights * np.clip(res, -delta, delta)
        rest = 1 - share_e
        grad = np.array([slope @ share_e, slope @ (rest * alpha_d * share_n * r),
                         slope @ (rest * alpha_d * (1 - share_n)), slope @ (rest * alpha_d * share_n * (n_c - log_n)),
                         slope @ (rest * inner)])
    if not (math.isfinite(value) and np.all(np.isfinite(grad))):
        return 1e300, np.zeros(5)
    return value, grad


def _fit(starts, log_n, log_d, log_loss, weights, delta):
    best = None
    for start in starts:
        run = minimize(_objective, start, args=(log_n, log_d, log_loss, weights, delta), jac=True,
                       method="L-BFGS-B", options=OPTIONS)
        if best is None or run.fun < best.fun:
            best = run
    return best


def fit_kaplan(params, tokens, loss, *, delta: float = 1e-3) -> tuple[KaplanLaw, float]:
    """The best law over GRID's starts, and its objective (the Huber sum)."""
    log_n, log_d, log_loss = (np.log(np.asarray(v, dtype=float)) for v in (params, tokens, loss))
    best = _fit(GRID, log_n, log_d, log_loss, np.ones(len(log_n)), delta)
    if best.x[3] <= 0 or best.x[4] <= 0 or not np.all(np.isfinite(best.x)):
        raise ScalingError(f"approach 3 (Kaplan's form): the best fit has alpha_N / alpha_D = {best.x[3]:.3g}, "
                           f"alpha_D = {best.x[4]:.3g}; a law needs both > 0: the data do not follow it")
    return KaplanLaw.from_theta(best.x), float(best.fun)


def bootstrap_kaplan(law: KaplanLaw, params, tokens, loss, counts: np.ndarray, delta: float = 1e-3) -> np.ndarray:
    """theta (K x 5) per resample (one row of point multiplicities each), refitted from `law`; a row of NaN where
    the refit's exponents are not both positive."""
    log_n, log_d, log_loss = (np.log(np.asarray(v, dtype=float)) for v in (params, tokens, loss))
    out = np.full((len(counts), 5), np.nan)
    start = np.maximum(law.theta, -50.0)  # E = 0 starts at e^-50: the optimiser needs a finite e
    for k, weights in enumerate(counts):
        theta = _fit([start], log_n, log_d, log_loss, weights.astype(float), delta).x
        if theta[3] > 0 and theta[4] > 0 and np.all(np.isfinite(theta)):
            out[k] = theta
    return out


def optimum_draws(thetas: np.ndarray, flops) -> dict:
    """N_opt, D_opt and the loss there at each C of `flops`, per row of `thetas` (K x len(flops) each; NaN rows
    stay NaN)."""
    flops = np.atleast_1d(np.asarray(flops, dtype=float))
    e, n_c, d_c, r, alpha_d = (thetas[:, [j]] for j in range(5))
    log_n = (np.log(r) + r * n_c + np.log(flops / 6) - d_c) / (1 + r)
    log_d = np.log(flops / 6) - log_n
    return {"params_opt": np.exp(log_n), "tokens_opt": np.exp(log_d),
            "loss": np.exp(_log_loss((e, n_c, d_c, r, alpha_d), log_n, log_d))}


def _require_6nd(data) -> None:
    if data.compute is not None:
        raise ScalingError("Kaplan's form is fitted with C = 6ND only (its a = alpha_D / (alpha_N + alpha_D) is "
                           "derived under it)")


def predict(data, opts, flops) -> tuple[dict, dict | None]:
    """N_opt, D_opt and the loss at each C of `flops` by this form fitted on `data`, and their bootstrap draws
    (`opts.bootstrap` resamples; None without), for the backtest."""
    _require_6nd(data)
    law, _ = fit_kaplan(data.params, data.tokens, data.loss, delta=opts.delta)
    values = {k: v[0] for k, v in optimum_draws(law.theta[None, :], flops).items()}
    if not opts.bootstrap:
        return values, None
    from scaling.fitting.bootstrap import resample_counts

    counts = resample_counts(len(data), opts.bootstrap, np.random.default_rng([opts.seed, 5]))
    return values, optimum_draws(bootstrap_kaplan(law, data.params, data.tokens, data.loss, counts, opts.delta),
                                 flops)


def kaplan_section(data, opts) -> dict:
    """The report's JSON of this form on `data` (a FitData under C = 6ND): the law, a and b with `opts.bootstrap`
    resamples' intervals, the objective and the lack-of-fit test against the seeds (`parametric.lack_of_fit`)."""
    from scaling.fitting.bootstrap import percentile_interval, resample_counts
    from scaling.fitting.parametric import lack_of_fit

    _require_6nd(data)
    law, objective = fit_kaplan(data.params, data.tokens, data.loss, delta=opts.delta)
    out = {"form": "kaplan", "E": law.E, "N_c": law.N_c, "D_c": law.D_c, "alpha_N": law.alpha_N,
           "alpha_D": law.alpha_D, "a": law.a, "b": 1 - law.a, "objective": objective, "n_points": len(data)}
    misfit = lack_of_fit(data.params, data.tokens, data.loss, law, len(NAMES))
    if misfit is not None:
        out["lack_of_fit"] = misfit
    if opts.bootstrap:
        counts = resample_counts(len(data), opts.bootstrap, np.random.default_rng([opts.seed, 5]))
        draws = 1 / (1 + bootstrap_kaplan(law, data.params, data.tokens, data.loss, counts, delta=opts.delta)[:, 3])
        lo, hi = (float(v) for v in percentile_interval(draws, opts.level))
        out["ci"] = {"level": opts.level, "resamples": opts.bootstrap, "failed": int(np.isnan(draws).sum()),
                     "a": [lo, hi], "b": [1 - hi, 1 - lo]}
    return out
