"""`scaling report RESULTS_DIR`: every fit the sweep supports, its figures, and a report.md whose headline
answers "GPT-3-style or Chinchilla-style budget?" and compares the fitted exponents with Chinchilla's.

Which runs feed what: the runs `scaling.results.select_runs` keeps (completed, with usable params, tokens and
final_val_loss: the same runs `scaling fit DIR` uses); the others are named in warnings and, with the reason,
in report.md:
- isoFLOP profiles (`scaling.results.in_isoflop_profile`): at a budget, the runs of one allocation rule at three
  or more model sizes (isoflop_cpu: the chinchilla rule at 1/4..4) -> Approach 2 and its windows, and their
  curves -> Approach 1, as `scaling fit DIR` reads them;
- allocation comparison: the runs at `size_factor` 1, one per rule and budget (mean over seeds);
- Approach 3: every completed run's (N, D, final validation loss), in Chinchilla's form (law.json) and, under
  C = 6ND, in Kaplan et al.'s (`scaling.fitting.kaplan`, fits.json "3k", law_kaplan.json), which the backtest
  and the profile check also read; `scaling plan --law` takes either file;
- seed spread: configurations run with more than one seed;
- backtest (`scaling.fitting.backtest`), with isoFLOP profiles at 3 or more budgets: the largest held out,
  Approaches 2 (isoFLOP runs) and 3 (every run) fitted on the rest, their predictions of its N_opt and minimum
  loss against what its runs show; `backtest.png`; and rolled forward (`backtest.rolling`): each budget with 4 or
  more below it predicted by Approach 2 from those alone, the forecast error's typical size and lean;
- profiles (`scaling.fitting.profiles`), with Approaches 2 and 3: each budget's isoFLOP curvature against the
  curvature Approach 3's law gives on the same runs, which says where the law's form parts from the profiles;
- conventions: a of Approaches 2 and 3 under each N (total, non-embedding) and C (6ND, exact) side by side
  (each fit with up to CONVENTION_RESAMPLES resamples, the main fits' convention with the main fits'), and
  which one law.json uses.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.allocation import KAPLAN_EXPONENT, TOKENS_PER_PARAM
from scaling.atomic import json_ready, json_text, replace_together
from scaling.errors import ScalingError
from scaling.fitting.options import COMPUTES, PARAMS
from scaling.laws import PLANNER_CONVENTIONS
from scaling.render import ci_text, skew_line
from scaling.results import RunSelection, in_isoflop_profile, load_curves, select_runs

# Hoffmann et al. 2022, Table 2: the exponents (a, b) of N_opt ~ C^a and D_opt ~ C^b to compare with.
PUBLISHED = {"1": (0.50, 0.50), "2": (0.49, 0.51), "3": (0.46, 0.54)}
APPROACH_NAMES = {"1": "Approach 1 (envelope of curves)", "2": "Approach 2 (isoFLOP parabolas)",
                  "3": "Approach 3 (parametric L(N, D))", "3w": "Approach 3 on Approach 2's windows",
                  "3k": "Approach 3 in Kaplan's form"}
CONVENTION_RESAMPLES = 200  # bootstrap resamples of each fit in the conventions table (the main fits keep theirs)
CONVENTIONS = [(params, compute) for params in PARAMS for compute in COMPUTES]
LAW_FILES = {"3": "law.json", "3k": "law_kaplan.json"}  # Approach 3's laws in Chinchilla's and Kaplan's form
# Draws of runs from Kaplan's fitted law that Chinchilla's form is fitted to, where the runs favour Kaplan's form
# (~0.25 s each on 70 runs): a value the shape alone sets falls outside their range 2 times in READING_DRAWS + 1
READING_DRAWS = 40
FIGURES = ("loss_curves.png", "isoflop.png", "optimal_scaling.png", "allocations.png", "backtest.png")
PLANNER_CONVENTION = (PLANNER_CONVENTIONS["params"], PLANNER_CONVENTIONS["compute"])  # (params, compute)
CONVENTION_NAMES = {"total": "total (with embeddings)", "non-embedding": "non-embedding (Kaplan)",
                    "6nd": "6ND", "exact": "exact (Appendix F)"}


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
    removed: list[Path] = field(default_factory=list)  # an earlier report's laws and figures this one could not make
    selection: RunSelection | None = None  # the runs used and those skipped, with why
    backtest: dict | None = None  # the backtest section (scaling.fitting.backtest)
    backtest_skipped: str | None = None  # why there is no backtest
    rolling: dict | None = None  # each budget forecast from the smaller ones (scaling.fitting.backtest.rolling)
    rolling_skipped: str | None = None  # why there is no rolling backtest
    profiles: dict | None = None  # Approach 3's laws against the isoFLOP profiles (scaling.fitting.profiles)
    profiles_skipped: str | None = None  # why there is no such check
    conventions: list[dict] = field(default_factory=list)  # per (params, compute): a of Approaches 2 and 3
    convention: tuple[str, str] = PLANNER_CONVENTION  # (params, compute) of the main fits and law.json

    @property
    def plannable(self) -> bool:
        """Whether the laws it writes are the planner's to use (`scaling plan` refuses other conventions)."""
        return self.convention == PLANNER_CONVENTION

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
    """The runs of the isoFLOP profiles (`scaling.results.in_isoflop_profile`)."""
    return runs[in_isoflop_profile(runs)]


def seed_spread(runs: pd.DataFrame) -> pd.DataFrame | None:
    """Mean, standard deviation and count of the final loss per configuration run with several seeds."""
    keys = ["budget.flops", "allocation.rule", "allocation.size_factor"]
    grouped = runs.groupby(keys)["final_val_loss"].agg(["mean", "std", "count"]).reset_index()
    grouped = grouped[grouped["count"] > 1]
    return grouped if len(grouped) else None


