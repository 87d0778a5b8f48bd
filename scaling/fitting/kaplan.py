"""Approach 3 in Kaplan et al. 2020's form (their Eq. 1.5, with an irreducible term), beside Chinchilla's:

    L(N, D) = E + [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D

Chinchilla's form adds the N and D terms; Kaplan's adds them inside a power, so a model stops gaining from data
once D_c / D falls below its own (N_c / N)^(alpha_N / alpha_D): small models saturate early, large ones late.
Along an isoFLOP line the two forms bend differently: in Chinchilla's the curvature at the optimum is
alpha beta (L_opt - E) and falls with the reducible loss (`scaling.fitting.profiles`), in Kaplan's it need not.

The law itself, with what the planner asks of it, is `scaling.laws.KaplanLaw`; this module fits it
(`scaling fit --form kaplan`, and every `scaling report`'s law_kaplan.json). Fitted as Approach 3 is
(`parametric`): Huber (delta 1e-3) on log losses, theta = (e, n_c, d_c, r, alpha_D) with E = exp(e),
N_c = exp(n_c), D_c = exp(d_c), r = alpha_N / alpha_D, from a grid of starts (GRID) run together by the batched
Newton of `newton` on the objective's exact Hessian (`KaplanObjective`), the best polished by L-BFGS-B; bootstrap
resamples of the points refitted the same batched way from the best fit and from it with E raised (E_STARTS).
Compute-optimal under C = 6ND: the bracket is smallest where r N_c^r N^-(r+1) = 6 D_c / C, so
N_opt = (r N_c^r C / (6 D_c))^(1/(1+r)), and a = 1 / (1 + r) = alpha_D / (alpha_N + alpha_D), b = r / (1 + r); E does
not move the optimum. (Kaplan et al. allocated compute by another route, L(N, S_min), which gave their a = 0.73.)

On 30 sweeps drawn from a known law of this form (`bench/kaplan_calibration.py`: `tests/test_kaplan.py`'s `_sweep`,
seeds 100-129, 6 budgets x 7 sizes, 0.5% noise) the fit's a had sd 0.0044 about the truth (mean error 0.0007) and the
95% interval (400 resamples) held it 30 times, a little wide (mean half-width 0.0101 against 1.96 sd = 0.0085), the
same figures as the L-BFGS-B loop this replaced, at ~6 s a fit against minutes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from scaling.errors import ScalingError
from scaling.fitting.bootstrap import refit_in_chunks
from scaling.fitting.newton import minimize_batched
from scaling.fitting.parametric import weighted_huber
from scaling.laws import KaplanLaw

# starts: e, n_c, d_c (logs), r = alpha_N / alpha_D, alpha_D: 3^4 x 2 = 162
GRID = np.array(list(itertools.product((-5.0, 0.0, 0.5), (5.0, 10.0, 15.0), (8.0, 13.0, 18.0), (0.5, 1.0, 2.0),
                                       (0.1, 0.4))))
# ln E at most this low: fits with no floor in their runs drive E towards 0 (e -> -inf), and below e^-50 (2e-22) it
# changes no loss; held here so the law, its refits' starts and their draws report one E for "none"
LOG_E_FLOOR = -50.0
# A refit from the full-data law whose E is ~0 cannot raise E (its gradient there is ~E): each resample is also
# refitted from that law with E at these shares of the lowest loss, the best of the three kept. On the reference
# sweep that found the refit every start of GRID finds in 39 of 40 resamples, against 38 from the law alone, and
# gives E an interval instead of one value
E_STARTS = (0.25, 0.75)
# The Huber sum is ~1e-3 and its gradient tiny: with scipy's default tolerances a refit stops near its start (the
# bootstrap's intervals, when it ran on L-BFGS-B, came out 20% narrow and held a known law's a 27 times in 30); these
# are the tolerances of the polish, as in `parametric`
OPTIONS = {"maxiter": 15000, "ftol": 1e-15, "gtol": 1e-10}
# Newton iterations per start: a start with E raised (E_STARTS) can take hundreds to lower E back to ~0. On the
# reference sweep's 1,000 resamples, 200 left 10 refits above the L-BFGS-B loop's minimum that this finds in all but
# 2 (it finds a lower one in 13), at the same cost: the other rows stop within tens of iterations
MAX_ITER = 1000


@dataclass(frozen=True)
class KaplanFit:
    """The best law and its objective (the Huber sum): what `parametric.ParametricFit` is to Chinchilla's form."""

    law: KaplanLaw
    objective: float


