"""Study: Approach 2 with the profiles' shared skew (`scaling fit --skew`) against plain parabolas (the default),
on isoFLOP sweeps drawn from known laws. Its results are in docs/approach2_skew.md.

Laws: Chinchilla's (alpha 0.34, beta 0.28) and Epoch's replication (0.35, 0.37), near symmetric (kappa = beta -
alpha = -0.06 and +0.02); two strongly skewed ones (0.5/0.25 and 0.25/0.5, kappa -0.25 and +0.25); and Kaplan et
al.'s form with alpha_N 0.148, alpha_D 0.115 (kappa = 1 - alpha_N / alpha_D = -0.29; the form the reference sweep
favours). Six budgets over 3 decades; at each, a grid of sizes centred off the optimum as a plan by another law
would centre it (2x above it at the smallest budget, 2x below at the largest, times a random factor of sd 0.2 in
ln N); log-normal noise. Per setting and per method: bias and RMSE of a, coverage of a's 95% interval, bias and
RMSE of N_opt's level (ln N_opt at the middle budget), coverage of the per-budget N_opt intervals, and (plain
parabolas) how often the fit warns that the profiles are skewed.

    python bench/skew_study.py --reps 30 --out skew_study.csv     # ~4 min on one core
"""

from __future__ import annotations

import argparse
import itertools
import math
import warnings

import numpy as np
import pandas as pd

from scaling.fitting import fit
from scaling.laws import KaplanLaw, ParametricLaw

LAWS = {
    "chinchilla .34/.28": ParametricLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, name="chinchilla"),
    "epoch .35/.37": ParametricLaw(E=1.82, A=482.0, B=2085.0, alpha=0.35, beta=0.37, name="epoch"),
    "skewed .50/.25": ParametricLaw(E=1.8, A=400.0, B=400.0, alpha=0.5, beta=0.25, name="skewed"),
    "skewed .25/.50": ParametricLaw(E=1.8, A=400.0, B=4000.0, alpha=0.25, beta=0.5, name="skewed"),
    "kaplan .148/.115": KaplanLaw(E=0.0, N_c=2e7, D_c=1e8, alpha_N=0.148, alpha_D=0.115),
}
BUDGETS = {"kaplan .148/.115": np.geomspace(3e16, 3e19, 6)}  # where its optima lie in a familiar range
GRIDS = {"5 over 16x": (5, 16.0), "7 over 300x": (7, 300.0), "9 over 100x": (9, 100.0)}
NOISES = (0.003, 0.01)


def sweep(law, sizes: int, span: float, noise: float, seed: int, budgets) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    logc = np.log(budgets)
    rows = []
    for c, t in zip(budgets, (logc - logc[0]) / (logc[-1] - logc[0]), strict=True):
        centre = law.compute_optimal(c)[0] * 2.0 ** (1 - 2 * t) * math.exp(0.2 * rng.standard_normal())
        for n in centre * np.geomspace(span**-0.5, span**0.5, sizes):
            d = c / (6 * n)
            rows.append({"params": n, "tokens": d, "flops": c, "budget": c,
                         "loss": float(law.loss(n, d)) * math.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def setting(law, sizes, span, noise, budgets, skew: bool, reps: int, bootstrap: int) -> dict:
    mid = math.sqrt(budgets[0] * budgets[-1])
    err_a, err_level, held_a, held_budget, warned = [], [], [], [], 0
    for r in range(reps):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fit(sweep(law, sizes, span, noise, 1000 * r + 7, budgets), approach="2", skew=skew,
                      bootstrap=bootstrap, seed=r).to_dict()["approach2"]
        warned += any("profiles are skewed" in str(w.message) for w in caught)
        err_a.append(out["a"] - law.a)
        err_level.append(math.log(out["params_coefficient"]) + out["a"] * math.log(mid)
                         - math.log(law.compute_optimal(mid)[0]))
        held_a.append(out["ci"]["a"][0] <= law.a <= out["ci"]["a"][1])
        held_budget += [row["params_opt_ci"][0] <= law.compute_optimal(row["flops"])[0] <= row["params_opt_ci"][1]
                        for row in out["per_budget"] if row.get("params_opt_ci")]
    e, lv = np.array(err_a), np.array(err_level)
    return {"a_bias": e.mean(), "a_rmse": math.sqrt(np.mean(e**2)), "a_held": np.mean(held_a),
            "level_bias_pct": 100 * math.expm1(lv.mean()), "level_rmse": math.sqrt(np.mean(lv**2)),
            "budget_held": np.mean(held_budget), "warned": warned / reps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--out", default="skew_study.csv")
    args = parser.parse_args()
    rows = []
    for (name, law), (grid, (sizes, span)), noise in itertools.product(LAWS.items(), GRIDS.items(), NOISES):
        budgets = BUDGETS.get(name, np.geomspace(1e18, 1e21, 6))
        for skew in (False, True):
            row = {"law": name, "grid": grid, "noise": noise, "skew": skew,
                   **setting(law, sizes, span, noise, budgets, skew, args.reps, args.bootstrap)}
            rows.append(row)
            print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                  flush=True)
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