def headline_table(allocations: pd.DataFrame) -> str:
    """Markdown: at each budget, the final loss of each allocation, the winner (where two or more were run: one
    allocation alone has beaten nothing), and chinchilla minus gpt3."""
    rules = list(allocations.columns)
    head = "| budget (FLOPs) | " + " | ".join(rules) + " | winner |" + (
        " chinchilla - gpt3 |" if {"gpt3", "chinchilla"} <= set(rules) else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c, row in allocations.iterrows():
        cells = [f"{row[r]:.4f}" if pd.notna(row[r]) else "-" for r in rules]
        winner = row.idxmin() if row.notna().sum() >= 2 else "-"
        line = f"| {c:.3g} | " + " | ".join(cells) + f" | {winner} |"
        if {"gpt3", "chinchilla"} <= set(rules):
            line += f" {row['chinchilla'] - row['gpt3']:+.4f} |" if row[["gpt3", "chinchilla"]].notna().all() \
                else " - |"
        lines.append(line)
    return "\n".join(lines)


def _ci(section: dict, key: str) -> str:
    return ci_text(section.get("ci", {}).get(key))


def exponent_table(fits: dict, skipped: dict) -> str:
    lines = ["| approach | a (N_opt ~ C^a) [95% CI] | b (D_opt ~ C^b) [95% CI] | Chinchilla's a, b |",
             "|---|---|---|---|"]
    for name in ("1", "2", "3", "3w", "3k"):
        if name in ("3w", "3k"):  # variants of Approach 3, shown where they were fitted
            if name in fits:
                s = fits[name]
                runs = f" ({s['law_window']['points']} runs)" if name == "3w" else ""
                lines.append(f"| {APPROACH_NAMES[name]}{runs} | {s['a']:.3f}{_ci(s, 'a')} | {s['b']:.3f}"
                             f"{_ci(s, 'b')} | |")
            continue
        pub = f"{PUBLISHED[name][0]:.2f}, {PUBLISHED[name][1]:.2f}"
        if name in fits:
            s = fits[name]
            lines.append(f"| {APPROACH_NAMES[name]} | {s['a']:.3f}{_ci(s, 'a')} | {s['b']:.3f}{_ci(s, 'b')} | {pub} |")
        else:
            lines.append(f"| {APPROACH_NAMES[name]} | not fitted: {skipped.get(name, 'no data')} | | {pub} |")
    lines.append(f"| Kaplan et al. 2020 | | | {KAPLAN_EXPONENT:.2f}, {1 - KAPLAN_EXPONENT:.2f} |")
    return "\n".join(lines)


def _quiet_fit(data, approach: str, **options) -> tuple[dict, list[str]]:
    """fit() of the runs (a FitData): its JSON and its own warnings (UserWarnings, not numpy's), caught."""
    from scaling.fitting import fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", UserWarning)
        payload = fit(data, approach=approach, **options).to_dict()
    return payload, [str(w.message) for w in caught]


def convention_table(report: Report, data, bootstrap: int, seed: int, band) -> list[dict]:
    """a (with its interval) of Approaches 2 and 3 under each (params, compute) convention; the main fits'
    convention reuses them. A convention the runs cannot give (no recorded counts) is kept with the reason."""
    rows = []
    resamples = min(bootstrap, CONVENTION_RESAMPLES) if bootstrap else 0
    for params, compute in CONVENTIONS:
        row = {"params": params, "compute": compute, "resamples": resamples,
               "planner": (params, compute) == PLANNER_CONVENTION}
        for name in ("2", "3"):
            if (params, compute) == report.convention:
                section = report.fits.get(name)
                if section is not None:
                    row[name] = {"a": section["a"], "ci": section.get("ci", {}).get("a"),
                                 "objective": section.get("objective"), "resamples": bootstrap}
                else:
                    row[name] = {"skipped": report.skipped.get(name, "no data")}
                continue
            try:
                payload, _ = _quiet_fit(data, name, bootstrap=resamples, seed=seed, budgets=band,
                                        params=params, compute=compute)
            except ScalingError as err:
                row[name] = {"skipped": str(err)}
                continue
            section = payload if name == "3" else payload["approach2"]
            row[name] = {"a": section["a"], "ci": section.get("ci", {}).get("a"),
                         "objective": section.get("objective"), "resamples": resamples}
        rows.append(row)
    return rows


def build(directory: str | Path, *, bootstrap: int | None = None, seed: int | None = None, figures: bool = True,
          write: bool = True, compute: str = "6nd", params: str = "total", skew: bool | None = None) -> Report:
    """Fit, plot and write report.md, fits.json and law.json into `directory` (`write=False`: only compute).
    `bootstrap`, `seed` and `skew` (Approach 2's) default to FitOptions'; `compute` and `params` are the main fits'
    conventions."""
    from scaling.fitting import FitOptions
    from scaling.fitting.api import prepare
    from scaling.fitting.backtest import backtest, rolling
    from scaling.fitting.data import profile_runs, read_results

    defaults = FitOptions()
    bootstrap = defaults.bootstrap if bootstrap is None else bootstrap
    seed = defaults.seed if seed is None else seed
    skew = defaults.skew if skew is None else skew
    opts = FitOptions(bootstrap=bootstrap, seed=seed, compute=compute, params=params, skew=skew)  # bad ones refuse

    directory = Path(directory)
    if not directory.is_dir():
        raise ScalingError(f"results dir {str(directory)!r} is not a directory")
    selection = report_runs(directory)
    runs = selection.runs
    iso = isoflop_runs(runs)
    report = Report(directory, runs, allocation_table(runs), iso, seeds=seed_spread(runs), selection=selection,
                    convention=(params, compute))
    budgets = sorted(runs["budget.flops"].unique())
    band = list(np.geomspace(budgets[0] / 2, budgets[-1] * 2, 24))
    curves = load_curves(directory)
    data = read_results(directory, selection, curves)  # the runs as every fit reads them (1 and 2: the profiles)
    for name in ("2", "1", "3"):
        try:
            payload, said = _quiet_fit(data, name, options=opts, budgets=band)
            # each section carries its fit's conventions: `scaling plan --law fits.json:2` checks them
            section = payload if name == "3" else {**payload[f"approach{name}"], "data_range": payload["data_range"],
                                                   "conventions": payload["conventions"]}
            section["warnings"] = said
            report.fits[name] = section
        except ScalingError as err:
            report.skipped[name] = str(err)
    if "2" in report.fits and "3" in report.fits:  # Approach 3 where Approach 2 reads: the law's form near C's optimum
        try:
            payload, said = _quiet_fit(data, "3", options=replace(opts, law_window=opts.window or 2),
                                       budgets=band)
            report.fits["3w"] = {**payload, "warnings": said}
        except ScalingError as err:
            report.skipped["3w"] = str(err)
    if "3" in report.fits and compute == "6nd":  # the same runs in Kaplan et al.'s form (derived under C = 6ND)
        try:
            payload, said = _quiet_fit(data, "3", options=replace(opts, form="kaplan"), budgets=band)
            report.fits["3k"] = {**payload, "warnings": said}
        except ScalingError as err:
            report.skipped["3k"] = str(err)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = iso_data = None
        try:
            every = prepare(data, opts)  # every run, as Approach 3 reads them
            iso_data = profile_runs(every)  # the isoFLOP runs, once for both backtests
        except ScalingError as err:
            report.backtest_skipped = str(err)
        if every is not None and "3k" in report.fits and _favoured(report.fits["3k"], report.fits["3"]) == "3k":
            report.fits["3k"]["chinchilla_reading"] = _chinchilla_reading(every, opts, report.fits["3k"],
                                                                          report.fits["3"])
        if iso_data is not None:
            try:
                approaches = ("2", "3", "3k") if "3k" in report.fits else ("2", "3")
                report.backtest = json_ready(backtest(iso_data, every, opts, approaches=approaches))
            except ScalingError as err:
                report.backtest_skipped = str(err)
            try:
                report.rolling = json_ready(rolling(iso_data, opts))
            except ScalingError as err:
                report.rolling_skipped = str(err)
            if "3" in report.fits:
                report.profiles, report.profiles_skipped = _profiles(iso_data, report.fits, opts)
    report.conventions = convention_table(report, data, bootstrap, seed, band)
    if not write:
        return report
    # Every output is made in memory first and the files replace the old ones together: a report that fails
    # half way changes nothing, and a law or figure this report could not make is removed, not left beside it
    # (a law.json from runs that are gone would plan on without a word).
    drawn = _figures(report, directory, curves) if figures else {}
    report.figures = list(drawn)
    files = {directory / "fits.json": json_text({**report.fits, "backtest": report.backtest,
                                                  "rolling": report.rolling, "profiles": report.profiles,
                                                  "conventions": report.conventions}),
             **{directory / file: json_text(report.fits[name])  # laws `scaling plan --law DIR/FILE` takes as is
                for name, file in LAW_FILES.items() if name in report.fits},
             directory / "report.md": markdown(report), **drawn}
    # with figures=False too: an earlier report's figures would show other runs beside this report.md
    stale = [directory / f for f in (*LAW_FILES.values(), *FIGURES)]
    report.removed = replace_together(files, remove=stale)
    return report


def _profiles(iso_data, fits: dict, opts) -> tuple[dict | None, str | None]:
    """Approach 3's laws (on every run, and on Approach 2's windows where fitted) against the isoFLOP profiles
    (`scaling.fitting.profiles`), or None and why not (a law with an exponent <= 0, no profiles...)."""
    from scaling.fitting.profiles import profile_check
    from scaling.laws import law_of_section

    try:
        laws = {name: law_of_section(fits[name], APPROACH_NAMES[name], APPROACH_NAMES[name])
                for name in ("3", "3w", "3k") if name in fits}
        return json_ready(profile_check(iso_data, laws, opts)), None
    except ScalingError as err:
        return None, str(err)


def _band(section: dict) -> dict | None:
    rows = [r for r in section.get("budgets", []) if r.get("ci")]
    if not rows:
        return None
    return {"flops": [r["flops"] for r in rows],
            "params": [[r["ci"]["params"][0] for r in rows], [r["ci"]["params"][1] for r in rows]],
            "tokens": [[r["ci"]["tokens"][0] for r in rows], [r["ci"]["tokens"][1] for r in rows]]}


def _figures(report: Report, directory: Path, curves: pd.DataFrame) -> dict[Path, bytes]:
    """The figures the report's fits support, as PNG bytes by path (FIGURES names them all)."""
    from scaling import plots

    drawn = {}
    shown = report.isoflop if len(report.isoflop) else report.runs
    curves = curves[curves["run"].isin(set(shown["run"]))]
    drawn["loss_curves.png"] = plots.png(plots.loss_curves(curves, "flops", runs=shown))
    if len(report.isoflop):
        per_budget = report.fits.get("2", {}).get("per_budget")
        drawn["isoflop.png"] = plots.png(plots.isoflop_profiles(report.isoflop, per_budget))
    if "2" in report.fits:
        drawn["optimal_scaling.png"] = plots.png(plots.optimal_scaling(report.fits["2"], _band(report.fits["2"])))
    if len(report.allocations.columns) > 1:
        drawn["allocations.png"] = plots.png(plots.allocation_comparison(report.allocations,
                                                                         allocation_spread(report.runs)))
    if report.backtest is not None:
        drawn["backtest.png"] = plots.png(plots.backtest(report.backtest))
    assert set(drawn) <= set(FIGURES)
    return {directory / name: data for name, data in drawn.items()}


def _optimum_rows(section: dict) -> str:
    level = f"{section['ci']['level'] * 100:g}% CI" if "ci" in section else "CI"
    lines = [f"| budget (FLOPs) | runs | sizes tried | window (runs) | N_opt [{level}] | D_opt | tokens/param | "
             f"min loss | bracketed |", "|---|---|---|---|---|---|---|---|---|"]
    for r in section["per_budget"]:
        tried = f"{r['params_tried'][0]:,.0f}-{r['params_tried'][1]:,.0f}"
        window = f"{r['params_window'][0]:,.0f}-{r['params_window'][1]:,.0f} ({r['n_window']})" \
            if "params_window" in r else ""
        if r["params_opt"]:
            lines.append(f"| {r['flops']:.3g} | {r['n_runs']} | {tried} | {window} | {r['params_opt']:,.0f}"
                         f"{_span(r.get('params_opt_ci'), _n)} | {r['tokens_opt']:.3g} | "
                         f"{r['tokens_opt'] / r['params_opt']:.1f} | {r['loss_opt']:.4f} | "
                         f"{'yes' if r['bracketed'] else 'NO'} |")
        else:
            lines.append(f"| {r['flops']:.3g} | {r['n_runs']} | {tried} | {window} | no minimum | | | | NO |")
    return "\n".join(lines)


def _n(value) -> str:
    return f"{value:,.0f}" if value is not None else "-"


def _span(interval, fmt) -> str:
    return f" [{fmt(interval[0])}, {fmt(interval[1])}]" if interval and None not in interval else ""


def _misfit(section: dict) -> str:
    m = section.get("lack_of_fit")
    if not m:
        return "no seeds to test its fit against"
    from scaling.fitting.parametric import LACK_OF_FIT_P

    verdict = "misses them" if m["p"] < LACK_OF_FIT_P else "fits them"
    return (f"residual sd {m['residual_sd']:.3f} in log loss against the seeds' {m['replicate_sd']:.3f}: it "
            f"{verdict} (lack-of-fit F {m['F']:.1f}, p = {m['p']:.2g})")


def _window_note(full: dict, window: dict, iso: dict | None) -> str:
    """Approach 3 on every run beside Approach 3 on Approach 2's windows, with each one's lack of fit."""
    a2 = f"; Approach 2 gives {iso['a']:.3f}" if iso else ""
    return (f"Approach 3 is fitted on every run, as Chinchilla fits it (a = {full['a']:.3f}; "
            f"{_misfit(full)}), and again on the runs of Approach 2's windows only ({window['law_window']['points']}"
            f" runs near each budget's optimum: a = {window['a']:.3f}; {_misfit(window)}){a2}. Where the two "
            f"Approach 3 fits differ, the form E + A/N^alpha + B/D^beta does not hold across the sweep's tokens "
            f"per parameter, and the fit on every run trades its exponents against the far ends; law.json is the "
            f"fit on every run.")


def _plans_with(directory, file: str, plannable: bool) -> str:
    """How to plan with a law file the report wrote: `scaling plan` refuses one under other conventions."""
    return (f"`scaling plan --flops C --law {directory}/{file}` plans with it." if plannable else
            "it is for comparison: `scaling plan` refuses a law of other conventions than its own.")


def _kaplan_note(kaplan: dict, chinchilla: dict, directory, plannable: bool) -> str:
    """Approach 3 in Kaplan et al.'s form beside Chinchilla's: a, the two objectives (5 parameters each), each
    one's lack of fit, and which form the runs favour where both measures agree."""
    ci = _ci(kaplan, "a")
    # E below a billionth of a nat changes no loss: the fit found no floor (the form's E is free to reach 0)
    floor = f"E = {kaplan['E']:.3g}" if kaplan["E"] > 1e-9 else "E ~ 0: no floor within these runs"
    text = (f"In Kaplan et al.'s form (2020, Eq. 1.5, with E), L = E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D, "
            f"where a model stops gaining from data at a point set by its size, the same runs give a = "
            f"{kaplan['a']:.3f}{ci} (alpha_N = {kaplan['alpha_N']:.3f}, alpha_D = {kaplan['alpha_D']:.3f}, "
            f"{floor}); objective {kaplan['objective']:.4g} against {chinchilla['objective']:.4g} for "
            f"Chinchilla's form, both with 5 parameters; {_misfit(kaplan)}. It is saved as `{LAW_FILES['3k']}`: "
            f"{_plans_with(directory, LAW_FILES['3k'], plannable)}")
    favoured = _favoured(kaplan, chinchilla)
    if favoured is None:
        return text
    name = "Kaplan et al.'s" if favoured == "3k" else "Chinchilla's"
    text += (f" Both measures favour {name} form on these runs (lower objective, smaller lack of fit): plan "
             f"with `{LAW_FILES[favoured]}`.")
    reading = kaplan.get("chinchilla_reading")
    if reading and reading["fitted"]:
        text += (f" Runs drawn from this law at the same N and D, with the seeds' scatter (sd "
                 f"{reading['noise_sd']:.3f} in log loss), give Chinchilla's form a = {reading['median']:.3f} "
                 f"({reading['range'][0]:.3f} to {reading['range'][1]:.3f} over {reading['fitted']} draws) where the "
                 f"law's own is {kaplan['a']:.3f}: its {chinchilla['a']:.3f} on the real runs is "
                 + ("what that form reads from a surface of this shape, not an optimum that differs."
                    if reading["range"][0] <= chinchilla["a"] <= reading["range"][1] else
                    f"outside that range (where the shape alone sets it, 2 times in {reading['draws'] + 1}), so the "
                    f"shape of the surface may not account for it alone."))
    return text


def _favoured(kaplan: dict, chinchilla: dict) -> str | None:
    """The form ("3k" or "3") both measures favour, a lower objective and a smaller lack of fit, or None where
    they disagree or there are no seeds to test the fits against."""
    f_k, f_c = (s.get("lack_of_fit", {}).get("F") for s in (kaplan, chinchilla))
    if f_k is None or f_c is None:
        return None
    better = [kaplan["objective"] < chinchilla["objective"], f_k < f_c]
    return "3k" if all(better) else "3" if not any(better) else None


def _chinchilla_reading(every, opts, kaplan: dict, chinchilla: dict) -> dict:
    """What Chinchilla's form reads from runs drawn from Kaplan's fitted law at the N and D of `every` (the runs
    Approach 3 read), with the seeds' scatter (`kaplan.chinchilla_form_on`): its a's median and range over
    READING_DRAWS draws."""
    from scaling.fitting.kaplan import chinchilla_form_on
    from scaling.laws import KAPLAN_KEYS, KaplanLaw

    noise = chinchilla["lack_of_fit"]["replicate_sd"]
    law = KaplanLaw(**{k: kaplan[k] for k in KAPLAN_KEYS})
    a = chinchilla_form_on(law, every.params, every.tokens, noise, READING_DRAWS, opts.seed, opts.delta)
    a = a[np.isfinite(a)]
    return {"draws": READING_DRAWS, "fitted": len(a), "noise_sd": noise,
            "median": float(np.median(a)) if len(a) else None,
            "range": [float(a.min()), float(a.max())] if len(a) else None}


def _scatter_note(scatter: dict | None, who: str) -> str:
    """One sentence on the budgets' scatter about Approach 2's laws, which its intervals hold (or '')."""
    if not scatter:
        return ""
    n, loss = scatter["params"], scatter["loss"]
    return (f"{who} hold the scatter of the budgets' optima about the laws beyond their own noise: "
            f"tau = {n['tau']:.3f} in log N_opt (x{math.exp(n['tau']):.2f}; chi^2 {n['chi2']:.1f} on {n['dof']} "
            f"degrees of freedom against the budgets' own intervals) and {loss['tau']:.4f} nats in the minimum "
            f"loss (chi^2 {loss['chi2']:.1f} on {loss['dof']}).")


def _yes(value: bool | None) -> str:
    """A verdict cell: yes, NO, or "-" where there is none."""
    return "-" if value is None else "yes" if value else "NO"


def profiles_section(check: dict) -> list[str]:
    """report.md's comparison of each isoFLOP profile's curvature with Approach 3's laws' on the same runs."""
    level = f"{check['level'] * 100:g}%"
    rows, laws = check["budgets"], check["laws"]
    names = [n for n in ("3", "3w", "3k") if n in laws]
    heads = {"3": "Approach 3, every run", "3w": "Approach 3, windows", "3k": "Kaplan's form"}
    source = (f"{level} intervals from Approach 2's residual bootstrap (per budget descriptive: on sweeps from a "
              f"known law they held its curvature ~9 times in 10)" if check["resamples"]
              else f"no intervals: {check['note']}")
    out = ["### Approach 3's laws against the isoFLOP profiles", "",
           "Each budget's parabola (Approach 2's window) bends by d^2L/d(ln N)^2, its curvature; the same parabola "
           "fitted to a law's losses at the same runs gives the law's. In E + A/N^alpha + B/D^beta the curvature at "
           "the optimum is alpha beta (L_opt - E), so it falls with the reducible loss, by the same factor at every "
           f"budget. {source}.", "",
           "| budget (FLOPs) | runs | curvature [CI] | " + " | ".join(f"{heads[n]} | agrees" for n in names)
           + " | parabola's min loss | Approach 3's loss there |",
           "|---|---|---|" + "---|---|" * len(names) + "---|---|"]
    for j, r in enumerate(rows):
        ci = f" [{r['curvature_ci'][0]:.3f}, {r['curvature_ci'][1]:.3f}]" if r["curvature_ci"] else ""
        cells = " | ".join(f"{laws[n]['budgets'][j]['curvature']:.3f} | {_yes(laws[n]['budgets'][j]['agrees'])}"
                           for n in names)
        out.append(f"| {r['flops']:.3g} | {r['n_window']} | {r['curvature']:.3f}{ci} | {cells} | "
                   f"{r['loss_opt']:.4f} | {laws['3']['budgets'][j]['loss_at_opt']:.4f} |")
    out.append("")
    if check["no_minimum"]:
        out += [f"Left out, no minimum (the parabola opens downwards): "
                f"{', '.join(f'{c:.3g}' for c in check['no_minimum'])} FLOPs.", ""]
    trend = check["trend"]
    if trend["observed"] is None:
        return out
    ci = trend["observed_ci"]
    said = [f"Through the budgets the profiles' curvature goes as C^{trend['observed']:.3f}"
            + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f" ({check['note']})") + "; "
            + "; ".join(f"{heads[n]}: C^{laws[n]['trend']:.3f}"
                        + ("" if laws[n]["agrees"] is None else ", inside" if laws[n]["agrees"] else ", outside")
                        for n in names if laws[n]["trend"] is not None) + "."]
    every, windows = laws["3"]["agrees"], laws.get("3w", {}).get("agrees")
    if every is False and windows is True:
        said.append("The law fitted on every run flattens faster than the profiles; the same form fitted near the "
                    "optima flattens at their rate.")
    kaplan = laws.get("3k")
    if kaplan and kaplan["agrees"] is True:
        said.append(f"Kaplan's form flattens at the profiles' rate and lies inside {kaplan['agree']} of "
                    f"{kaplan['tested']} budgets' intervals.")
    if every is True:
        said.append("The law fitted on every run follows the profiles' shape.")
    missed = set()
    for n in names:
        law = laws[n]
        if not law["tested"]:
            continue
        flatter = sum(b["curvature"] < r["curvature_ci"][0] for b, r in zip(law["budgets"], rows, strict=True)
                      if b["agrees"] is False)
        sharper = law["tested"] - law["agree"] - flatter
        if law["agree"] < law["tested"] / 2:
            missed.add(n)
            side = (f"flatter at {flatter}" if flatter else "") + (" and " if flatter and sharper else "") + \
                (f"sharper at {sharper}" if sharper else "")
            said.append(f"{heads[n]}: its profiles are {side} of the {law['tested']} budgets.")
    if "3" in missed or every is False:
        said.append("Where a law misses the profiles, its exponents come from a compromise, not from the profiles' "
                    "minima; Approach 2 reads each profile where it is.")
    return out + [" ".join(said), ""]


