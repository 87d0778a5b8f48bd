"""Approach 3 of Hoffmann et al. 2022: fit L(N, D) = E + A/N^alpha + B/D^beta to final losses directly.

Their Eq. (3), as the replication of Besiroglu et al. 2024 reads it: with A = exp(a), B = exp(b), E = exp(e),

    log L_hat(N, D) = LSE(a - alpha log N, b - beta log D, e)                    (LSE = log-sum-exp)
    minimise  sum_i rho(log L_hat(N_i, D_i) - log L_i)  over theta = (a, b, e, alpha, beta)

with rho the Huber loss of width delta (1e-3): 0.5 r^2 for |r| <= delta, delta (|r| - delta/2) beyond. The
`asymmetric` loss multiplies rho by `asymmetry` (default 10) where the law over-predicts (r > 0), so the fit
hugs the lower envelope of the losses (the law as a bound on what a run can reach, as in OLMo's ladder).

Starts: Hoffmann's grid of 4,500 points (alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in
{0, 5, ..., 25}) or any grid. Two engines reach the same optimum:
- ``scipy``: the replication's protocol, L-BFGS-B with the analytic gradient from every start; slow (~16 s).
- ``batched`` (default): variable projection first. For fixed (alpha, beta) the model L_hat = E + A x + B y
  (x = N^-alpha, y = D^-beta) is linear in (E, A, B), so each start's (E, A, B) is replaced by the
  non-negative least-squares fit of L_hat / L to 1 (relative errors ~ log residuals). Starts that share
  (alpha, beta) then coincide: Hoffmann's grid leaves 25 distinct ones. All of them run at once through a
  batched damped Newton (`scaling.fitting.newton`) on the exact objective with its analytic Hessian; the best
  is polished by L-BFGS-B. Bootstrap refits run the same batched Newton, one row per resample.

Tied exponents (`tie=True`, `scaling fit --tie-exponents`): alpha = beta, so theta = (a, b, e, gamma) has 4
parameters (`TiedObjective`: the same objective with its gradient and Hessian summed over the tied pair; the
starts keep the grid's alpha for both). Muennighoff et al. 2023 fit their law so (alpha = beta = 0.353); it then
puts N_opt ~ C^0.5 by construction, and suits sweeps too small to pin both exponents.

Under-determined data (`underdetermined`, warned, not refused): fewer than POINTS_PER_PARAMETER (2) points per
parameter, or runs whose tokens per parameter span less than RATIO_SPREAD_DEX (one decade) in D/N: along one
ratio N and D grow together, and alpha trades off against beta (Chinchilla's isoFLOP profiles span 2-3 decades).

The compute-optimal allocation under another compute convention (`scaling.laws.optimal_allocation`): with
C = c N^p D (6ND: c = 6, p = 1; Appendix F's count: c, p fitted to the runs' FLOPs per token), minimising
L(N, C / (c N^p)) gives N_opt = [alpha A C^beta / (p beta B c^beta)]^(1 / (alpha + p beta)), so
a = beta / (alpha + p beta), and D_opt = C / (c N_opt^p), b = 1 - p a.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from scaling.errors import ScalingError
from scaling.fitting.newton import minimize_batched
from scaling.fitting.options import ENGINES, LOSSES
from scaling.laws import ParametricLaw

PARAM_NAMES = ("a", "b", "e", "alpha", "beta")
POINTS_PER_PARAMETER = 2  # fewer points per parameter than this: the law is under-determined (a warning)
RATIO_SPREAD_DEX = 1.0  # runs whose D/N spans less than this many decades barely separate alpha from beta


def hoffmann_grid() -> np.ndarray:
    """The 4,500 starts of Hoffmann et al. 2022 (Section D.2), rows of (a, b, e, alpha, beta)."""
    axes = {"a": np.arange(0, 30, 5), "b": np.arange(0, 30, 5), "e": np.arange(-1, 1.5, 0.5),
            "alpha": np.arange(0, 2.5, 0.5), "beta": np.arange(0, 2.5, 0.5)}
    return np.array(list(itertools.product(*(axes[k] for k in PARAM_NAMES))), dtype=float)


def as_grid(grid) -> np.ndarray:
    """Starts as an (S, 5) array of (a, b, e, alpha, beta): an array, or a dict of axis values to combine."""
    if grid is None:
        return hoffmann_grid()
    if isinstance(grid, dict):
        missing = [k for k in PARAM_NAMES if k not in grid]
        if missing:
            raise ScalingError(f"a grid of axes needs values for {', '.join(missing)} (keys a, b, e, alpha, beta)")
        grid = list(itertools.product(*(np.atleast_1d(np.asarray(grid[k], dtype=float)) for k in PARAM_NAMES)))
    starts = np.atleast_2d(np.asarray(grid, dtype=float))
    if starts.ndim != 2 or starts.shape[1] != 5 or not len(starts) or not np.isfinite(starts).all():
        raise ScalingError("a grid of starts must be finite rows of (a, b, e, alpha, beta)")
    return starts


def weighted_huber(r: np.ndarray, w: np.ndarray, delta: float):
    """Per row s of residuals r (S x points) and point weights w: sum_i w_si rho(r_si) for Huber's rho (Huber 1964;
    quadratic within delta, linear past it), and w rho' and w rho'' per point, what a Newton step on it needs."""
    absr = np.abs(r)
    inside = absr <= delta
    value = (w * np.where(inside, 0.5 * r * r, delta * (absr - 0.5 * delta))).sum(axis=1)
    return value, w * np.clip(r, -delta, delta), w * inside


