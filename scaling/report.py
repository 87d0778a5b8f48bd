"""`scaling report RESULTS_DIR`: every fit the sweep supports, its figures, and a report.md whose headline
answers "GPT-3-style or Chinchilla-style budget?" and compares the fitted exponents with Chinchilla's.

Which runs feed what: the runs `scaling.results.select_runs` keeps (completed, with usable params, tokens and
final_val_loss: the same runs `scaling fit DIR` uses); the others are named in warnings and, with the reason,
in report.md:
- isoFLOP profiles: at a budget, the runs of one allocation rule at three or more `allocation.size_factor`s
  (isoflop_cpu: the chinchilla rule at 1/4..4) -> Approach 2, and their curves -> Approach 1;
- allocation comparison: the runs at `size_factor` 1, one per rule and budget (mean over seeds);
- Approach 3: every completed run's (N, D, final validation loss);
- seed spread: configurations run with more than one seed.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.allocation import KAPLAN_EXPONENT, TOKENS_PER_PARAM
from scaling.atomic import atomic_write_json, atomic_write_text
from scaling.errors import ScalingError
from scaling.results import RunSelection, load_curves, select_runs

# Hoffmann et al. 2022, Table 2: the exponents (a, b) of N_opt ~ C^a and D_opt ~ C^b to compare with.
PUBLISHED = {"1": (0.50, 0.50), "2": (0.49, 0.51), "3": (0.46, 0.54)}
APPROACH_NAMES = {"1": "Approach 1 (envelope of curves)", "2": "Approach 2 (isoFLOP parabolas)",
                  "3": "Approach 3 (parametric L(N, D))"}


@dataclass
class Report:
    """What `build` found: the tables, the fits (their JSON), the figures written, and why a fit was skipped."""

    directory: Path
    runs: pd.DataFrame
    allocations: pd.DataFrame  # loss by budget (rows) and rule (columns)
    isoflop: pd.DataFrame  # the runs behind the isoFLOP profiles
    fits: dict = field(default_factory=dict)  # "1" | "2" | "3" -> fit JSON
    skipped: dict = field(default_factory=dict)  # approach -> reason
    seeds: pd.DataFrame | None = None
    figures: list[Path] = field(default_factory=list)
    selection: RunSelection | None = None  # the runs used and those skipped, with why

    def headline(self) -> str:
        return headline_table(self.allocations)


def report_runs(directory: Path) -> RunSelection:
    """The runs `scaling fit` takes (`select_runs`), checked to be the harness's, with final validation losses."""
    selection = select_runs(directory)
    runs = selection.runs
    for column in ("allocation.rule", "allocation.size_factor", "budget.flops", "seed", "final_val_loss"):
        if column not in runs:
            raise ScalingError(f"{directory}: the summaries lack {column!r}: are these runs of scaling-train?")
    if selection.loss_column != "final_val_loss":
        raise ScalingError(f"{directory}: no summary records a final_val_loss: the report compares validation "
                           f"losses (use `scaling fit {directory}`, which falls back to training losses)")
    return selection


def allocation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Final validation loss (mean over seeds) of each rule at size_factor 1, by budget."""
    at_one = runs[np.isclose(runs["allocation.size_factor"].astype(float), 1.0)]
    table = at_one.pivot_table(index="budget.flops", columns="allocation.rule", values="final_val_loss",
                               aggfunc="mean")
    order = [r for r in ("gpt3", "chinchilla", "optimal", "llama", "kaplan", "inference") if r in table.columns]
    return table[order + [c for c in table.columns if c not in order]]


def allocation_spread(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs behind `allocation_table`, per budget and rule: mean, sd and count (seeds) of the final loss, and
    the tokens per parameter trained (`allocation.tokens_per_param`, else tokens / params; mean over seeds)."""
    at_one = runs[np.isclose(runs["allocation.size_factor"].astype(float), 1.0)].copy()
    ratio = pd.Series(np.nan, index=at_one.index)
    if "allocation.tokens_per_param" in at_one:
        ratio = at_one["allocation.tokens_per_param"].astype(float)
    if {"tokens", "params"} <= set(at_one.columns):
        ratio = ratio.fillna(at_one["tokens"].astype(float) / at_one["params"].astype(float))
    at_one["tokens_per_param"] = ratio
    return (at_one.groupby(["budget.flops", "allocation.rule"])
            .agg(mean=("final_val_loss", "mean"), std=("final_val_loss", "std"), count=("final_val_loss", "count"),
                 tokens_per_param=("tokens_per_param", "mean"))
            .reset_index())


