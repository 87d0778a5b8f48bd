"""Figures of a sweep (matplotlib): loss curves, isoFLOP profiles, optimal scaling, allocation comparison.

Each function takes the frames of `scaling.results` (and fit output where it needs one) and returns a Figure;
`save(fig, path)` writes it as PNG. One style owns every figure: `STYLE` (rc parameters, applied by the `_styled`
decorator), `LABELS` (axis labels), `_style` (labels, log axes, legend beneath the data) and `RULE_COLORS`. The Agg
backend is used unless one was chosen already, so this works on machines with no screen.
"""

from __future__ import annotations

import functools
import io
import math

import matplotlib

if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from scaling.allocation import KAPLAN_EXPONENT, TOKENS_PER_PARAM, allocate  # noqa: E402
from scaling.laws import NAMED_LAWS  # noqa: E402

RULE_COLORS = {"gpt3": "tab:red", "chinchilla": "tab:blue", "optimal": "tab:green", "llama": "tab:purple",
               "kaplan": "tab:orange", "inference": "tab:brown"}

STYLE = {
    "figure.dpi": 120, "savefig.dpi": 120, "figure.constrained_layout.use": True,
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "figure.titlesize": 11,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "legend.frameon": False,
    "axes.grid": True, "axes.grid.which": "major", "grid.alpha": 0.3, "grid.linewidth": 0.6,
    "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.3, "lines.markersize": 5,
}
LABELS = {"flops": "compute C = 6ND (FLOPs)", "tokens": "training tokens D", "params": "parameters N",
          "final_loss": "final validation loss (nats/token)", "loss": "loss (nats/token)",
          "params_opt": "N_opt (parameters)", "tokens_opt": "D_opt (tokens)"}
PANEL = 3.0  # inches per small-multiple panel


def _styled(function):
    """Draw `function`'s figure under STYLE."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)
    return wrapper


def _style(ax, xlabel: str | None = None, ylabel: str | None = None, title: str | None = None, *,
           xlog: bool = False, ylog: bool = False, legend: bool | list = False, ncol: int | None = None):
    """Label `ax`, set its log axes, and put its legend beneath it (`legend`: True for the axes' own labelled
    artists, or a list of handles), so that no legend covers data."""
    for log, axis, scale in ((xlog, ax.xaxis, ax.set_xscale), (ylog, ax.yaxis, ax.set_yscale)):
        if log:
            scale("log")
            axis.set_minor_formatter(matplotlib.ticker.FuncFormatter(functools.partial(_minor_label, axis)))
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend is not False:
        handles = ax.get_legend_handles_labels()[0] if legend is True else legend
        if handles:
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                      ncol=ncol or min(2, len(handles)))
    return ax


def _minor_label(axis, value: float, pos=None) -> str:
    """Label 3 x 10^k between the decades of a log axis that spans under two decades; nothing otherwise."""
    lo, hi = sorted(axis.get_view_interval())
    if value <= 0 or lo <= 0 or math.log10(hi / lo) >= 2:
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    return f"$3\\times10^{{{exponent}}}$" if abs(value / 10**exponent - 3) < 1e-6 else ""


def _empty(message: str, title: str | None = None):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    _style(ax, title=title)
    return fig


def _flops(c: float) -> str:
    """1e11, 3e12: a budget as the sweeps name it."""
    exponent = math.floor(math.log10(c) + 1e-9)
    return f"{c / 10**exponent:.2g}e{exponent}"


def png(fig) -> bytes:
    """`fig` as PNG bytes (closed after), for a caller that writes several files as one change."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=STYLE["savefig.dpi"], bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _truncated(name: str, top: float = 0.85):
    """A colormap without its palest end, which vanishes on white."""
    return matplotlib.colors.ListedColormap(matplotlib.colormaps[name](np.linspace(0.0, top, 256)))


def _loss_window(data: pd.DataFrame, val: pd.DataFrame) -> tuple[float, float]:
    """The loss range worth showing: from the lowest point to above the highest validation point (or, with none,
    half the spread of the final losses above the highest), so the warm-up's first points fall outside it."""
    finals = data.groupby("run")["smoothed"].last()
    lo = min(data["smoothed"].min(), val["val_loss"].min() if len(val) else np.inf)
    hi = finals.max() + 0.5 * max(finals.max() - lo, 0.1)
    if len(val):
        hi = max(hi, val["val_loss"].max())
    pad = 0.04 * (hi - lo)
    return lo - pad, hi + pad