class LogHuberObjective:
    """sum_i w_si rho(r_si) for a batch of parameter rows s; w are per-row point weights (bootstrap counts).

    The derivatives are analytic: with softmax weights p = (p_N, p_D, p_E) of the three LSE terms,
    dr/dtheta = (p_N, p_D, p_E, -p_N log N, -p_D log D) and d2r/dtheta2 = M^T (diag p - p p^T) M, so
    H = sum w [rho'' J J^T + rho' M^T (diag p - p p^T) M]. Sums over points are matrix products with the
    columns (1, log N, log N^2, ...), so each is one BLAS call for all rows.
    """

    def __init__(self, log_n, log_d, log_loss, *, loss: str = "huber", delta: float = 1e-3,
                 asymmetry: float = 10.0, weights=None):
        if loss not in LOSSES:
            raise ScalingError(f"unknown loss {loss!r}: choose huber or asymmetric")
        if not (math.isfinite(delta) and delta > 0):
            raise ScalingError(f"the Huber delta must be a positive number, got {delta!r}")
        if loss == "asymmetric" and not (math.isfinite(asymmetry) and asymmetry >= 1):
            raise ScalingError(f"the asymmetry (weight of over-predictions) must be >= 1, got {asymmetry!r}")
        self.log_n, self.log_d, self.log_loss = (np.asarray(v, dtype=float) for v in (log_n, log_d, log_loss))
        self.delta = float(delta)
        self.over_weight = float(asymmetry) if loss == "asymmetric" else 1.0
        self.weights = np.ones((1, len(self.log_n))) if weights is None else np.atleast_2d(weights).astype(float)
        ones = np.ones_like(self.log_n)
        self._xn = np.stack([ones, self.log_n, self.log_n**2], axis=1)
        self._xd = np.stack([ones, self.log_d, self.log_d**2], axis=1)
        self._xnd = np.stack([ones, self.log_n, self.log_d, self.log_n * self.log_d], axis=1)

    def _rows(self, rows) -> np.ndarray:
        if len(self.weights) == 1:
            return self.weights
        return self.weights if rows is None or len(rows) == len(self.weights) else self.weights[rows]

    def _residuals(self, theta):
        a, b, e, alpha, beta = (theta[:, i, None] for i in range(5))
        u_n, u_d = a - alpha * self.log_n, b - beta * self.log_d
        top = np.maximum(np.maximum(u_n, u_d), e)
        t_n, t_d, t_e = np.exp(u_n - top), np.exp(u_d - top), np.exp(e - top)
        total = t_n + t_d + t_e
        return np.log(total) + top - self.log_loss, t_n, t_d, t_e, total

    def _rho(self, r, w):
        """Weighted Huber values, rho', rho'' masks; over-predictions carry `over_weight`."""
        if self.over_weight != 1.0:
            w = w * np.where(r > 0, self.over_weight, 1.0)
        return weighted_huber(r, w, self.delta)

    def value(self, theta, rows=None) -> np.ndarray:
        r = self._residuals(np.atleast_2d(theta))[0]
        return self._rho(r, self._rows(rows))[0]

    def value_grad(self, theta, rows=None):
        r, t_n, t_d, t_e, total = self._residuals(np.atleast_2d(theta))
        f, psi, _ = self._rho(r, self._rows(rows))
        q_n, q_d = psi * t_n / total, psi * t_d / total
        g_n, g_d = q_n @ self._xn[:, :2], q_d @ self._xd[:, :2]
        g = np.stack([g_n[:, 0], g_d[:, 0], (psi * t_e / total).sum(axis=1), -g_n[:, 1], -g_d[:, 1]], axis=1)
        return f, g

    def value_grad_hess(self, theta, rows=None):
        r, t_n, t_d, t_e, total = self._residuals(np.atleast_2d(theta))
        f, psi, curv = self._rho(r, self._rows(rows))
        p_n, p_d, p_e = t_n / total, t_d / total, t_e / total
        g_n, g_d, g_e = (psi * p_n) @ self._xn, (psi * p_d) @ self._xd, (psi * p_e).sum(axis=1)
        k = curv - psi  # coefficient of J J^T: rho'' (Gauss-Newton) minus rho' (the -p p^T part of d2r)
        kn, kd = k * p_n, k * p_d
        nn, dd, nd = (kn * p_n) @ self._xn, (kd * p_d) @ self._xd, (kn * p_d) @ self._xnd
        ne, de, ee = (kn * p_e) @ self._xn[:, :2], (kd * p_e) @ self._xd[:, :2], (k * p_e * p_e).sum(axis=1)
        hess = np.empty((len(f), 5, 5))
        upper = {(0, 0): nn[:, 0] + g_n[:, 0], (0, 1): nd[:, 0], (0, 2): ne[:, 0], (0, 3): -nn[:, 1] - g_n[:, 1],
                 (0, 4): -nd[:, 2], (1, 1): dd[:, 0] + g_d[:, 0], (1, 2): de[:, 0], (1, 3): -nd[:, 1],
                 (1, 4): -dd[:, 1] - g_d[:, 1], (2, 2): ee + g_e, (2, 3): -ne[:, 1], (2, 4): -de[:, 1],
                 (3, 3): nn[:, 2] + g_n[:, 2], (3, 4): nd[:, 3], (4, 4): dd[:, 2] + g_d[:, 2]}
        for (i, j), v in upper.items():
            hess[:, i, j] = hess[:, j, i] = v
        g = np.stack([g_n[:, 0], g_d[:, 0], g_e, -g_n[:, 1], -g_d[:, 1]], axis=1)
        return f, g, hess

    def scipy_value_grad(self, theta):
        """(f, gradient) of one parameter vector, the form scipy.optimize.minimize(jac=True) takes."""
        f, g = self.value_grad(theta[None, :])
        return float(f[0]), g[0]