def _verdict(agree: dict | None) -> str:
    """A backtest row's "agrees (N_opt, loss)" cell: yes / NO each, "-" where there is no verdict."""
    if not agree:
        return "-"
    return ", ".join(_yes(agree[k]) for k in ("params_opt", "loss"))


def backtest_section(bt: dict) -> list[str]:
    """report.md's backtest: what was fitted and held out, the predictions against the observation, a verdict."""
    level = f"{bt['level'] * 100:g}%"
    fitted = ", ".join(f"{c:.3g}" for c in bt["fitted_budgets"])
    obs = bt["observed"]
    note = _scatter_note(bt.get("scatter"), " Approach 2's intervals")
    out = ["## Backtest: the largest budget predicted from the smaller ones", "",
           f"Fitted on the budgets {fitted} FLOPs, then asked for {bt['holdout_flops']:.3g} FLOPs, as a lab checks "
           f"its law before a large run: {level} intervals from {bt['resamples']} bootstrap resamples. Observed "
           f"there: the parabola's vertex (its {level} interval from the same residual bootstrap) and the best "
           f"run's loss (N = {_n(obs['params_best'])}, {obs['runs_best']} run(s)). Approach 2 predicts the minimum "
           f"loss by L_min = E' + k C^-g through the fitted budgets' parabola minima (the form Chinchilla's law "
           f"takes along its optimum; with 3 budgets it has no degree of freedom left, and its interval shows "
           f"it); Approach 3 by its law at (N_opt, D_opt), in Chinchilla's form and in Kaplan's.{note}", "",
           f"| | N_opt [{level} CI] | min loss [{level} CI] | N_opt error | loss error | agrees (N_opt, loss) |",
           "|---|---|---|---|---|---|",
           f"| observed at {bt['holdout_flops']:.3g} | {_n(obs['params_opt'])}{_span(obs.get('params_opt_ci'), _n)} "
           f"| {obs['loss_best']:.4f} (best run; the parabola's minimum {obs['loss_opt']:.4f}) | | | |"]
    for name in ("approach2", "approach3", "approach3k"):
        pred = bt["predicted"].get(name)
        if pred is None:
            continue
        verdict = _verdict(bt["within"].get(name))
        label = APPROACH_NAMES[name.removeprefix("approach")]
        out.append(f"| {label} | {_n(pred['params_opt'])}{_span(pred.get('params_opt_ci'), _n)} "
                   f"| {pred['loss']:.4f}{_span(pred.get('loss_ci'), lambda x: f'{x:.4f}')} "
                   f"| {bt['params_error_pct'][name]:+.1f}% | {bt['loss_error_pct'][name]:+.2f}% | {verdict} |")
    out.append("")
    if bt["within_interval"] is None:
        out.append("No verdict: the fits ran without a bootstrap.")
    elif bt["within_interval"]:
        out.append(f"Every prediction agrees with what the held-out budget shows: the {level} interval of their "
                   f"difference (prediction minus observation, both resampled; for the loss the best run's noise "
                   f"added, sd {obs['noise_sd']:.4f}) covers zero. A law that passes here has earned some trust "
                   f"for the next half decade; one that fails should not size a large run.")
    else:
        out.append(f"At least one prediction misses: the {level} interval of its difference from the observation "
                   f"excludes zero. Do not size a larger run by that law before finding out why (a budget off the "
                   f"trend, a law that bends, too few budgets).")
    if bt.get("warnings"):
        out += ["", "Warnings of the refits on the smaller data:", ""] + [f"- {w}" for w in bt["warnings"]]
    return out + [""]