def _entry(x: np.ndarray, loss: np.ndarray, first: int, top: float) -> float:
    """Where the line from point first-1 to point `first` crosses the loss `top` (log-linear in x)."""
    if first == 0 or loss[first - 1] == loss[first]:
        return float(x[first])
    t = (loss[first - 1] - top) / (loss[first - 1] - loss[first])
    return float(np.exp(np.log(x[first - 1]) + t * (np.log(x[first]) - np.log(x[first - 1]))))


@_styled
def loss_curves(curves: pd.DataFrame, x: str = "flops", smooth: int = 5, title: str | None = None,
                runs: pd.DataFrame | None = None):
    """Training loss (lines, a rolling mean over `smooth` log points) and validation loss (dots) of each run
    against log `x` ("flops" or "tokens"), coloured by model size: the curves behind Approach 1 (Hoffmann et al.
    2022, Fig. 2 left). Where `runs` gives each run's `budget.flops`, one panel per budget (shared loss axis).
    Each panel's x range is that of the points inside the loss window: the first warm-up points are clipped."""
    need = {"run", "params", x, "train_loss"}
    data = curves.dropna(subset=["params", x, "train_loss"]) if need <= set(curves.columns) else curves.iloc[0:0]
    if data.empty:
        return _empty("no curves", title or "Loss curves")
    data = data.sort_values(["run", x]).copy()
    data["smoothed"] = data.groupby("run")["train_loss"].transform(
        lambda s: s.rolling(smooth, min_periods=1).mean())
    val = data.dropna(subset=["val_loss"]) if "val_loss" in data else data.iloc[0:0]
    lo, hi = _loss_window(data, val)
    budget = {}
    if runs is not None and {"run", "budget.flops"} <= set(runs.columns):
        budget = dict(zip(runs["run"], runs["budget.flops"].astype(float), strict=True))
    data["panel"] = data["run"].map(budget) if budget else np.nan
    panels = sorted(data["panel"].dropna().unique()) or [np.nan]
    if data["panel"].notna().any():
        data = data[data["panel"].notna()]
    ncols = math.ceil(len(panels) / math.ceil(len(panels) / 4))  # at most 4 a row, rows evenly filled
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL * ncols + 1.2, PANEL * nrows + 0.9), sharey=True,
                             squeeze=False)
    params = data["params"].astype(float)
    norm = matplotlib.colors.LogNorm(params.min(), params.max() if params.max() > params.min() else params.min() * 2)
    cmap = _truncated("viridis", 0.9)
    for ax, c in zip(axes.flat, panels, strict=False):
        at = data if np.isnan(c) else data[data["panel"] == c]
        inside = []
        for _, run in at.groupby("run", sort=False):
            color = cmap(norm(float(run["params"].iloc[0])))
            entered = np.flatnonzero(run["smoothed"].to_numpy() <= hi)
            if not len(entered):
                continue
            first = entered[0]
            inside.append(_entry(run[x].to_numpy(), run["smoothed"].to_numpy(), first, hi))
            shown = run.iloc[max(first - 1, 0):]  # one point before: the line enters through the top edge
            ax.plot(shown[x], shown["smoothed"], color=color, lw=1, alpha=0.85)
            if "val_loss" in shown:
                ok = shown.dropna(subset=["val_loss"])
                ax.plot(ok[x], ok["val_loss"], "o", color=color, ms=2.5)
        if inside:
            ax.set_xlim(min(inside), at[x].max() * 1.05)
        _style(ax, LABELS[x] if x in LABELS else x, None, None if np.isnan(c) else f"C = {_flops(c)} FLOPs",
               xlog=True)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    axes[0, 0].set_ylim(lo, hi)
    for row in axes:
        row[0].set_ylabel(LABELS["loss"])
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, label=LABELS["params"],
                 shrink=0.9 / math.sqrt(nrows))
    key = [Line2D([], [], color="gray", lw=1, label=f"training loss (rolling mean of {smooth} log points)"),
           Line2D([], [], color="gray", marker="o", ms=3, ls="none", label="validation loss")]
    fig.legend(handles=key, loc="outside lower center", ncol=2)
    fig.suptitle(title or "Loss curves by compute budget, coloured by model size")
    return fig


