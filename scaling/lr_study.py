"""Learning-rate studies: does the size rule give every model size its best learning rate?

A study trains each (budget, size) at several multiples of the rule's peak LR (`optim.lr_scale`; the
`lr_sweep` experiment). Per (budget, size), `best_lr` fits a parabola to the final loss against log LR through
the lowest point and its two neighbours (the usual way to read an LR sweep, e.g. the OLMo and DeepSeek LLM
hyperparameter studies) and reports the best LR, the loss there and what the rule's LR (multiple 1) costs. A
study whose best multiple drifts with size is a rule that favours some sizes, which moves an isoFLOP optimum
(Porian et al. 2024). `fit_lr_rule` fits log LR* = log c + p log N (+ q log C) by least squares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scaling.errors import ScalingError

KEYS = ["budget.flops", "allocation.size_factor"]


def with_lr_scale(runs: pd.DataFrame) -> pd.DataFrame:
    """`optim.lr_scale` for every run: from summary.json where recorded, else from the run's config.yaml (the
    composed config every run writes when it starts)."""
    import yaml

    from scaling.rundir import CONFIG

    if "optim.lr_scale" in runs and runs["optim.lr_scale"].notna().all():
        return runs

    def scale(path: str) -> float:
        try:
            return float(yaml.safe_load((Path(path) / CONFIG).read_text())["optim"]["lr_scale"])
        except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
            return np.nan

    return runs.assign(**{"optim.lr_scale": [scale(p) for p in runs["path"]]})


def best_lr(runs: pd.DataFrame, loss: str = "final_val_loss") -> pd.DataFrame:
    """One row per (budget, size) tried at >= 3 LR multiples: params, the rule's LR (`optim.lr` / multiple), the
    best multiple and LR (parabola vertex in log LR, bracketed when an LR on each side was tried), the loss at
    the best LR and at the rule's, `rule_cost` = loss at multiple 1 minus the best loss (nats), and the
    parabola's `curvature` (nats per log-LR squared: the cost of missing the best LR by a factor f is about
    curvature x ln(f)^2)."""
    runs = with_lr_scale(runs) if "path" in runs else runs
    needed = {"optim.lr", "optim.lr_scale", loss, "params", *KEYS}
    if not needed <= set(runs.columns):
        raise ScalingError(f"an LR study needs the columns {', '.join(sorted(needed))}: are these runs of "
                           f"scaling-train with optim.lr_scale swept?")
    rows = []
    for (budget, factor), at in runs.groupby(KEYS):
        at = at.groupby("optim.lr_scale", as_index=False).agg(
            loss=(loss, "mean"), lr=("optim.lr", "first"), params=("params", "first"), seeds=(loss, "size"))
        at = at.sort_values("optim.lr_scale").reset_index(drop=True)
        if len(at) < 3:
            continue
        i = int(at["loss"].idxmin())
        j = min(max(i, 1), len(at) - 2)  # the lowest point and its two neighbours
        x = np.log(at["optim.lr_scale"].to_numpy()[j - 1:j + 2])
        y = at["loss"].to_numpy()[j - 1:j + 2]
        c2, c1, c0 = np.polyfit(x, y, 2)
        bracketed = 0 < i < len(at) - 1 and c2 > 0
        log_best = -c1 / (2 * c2) if bracketed else x[i - j + 1]
        rule = at.loc[np.isclose(at["optim.lr_scale"], 1.0), "loss"]
        best_loss = min(float(np.polyval([c2, c1, c0], log_best)), float(at["loss"].min()))
        base_lr = float(at["lr"].iloc[0] / at["optim.lr_scale"].iloc[0])
        rows.append({"budget.flops": budget, "allocation.size_factor": factor, "params": int(at["params"].iloc[0]),
                     "rule_lr": base_lr, "best_multiple": float(np.exp(log_best)),
                     "best_lr": base_lr * float(np.exp(log_best)), "bracketed": bool(bracketed),
                     "best_loss": best_loss, "rule_loss": float(rule.iloc[0]) if len(rule) else np.nan,
                     "rule_cost": float(rule.iloc[0]) - best_loss if len(rule) else np.nan,
                     "curvature": float(c2), "multiples": len(at)})
    if not rows:
        raise ScalingError("no (budget, size) was trained at 3 or more LR multiples (optim.lr_scale)")
    return pd.DataFrame(rows).sort_values(KEYS).reset_index(drop=True)


def fit_lr_rule(table: pd.DataFrame, with_budget: bool = True) -> dict:
    """Least squares of log best_lr on log params (and log budget): {"c", "p", "q", "rms_log"}, the rule
    LR* = c N^p C^q (q = 0 without the budget), from the bracketed rows only."""
    use = table[table["bracketed"]]
    if len(use) < (3 if with_budget else 2):
        raise ScalingError(f"only {len(use)} bracketed (budget, size) optima: too few to fit an LR rule")
    columns = [np.ones(len(use)), np.log(use["params"].to_numpy(dtype=float))]
    if with_budget:
        columns.append(np.log(use["budget.flops"].to_numpy(dtype=float)))
    design = np.column_stack(columns)
    target = np.log(use["best_lr"].to_numpy(dtype=float))
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    return {"c": float(np.exp(coef[0])), "p": float(coef[1]), "q": float(coef[2]) if with_budget else 0.0,
            "rms_log": float(np.sqrt(np.mean(residual ** 2))), "points": int(len(use))}