class TiedObjective:
    """alpha = beta: the objective of theta = (a, b, e, gamma) as `full`'s at (a, b, e, gamma, gamma); the
    gradient and Hessian are the chain rule's J^T g and J^T H J, J mapping gamma onto both exponents."""

    def __init__(self, full: LogHuberObjective):
        self.full = full

    @staticmethod
    def expand(theta) -> np.ndarray:
        theta = np.atleast_2d(theta)
        return np.concatenate([theta, theta[:, 3:4]], axis=1)

    @staticmethod
    def _fold(g):
        return np.concatenate([g[:, :3], g[:, 3:4] + g[:, 4:5]], axis=1)

    def value(self, theta, rows=None) -> np.ndarray:
        return self.full.value(self.expand(theta), rows)

    def value_grad(self, theta, rows=None):
        f, g = self.full.value_grad(self.expand(theta), rows)
        return f, self._fold(g)

    def value_grad_hess(self, theta, rows=None):
        f, g, hess = self.full.value_grad_hess(self.expand(theta), rows)
        folded = self._fold(hess.reshape(-1, 5)).reshape(len(f), 5, 4)  # columns
        hess4 = np.concatenate([folded[:, :3], folded[:, 3:4] + folded[:, 4:5]], axis=1)  # rows
        return f, self._fold(g), hess4

    def scipy_value_grad(self, theta):
        f, g = self.value_grad(theta[None, :])
        return float(f[0]), g[0]