@_styled
def isoflop_profiles(runs: pd.DataFrame, per_budget: list[dict] | None = None, loss: str = "final_val_loss"):
    """Final loss against log N at each budget (Hoffmann et al. 2022, Fig. 3 left): the runs, a parabola in
    log N through those in the budget's window (least squares, as Approach 2 fits it; runs outside the window
    hollow), and its vertex, filled where the sizes tried bracket it and open where it is extrapolated."""
    title = "isoFLOP profiles (Approach 2)"
    if runs.empty or not {"budget.flops", "params", loss} <= set(runs.columns):
        return _empty("no isoFLOP runs", title)
    fig, ax = plt.subplots(figsize=(7, 5))
    budgets = sorted(runs["budget.flops"].astype(float).unique())
    cmap = _truncated("plasma")
    vertex = {round(math.log10(r["flops"]), 6): r for r in (per_budget or [])}
    handles, open_stars, outside = [], False, False
    for i, c in enumerate(budgets):
        color = cmap(i / max(1, len(budgets) - 1))
        at = runs[runs["budget.flops"] == c].sort_values("params")
        r = vertex.get(round(math.log10(c), 6))
        inside = np.ones(len(at), dtype=bool)
        if r and r.get("params_window"):
            lo, hi = r["params_window"]
            inside = ((at["params"] >= lo * (1 - 1e-9)) & (at["params"] <= hi * (1 + 1e-9))).to_numpy()
        handles += ax.plot(at["params"][inside], at[loss][inside], "o", color=color, label=f"C = {_flops(c)} FLOPs")
        if (~inside).any():
            ax.plot(at["params"][~inside], at[loss][~inside], "o", mfc="none", color=color)
            outside = True
        fitted = at[inside]
        if fitted["params"].nunique() >= 3:
            coef = np.polyfit(np.log(fitted["params"]), fitted[loss], 2)
            grid = np.linspace(np.log(fitted["params"].min()) - 0.3, np.log(fitted["params"].max()) + 0.3, 100)
            ax.plot(np.exp(grid), np.polyval(coef, grid), "-", color=color, lw=1)
        if r and r.get("params_opt"):
            ax.plot(r["params_opt"], r["loss_opt"], "*", ms=13, color=color, mec="black",
                    mfc=color if r["bracketed"] else "none", zorder=3)
            open_stars |= not r["bracketed"]
    handles.append(Line2D([], [], color="gray", lw=1, label="parabola in log N (least squares, on the window)"))
    if outside:
        handles.append(Line2D([], [], marker="o", ls="none", mfc="none", color="gray",
                              label="run outside the window (not fitted)"))
    if vertex:
        handles.append(Line2D([], [], marker="*", ms=11, ls="none", color="gray", mec="black",
                              label="minimum, within the sizes tried"))
    if open_stars:
        handles.append(Line2D([], [], marker="*", ms=11, ls="none", mfc="none", mec="black",
                              label="minimum outside the sizes tried (extrapolated)"))
    _style(ax, LABELS["params"], LABELS["final_loss"], title, xlog=True, legend=handles, ncol=2)
    return fig


def _fixed_ratio_exponent(rule: str = "chinchilla") -> float:
    """d log N / d log C of a fixed tokens-per-parameter rule, read off `scaling.allocation.allocate`."""
    law = NAMED_LAWS["chinchilla"]  # unused by fixed-ratio rules; allocate wants one
    c1, c2 = 1e20, 1e22
    return math.log(allocate(rule, c2, law).params / allocate(rule, c1, law).params) / math.log(c2 / c1)


def _anchor(rows: list[dict]) -> tuple[float, float, float]:
    """(C, N_opt, D_opt) at the geometric mean of the isoFLOP minima (the bracketed ones where there are any)."""
    use = [r for r in rows if r["bracketed"]] or rows
    return tuple(float(np.exp(np.mean(np.log([r[k] for r in use])))) for k in ("flops", "params_opt", "tokens_opt"))


