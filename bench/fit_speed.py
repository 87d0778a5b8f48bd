"""Benchmark: Approach 3's full protocol on the Chinchilla data, a plain scipy loop against the batched path.

The protocol (Besiroglu et al. 2024): drop the 5 highest losses (240 runs remain); Huber (delta 1e-3) on log
residuals; L-BFGS-B from each of Hoffmann's 4,500 starts, keep the best; 4,000 bootstrap refits.

- Baseline: a plain loop of scipy.optimize.minimize(method="L-BFGS-B") with the analytic gradient (written
  here on its own, one parameter vector at a time). Grid: every start, L-BFGS-B's default tolerances (the
  replication's). Bootstrap: each resample refitted from the full-data optimum, the same start the batched
  path uses; tolerances tightened to ftol 1e-15, gtol 1e-10, because with the defaults L-BFGS-B stops short of
  the resample's optimum (by up to 1e-4 in objective and 0.2 in a), and an early stop is no like-for-like time.
- Batched (`scaling.fitting.parametric`, as `scaling fit` runs it): variable projection of the grid's starts (25
  distinct), batched Newton, L-BFGS-B polish of the best; bootstrap refits as batched Newton in chunks of 500.

Both paths get the same resamples. Prints both times, the ratio, and how far apart the optima are.
`--subset M` times the baseline bootstrap on M resamples and extrapolates linearly (said in the output).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# Both paths run on one BLAS thread, as `scaling fit` does: the matrices are tiny, and on a busy machine BLAS
# threads slow scipy's L-BFGS-B ~50x (measured here), which would flatter the batched path.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

from scaling.fitting.bootstrap import percentile_interval, refit_in_chunks, resample_counts  # noqa: E402
from scaling.fitting.data import drop_highest_losses, read_csv  # noqa: E402
from scaling.fitting.parametric import fit_parametric, hoffmann_grid, refit_resamples  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "chinchilla_svg_extracted_data.csv"
TIGHT = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 15000}


def plain_objective(theta, log_n, log_d, log_loss, weights, delta=1e-3):
    """sum w Huber(LSE(a - alpha log N, b - beta log D, e) - log L) and its gradient, for one theta."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    top = terms.max(axis=0)
    p = np.exp(terms - top)
    total = p.sum(axis=0)
    p /= total
    r = top + np.log(total) - log_loss
    absr = np.abs(r)
    f = np.sum(weights * np.where(absr <= delta, 0.5 * r * r, delta * (absr - 0.5 * delta)))
    psi = weights * np.clip(r, -delta, delta)
    grad = np.array([psi @ p[0], psi @ p[1], psi @ p[2], -(psi * p[0]) @ log_n, -(psi * p[1]) @ log_d])
    return f, grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--resamples", type=int, default=4000)
    parser.add_argument("--subset", type=int, default=0, help="time the baseline bootstrap on this many resamples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = drop_highest_losses(read_csv(args.data, params_col="Model Size", flops_col="Training FLOP"), 5)
    log_n, log_d, log_loss = np.log(data.params), np.log(data.tokens), np.log(data.loss)
    counts = resample_counts(len(data), args.resamples, np.random.default_rng([args.seed, 3]))
    ones = np.ones(len(data))
    print(f"{len(data)} runs, {len(hoffmann_grid())} starts, {args.resamples} resamples; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}")

    # --- baseline ---
    start = time.perf_counter()
    runs = [minimize(plain_objective, s, args=(log_n, log_d, log_loss, ones), jac=True, method="L-BFGS-B")
            for s in hoffmann_grid()]
    t_grid = time.perf_counter() - start
    base = min(runs, key=lambda r: r.fun)
    m = args.subset or args.resamples
    start = time.perf_counter()
    base_boot = np.array([minimize(plain_objective, base.x, args=(log_n, log_d, log_loss, w), jac=True,
                                   method="L-BFGS-B", options=TIGHT).x for w in counts[:m]])
    t_boot = (time.perf_counter() - start) * args.resamples / m

    # --- batched ---
    start = time.perf_counter()
    fit = fit_parametric(data.params, data.tokens, data.loss)
    f_grid = time.perf_counter() - start
    start = time.perf_counter()
    fast_boot, _ = refit_in_chunks(counts, lambda block: refit_resamples(fit, data.params, data.tokens, data.loss,
                                                                         block))
    f_boot = time.perf_counter() - start

    base_t, fast_t = t_grid + t_boot, f_grid + f_boot
    note = f" (timed on {m} resamples, extrapolated x{args.resamples / m:.1f})" if m < args.resamples else ""
    print(f"baseline, scipy L-BFGS-B loop: grid {t_grid:7.2f} s   bootstrap {t_boot:7.2f} s{note}   "
          f"total {base_t:7.2f} s")
    print(f"batched (scaling.fitting):        grid {f_grid:7.2f} s   bootstrap {f_boot:7.2f} s   total {fast_t:7.2f} s")
    print(f"speed-up: {base_t / fast_t:.1f}x in all (grid {t_grid / f_grid:.0f}x, bootstrap {t_boot / f_boot:.0f}x)")

    law = fit.law
    print(f"grid optimum: baseline objective {base.fun:.10f}, batched {fit.objective:.10f} "
          f"(relative difference {abs(base.fun - fit.objective) / base.fun:.1e}); largest parameter difference "
          f"{np.max(np.abs(base.x - fit.theta)):.1e} in (a, b, e, alpha, beta)")
    print(f"  batched: E={law.E:.4f} A={law.A:.1f} B={law.B:.0f} alpha={law.alpha:.4f} beta={law.beta:.4f} "
          f"a={law.a:.4f}; {fit.reached_best} of {fit.distinct_starts} projected starts reach it")
    base_f = np.array([plain_objective(t, log_n, log_d, log_loss, w)[0] for t, w in zip(base_boot, counts[:m],
                                                                                         strict=True)])
    fast_f = np.array([plain_objective(t, log_n, log_d, log_loss, w)[0] for t, w in zip(fast_boot[:m], counts[:m],
                                                                                         strict=True)])
    diff = np.abs(base_boot - fast_boot[:m]).max(axis=1)
    print(f"bootstrap optima ({m} compared): objective batched - baseline: median {np.median(fast_f - base_f):.1e}, "
          f"max {np.max(fast_f - base_f):.1e}; parameters within 1e-4 in {np.mean(diff < 1e-4):.1%} of resamples, "
          f"within 1e-2 in {np.mean(diff < 1e-2):.1%}")
    for i, name in ((3, "alpha"), (4, "beta")):
        b_lo, b_hi = percentile_interval(base_boot[:, i])
        f_lo, f_hi = percentile_interval(fast_boot[:m, i])
        print(f"  95% CI of {name}: baseline ({b_lo:.4f}, {b_hi:.4f}), batched ({f_lo:.4f}, {f_hi:.4f})")


if __name__ == "__main__":
    main()