def terms_of(thetas: np.ndarray) -> dict:
    """The law's terms (KaplanLaw.KEYS) of each row theta = (e, n_c, d_c, r, alpha_D) of `thetas` (K x 5):
    E = exp(e), N_c = exp(n_c), D_c = exp(d_c), alpha_N = r alpha_D (NaN rows stay NaN)."""
    e, n_c, d_c, r, alpha_d = np.asarray(thetas, dtype=float).T
    with np.errstate(over="ignore"):
        return {"E": np.exp(e), "N_c": np.exp(n_c), "D_c": np.exp(d_c), "alpha_N": r * alpha_d, "alpha_D": alpha_d}


def law_from_theta(theta, name: str = "custom") -> KaplanLaw:
    """The law of one theta (`terms_of`)."""
    return KaplanLaw(**{k: float(v[0]) for k, v in terms_of(np.atleast_2d(theta)).items()}, name=name)


def theta_of(law: KaplanLaw) -> np.ndarray:
    """(e, n_c, d_c, r, alpha_D); e = -inf where E underflowed to 0 (fits drive it there when the runs show no
    floor)."""
    with np.errstate(divide="ignore"):
        return np.array([np.log(law.E), math.log(law.N_c), math.log(law.D_c), law.r, law.alpha_D])


class KaplanObjective:
    """The weighted Huber sum on log residuals for a batch of theta rows (S x 5), with its gradient and Hessian,
    in the form `newton.minimize_batched` takes; `weights` holds one row of point weights per theta row (or one
    row for all).

    With x = n_c - ln N, u = r x, v = d_c - ln D, inner = LSE(u, v), q = alpha_D inner and pred = LSE(e, q), the
    softmax shares s_n = e^(u - inner) and s_e = e^(e - pred) give, by the chain rule through each log-sum-exp
    (whose Hessian is s (1 - s) (da - db)(da - db)^T):
      J = d pred = (s_e, (1 - s_e) dq),   dq = (0, alpha_D s_n r, alpha_D (1 - s_n), alpha_D s_n x, inner);
      d2 pred = s_e (1 - s_e) (e_1 - dq)(e_1 - dq)^T + (1 - s_e) d2q,
      d2q = alpha_D [s_n (1 - s_n) m m^T + s_n (e_2 e_4^T + e_4 e_2^T)] + e_5 dinner^T + dinner e_5^T,
    m = (0, r, -1, x, 0), dinner = (0, s_n r, 1 - s_n, s_n x); and H = sum w [rho'' J J^T + rho' d2 pred].
    """

    def __init__(self, log_n, log_d, log_loss, weights=None, delta: float = 1e-3):
        self.log_n, self.log_d, self.log_loss = (np.asarray(v, dtype=float) for v in (log_n, log_d, log_loss))
        self.weights = np.ones((1, len(self.log_n))) if weights is None else np.atleast_2d(weights).astype(float)
        self.delta = float(delta)

    def _weights(self, rows):
        return self.weights if len(self.weights) == 1 or rows is None else self.weights[rows]

    def _terms(self, theta):
        e, n_c, d_c, r, alpha_d = (np.atleast_2d(theta)[:, i, None] for i in range(5))
        with np.errstate(all="ignore"):
            x = n_c - self.log_n
            u = r * x
            inner = np.logaddexp(u, d_c - self.log_d)
            share_n = np.exp(u - inner)
            pred = np.logaddexp(e, alpha_d * inner)
            share_e = np.exp(e - pred)
        return x, inner, share_n, share_e, pred - self.log_loss, r, alpha_d

    def _rho(self, res, rows):
        return weighted_huber(res, self._weights(rows), self.delta)

    def value(self, theta, rows=None) -> np.ndarray:
        res = self._terms(theta)[4]
        with np.errstate(all="ignore"):  # a law that overflows gets inf, which the Newton step refuses
            value = self._rho(res, rows)[0]
        return np.where(np.isfinite(value), value, np.inf)

    def _jacobian(self, x, inner, share_n, share_e, r, alpha_d):
        """J = d pred per point, with d inner (its first four entries) and dq, which the Hessian reuses."""
        rest = 1 - share_e
        dinner = np.stack([np.zeros_like(x), share_n * r, 1 - share_n, share_n * x], axis=2)
        dq = np.concatenate([alpha_d[:, :, None] * dinner, inner[:, :, None]], axis=2)
        jac = rest[:, :, None] * dq
        jac[:, :, 0] = share_e
        return jac, dq, dinner, rest

    def value_grad(self, theta, rows=None):
        x, inner, share_n, share_e, res, r, alpha_d = self._terms(theta)
        with np.errstate(all="ignore"):
            value, psi, _ = self._rho(res, rows)
            jac = self._jacobian(x, inner, share_n, share_e, r, alpha_d)[0]
            return value, np.einsum("sp,spi->si", psi, jac)

    def value_grad_hess(self, theta, rows=None):
        x, inner, share_n, share_e, res, r, alpha_d = self._terms(theta)
        with np.errstate(all="ignore"):
            value, psi, curv = self._rho(res, rows)
            jac, dq, dinner, rest = self._jacobian(x, inner, share_n, share_e, r, alpha_d)
            grad = np.einsum("sp,spi->si", psi, jac)
            hess = _outer_sum(curv, jac)
            off = -dq
            off[:, :, 0] = 1.0
            hess += _outer_sum(psi * share_e * rest, off)
            lse = psi * rest * alpha_d * share_n
            m = np.stack([np.zeros_like(x), np.broadcast_to(r, x.shape), -np.ones_like(x), x, np.zeros_like(x)],
                         axis=2)
            hess += _outer_sum(lse * (1 - share_n), m)
            cross = lse.sum(axis=1)
            hess[:, 1, 3] += cross
            hess[:, 3, 1] += cross
            tail = np.einsum("sp,spi->si", psi * rest, dinner)
            hess[:, 4, :4] += tail
            hess[:, :4, 4] += tail
        return value, grad, hess

    def scipy_value_grad(self, theta):
        """(f, gradient) of one theta, the form scipy.optimize.minimize(jac=True) takes; f = 1e300 where the law
        overflows, so L-BFGS-B's line search backs off."""
        value, grad = self.value_grad(theta[None, :])
        if not (np.isfinite(value[0]) and np.all(np.isfinite(grad))):
            return 1e300, np.zeros(5)
        return float(value[0]), grad[0]