@_styled
def optimal_scaling(approach2: dict, band: dict | None = None,
                    chinchilla_ratio: float = TOKENS_PER_PARAM["chinchilla"]):
    """N_opt(C) and D_opt(C) (Hoffmann et al. 2022, Fig. 3 centre/right): the per-budget vertices of Approach 2,
    the fitted power law with its bootstrap band (`band`: flops and [lo, hi] of params and tokens, from fit
    budgets), and the published slopes to compare with: Chinchilla's fixed tokens/param (N, D ~ C^0.5) and Kaplan
    et al.'s N ~ C^0.73 (so D ~ C^0.27). Those slopes are drawn through the geometric mean of the isoFLOP minima:
    the published intercepts belong to other tokenizers, data and parameter counts, only the slopes compare."""
    title = "Compute-optimal model size and data (Approach 2)"
    rows = [r for r in approach2.get("per_budget", []) if r.get("params_opt")]
    if not rows:
        return _empty("no isoFLOP minimum to plot", title)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    c = np.array([r["flops"] for r in rows])
    lo_c = min(c.min(), band["flops"][0] if band else c.min()) / 2
    hi_c = max(c.max(), band["flops"][-1] if band else c.max()) * 2
    grid = np.geomspace(lo_c, hi_c, 50)
    anchor_c, anchor_n, anchor_d = _anchor(rows)
    chin = _fixed_ratio_exponent()
    brk = np.array([r["bracketed"] for r in rows])
    for ax, key, symbol, exponent, coef, anchor, refs in (
            (axes[0], "params_opt", "N", approach2["a"], approach2["params_coefficient"], anchor_n,
             (chin, KAPLAN_EXPONENT)),
            (axes[1], "tokens_opt", "D", approach2["b"], approach2["tokens_coefficient"], anchor_d,
             (1 - chin, 1 - KAPLAN_EXPONENT))):
        values = np.array([r[key] for r in rows])
        ax.plot(c[brk], values[brk], "o", color="black", label="isoFLOP minima", zorder=3)
        if (~brk).any():
            ax.plot(c[~brk], values[~brk], "o", mfc="none", color="black", label="minima not bracketed", zorder=3)
        fitted = coef * grid**exponent
        ax.plot(grid, fitted, "-", color="tab:blue", label=f"fit: {symbol} ~ C^{exponent:.3f}")
        if band:
            which = "params" if key == "params_opt" else "tokens"
            ax.fill_between(band["flops"], band[which][0], band[which][1], color="tab:blue", alpha=0.2, lw=0,
                            label="95% bootstrap band of the fit")
        lines = [values, fitted]
        for slope, name, style, color in ((refs[0], "Chinchilla", "--", "tab:gray"),
                                          (refs[1], "Kaplan", ":", RULE_COLORS["kaplan"])):
            ref = anchor * (grid / anchor_c) ** slope
            lines.append(ref)
            note = f" ({chinchilla_ratio:g} tokens/param)" if name == "Chinchilla" else ""
            ax.plot(grid, ref, style, color=color, lw=1.5,
                    label=f"{name} slope{note}: {symbol} ~ C^{slope:.2f}, anchored at the data")
        ax.plot(anchor_c, anchor, "+", color="dimgray", ms=16, mew=1.2, zorder=2,
                label="anchor: geometric mean of the minima")
        every = np.concatenate(lines)
        ax.set_ylim(every.min() / 2, every.max() * 2)  # a wide bootstrap band is clipped, not the data
        ax.set_xlim(lo_c, hi_c)
        _style(ax, LABELS["flops"], LABELS[key], xlog=True, ylog=True, legend=True, ncol=1)
    fig.suptitle(title)
    return fig


def _ratio_label(rule: str, ratios: pd.Series | None) -> str:
    if rule in TOKENS_PER_PARAM:
        return f"{rule} ({TOKENS_PER_PARAM[rule]:.3g} tokens/param)"
    ratios = ratios.dropna() if ratios is not None else ratios
    if ratios is None or ratios.empty:
        return rule
    lo, hi = ratios.min(), ratios.max()
    span = f"{lo:.2g}" if hi < 1.05 * lo else f"{lo:.2g}-{hi:.2g}"
    return f"{rule} ({span} tokens/param trained)"


