"""The architecture claims put to the test: each of LLaMA's four changes to GPT-3 at equal compute, with seeds.

Reads the runs of `conf/experiment/arch_ablation_cpu` (GPT-3 style, LLaMA style, and one switch flipped at a time
from each end; `scaling.architecture` owns the switches and styles), and, where given, the post-norm LR sweep
(`arch_postnorm_lr_cpu`) and the length-extrapolation results (`python -m experiments.extrapolate`).

- `arch_table`: final validation loss, mean +- std over seeds, per architecture and budget.
- `claims`: per claim, end and budget, the effect = loss(the claim's old choice) - loss(the claimed better one)
  (> 0: the claim holds), with a Welch t 95% interval over seeds and a verdict: "supported" (interval above 0),
  "not at this scale" (below 0: the old choice wins here) or "inconclusive" (straddles 0).
- `multipliers`: the effective compute multiplier of each change (Kaplan et al. 2020's "compute-equivalent"):
  a power law L = E + k C^-g fitted per architecture in log-log (E fixed, 0 by default: with two or three budgets
  E cannot be fitted), then the compute the old choice needs to reach the new one's loss at C, over C. > 1: the
  change is worth that many times the compute; its change from the smallest budget to the largest says whether the
  advantage grows with scale. Intervals: percentile bootstrap over seeds.
- `lr_stability`: the smallest LR multiple at which each norm position diverges, with and without warmup.

Torch-free, like all of `scaling`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from scaling.architecture import STYLES, SWITCHES
from scaling.errors import ScalingError
from scaling.fitting.bootstrap import percentile_interval
from scaling.fitting.power_law import fit_power_law
from scaling.results import load_runs

# (switch, the claimed better value, the old value it replaces, the claim); the styles hold the values.
CLAIMS = (
    ("norm", "rmsnorm", "layernorm", "RMSNorm instead of LayerNorm"),
    ("norm_position", "pre", "post", "pre-norm instead of post-norm"),
    ("ffn", "swiglu", "gelu", "SwiGLU instead of a GELU MLP (equal parameters)"),
    ("position", "rope", "learned", "RoPE instead of learned positions"),
)
CONFIDENCE = 0.95
LOSS = "final_val_loss"
COMPUTE = "flops_exact"  # what the runs spent, by the Appendix F count their budget was set in


ENDS = ("llama", "gpt3")


def arch_label(components: dict) -> str:
    """'llama', or 'llama norm=layernorm': the end (a style of scaling.architecture.STYLES) the switches are
    fewest flips from, and the flips. (A summary's model.style names the shape, 'custom' once a switch moves.)"""
    def flips(style: str) -> list[str]:
        base = STYLES[style].__dict__
        return [f"{k}={components[k]}" for k in SWITCHES if k in components and components[k] != base[k]]
    end = min(ENDS, key=lambda s: len(flips(s)))
    return " ".join([end, *flips(end)])


def ablation_runs(path: str | Path) -> pd.DataFrame:
    """The completed runs under `path` with their `arch` label, `budget` (the nominal FLOPs) and compute."""
    runs = load_runs(path)
    if runs.empty or "model.components.norm" not in runs:
        raise ScalingError(f"no runs with a summary under {path}: run scaling-train -m experiment=arch_ablation_cpu")
    runs = runs[runs["status"] == "completed"].copy()
    comp = [c for c in runs.columns if c.startswith("model.components.")]
    runs["arch"] = [arch_label({c.rsplit(".", 1)[1]: r[c] for c in comp}) for _, r in runs.iterrows()]
    runs["budget"] = runs["budget.flops"].astype(float)
    if runs["arch"].nunique() < 2:
        found = ", ".join(sorted(runs["arch"].unique())) or "no completed run"
        raise ScalingError(f"the runs under {path} have one architecture or none ({found}): an ablation compares "
                           f"several; run scaling-train -m experiment=arch_ablation_cpu")
    return runs


def arch_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count of the final loss over seeds, and the mean parameter count, per (arch, budget)."""
    g = runs.groupby(["arch", "budget"])
    return pd.DataFrame({"mean": g[LOSS].mean(), "std": g[LOSS].std(ddof=1), "seeds": g[LOSS].count(),
                         "params": g["params"].mean()}).reset_index()


def welch_interval(a: np.ndarray, b: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its Welch t interval (unequal variances, Welch-Satterthwaite degrees of freedom)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + confidence / 2, dof) * se
    return diff, diff - half, diff + half


def verdict(lo: float, hi: float) -> str:
    if lo > 0:
        return "supported"
    if hi < 0:
        return "not at this scale"
    return "inconclusive"


def _pairs(runs: pd.DataFrame):
    """(claim, end, arch with the better value, arch with the old value) for each claim and end present."""
    for switch, new, old, claim in CLAIMS:
        for end in ENDS:
            base = STYLES[end].__dict__[switch]
            flipped = f"{end} {switch}={old if base == new else new}"
            new_arch, old_arch = (end, flipped) if base == new else (flipped, end)
            if {new_arch, old_arch} <= set(runs["arch"]):
                yield claim, end, new_arch, old_arch


def claims(runs: pd.DataFrame) -> pd.DataFrame:
    """Per claim, end and budget: the effect (loss of the old choice minus the new), its interval and verdict."""
    rows = []
    for claim, end, new_arch, old_arch in _pairs(runs):
        for budget in sorted(runs["budget"].unique()):
            at = runs[runs["budget"] == budget]
            new, old = at.loc[at["arch"] == new_arch, LOSS], at.loc[at["arch"] == old_arch, LOSS]
            if len(new) < 2 or len(old) < 2:
                continue
            effect, lo, hi = welch_interval(old, new)
            rows.append({"claim": claim, "end": end, "new": new_arch, "old": old_arch, "budget": budget,
                         "new_loss": new.mean(), "new_std": new.std(ddof=1), "old_loss": old.mean(),
                         "old_std": old.std(ddof=1), "seeds": min(len(new), len(old)), "effect": effect,
                         "ci_low": lo, "ci_high": hi, "verdict": verdict(lo, hi)})
    return pd.DataFrame(rows)


def power_law(compute: np.ndarray, loss: np.ndarray, irreducible: float = 0.0) -> tuple[float, float]:
    """(log k, g) of L = E + k C^-g by least squares in log(L - E) vs log C, E fixed (`fit_power_law`)."""
    law = fit_power_law(compute, np.asarray(loss, float) - irreducible)
    return math.log(law.coefficient), -law.exponent


def compute_multiplier(new: tuple[float, float], old: tuple[float, float], compute: float,
                       irreducible: float = 0.0) -> float:
    """C_old(L_new(C)) / C: how many times C the old architecture needs to reach the new one's loss at C."""
    (log_k_new, g_new), (log_k_old, g_old) = new, old
    if g_old <= 0:
        return math.nan
    log_excess = log_k_new - g_new * math.log(compute)  # log(L_new(C) - E)
    return math.exp((log_k_old - log_excess) / g_old - math.log(compute))


def multipliers(runs: pd.DataFrame, irreducible: float = 0.0, bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per claim and end: each architecture's fitted exponent, and the multiplier at the smallest and largest
    budget with percentile intervals from resampling the seeds of every (arch, budget) cell."""
    if (runs[LOSS] <= irreducible).any():
        raise ScalingError(f"irreducible loss {irreducible} is not below every run's loss")
    rng = np.random.default_rng(seed)
    rows = []
    for claim, end, new_arch, old_arch in _pairs(runs):
        cells = {a: [g for _, g in runs[runs["arch"] == a].groupby("budget")] for a in (new_arch, old_arch)}
        if min(len(cells[a]) for a in cells) < 2:
            continue
        lo_c, hi_c = runs["budget"].min(), runs["budget"].max()

        def fit(arch: str, draw: bool, cells=cells) -> tuple[float, float]:
            frames = [g.sample(len(g), replace=True, random_state=rng) if draw else g for g in cells[arch]]
            both = pd.concat(frames)
            return power_law(both[COMPUTE], both[LOSS], irreducible)

        point = fit(new_arch, False), fit(old_arch, False)
        draws = np.array([[compute_multiplier(n, o, c, irreducible) for c in (lo_c, hi_c)]
                          for n, o in ((fit(new_arch, True), fit(old_arch, True)) for _ in range(bootstrap))])
        row = {"claim": claim, "end": end, "new": new_arch, "old": old_arch,
               "g_new": point[0][1], "g_old": point[1][1]}
        for i, (name, c) in enumerate((("low", lo_c), ("high", hi_c))):
            finite = draws[:, i][np.isfinite(draws[:, i])]
            row[f"budget_{name}"] = c
            row[f"multiplier_{name}"] = m = compute_multiplier(*point, c, irreducible)
            # the old architecture's fit read at m C: outside the budgets run, the multiplier is an extrapolation
            row[f"multiplier_{name}_extrapolated"] = bool(np.isfinite(m) and not lo_c <= m * c <= hi_c)
            row[f"multiplier_{name}_ci"] = (tuple(percentile_interval(finite, CONFIDENCE)) if len(finite)
                                            else (math.nan, math.nan))
        low, high = row["multiplier_low"], row["multiplier_high"]
        row["trend"] = ("undefined: a loss that does not fall with compute" if not np.isfinite([low, high]).all()
                        else "grows with compute" if high > low else "shrinks with compute")
        rows.append(row)
    return pd.DataFrame(rows)


def _lr_runs(lr_runs: pd.DataFrame) -> pd.DataFrame:
    """The LR sweep's completed and diverged runs, with a `warmup` flag; one line where they are not that sweep's."""
    needed = ["status", "optim.warmup_steps", "optim.lr_scale", "optim.lr", "model.components.norm_position", LOSS]
    missing = [c for c in needed if c not in lr_runs]
    if missing:
        raise ScalingError(f"the LR sweep's runs lack {', '.join(missing)}: give --lr-sweep the results dir of "
                           f"scaling-train -m experiment=arch_postnorm_lr_cpu")
    runs = lr_runs[lr_runs["status"].isin(["completed", "diverged"])].copy()
    scales = pd.to_numeric(runs["optim.lr_scale"], errors="coerce").dropna().unique()
    if not len(scales):
        raise ScalingError("the LR sweep has no finished (completed or diverged) runs yet: wait for it, or leave "
                           "out --lr-sweep")
    if len(scales) < 2:  # e.g. an isoFLOP sweep: every run at the rule's LR, nothing about stability to read
        tried = ", ".join(f"{x:g}" for x in sorted(scales))
        raise ScalingError(f"the LR sweep's finished runs are at {len(scales)} LR multiple(s) ({tried}), not a "
                           f"sweep: give --lr-sweep the results dir of scaling-train -m "
                           f"experiment=arch_postnorm_lr_cpu")
    runs["warmup"] = runs["optim.warmup_steps"] > 0
    return runs


def lr_stability(lr_runs: pd.DataFrame) -> pd.DataFrame:
    """Per norm position and warmup: the LR multiples tried, the smallest that diverged (NaN: none did), and the
    best multiple by final loss."""
    runs = _lr_runs(lr_runs)
    rows = []
    for (position, warmup), g in runs.groupby(["model.components.norm_position", "warmup"]):
        diverged = g.loc[g["status"] == "diverged", "optim.lr_scale"]
        done = g[g["status"] == "completed"]
        best = done.loc[done[LOSS].idxmin()] if len(done) else None
        rows.append({"norm_position": position, "warmup": bool(warmup), "lr_scales": sorted(g["optim.lr_scale"]),
                     "first_diverged_scale": diverged.min() if len(diverged) else math.nan,
                     "first_diverged_lr": g.loc[diverged.idxmin(), "optim.lr"] if len(diverged) else math.nan,
                     "diverged_at_step": g.loc[diverged.idxmin(), "steps"] if len(diverged) else math.nan,
                     "best_scale": best["optim.lr_scale"] if best is not None else math.nan,
                     "best_loss": best[LOSS] if best is not None else math.nan})
    return pd.DataFrame(rows)


def load_extrapolation(path: str | Path) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ScalingError(f"cannot read extrapolation results {path}: {err}") from None
    keys = {"components", "position", "budget", "factors"}
    if not (isinstance(data, list) and all(isinstance(r, dict) and keys <= set(r) and isinstance(r["factors"], dict)
                                           and all(isinstance(f, dict) for f in r["factors"].values())
                                           for r in data)):
        raise ScalingError(f"{path}: expected a list of runs, each with {', '.join(sorted(keys))} (python -m "
                           f"experiments.extrapolate --out)")
    return data


def extrapolation_table(results: list[dict]) -> pd.DataFrame:
    """Loss at each context multiple per architecture, position type and budget: mean and std over the runs
    (seeds) given; 'unsupported' where the position scheme cannot reach that context."""
    rows = []
    for r in results:
        for k, f in r["factors"].items():
            rows.append({"arch": arch_label(r["components"]), "position": r["position"], "budget": r["budget"],
                         "factor": int(k), "context": f["context"], "loss": f.get("loss", math.nan),
                         "unsupported": f.get("unsupported")})
    frame = pd.DataFrame(rows)
    g = frame.groupby(["budget", "arch", "position", "factor", "context"])
    return pd.DataFrame({"mean": g["loss"].mean(), "std": g["loss"].std(ddof=1), "runs": g["loss"].count(),
                         "unsupported": g["unsupported"].first()}).reset_index()


@dataclass
class Ablation:
    runs: pd.DataFrame
    table: pd.DataFrame
    claims: pd.DataFrame
    multipliers: pd.DataFrame
    lr: pd.DataFrame | None
    extrapolation: pd.DataFrame | None
    irreducible: float


def analyse(path: str | Path, lr_sweep: str | Path | None = None, extrapolation: str | Path | None = None,
            irreducible: float = 0.0, bootstrap: int = 1000, seed: int = 0) -> Ablation:
    from scaling.fitting.options import MAX_RESAMPLES, min_resamples

    fewest = min_resamples(CONFIDENCE)
    if not (isinstance(bootstrap, int) and fewest <= bootstrap <= MAX_RESAMPLES):
        raise ScalingError(f"--bootstrap takes a whole number of resamples from {fewest} (for a {CONFIDENCE:.0%} "
                           f"percentile interval) to {MAX_RESAMPLES:,}, got {bootstrap!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise ScalingError(f"--seed takes a whole number >= 0, got {seed!r}")
    if not (isinstance(irreducible, (int, float)) and math.isfinite(irreducible) and irreducible >= 0):
        raise ScalingError(f"--irreducible takes a finite loss >= 0 (E of L = E + k C^-g), got {irreducible!r}")
    runs = ablation_runs(path)
    lr = lr_stability(load_runs(lr_sweep)) if lr_sweep else None
    ext = extrapolation_table(load_extrapolation(extrapolation)) if extrapolation else None
    return Ablation(runs, arch_table(runs), claims(runs), multipliers(runs, irreducible, bootstrap, seed), lr, ext,
                    irreducible)


def _c(c: float) -> str:
    return f"{c:.0e}".replace("e+", "e")


def markdown(a: Ablation) -> str:
    """The report: architectures, claims, compute multipliers, LR stability and length extrapolation."""
    out = ["# Architecture claims at equal compute", "",
           "Final validation loss (nats/token), mean +- std over seeds; compute is the Appendix F count "
           "(budget.flops_method=exact).", "", "## Loss per architecture", ""]
    budgets = sorted(a.table["budget"].unique())
    out.append("| architecture | params | " + " | ".join(f"C = {_c(b)}" for b in budgets) + " |")
    out.append("|---|---|" + "---|" * len(budgets))
    for arch, g in a.table.groupby("arch", sort=False):
        cells = {r["budget"]: f"{r['mean']:.4f} +- {r['std']:.4f} (n={r['seeds']})" for _, r in g.iterrows()}
        out.append(f"| {arch} | {g['params'].iloc[-1]:,.0f} | " + " | ".join(cells.get(b, "") for b in budgets) + " |")
    out += ["", "## Claims", "", f"Effect = loss of the old choice - loss of the new (> 0: the claim holds); "
            f"{CONFIDENCE:.0%} Welch t interval over seeds.", "",
            "| claim | end | C | new | old | effect | CI | verdict |", "|---|---|---|---|---|---|---|---|"]
    for _, r in a.claims.iterrows():
        out.append(f"| {r['claim']} | from {r['end']} | {_c(r['budget'])} | {r['new_loss']:.4f} +- {r['new_std']:.4f}"
                   f" | {r['old_loss']:.4f} +- {r['old_std']:.4f} | {r['effect']:+.4f} | [{r['ci_low']:+.4f}, "
                   f"{r['ci_high']:+.4f}] | {r['verdict']} |")
    out += ["", "## Effective compute multipliers", "",
            f"L = E + k C^-g fitted per architecture (log-log, E fixed at {a.irreducible:g}); multiplier = the "
            "compute the old choice needs to match the new one's loss at C, over C (> 1: the change is worth that "
            "much compute); 95% percentile bootstrap over seeds.", "",
            "| claim | end | g new | g old | multiplier at low C | at high C | trend |",
            "|---|---|---|---|---|---|---|"]
    def cell(r, name: str) -> str:
        m, (lo, hi) = r[f"multiplier_{name}"], r[f"multiplier_{name}_ci"]
        if not np.isfinite(m):
            return f"n/a ({_c(r[f'budget_{name}'])})"
        star = "*" if r[f"multiplier_{name}_extrapolated"] else ""
        return f"{m:.3g}{star} [{lo:.3g}, {hi:.3g}] ({_c(r[f'budget_{name}'])})"

    for _, r in a.multipliers.iterrows():
        out.append(f"| {r['claim']} | from {r['end']} | {r['g_new']:.3f} | {r['g_old']:.3f} | {cell(r, 'low')} | "
                   f"{cell(r, 'high')} | {r['trend']} |")
    out += ["", "\\* the old architecture's law read outside the budgets run (an extrapolation); n/a: its loss does "
            "not fall with compute here (g <= 0), so no compute reaches the new one's loss."]
    if a.lr is not None:
        out += ["", "## Post-norm stability: LR sweep", "", "LR multiples of the size rule's peak LR; a run is "
                "diverged when its train loss passes divergence_factor x its first loss or goes non-finite.", "",
                "| norm position | warmup | multiples tried | first diverged | its LR | at step | best multiple | "
                "best loss |", "|---|---|---|---|---|---|---|---|"]
        for _, r in a.lr.iterrows():
            first = "none" if math.isnan(r["first_diverged_scale"]) else f"{r['first_diverged_scale']:g}"
            lr = "" if math.isnan(r["first_diverged_lr"]) else f"{r['first_diverged_lr']:.3f}"
            step = "" if math.isnan(r["diverged_at_step"]) else f"{r['diverged_at_step']:.0f}"
            out.append(f"| {r['norm_position']} | {'yes' if r['warmup'] else 'no'} | "
                       f"{', '.join(f'{s:g}' for s in r['lr_scales'])} | {first} | {lr} | {step} | "
                       f"{r['best_scale']:g} | {r['best_loss']:.4f} |")
    if a.extrapolation is not None:
        factors = sorted(a.extrapolation["factor"].unique())
        out += ["", "## Length extrapolation", "", "Validation loss at k x the training context (the same "
                "validation text in windows k times as long), mean +- std over seeds.", "",
                "| C | architecture | positions | " + " | ".join(f"{k}x" for k in factors) + " |",
                "|---|---|---|" + "---|" * len(factors)]
        for (budget, arch, position), g in a.extrapolation.groupby(["budget", "arch", "position"]):
            cells = {r["factor"]: ("unsupported" if isinstance(r["unsupported"], str)
                                   else f"{r['mean']:.4f} +- {r['std']:.4f}") for _, r in g.iterrows()}
            out.append(f"| {_c(budget)} | {arch} | {position} | " + " | ".join(cells.get(k, "") for k in factors)
                       + " |")
        out += ["", *(f"unsupported: {reason}" for reason in a.extrapolation["unsupported"].dropna().unique())]
    return "\n".join(out) + "\n"


def _plots():
    from scaling import plots  # matplotlib only when figures are drawn

    return plots


def loss_vs_compute_figure(a: Ablation):
    """Loss vs compute per architecture, one panel per end, with each architecture's fitted power law."""
    plots = _plots()
    plt = plots.plt
    with plots.matplotlib.rc_context(plots.STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(2 * plots.PANEL + 1, plots.PANEL + 1), sharey=True)
        for ax, end in zip(axes, ENDS, strict=True):
            archs = sorted(x for x in a.table["arch"].unique() if x.split()[0] == end)
            for i, arch in enumerate(archs):
                t = a.table[a.table["arch"] == arch]
                color = f"C{i}"
                ax.errorbar(t["budget"], t["mean"], yerr=t["std"].fillna(0), fmt="o", color=color, capsize=2,
                            label=arch)
                r = a.runs[a.runs["arch"] == arch]
                if r["budget"].nunique() >= 2:
                    log_k, g = power_law(r[COMPUTE], r[LOSS], a.irreducible)
                    c = np.geomspace(r[COMPUTE].min(), r[COMPUTE].max(), 20)
                    ax.plot(c, a.irreducible + np.exp(log_k) * c ** -g, color=color, lw=0.9)
            plots._style(ax, "compute C (FLOPs, Appendix F count)", plots.LABELS["final_loss"],
                         f"from {end}: one switch flipped", xlog=True, legend=True, ncol=1)
    return fig


def context_figure(results: list[dict]):
    """Loss per position bucket at the longest context each run reached (mean over seeds), one panel per budget,
    one line per architecture, the training context marked; learned positions stop there (unsupported beyond)."""
    plots = _plots()
    plt = plots.plt
    groups: dict[float, dict[str, list]] = {}
    for r in results:
        longest = max((f for f in r["factors"].values() if "buckets" in f), key=lambda f: f["context"])
        label = f"{arch_label(r['components'])} ({r['position']})"
        groups.setdefault(r["budget"], {}).setdefault(label, []).append(longest["buckets"])
    with plots.matplotlib.rc_context(plots.STYLE):
        fig, axes = plt.subplots(1, len(groups), figsize=(plots.PANEL * 1.6 * len(groups), plots.PANEL + 1),
                                 sharey=True, squeeze=False)
        labels = sorted({label for g in groups.values() for label in g})
        for ax, budget in zip(axes[0], sorted(groups), strict=True):
            for label, runs in sorted(groups[budget].items()):
                n = min(len(b) for b in runs)
                mid = np.array([(b["start"] + b["end"]) / 2 for b in runs[0][:n]])
                loss = np.array([[b["loss"] for b in buckets[:n]] for buckets in runs])
                ax.plot(mid, loss.mean(0), "o-", ms=3, color=f"C{labels.index(label)}", label=label)
            t = results[0]["train_context"]
            ax.axvline(t, color="0.4", ls="--", lw=0.8)
            plots._style(ax, "position in the window (tokens; dashed: training context)", plots.LABELS["loss"],
                         f"C = {_c(budget)}", legend=True, ncol=2)
        fig.suptitle("loss vs context position (learned positions: unsupported past the training context)")
    return fig


def lr_figure(lr_runs: pd.DataFrame):
    """Final loss vs peak LR per norm position, with and without warmup; diverged runs as crosses at the top."""
    plots = _plots()
    plt = plots.plt
    runs = _lr_runs(lr_runs)
    with plots.matplotlib.rc_context(plots.STYLE):
        fig, ax = plt.subplots(figsize=(plots.PANEL * 1.8, plots.PANEL + 0.6))
        done = runs[runs["status"] == "completed"]
        top = done[LOSS].max() * 1.05 if len(done) else 1.0
        for i, ((position, warmup), g) in enumerate(runs.groupby(["model.components.norm_position", "warmup"])):
            color = "tab:blue" if position == "pre" else "tab:red"
            ls = "-" if warmup else "--"
            ok = g[g["status"] == "completed"].sort_values("optim.lr")
            ax.plot(ok["optim.lr"], ok[LOSS], marker="o", ls=ls, color=color,
                    label=f"{position}-norm, {'5% warmup' if warmup else 'no warmup'}")
            bad = g[g["status"] == "diverged"]  # one row of crosses per line, so that none hides another
            ax.plot(bad["optim.lr"], np.full(len(bad), top * (1 + 0.02 * i)), "x" if warmup else "+", color=color,
                    ms=7)
        plots._style(ax, "peak learning rate", plots.LABELS["final_loss"],
                     "loss vs LR per norm position (x, +: diverged with, without warmup)", xlog=True, legend=True,
                     ncol=2)
    return fig


# ablation.md's figures: the first is drawn always, the others with their study (`write`)
FIGURES = ("ablation_loss_vs_compute.png", "ablation_context.png", "ablation_lr.png")


def write(path: str | Path, lr_sweep: str | Path | None = None, extrapolation: str | Path | None = None,
          irreducible: float = 0.0, bootstrap: int = 1000, seed: int = 0,
          figures: bool = True) -> tuple[Ablation, list[Path], list[Path]]:
    """`analyse`, then ablation.md and the figures written into `path`, replaced together once all are made; an
    earlier write's figures that this one does not draw are removed (they would show other runs or studies).
    Returns the analysis, the files written and the files removed."""
    from scaling.atomic import replace_together

    a = analyse(path, lr_sweep, extrapolation, irreducible, bootstrap, seed)
    root = Path(path)
    files = {root / "ablation.md": markdown(a)}
    if figures:
        png = _plots().png
        loss_figure, context, lr = (root / f for f in FIGURES)
        files[loss_figure] = png(loss_vs_compute_figure(a))
        if extrapolation:
            files[context] = png(context_figure(load_extrapolation(extrapolation)))
        if lr_sweep:
            files[lr] = png(lr_figure(load_runs(lr_sweep)))
    removed = replace_together(files, remove=[root / f for f in FIGURES])
    return a, list(files), removed