def project_starts(starts: np.ndarray, log_n, log_d, log_loss) -> np.ndarray:
    """Variable projection: each start keeps its (alpha, beta) and gets the (E, A, B) >= 0 that minimise
    sum ((E + A N^-alpha + B D^-beta) / L - 1)^2; returns the distinct projected starts."""
    from scipy.optimize import nnls

    loss = np.exp(log_loss)
    floor = 1e-8 * float(np.median(loss))
    out = []
    for alpha, beta in np.unique(starts[:, 3:], axis=0):
        design = np.stack([np.ones_like(loss), np.exp(-alpha * log_n), np.exp(-beta * log_d)], axis=1)
        (e_coef, a_coef, b_coef), _ = nnls(design / loss[:, None], np.ones_like(loss))
        out.append([math.log(max(a_coef, floor)), math.log(max(b_coef, floor)), math.log(max(e_coef, floor)),
                    alpha, beta])
    return np.array(out)


@dataclass(frozen=True)
class ParametricFit:
    """The best (a, b, e, alpha, beta) and how it was found."""

    theta: np.ndarray
    objective: float
    loss: str
    delta: float
    asymmetry: float | None
    starts: int  # starts in the grid
    distinct_starts: int  # starts actually run (after projection, for the batched engine)
    reached_best: int  # of those, how many ended within 1e-6 (relative) of the best objective
    engine: str
    tied: bool = False  # alpha = beta was imposed (4 parameters)

    @property
    def n_params(self) -> int:
        return 4 if self.tied else 5

    @property
    def law(self) -> ParametricLaw:
        a, b, e, alpha, beta = (float(v) for v in self.theta)
        return ParametricLaw(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta, name="fit")

    def to_dict(self) -> dict:
        a, b, e, alpha, beta = (float(v) for v in self.theta)
        out = {"E": math.exp(e), "A": math.exp(a), "B": math.exp(b), "alpha": alpha, "beta": beta,
               "a": beta / (alpha + beta), "b": alpha / (alpha + beta), "objective": self.objective,
               "loss": self.loss, "delta": self.delta}
        if self.asymmetry is not None:
            out["asymmetry"] = self.asymmetry
        if alpha > 0 and beta > 0:
            out["G"] = self.law.G
        out["starts"] = {"grid": self.starts, "run": self.distinct_starts, "reached_best": self.reached_best,
                         "engine": self.engine}
        if self.tied:
            out["tie_exponents"] = True
        return out


def underdetermined(params, tokens, n_params: int = 5) -> list[str]:
    """Why the law may be under-determined, one line each (see the module docstring); empty when it is not."""
    params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    said = []
    if len(params) < POINTS_PER_PARAMETER * n_params:
        tie = "" if n_params < 5 else ", or tie the exponents (--tie-exponents: 4 parameters)"
        said.append(f"approach 3: {len(params)} points for {n_params} parameters (fewer than "
                    f"{POINTS_PER_PARAMETER} per parameter): the law is under-determined, so its intervals are "
                    f"wide and its extrapolations fragile; add runs{tie}")
    ratio = np.log10(tokens / params)
    if len(ratio) and ratio.max() - ratio.min() < RATIO_SPREAD_DEX:
        said.append(f"approach 3: the runs' tokens per parameter span only {10 ** (ratio.max() - ratio.min()):.2g}x "
                    f"(D/N {10 ** ratio.min():.3g} to {10 ** ratio.max():.3g}; under {10 ** RATIO_SPREAD_DEX:g}x): N "
                    f"and D grow together, so alpha trades off against beta and a = beta/(alpha+beta) is barely "
                    f"pinned; add runs at other tokens per parameter (an isoFLOP grid)")
    return said


LACK_OF_FIT_P = 0.01  # below this p-value the law's misfit is more than the replicates' noise: a warning


