"""Figures of a sweep (matplotlib): loss curves, isoFLOP profiles, optimal scaling, allocation comparison.

Each function takes the frames of `scaling.results` (and fit output where it needs one) and returns a Figure;
`save(fig, path)` writes it as PNG. The Agg backend is used unless one was chosen already, so this works
on machines with no screen.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from scaling.allocation import PF_DAY, TOKENS_PER_PARAM  # noqa: E402
from scaling.atomic import atomic_path  # noqa: E402

RULE_COLORS = {"gpt3": "tab:red", "chinchilla": "tab:blue", "optimal": "tab:green", "llama": "tab:purple",
               "kaplan": "tab:orange", "inference": "tab:brown"}


def save(fig, path: str | Path) -> Path:
    """Write `fig` as a PNG atomically and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _size_colors(params: pd.Series):
    logn = np.log10(params.astype(float))
    lo, hi = logn.min(), logn.max()
    norm = matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1)
    return norm, matplotlib.colormaps["viridis"]


def loss_curves(curves: pd.DataFrame, x: str = "flops", smooth: int = 5, title: str | None = None):
    """Training loss (lines, a rolling mean over `smooth` log points) and validation loss (dots) of each run
    against log `x` ("flops" or "tokens"), coloured by model size: the picture behind Approach 1."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    if curves.empty:
        ax.text(0.5, 0.5, "no curves", ha="center", transform=ax.transAxes)
        return fig
    norm, cmap = _size_colors(curves["params"].dropna())
    for _, run in curves.dropna(subset=["params"]).groupby("run", sort=False):
        color = cmap(norm(math.log10(run["params"].iloc[0])))
        run = run.sort_values(x)
        ax.plot(run[x], run["train_loss"].rolling(smooth, min_periods=1).mean(), color=color, lw=1, alpha=0.8)
        if "val_loss" in run:
            val = run.dropna(subset=["val_loss"])
            ax.plot(val[x], val["val_loss"], "o", color=color, ms=2.5)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (6ND)" if x == "flops" else "training tokens")
    ax.set_ylabel("loss (nats/token): train lines, validation dots")
    lo, hi = curves["train_loss"].quantile([0.0, 0.98])
    ax.set_ylim(lo - 0.05, hi)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="log10 parameters")
    ax.set_title(title or "Loss curves by model size")
    ax.grid(alpha=0.3, which="both")
    return fig


def isoflop_profiles(runs: pd.DataFrame, per_budget: list[dict] | None = None, loss: str = "final_val_loss"):
    """Final loss against log N at each budget (Hoffmann et al. 2022, Fig. 3 left): the runs, a parabola in
    log N through them (least squares, as Approach 2 fits it), and its vertex; open markers for vertices that
    are not bracketed by the sizes tried."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    budgets = sorted(runs["budget.flops"].unique())
    cmap = matplotlib.colormaps["plasma"]
    vertex = {round(math.log10(r["flops"]), 6): r for r in (per_budget or [])}
    for i, c in enumerate(budgets):
        color = cmap(0.1 + 0.8 * i / max(1, len(budgets) - 1))
        at = runs[runs["budget.flops"] == c].sort_values("params")
        ax.plot(at["params"], at[loss], "o", color=color, label=f"{c:.3g} FLOPs")
        if at["params"].nunique() >= 3:
            coef = np.polyfit(np.log(at["params"]), at[loss], 2)
            grid = np.linspace(np.log(at["params"].min()) - 0.3, np.log(at["params"].max()) + 0.3, 100)
            ax.plot(np.exp(grid), np.polyval(coef, grid), "-", color=color, lw=1)
        r = vertex.get(round(math.log10(c), 6))
        if r and r.get("params_opt"):
            ax.plot(r["params_opt"], r["loss_opt"], "*", ms=13, color=color, mec="black",
                    mfc=color if r["bracketed"] else "none")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("final validation loss (nats/token)")
    ax.set_title("isoFLOP profiles: parabola in log N per budget, star at its minimum")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig


def optimal_scaling(approach2: dict, band: dict | None = None,
                    chinchilla_ratio: float = TOKENS_PER_PARAM["chinchilla"]):
    """N_opt(C) and D_opt(C) (Hoffmann et al. 2022, Fig. 3 centre/right): the per-budget vertices of Approach 2,
    the fitted power law with its bootstrap band (`band`: flops and [lo, hi] of params and tokens, from fit
    budgets), and for reference Chinchilla's ~20 tokens/param and Kaplan et al.'s N_opt = 1.3e9 (C/PF-day)^0.73."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    rows = [r for r in approach2["per_budget"] if r.get("params_opt")]
    c = np.array([r["flops"] for r in rows])
    lo_c = min(c.min(), band["flops"][0] if band else c.min()) / 2
    hi_c = max(c.max(), band["flops"][-1] if band else c.max()) * 2
    grid = np.geomspace(lo_c, hi_c, 50)
    for ax, key, exponent, coef, label in (
            (axes[0], "params_opt", approach2["a"], approach2["params_coefficient"], "N_opt (parameters)"),
            (axes[1], "tokens_opt", approach2["b"], approach2["tokens_coefficient"], "D_opt (tokens)")):
        values = np.array([r[key] for r in rows])
        brk = np.array([r["bracketed"] for r in rows])
        ax.plot(c[brk], values[brk], "o", color="black", label="isoFLOP minima")
        if (~brk).any():
            ax.plot(c[~brk], values[~brk], "o", mfc="none", color="black", label="not bracketed")
        ax.plot(grid, coef * grid**exponent, "-", color="tab:blue",
                label=f"fit: {'a' if key == 'params_opt' else 'b'} = {exponent:.3f}")
        if band:
            which = "params" if key == "params_opt" else "tokens"
            ax.fill_between(band["flops"], band[which][0], band[which][1], color="tab:blue", alpha=0.2,
                            label="95% bootstrap band")
        chin_n = np.sqrt(grid / (6 * chinchilla_ratio))
        ax.plot(grid, chin_n if key == "params_opt" else chinchilla_ratio * chin_n, "--", color="tab:gray",
                label="Chinchilla: 20 tokens/param")
        kaplan_n = 1.3e9 * (grid / PF_DAY) ** 0.73
        ax.plot(grid, kaplan_n if key == "params_opt" else grid / (6 * kaplan_n), ":", color="tab:orange",
                label="Kaplan: N ~ C^0.73")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C (FLOPs)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.suptitle("Compute-optimal model size and data (Approach 2)")
    return fig


def allocation_comparison(table: pd.DataFrame):
    """Final validation loss of each allocation rule at each budget (`table`: one row per budget, one column
    per rule, as `scaling.report.allocation_table` gives it)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for rule in table.columns:
        label = f"{rule} ({TOKENS_PER_PARAM[rule]:.3g} tokens/param)" if rule in TOKENS_PER_PARAM else rule
        ax.plot(table.index, table[rule], "o-", color=RULE_COLORS.get(rule), label=label)
    ax.set_xscale("log")
    ax.set_xlabel("compute budget C (FLOPs)")
    ax.set_ylabel("final validation loss (nats/token)")
    ax.set_title("Same compute, different splits: loss by allocation rule")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return fig
