"""Damped Newton on many small problems at once: one row of `theta` per problem, every row advanced together.

Fitting a scaling law from 25 starts or refitting it on 4,000 bootstrap resamples is thousands of independent
5-parameter minimisations over the same few hundred points. A loop of scipy calls spends its time in Python;
here each iteration is a handful of numpy operations on a (rows x points) array.

Each iteration takes, per row, a Levenberg-Marquardt step on the Jacobi-scaled Hessian with its eigenvalues
replaced by their absolute values (so a saddle is left downhill, as in saddle-free Newton; Dauphin et al. 2014):
p = -D^-1 V (|Lambda| + lambda I)^-1 V^T D^-1 g. A step that lowers f is taken and lambda shrinks tenfold; one that
does not is retried with lambda ten times larger (the eigendecomposition is reused, so a retry costs one function
value). A row stops when an accepted step lowers f by less than `ftol` relative, or when no damping lowers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# value(theta[rows], rows) -> f (len(rows),); value_grad_hess(theta[rows], rows) -> (f, g (.., k), H (.., k, k))
Value = Callable[[np.ndarray, np.ndarray], np.ndarray]
ValueGradHess = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class BatchResult:
    theta: np.ndarray  # (S, k) the minimisers
    value: np.ndarray  # (S,) f at them
    converged: np.ndarray  # (S,) False where max_iter ran out first (or f was never finite)


def minimize_batched(theta0: np.ndarray, value: Value, value_grad_hess: ValueGradHess, *, max_iter: int = 200,
                     ftol: float = 1e-13, max_tries: int = 12, damping: float = 1e-4) -> BatchResult:
    """Minimise S problems f_s(theta_s) from the rows of `theta0` (S x k); see the module docstring."""
    theta = np.array(theta0, dtype=float)
    rows_all = np.arange(len(theta))
    f = value(theta, rows_all)
    lam = np.full(len(theta), damping)
    active = np.isfinite(f)
    converged = np.zeros(len(theta), dtype=bool)
    for _ in range(max_iter):
        rows = np.flatnonzero(active)
        if not len(rows):
            break
        f0, g, hess = value_grad_hess(theta[rows], rows)
        diag = np.abs(np.diagonal(hess, axis1=1, axis2=2))
        scale = np.sqrt(np.maximum(diag, 1e-12 * diag.max(axis=1, keepdims=True) + 1e-300))
        eigval, eigvec = np.linalg.eigh(hess / scale[:, :, None] / scale[:, None, :])
        eigval = np.abs(eigval)
        g_eig = np.einsum("sji,sj->si", eigvec, g / scale)
        pending = np.arange(len(rows))  # positions in `rows` still looking for a step that lowers f
        for _ in range(max_tries):
            step = -np.einsum("sij,sj->si", eigvec[pending], g_eig[pending] / (eigval[pending] + lam[rows[pending],
                                                                                                    None]))
            trial = theta[rows[pending]] + step / scale[pending]
            f_trial = value(trial, rows[pending])
            better = f_trial <= f0[pending]  # False for NaN
            took = rows[pending[better]]
            theta[took], f[took] = trial[better], f_trial[better]
            lam[took] = np.maximum(lam[took] * 0.1, 1e-12)
            done = f0[pending[better]] - f_trial[better] <= ftol * np.abs(f0[pending[better]])
            active[took[done]] = False
            converged[took[done]] = True
            lam[rows[pending[~better]]] *= 10.0
            pending = pending[~better]
            if not len(pending):
                break
        # no damping lowered f: the row sits at a minimum to working precision
        active[rows[pending]] = False
        converged[rows[pending]] = True
    return BatchResult(theta, f, converged)