def isoflop_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the (rule, budget) pairs tried at three or more size factors."""
    sizes = runs.groupby(["allocation.rule", "budget.flops"])["allocation.size_factor"].transform("nunique")
    return runs[sizes >= 3]


def seed_spread(runs: pd.DataFrame) -> pd.DataFrame | None:
    """Mean, standard deviation and count of the final loss per configuration run with several seeds."""
    keys = ["budget.flops", "allocation.rule", "allocation.size_factor"]
    grouped = runs.groupby(keys)["final_val_loss"].agg(["mean", "std", "count"]).reset_index()
    grouped = grouped[grouped["count"] > 1]
    return grouped if len(grouped) else None


def headline_table(allocations: pd.DataFrame) -> str:
    """Markdown: at each budget, the final loss of each allocation, the winner, and chinchilla minus gpt3."""
    rules = list(allocations.columns)
    head = "| budget (FLOPs) | " + " | ".join(rules) + " | winner |" + (
        " chinchilla - gpt3 |" if {"gpt3", "chinchilla"} <= set(rules) else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c, row in allocations.iterrows():
        cells = [f"{row[r]:.4f}" if pd.notna(row[r]) else "-" for r in rules]
        winner = row.idxmin() if row.notna().any() else "-"
        line = f"| {c:.3g} | " + " | ".join(cells) + f" | {winner} |"
        if {"gpt3", "chinchilla"} <= set(rules):
            line += f" {row['chinchilla'] - row['gpt3']:+.4f} |" if row[["gpt3", "chinchilla"]].notna().all() \
                else " - |"
        lines.append(line)
    return "\n".join(lines)


def _ci(section: dict, key: str) -> str:
    ci = section.get("ci", {}).get(key)
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else ""


def exponent_table(fits: dict, skipped: dict) -> str:
    lines = ["| approach | a (N_opt ~ C^a) [95% CI] | b (D_opt ~ C^b) [95% CI] | Chinchilla's a, b |",
             "|---|---|---|---|"]
    for name in ("1", "2", "3"):
        pub = f"{PUBLISHED[name][0]:.2f}, {PUBLISHED[name][1]:.2f}"
        if name in fits:
            s = fits[name]
            lines.append(f"| {APPROACH_NAMES[name]} | {s['a']:.3f}{_ci(s, 'a')} | {s['b']:.3f}{_ci(s, 'b')} | {pub} |")
        else:
            lines.append(f"| {APPROACH_NAMES[name]} | not fitted: {skipped.get(name, 'no data')} | | {pub} |")
    lines.append(f"| Kaplan et al. 2020 | | | {KAPLAN_EXPONENT:.2f}, {1 - KAPLAN_EXPONENT:.2f} |")
    return "\n".join(lines)


def _frame(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs as a fit's table: one row per run, named by its directory (a fit's messages name them)."""
    frame = pd.DataFrame({"run": runs["run"], "params": runs["params"].astype(float),
                          "tokens": runs["tokens"].astype(float), "loss": runs["final_val_loss"].astype(float),
                          "budget": runs["budget.flops"].astype(float)})
    if "data.vocab_size" in runs:
        frame["vocab_size"] = runs["data.vocab_size"]
    return frame