def lack_of_fit(params, tokens, loss, law: ParametricLaw, n_params: int = 5) -> dict | None:
    """The lack-of-fit F test against replicates (Draper & Smith 1998, Sec. 2.1), on log losses as the fit reads
    them: runs at the same (N, D) (seeds) give the pure error SS_pe on n - g degrees of freedom (g distinct
    points); the rest of the residual sum of squares, SS_lof on g - n_params, is the law's misfit.
    F = (SS_lof / (g - n_params)) / (SS_pe / (n - g)). A law whose form holds leaves residuals the size of the
    seed noise; one that does not leaves structure (by budget, by tokens per parameter) that its exponents then
    absorb. Approximate for a Huber fit (it is exact for least squares). None without replicates or with no
    degree of freedom for the misfit. Returns residual and replicate sd (log loss), F, its dof and p."""
    from scipy import stats

    params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    log_loss = np.log(np.asarray(loss, dtype=float))
    residual = log_loss - np.log(law.loss(params, tokens))
    groups = np.unique(np.stack([params, tokens], axis=1), axis=0, return_inverse=True)[1].ravel()
    n, g = len(log_loss), int(groups.max()) + 1
    if n - g < 1 or g - n_params < 1:
        return None
    means = np.bincount(groups, log_loss) / np.bincount(groups)
    ss_pe = float(np.sum((log_loss - means[groups]) ** 2))
    if ss_pe <= 0:
        return None
    sse = float(np.sum(residual**2))
    f = (max(0.0, sse - ss_pe) / (g - n_params)) / (ss_pe / (n - g))
    return {"residual_sd": math.sqrt(sse / max(n - n_params, 1)),
            "replicate_sd": math.sqrt(ss_pe / (n - g)), "F": f, "dof": [g - n_params, n - g],
            "p": float(stats.f.sf(f, g - n_params, n - g))}


def per_token_compute(params, tokens, compute) -> tuple[float, float]:
    """(c, p) of C = c N^p D: (6, 1) for 6ND (compute None), else log(C/D) on log N by least squares."""
    if compute is None:
        return 6.0, 1.0
    p, log_c = np.polyfit(np.log(params), np.log(np.asarray(compute, dtype=float) / tokens), 1)
    return float(math.exp(log_c)), float(p)


COLLINEAR = 1e-3  # centred (log N, log D): smallest / largest singular value below this is one line


def check_identifiable(params, tokens, duplicates: int = 0, n_params: int = 5) -> None:
    """Refuse data that cannot pin down the five parameters: fewer than 5 distinct (N, D) points; fewer than 3
    distinct N (E + A/N^alpha takes two values at two sizes, too few for E, A and alpha) or D (B, beta); or
    log N and log D on one line (one tokens/param ratio, one budget: the effects of N and D cannot be
    separated), judged by the centred (log N, log D) matrix's singular values (ratio below COLLINEAR)."""
    params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    points = len(np.unique(np.stack([params, tokens], axis=1), axis=0))
    copies = f", {duplicates} exact duplicate(s) dropped" if duplicates else ""
    if points < n_params:
        names = "E, A, B, alpha, beta" if n_params == 5 else "E, A, B, alpha = beta"
        raise ScalingError(f"approach 3 fits {n_params} parameters ({names}) but the data hold {points} distinct "
                           f"(N, D) point(s) among {len(params)} run(s){copies}: give at least {n_params} runs of "
                           f"different sizes or token counts")
    for what, values, names, fix in (("N", params, "A and alpha", "model sizes"),
                                     ("D", tokens, "B and beta", "token counts")):
        distinct = np.unique(values)
        if len(distinct) < 3:
            shown = ", ".join(f"{v:.4g}" for v in distinct)
            raise ScalingError(f"approach 3 cannot identify {names}: the {len(values)} runs{copies} hold only "
                               f"{len(distinct)} distinct {what} ({shown}), and a power law in {what} beside E "
                               f"needs 3 or more: add runs at other {fix}")
    x = np.stack([np.log10(params), np.log10(tokens)], axis=1)
    x -= x.mean(axis=0)
    low, high = np.linalg.svd(x, compute_uv=False)[::-1][:2]
    if low <= COLLINEAR * high:
        slope = float(np.polyfit(x[:, 0], x[:, 1], 1)[0])
        if abs(slope - 1) < 0.01:
            line = f"one tokens/param ratio, D/N = {np.median(tokens / params):.3g}"
        elif abs(slope + 1) < 0.01:
            line = f"one compute budget, 6ND = {np.median(6 * params * tokens):.3g} FLOPs"
        else:
            line = f"D proportional to N^{slope:.3g}"
        raise ScalingError(f"approach 3 cannot separate the effects of N and D: in log space the {points} distinct "
                           f"(N, D) points lie on one line ({line}): add runs at other tokens/param ratios and "
                           f"budgets (an isoFLOP grid)")