def _outer_sum(weights, vectors):
    """sum_p weights_sp v_spi v_spj for every row s: one batched matrix product."""
    return np.matmul(vectors.transpose(0, 2, 1) * weights[:, None, :], vectors)


def _polish(start, objective: KaplanObjective):
    """L-BFGS-B at OPTIONS' tolerances from one start (the batched Newton's best)."""
    return minimize(objective.scipy_value_grad, start, jac=True, method="L-BFGS-B", options=OPTIONS)


def fit_kaplan(params, tokens, loss, *, delta: float = 1e-3) -> KaplanFit:
    """The best law over GRID's starts, with its objective (the Huber sum): every start run together by the batched
    Newton (`newton.minimize_batched`), the best polished by L-BFGS-B."""
    objective = KaplanObjective(*(np.log(np.asarray(v, dtype=float)) for v in (params, tokens, loss)), delta=delta)
    grid = minimize_batched(GRID, objective.value, objective.value_grad_hess, max_iter=MAX_ITER)
    best = _polish(grid.theta[np.argmin(grid.value)], objective)
    if best.x[3] <= 0 or best.x[4] <= 0 or not np.all(np.isfinite(best.x)):
        raise ScalingError(f"approach 3 (Kaplan's form): the best fit has alpha_N / alpha_D = {best.x[3]:.3g}, "
                           f"alpha_D = {best.x[4]:.3g}; a law needs both > 0: the data do not follow it")
    theta = best.x.copy()
    theta[0] = max(theta[0], LOG_E_FLOOR)
    return KaplanFit(law_from_theta(theta), float(best.fun))