@_styled
def allocation_comparison(table: pd.DataFrame, spread: pd.DataFrame | None = None):
    """Final validation loss of each allocation rule at each budget, as the compute-matched comparison of Hoffmann
    et al. 2022 (Fig. 3, Table 3) draws it. `table`: one row per budget, one column per rule (mean over seeds), as
    `scaling.report.allocation_table` gives it. `spread` (`scaling.report.allocation_spread`): per budget and rule
    the seeds' `std` and `count`, drawn as ±1 sd error bars where count > 1, and `tokens_per_param`, the ratio the
    runs trained at, which labels rules with no fixed ratio (optimal, kaplan, inference)."""
    title = "Same compute, different splits: loss by allocation rule"
    if table.empty or not len(table.columns):
        return _empty("no runs at size factor 1", title)
    fig, ax = plt.subplots(figsize=(7, 5))
    counts = set()
    for rule in table.columns:
        color = RULE_COLORS.get(rule)
        mine = spread[spread["allocation.rule"] == rule].set_index("budget.flops") if spread is not None else None
        label = _ratio_label(rule, mine["tokens_per_param"] if mine is not None and "tokens_per_param" in mine
                             else None)
        y = table[rule].dropna()
        ax.plot(y.index, y, "o-", color=color, label=label)
        if mine is not None and len(mine):
            seeds = mine.reindex(y.index)
            several = (seeds["count"] > 1) & (seeds["std"] > 0)
            if several.any():
                ax.errorbar(y.index[several], y[several], yerr=seeds["std"][several], fmt="none", ecolor=color,
                            capsize=4, elinewidth=1.3)
                counts |= {int(n) for n in seeds["count"][several]}
    handles = ax.get_legend_handles_labels()[0]
    if counts:
        seeds = "/".join(str(n) for n in sorted(counts))
        handles.append(Line2D([], [], color="gray", marker="|", ms=10, ls="none",
                              label=f"error bar: ±1 sd over {seeds} seeds (points: mean)"))
    _style(ax, LABELS["flops"], LABELS["final_loss"], title, xlog=True, legend=handles, ncol=2)
    return fig


APPROACH_COLORS = {"approach2": "tab:blue", "approach3": "tab:green"}
APPROACH_LABELS = {"approach2": "Approach 2", "approach3": "Approach 3"}


@_styled
def backtest(section: dict):
    """The backtest (`scaling.fitting.backtest`): N_opt (left) and the minimum loss (right) against C. The fitted
    budgets' optima (parabola vertices; their minimum losses), each approach's prediction from them with its
    bootstrap band, extended to the held-out budget (dotted line), and what that budget's runs show: its vertex
    with its interval, and its best run's loss."""
    held = section["holdout_compute"]
    title = f"Backtest: {_flops(section['holdout_flops'])} FLOPs predicted from the smaller budgets"
    fitted = section.get("fitted", [])
    if not fitted:
        return _empty("no fitted budgets", title)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    grid = np.asarray(section["curves"]["flops"])
    obs = section["observed"]
    c = np.array([r["compute"] for r in fitted])
    level = f"{section['level'] * 100:g}%"
    for ax, key, observed_key, label in ((axes[0], "params_opt", "params_opt", LABELS["params_opt"]),
                                         (axes[1], "loss", "loss_best", LABELS["loss"])):
        values = [r["params_opt"] if key == "params_opt" else r["loss_opt"] for r in fitted]
        ax.plot(c, values, "o", color="black", zorder=3,
                label="fitted budgets: parabola vertices" if key == "params_opt" else "fitted budgets: parabola minima")
        for name in ("approach2", "approach3"):
            curve = section["curves"].get(name)
            if curve is None:
                continue
            color = APPROACH_COLORS[name]
            ax.plot(grid, curve[key], "-", color=color, label=f"{APPROACH_LABELS[name]} prediction")
            if f"{key}_ci" in curve:
                lo, hi = curve[f"{key}_ci"]
                ax.fill_between(grid, lo, hi, color=color, alpha=0.18, lw=0,
                                label=f"{APPROACH_LABELS[name]}: {level} bootstrap band")
        value = obs[observed_key]
        interval = obs.get("params_opt_ci") if key == "params_opt" else None
        yerr = None if not interval else [[value - interval[0]], [interval[1] - value]]
        ax.errorbar([held], [value], yerr=yerr, fmt="*", ms=14, color="tab:red", mec="black", capsize=4, zorder=4,
                    label="held out: vertex (its interval)" if key == "params_opt" else "held out: best run's loss")
        ax.axvline(held, color="gray", ls=":", lw=1)
        _style(ax, LABELS["flops"], label, xlog=True, ylog=key == "params_opt", legend=True, ncol=1)
    fig.suptitle(title)
    return fig