SCIPY_OPTIONS = {"maxiter": 15000}  # L-BFGS-B's defaults otherwise (ftol 2.2e-9, gtol 1e-5), as the replication
POLISH_OPTIONS = {"maxiter": 15000, "ftol": 1e-15, "gtol": 1e-10}


def fit_parametric(params, tokens, loss, *, loss_kind: str = "huber", delta: float = 1e-3,
                   asymmetry: float = 10.0, grid=None, engine: str = "batched", tie: bool = False) -> ParametricFit:
    """Approach 3: the best law over the grid's starts (see the module docstring for the two engines; `tie`
    imposes alpha = beta)."""
    from scipy.optimize import minimize

    check_identifiable(params, tokens, n_params=4 if tie else 5)
    log_n, log_d, log_loss = np.log(params), np.log(tokens), np.log(loss)
    objective = LogHuberObjective(log_n, log_d, log_loss, loss=loss_kind, delta=delta, asymmetry=asymmetry)
    starts = as_grid(grid)
    width = 5
    if tie:  # the grid's alpha for both exponents
        starts = np.unique(np.concatenate([starts[:, :4], starts[:, 3:4]], axis=1), axis=0)
        objective, width = TiedObjective(objective), 4
    if engine == "scipy":
        runs = [minimize(objective.scipy_value_grad, st[:width], jac=True, method="L-BFGS-B", options=SCIPY_OPTIONS)
                for st in starts]
        ends = np.array([r.x for r in runs])
        values = np.array([r.fun for r in runs])
    elif engine == "batched":
        projected = project_starts(starts, log_n, log_d, log_loss)[:, :width]
        result = minimize_batched(projected, objective.value, objective.value_grad_hess)
        ends, values = result.theta, result.value
    else:
        raise ScalingError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    values = np.where(np.isfinite(values), values, np.inf)
    best = int(np.argmin(values))
    if not np.isfinite(values[best]):
        raise ScalingError("approach 3: no start reached a finite objective: check the losses are positive")
    polish = minimize(objective.scipy_value_grad, ends[best], jac=True, method="L-BFGS-B", options=POLISH_OPTIONS)
    theta, value = (polish.x, float(polish.fun)) if polish.fun <= values[best] else (ends[best], float(values[best]))
    if tie:
        theta = TiedObjective.expand(theta)[0]
    reached = int(np.sum(values <= value * (1 + 1e-6) + 1e-300))
    return ParametricFit(theta=np.asarray(theta, dtype=float), objective=value, loss=loss_kind, delta=float(delta),
                         asymmetry=float(asymmetry) if loss_kind == "asymmetric" else None, starts=len(starts),
                         distinct_starts=len(ends), reached_best=reached, engine=engine, tied=bool(tie))


def refit_resamples(fit: ParametricFit, params, tokens, loss, counts: np.ndarray):
    """Bootstrap refits: one row of point multiplicities per resample, all started from the full-data optimum and
    run together through the batched Newton (alpha = beta where the fit tied them). Returns (theta (K, 5),
    converged (K,))."""
    objective = LogHuberObjective(np.log(params), np.log(tokens), np.log(loss), loss=fit.loss, delta=fit.delta,
                                  asymmetry=fit.asymmetry or 10.0, weights=counts)
    start = fit.theta[: fit.n_params]
    if fit.tied:
        objective = TiedObjective(objective)
    result = minimize_batched(np.repeat(start[None, :], len(counts), axis=0), objective.value,
                              objective.value_grad_hess)
    theta = TiedObjective.expand(result.theta) if fit.tied else result.theta
    return theta, result.converged