def bootstrap_kaplan(law: KaplanLaw, params, tokens, loss, counts: np.ndarray, delta: float = 1e-3,
                     bar=None) -> np.ndarray:
    """theta (K x 5) per resample (one row of point multiplicities each), refitted from `law` and from `law` with
    E at each of E_STARTS' shares of the lowest loss, the best kept; a row of NaN where the refit's exponents are
    not both positive. The refits of CHUNK resamples at a time run together (`newton.minimize_batched`, through
    `bootstrap.refit_in_chunks`); `bar` (a progress bar) ticks per resample."""
    log_n, log_d, log_loss = (np.log(np.asarray(v, dtype=float)) for v in (params, tokens, loss))
    start = np.maximum(theta_of(law), LOG_E_FLOOR)  # the optimiser needs a finite e
    starts = np.array([start] + [np.r_[math.log(share) + log_loss.min(), start[1:]] for share in E_STARTS])

    def refit_block(block: np.ndarray) -> np.ndarray:
        objective = KaplanObjective(log_n, log_d, log_loss, np.repeat(block, len(starts), axis=0), delta)
        refit = minimize_batched(np.tile(starts, (len(block), 1)), objective.value, objective.value_grad_hess,
                                 max_iter=MAX_ITER)
        values = refit.value.reshape(len(block), len(starts))
        theta = refit.theta.reshape(len(block), len(starts), 5)[np.arange(len(block)), np.argmin(values, axis=1)]
        theta[:, 0] = np.maximum(theta[:, 0], LOG_E_FLOOR)
        ok = (theta[:, 3] > 0) & (theta[:, 4] > 0) & np.all(np.isfinite(theta), axis=1)
        return np.where(ok[:, None], theta, np.nan)

    return refit_in_chunks(counts, refit_block, bar)


def chinchilla_form_on(law: KaplanLaw, params, tokens, noise_sd: float, draws: int = 20, seed: int = 0,
                       delta: float = 1e-3) -> np.ndarray:
    """Chinchilla's form's a (`parametric.fit_parametric`, Hoffmann et al.'s Huber fit) on `draws` sets of losses
    drawn from `law` at the runs' (params, tokens), each times exp(noise_sd z): what that form reads from a surface
    of this law's shape at this design and noise. NaN for a draw the form cannot fit."""
    from scaling.fitting.parametric import fit_parametric

    params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    clean = np.asarray(law.loss(params, tokens), dtype=float)
    rng = np.random.default_rng([seed, 7])
    out = np.full(draws, np.nan)
    for i in range(draws):
        loss = clean * np.exp(noise_sd * rng.standard_normal(len(clean)))
        try:
            out[i] = fit_parametric(params, tokens, loss, delta=delta).law.a
        except ScalingError:  # exponents <= 0 or a degenerate split: no a for this draw
            pass
    return out


def require_6nd(data) -> None:
    """Refuse runs whose C is not 6ND: this form's N_opt and a are derived under it."""
    if data.compute is not None:
        raise ScalingError("Kaplan's form is fitted with C = 6ND only (its a = alpha_D / (alpha_N + alpha_D) is "
                           "derived under it)")