def _curve_frame(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    val = curves[curves["run"].isin(set(runs["run"])) & curves["val_loss"].notna()] if "val_loss" in curves \
        else curves.iloc[0:0]
    return pd.DataFrame({"run": val["run"], "params": val["params"].astype(float),
                         "tokens": val["tokens"].astype(float), "loss": val["val_loss"].astype(float)})


def build(directory: str | Path, *, bootstrap: int | None = None, seed: int | None = None, figures: bool = True,
          write: bool = True) -> Report:
    """Fit, plot and write report.md, fits.json and law.json into `directory` (`write=False`: only compute).
    `bootstrap` and `seed` default to FitOptions'."""
    from scaling.fitting import FitOptions, fit

    defaults = FitOptions()
    bootstrap = defaults.bootstrap if bootstrap is None else bootstrap
    seed = defaults.seed if seed is None else seed
    FitOptions(bootstrap=bootstrap, seed=seed)  # bad options refuse the report, not each fit in turn

    directory = Path(directory)
    if not directory.is_dir():
        raise ScalingError(f"results dir {str(directory)!r} is not a directory")
    selection = report_runs(directory)
    runs = selection.runs
    iso = isoflop_runs(runs)
    report = Report(directory, runs, allocation_table(runs), iso, seeds=seed_spread(runs), selection=selection)
    budgets = sorted(runs["budget.flops"].unique())
    band = list(np.geomspace(budgets[0] / 2, budgets[-1] * 2, 24))
    curves = load_curves(directory)
    inputs = {"2": lambda: _frame(iso), "3": lambda: _frame(runs), "1": lambda: _curve_frame(curves, iso)}
    for name in ("2", "1", "3"):
        try:
            frame = inputs[name]()
            if frame.empty:
                raise ScalingError("no runs of this kind (an isoFLOP sweep: three or more sizes at a budget)")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("ignore")
                warnings.simplefilter("always", UserWarning)  # the fits' own warnings, not numpy's
                result = fit(frame, approach=name, bootstrap=bootstrap, seed=seed, budgets=band)
            payload = result.to_dict()
            section = payload if name == "3" else {**payload[f"approach{name}"], "data_range": payload["data_range"]}
            section["warnings"] = [str(w.message) for w in caught]
            report.fits[name] = section
        except ScalingError as err:
            report.skipped[name] = str(err)
    if not write:
        return report
    if figures:
        report.figures = _figures(report, directory, curves)
    atomic_write_json(directory / "fits.json", report.fits)
    if "3" in report.fits:  # a law `scaling plan --law DIR/law.json` takes as it is
        atomic_write_json(directory / "law.json", report.fits["3"])
    atomic_write_text(directory / "report.md", markdown(report))
    return report


def _band(section: dict) -> dict | None:
    rows = [r for r in section.get("budgets", []) if r.get("ci")]
    if not rows:
        return None
    return {"flops": [r["flops"] for r in rows],
            "params": [[r["ci"]["params"][0] for r in rows], [r["ci"]["params"][1] for r in rows]],
            "tokens": [[r["ci"]["tokens"][0] for r in rows], [r["ci"]["tokens"][1] for r in rows]]}


def _figures(report: Report, directory: Path, curves: pd.DataFrame) -> list[Path]:
    from scaling import plots

    written = []
    shown = report.isoflop if len(report.isoflop) else report.runs
    curves = curves[curves["run"].isin(set(shown["run"]))]
    written.append(plots.save(plots.loss_curves(curves, "flops", runs=shown), directory / "loss_curves.png"))
    if len(report.isoflop):
        per_budget = report.fits.get("2", {}).get("per_budget")
        written.append(plots.save(plots.isoflop_profiles(report.isoflop, per_budget), directory / "isoflop.png"))
    if "2" in report.fits:
        written.append(plots.save(plots.optimal_scaling(report.fits["2"], _band(report.fits["2"])),
                                  directory / "optimal_scaling.png"))
    if len(report.allocations.columns) > 1:
        written.append(plots.save(plots.allocation_comparison(report.allocations, allocation_spread(report.runs)),
                                  directory / "allocations.png"))
    return written


def _optimum_rows(section: dict) -> str:
    lines = ["| budget (FLOPs) | runs | sizes tried | N_opt | D_opt | tokens/param | min loss | bracketed |",
             "|---|---|---|---|---|---|---|---|"]
    for r in section["per_budget"]:
        if r["params_opt"]:
            lines.append(f"| {r['flops']:.3g} | {r['n_runs']} | {r['params_tried'][0]:,.0f}-{r['params_tried'][1]:,.0f}"
                         f" | {r['params_opt']:,.0f} | {r['tokens_opt']:.3g} | {r['tokens_opt'] / r['params_opt']:.1f}"
                         f" | {r['loss_opt']:.4f} | {'yes' if r['bracketed'] else 'NO'} |")
        else:
            lines.append(f"| {r['flops']:.3g} | {r['n_runs']} | | no minimum | | | | NO |")
    return "\n".join(lines)


def runs_paragraph(selection: RunSelection) -> str:
    """report.md's account of the runs: how many were used, and each one skipped with why."""
    text = f"Runs: used {len(selection.runs)} of the {selection.total} run directories found"
    if not selection.skipped:
        return text + "; none skipped."
    listed = "; ".join(f"`{r}` ({why})" for r, why in selection.skipped)
    return text + f"; skipped {len(selection.skipped)}: {listed}."


def markdown(report: Report) -> str:
    runs = report.runs
    data = runs["data.name"].iloc[0] if "data.name" in runs else "?"
    tokenizer = runs["data.tokenizer"].iloc[0] if "data.tokenizer" in runs else "?"
    out = [f"# Scaling report: {report.directory}", "",
           f"{len(runs)} completed runs at {runs['budget.flops'].nunique()} budgets "
           f"({', '.join(f'{c:.3g}' for c in sorted(runs['budget.flops'].unique()))} FLOPs); data {data} "
           f"({tokenizer} tokens); losses are final validation losses in nats/token. Written "
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `scaling report`.", ""]
    if report.selection is not None:
        out += [runs_paragraph(report.selection), ""]
    out += ["## GPT-3-style or Chinchilla-style?", "",
            "Final validation loss of each allocation at the same compute (lower is better):", "",
            report.headline(), ""]
    if {"gpt3", "chinchilla"} <= set(report.allocations.columns):
        both = report.allocations[["gpt3", "chinchilla"]].dropna()
        wins = int((both["chinchilla"] < both["gpt3"]).sum())
        out += [f"Chinchilla-style ({TOKENS_PER_PARAM['chinchilla']:g} tokens/param) beats GPT-3-style "
                f"({TOKENS_PER_PARAM['gpt3']:g}) at {wins} of {len(both)} budgets.", ""]
    out += ["## Fitted exponents", "", exponent_table(report.fits, report.skipped), ""]
    if "2" in report.fits:
        section = report.fits["2"]
        ratios = [r["tokens_opt"] / r["params_opt"] for r in section["per_budget"] if r["params_opt"]]
        out += ["### isoFLOP optima (Approach 2)", "", _optimum_rows(section), "",
                f"Tokens per parameter at the optimum: {min(ratios):.0f} to {max(ratios):.0f} "
                f"(Chinchilla: ~{TOKENS_PER_PARAM['chinchilla']:g} at 1e19-1e24 FLOPs with a 32K-token vocabulary; "
                f"these are bytes).", ""]
    if "3" in report.fits:
        s = report.fits["3"]
        out += [f"Approach 3 law: L = {s['E']:.3f} + {s['A']:.4g}/N^{s['alpha']:.3f} + {s['B']:.4g}/D^{s['beta']:.3f}"
                f" (objective {s['objective']:.4g}), saved as `law.json`: `scaling plan --flops C --law "
                f"{report.directory}/law.json` plans with it.", ""]
    notes = [w for name in ("2", "1", "3") for w in report.fits.get(name, {}).get("warnings", [])]
    if notes:
        out += ["Fit warnings:", ""] + [f"- {w}" for w in notes] + [""]
    if report.seeds is not None:
        out += ["## Seed spread", "", "| budget | rule | size factor | seeds | mean loss | sd |",
                "|---|---|---|---|---|---|"]
        for _, r in report.seeds.iterrows():
            out.append(f"| {r['budget.flops']:.3g} | {r['allocation.rule']} | {r['allocation.size_factor']:g} | "
                       f"{int(r['count'])} | {r['mean']:.4f} | {r['std']:.4f} |")
        out.append("")
    if report.figures:
        out += ["## Figures", ""] + [f"![{p.stem}]({p.name})" for p in report.figures] + [""]
    return "\n".join(out)