def rolling_section(rolled: dict) -> list[str]:
    """report.md's rolling backtest: every budget forecast by Approach 2 from the budgets below it."""
    rows = rolled["rows"]
    out = ["### Rolled forward: each budget from the smaller ones", "",
           f"The same backtest for every budget with {rolled['min_fitted']} or more isoFLOP budgets below it, fitted "
           f"on those alone (Approach 2): one held-out budget is one draw of the forecast's error, several show "
           f"its size and whether it leans one way.", "",
           "| forecast budget | fitted on | N_opt observed | N_opt predicted | N_opt error | min loss observed (best "
           "run) | min loss predicted | loss error | agrees (N_opt, loss) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        obs, pred, verdict = r["observed"], r["predicted"], _verdict(r["within"])
        out.append(f"| {r['holdout_flops']:.3g} | {r['n_fitted']} budgets | {_n(obs['params_opt'])}"
                   f"{_span(obs.get('params_opt_ci'), _n)} | {_n(pred['params_opt'])}"
                   f"{_span(pred.get('params_opt_ci'), _n)} | {r['params_error_pct']:+.1f}% | {obs['loss_best']:.4f} "
                   f"| {pred['loss']:.4f}{_span(pred.get('loss_ci'), lambda x: f'{x:.4f}')} "
                   f"| {r['loss_error_pct']:+.2f}% | {verdict} |")
    err = rolled["loss_error_pct"]
    line = (f"Minimum loss forecast one budget ahead: mean error {err['mean']:+.2f}%, mean absolute "
            f"{err['mean_abs']:.2f}%, largest {err['max_abs']:.2f}% over {len(rows)} budget(s).")
    if rolled.get("agree"):
        k_n, k_l = rolled["agree"]["params_opt"], rolled["agree"]["loss"]
        line += f" N_opt agrees at {k_n[0]} of {k_n[1]}, the loss at {k_l[0]} of {k_l[1]}."
    skipped = [f"{s['holdout_flops']:.3g} ({s['reason']})" for s in rolled.get("skipped", [])]
    if skipped:
        line += " Not forecast: " + "; ".join(skipped) + "."
    return out + ["", line, ""]


def conventions_section(rows: list[dict], convention: tuple[str, str]) -> list[str]:
    """report.md's table of a under each (N, C) convention, which one law.json uses, and what the numbers say."""
    out = ["## Conventions: which N, which C", "",
           "| N | C | Approach 2 a [95% CI] | Approach 3 a [95% CI] | Approach 3 objective |", "|---|---|---|---|---|"]
    for row in rows:
        cells = []
        for name in ("2", "3"):
            cell = row.get(name, {})
            cells.append(f"{cell['a']:.3f}{_ci({'ci': {'a': cell.get('ci')}}, 'a')}" if "a" in cell
                         else f"not fitted: {cell.get('skipped', '')}")
        objective = row.get("3", {}).get("objective")
        mark = " (law.json)" if (row["params"], row["compute"]) == convention else ""
        out.append(f"| {CONVENTION_NAMES[row['params']]}{mark} | {CONVENTION_NAMES[row['compute']]} | {cells[0]} | "
                   f"{cells[1]} | {f'{objective:.4g}' if objective is not None else '-'} |")
    resamples = {cell.get("resamples") for row in rows for cell in (row.get("2", {}), row.get("3", {}))} - {None}
    out += ["", f"Each fit with {' or '.join(str(k) for k in sorted(resamples))} bootstrap resamples (the main "
            f"fits' convention keeps the main fits). With exact compute each budget's C is Appendix F's count at "
            f"the optimum (the runs' exact FLOPs interpolated to N_opt), so D_opt = C_exact / (exact FLOPs per token "
            f"at N_opt), the tokens that compute buys; Approach 3's a is then beta / (alpha + p beta), with "
            f"C = c N^p D fitted to the runs. Non-embedding 6ND is Kaplan et al.'s C = 6ND with their N.", ""]
    planner = convention == PLANNER_CONVENTION
    out.append(f"law.json uses N = {CONVENTION_NAMES[convention[0]]} and C = {CONVENTION_NAMES[convention[1]]}"
               + (", the planner's convention (`scaling plan` counts N with embeddings and C = 6ND), so it plans "
                  "as it is." if planner else ", which is NOT the planner's (`scaling plan` counts N with "
                  "embeddings and C = 6ND): use it to compare, not to plan."))
    out += ["", *_convention_evidence(rows), ""]
    return out


def _convention_evidence(rows: list[dict]) -> list[str]:
    """What the table says about the default (N total, C = 6ND), in numbers."""
    cell = {(r["params"], r["compute"], name): r.get(name, {}) for r in rows for name in ("2", "3")}
    said = []
    total, kaplan = cell.get(("total", "6nd", "3"), {}), cell.get(("non-embedding", "6nd", "3"), {})
    if total.get("objective") is not None and kaplan.get("objective") is not None:
        better = "total" if total["objective"] <= kaplan["objective"] else "non-embedding"
        said.append(f"Approach 3's law fits these losses {'better' if better == 'total' else 'worse'} with N total "
                    f"(objective {total['objective']:.4g}) than with N non-embedding ({kaplan['objective']:.4g}): "
                    f"the same losses and loss function, so the objectives compare.")
    shifts = []
    for name in ("2", "3"):
        six, exact = cell.get(("total", "6nd", name), {}), cell.get(("total", "exact", name), {})
        if "a" in six and "a" in exact and six.get("ci") and None not in six["ci"]:
            half = (six["ci"][1] - six["ci"][0]) / 2
            shifts.append(f"Approach {name} by {exact['a'] - six['a']:+.3f} (its interval's half-width {half:.3f})")
    if shifts:
        said.append("Exact compute instead of 6ND moves a of " + " and ".join(shifts) + ".")
    widths = {}
    for params, compute in CONVENTIONS:
        ci = cell.get((params, compute, "2"), {}).get("ci")
        if ci and None not in ci:
            widths[(params, compute)] = ci[1] - ci[0]
    if widths:
        narrow = min(widths, key=widths.get)
        said.append(f"Approach 2's interval is narrowest with N {CONVENTION_NAMES[narrow[0]]}, C "
                    f"{CONVENTION_NAMES[narrow[1]]} (width {widths[narrow]:.3f}).")
    said.append("The default is N total and C = 6ND: Chinchilla's convention and the planner's, so law.json plans "
                "as it is; the other columns show how far the exponent depends on that choice.")
    return [" ".join(said)]


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
        window = section.get("window", "all")
        scatter = _scatter_note(section.get("scatter"), " The power laws' intervals")
        out += ["### isoFLOP optima (Approach 2)", "",
                f"Each parabola is fitted on "
                f"{'every size' if window == 'all' else f'the best size and {window} either side'}"
                f" (the window); the intervals come from a residual bootstrap (noise sd "
                f"{section.get('noise_sd') or float('nan'):.4f}, pooled over the windows) that keeps every size."
                f"{scatter}" + (f" {skew_line(section['skew'])}" if section.get("skew") else ""), "",
                _optimum_rows(section), "",
                f"Tokens per parameter at the optimum: {min(ratios):.0f} to {max(ratios):.0f} "
                f"(Chinchilla: ~{TOKENS_PER_PARAM['chinchilla']:g} at 1e19-1e24 FLOPs with a 32K-token vocabulary; "
                f"these are bytes).", ""]
    if "3w" in report.fits:
        out += [_window_note(report.fits["3"], report.fits["3w"], report.fits.get("2")), ""]
    if "3k" in report.fits:
        out += [_kaplan_note(report.fits["3k"], report.fits["3"], report.directory, report.plannable), ""]
    if "3" in report.fits:
        s = report.fits["3"]
        out += [f"Approach 3 law: L = {s['E']:.3f} + {s['A']:.4g}/N^{s['alpha']:.3f} + {s['B']:.4g}/D^{s['beta']:.3f}"
                f" (objective {s['objective']:.4g}), saved as `{LAW_FILES['3']}`: "
                f"{_plans_with(report.directory, LAW_FILES['3'], report.plannable)}", ""]
    if report.profiles is not None:
        out += profiles_section(report.profiles)
    elif report.profiles_skipped:
        out += ["### Approach 3's laws against the isoFLOP profiles", "", f"Not checked: {report.profiles_skipped}.",
                ""]
    notes = list(dict.fromkeys(w for name in ("2", "1", "3") for w in report.fits.get(name, {}).get("warnings", [])))
    # (each fit reads the same runs, so a warning about them comes once per fit: said once here)
    if notes:
        out += ["Fit warnings:", ""] + [f"- {w}" for w in notes] + [""]
    if report.backtest is not None:
        out += backtest_section(report.backtest)
    elif report.backtest_skipped:
        out += ["## Backtest", "", f"Not run: {report.backtest_skipped}.", ""]
    if report.rolling is not None:
        out += rolling_section(report.rolling)
    elif report.rolling_skipped and report.backtest is not None:  # without a backtest, its reason says enough
        out += ["### Rolled forward", "", f"Not run: {report.rolling_skipped}.", ""]
    if report.conventions:
        out += conventions_section(report.conventions, report.convention)
    if report.seeds is not None:
        out += ["## Seed spread", "", "| budget | rule | size factor | seeds | mean loss | sd |",
                "|---|---|---|---|---|---|"]
        for _, r in report.seeds.iterrows():
            out.append(f"| {r['budget.flops']:.3g} | {r['allocation.rule']} | {r['allocation.size_factor']:g} | "
                       f"{int(r['count'])} | {r['mean']:.4f} | {r['std']:.4f} |")
        out.append("")
    out += throughput_section(report.runs)
    if report.figures:
        out += ["## Figures", ""] + [f"![{p.stem}]({p.name})" for p in report.figures] + [""]
    return "\n".join(out)



def sweep_throughput(runs: pd.DataFrame) -> dict | None:
    """A sweep's aggregate throughput from its summaries: tokens/s = all tokens over the sweep's span (first
    start to last finish, from each summary's `finished_at` and `wall_seconds`; where a summary lacks the time
    stamp, the runs are taken to have run one after another), and MFU = the model FLOPs over what the devices'
    peak could have done in that span. Each run's FLOPs in peak-seconds are mfu x world_size x tokens /
    tokens_per_second (its own MFU's definition, PaLM's count), so no peak table is needed here. Devices: the
    distinct `device` names times the largest world size. None without throughput figures."""
    if runs.empty or "tokens_per_second" not in runs:
        return None
    rows = runs[runs["tokens_per_second"].notna() & (runs["tokens_per_second"] > 0)]
    if rows.empty:
        return None
    world = rows["world_size"].fillna(1) if "world_size" in rows else pd.Series(1.0, index=rows.index)
    if "finished_at" in rows and rows["finished_at"].notna().all():
        span = float(rows["finished_at"].max() - (rows["finished_at"] - rows["wall_seconds"]).min())
        how = "first start to last finish"
    else:
        span, how = float(rows["wall_seconds"].sum()), "runs taken one after another (no time stamps)"
    devices = int(rows["device"].nunique() if "device" in rows else 1) * int(world.max())
    out = {"runs": len(rows), "tokens": float(rows["tokens"].sum()), "span_seconds": span, "span": how,
           "devices": devices, "tokens_per_second": float(rows["tokens"].sum()) / span if span > 0 else None,
           "mfu": None}
    if "mfu" in rows and rows["mfu"].notna().all() and span > 0:
        peak_seconds = (rows["mfu"] * world * rows["tokens"] / rows["tokens_per_second"]).sum()
        out["mfu"] = float(peak_seconds) / (span * devices)
    return out


def throughput_section(runs: pd.DataFrame) -> list[str]:
    """report.md's account of the sweep's speed (`sweep_throughput`); nothing where the summaries lack it."""
    t = sweep_throughput(runs)
    if t is None:
        return []
    mfu = f"{t['mfu']:.1%}" if t["mfu"] is not None else "n/a (CPU or an unknown GPU)"
    return ["## Throughput of the sweep", "",
            "| runs | tokens | span | devices | aggregate tokens/s | aggregate MFU |", "|---|---|---|---|---|---|",
            f"| {t['runs']} | {t['tokens']:.3g} | {t['span_seconds']:.0f} s ({t['span']}) | {t['devices']} | "
            f"{t['tokens_per_second']:,.0f} | {mfu} |", ""]
