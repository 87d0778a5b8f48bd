"""Synthetic sweeps drawn from a known law, and harness-style results dirs written from them (`scaling.rundir`).

The known law is the replication's (Besiroglu et al. 2024): its a = beta / (alpha + beta) is the truth the fits
must recover. Noise is multiplicative (log-normal) on the loss.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.laws import NAMED_LAWS

LAW = NAMED_LAWS["epoch"]
BUDGETS = (1e18, 3e18, 1e19, 3e19, 1e20, 3e20)
SIZE_FACTORS = tuple(np.geomspace(1 / 4, 4, 7))  # multiples of N_opt at each budget
CURVE_SIZES = tuple(np.geomspace(1e7, 1e9, 25))


def isoflop_sweep(seed: int, noise: float = 0.005, budgets=BUDGETS, factors=SIZE_FACTORS) -> pd.DataFrame:
    """Final losses of an isoFLOP sweep: at each budget, sizes N_opt x factors, D = C / 6N."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in budgets:
        for f in factors:
            n = LAW.compute_optimal(c)[0] * f
            d = c / (6 * n)
            rows.append({"params": n, "tokens": d, "flops": c, "budget": c,
                         "loss": LAW.loss(n, d) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def training_curves(seed: int, sizes=CURVE_SIZES, tokens_per_param: float = 100.0,
                    points: int = 40, run_noise: float = 0.004, point_noise: float = 0.0005) -> pd.DataFrame:
    """Long-format curves: each run's loss at log-spaced token counts up to tokens_per_param x N, as if every
    point were the end of a run tuned for it (the idealisation Approach 1 assumes), with a per-run offset."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, n in enumerate(sizes):
        tokens = np.geomspace(tokens_per_param * n / 100, tokens_per_param * n, points)
        loss = LAW.loss(n, tokens) * np.exp(run_noise * rng.standard_normal()
                                            + point_noise * rng.standard_normal(points))
        frames.append(pd.DataFrame({"run": f"run{i:02d}", "params": n, "tokens": tokens, "flops": 6 * n * tokens,
                                    "loss": loss}))
    return pd.concat(frames, ignore_index=True)


def write_run(run_dir: Path, summary: dict | None, metrics: list[dict], partial_tail: str | None = None,
              summary_text: str | None = None) -> Path:
    """One run directory: metrics.jsonl (optionally with a partial last line) and summary.json (or raw text)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(m) + "\n" for m in metrics) + (partial_tail or "")
    (run_dir / "metrics.jsonl").write_text(text)
    if summary_text is not None:
        (run_dir / "summary.json").write_text(summary_text)
    elif summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def write_sweep(root: Path, sweep: pd.DataFrame, curves: pd.DataFrame | None = None,
                experiment: str = "isoflop") -> Path:
    """A results dir with one completed run per row of `sweep` (and its curve from `curves` where given)."""
    for i, row in sweep.reset_index(drop=True).iterrows():
        name = row["run"] if "run" in row else f"c{row['flops']:.0e}_n{row['params']:.3g}_{i}"
        run_curve = curves[curves["run"] == name] if curves is not None else None
        metrics = [{"step": j, "tokens": float(p["tokens"]), "flops": float(p["flops"]), "lr": 1e-3,
                    "train_loss": float(p["loss"]) + 0.01, "val_loss": float(p["loss"])}
                   for j, (_, p) in enumerate(run_curve.iterrows())] if run_curve is not None else \
            [{"step": 1, "tokens": float(row["tokens"]), "flops": 6 * float(row["params"] * row["tokens"]),
              "lr": 1e-3, "train_loss": float(row["loss"]) + 0.01, "val_loss": float(row["loss"])}]
        summary = {"status": "completed", "params": float(row["params"]), "tokens": float(row["tokens"]),
                   "flops": 6 * float(row["params"] * row["tokens"]), "final_train_loss": float(row["loss"]) + 0.01,
                   "final_val_loss": float(row["loss"]), "model": {"style": "llama", "d_model": 64},
                   "budget": {"flops": float(row.get("budget", row["flops"])), "tokens": None}, "seed": 0}
        if "rule" in row:  # the allocation rule and size factor the harness records
            summary["allocation"] = {"rule": row["rule"], "size_factor": float(row.get("size_factor", 1.0))}
        write_run(root / experiment / name, summary, metrics)
    return root
