"""The report's figures say what they should: axes that follow the data, reference slopes that are slopes (through
the anchor, with the right exponent on the right panel), seed error bars, legends off the data, one style."""

import json
import math
import warnings
from pathlib import Path

import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from scaling import plots
from scaling.allocation import KAPLAN_EXPONENT, TOKENS_PER_PARAM
from scaling.report import allocation_spread, allocation_table, isoflop_runs
from scaling.results import load_curves, load_runs
from tests.synthetic_runs import isoflop_sweep, training_curves

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference"


@pytest.fixture(scope="module")
def runs():
    runs = load_runs(REFERENCE)
    return runs[runs["status"] == "completed"]


@pytest.fixture(scope="module")
def iso(runs):
    return isoflop_runs(runs)


@pytest.fixture(scope="module")
def curves(iso):
    curves = load_curves(REFERENCE)
    return curves[curves["run"].isin(set(iso["run"]))]


@pytest.fixture(scope="module")
def approach2():
    return json.loads((REFERENCE / "fits.json").read_text())["2"]


@pytest.fixture(scope="module")
def backtest_section():
    from scaling.fitting import fit

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(isoflop_sweep(0), approach="all", bootstrap=200, holdout_budget="largest").to_dict()["backtest"]


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]


def _labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_loss_curves_one_panel_per_budget_with_x_range_of_the_data(curves, iso):
    fig = plots.loss_curves(curves, "flops", runs=iso)
    panels = _panels(fig)
    budgets = sorted(iso["budget.flops"].unique())
    assert len(panels) == len(budgets)
    assert panels[0].get_shared_y_axes().joined(panels[0], panels[-1])
    top = panels[0].get_ylim()[1]
    for ax, c in zip(panels, budgets, strict=True):
        lines = [line for line in ax.get_lines() if len(line.get_xdata())]
        xs = np.concatenate([line.get_xdata() for line in lines])
        assert xs.max() <= 1.1 * c  # only this budget's runs
        in_window = np.concatenate([np.asarray(line.get_xdata())[np.asarray(line.get_ydata()) <= top]
                                    for line in lines])
        lo, hi = ax.get_xlim()
        assert in_window.min() / 2 <= lo <= in_window.min() * 1.0001
        assert xs.max() <= hi <= 2 * xs.max()
        # the earliest log points (first steps of warm-up, far left) are not what sets the axis any more
        first_logged = curves.loc[curves["run"].isin(iso.loc[iso["budget.flops"] == c, "run"]), "flops"].min()
        assert lo > 10 * first_logged
        val = curves[curves["run"].isin(iso.loc[iso["budget.flops"] == c, "run"])].dropna(subset=["val_loss"])
        assert lo <= val["flops"].min() and val["val_loss"].max() <= top  # every validation point is on the axes
    assert any(ax.get_ylabel() == plots.LABELS["params"] for ax in fig.axes)  # the size colorbar


def test_loss_curves_without_budgets_is_one_panel_following_the_data():
    synthetic = training_curves(0, sizes=np.geomspace(1e7, 1e8, 4), points=20)
    synthetic = synthetic.assign(train_loss=synthetic["loss"] + 0.01, val_loss=synthetic["loss"])
    fig = plots.loss_curves(synthetic, "tokens")
    (ax,) = [a for a in fig.axes if a.get_xlabel() == plots.LABELS["tokens"]]
    lo, hi = ax.get_xlim()
    assert synthetic["tokens"].min() / 2 <= lo and synthetic["tokens"].max() <= hi <= 2 * synthetic["tokens"].max()


def _anchor(section):
    rows = [r for r in section["per_budget"] if r["params_opt"] and r["bracketed"]]
    return [math.exp(np.mean(np.log([r[k] for r in rows]))) for k in ("flops", "params_opt", "tokens_opt")]


def test_optimal_scaling_draws_reference_slopes_through_the_data(approach2):
    fig = plots.optimal_scaling(approach2)
    n_ax, d_ax = fig.axes[:2]
    kaplan_d = f"C^{1 - KAPLAN_EXPONENT:.2f}"
    assert any("Kaplan" in t and kaplan_d in t and "D ~" in t for t in _labels(d_ax))
    assert not any("N ~" in t for t in _labels(d_ax))
    assert any("Kaplan" in t and f"C^{KAPLAN_EXPONENT:.2f}" in t for t in _labels(n_ax))
    assert not any("D ~" in t for t in _labels(n_ax))
    c0, n0, d0 = _anchor(approach2)
    expected = {(id(n_ax), "Kaplan"): KAPLAN_EXPONENT, (id(d_ax), "Kaplan"): 1 - KAPLAN_EXPONENT,
                (id(n_ax), "Chinchilla"): 0.5, (id(d_ax), "Chinchilla"): 0.5}
    seen = 0
    for ax, anchor in ((n_ax, n0), (d_ax, d0)):
        low, high = ax.get_ylim()
        assert low < anchor < high
        for line in ax.get_lines():
            name = line.get_label().split(" slope")[0]
            if "slope" not in line.get_label():
                continue
            lx, ly = np.log(line.get_xdata()), np.log(line.get_ydata())
            assert np.polyfit(lx, ly, 1)[0] == pytest.approx(expected[(id(ax), name)], abs=1e-9)
            assert np.interp(math.log(c0), lx, ly) == pytest.approx(math.log(anchor), abs=1e-9)
            assert "anchored at the data" in line.get_label()
            seen += 1
    assert seen == 4
    assert f"{TOKENS_PER_PARAM['chinchilla']:g} tokens/param" in " ".join(_labels(n_ax))


def test_allocation_error_bars_are_the_seed_spread(runs):
    table = allocation_table(runs)
    spread = allocation_spread(runs)
    pivot = spread.pivot(index="budget.flops", columns="allocation.rule", values="mean")[table.columns]
    pd.testing.assert_frame_equal(pivot, table, check_names=False)  # the same means as the headline table
    fig = plots.allocation_comparison(table, spread)
    ax = fig.axes[0]
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = [seg for c in bars for coll in c.lines[2] for seg in coll.get_segments()]
    at_one = runs[np.isclose(runs["allocation.size_factor"].astype(float), 1.0)]
    several = at_one.groupby(["budget.flops", "allocation.rule"])["final_val_loss"].agg(["std", "count"])
    several = several[several["count"] > 1]
    assert len(several) and len(segments) == len(several)
    for (c, _rule), row in several.iterrows():
        (seg,) = [s for s in segments if s[0, 0] == pytest.approx(c)]
        assert abs(seg[1, 1] - seg[0, 1]) == pytest.approx(2 * row["std"]) and row["std"] > 0
    labels = _labels(ax)
    ratios = at_one.loc[at_one["allocation.rule"] == "optimal", "allocation.tokens_per_param"]
    if len(ratios):  # a law-sized rule is labelled by the ratios it trained at
        assert f"optimal ({ratios.min():.2g}-{ratios.max():.2g} tokens/param trained)" in labels
    assert "chinchilla (20 tokens/param)" in labels
    assert any(f"sd over {int(several['count'].max())} seeds" in t for t in labels)
    without = plots.allocation_comparison(table)  # the table alone still draws, without bars
    assert not [c for c in without.axes[0].containers if isinstance(c, ErrorbarContainer)]


def test_isoflop_legend_explains_open_stars_and_sits_off_the_data(iso, approach2):
    per_budget = [dict(r) for r in approach2["per_budget"]]
    assert "outside the sizes tried" not in " ".join(_labels(plots.isoflop_profiles(iso, per_budget).axes[0]))
    per_budget[-1]["bracketed"] = False
    fig = plots.isoflop_profiles(iso, per_budget)
    assert any("outside the sizes tried" in t for t in _labels(fig.axes[0]))


def test_backtest_draws_the_fitted_optima_the_predictions_and_the_held_out_observation(backtest_section):
    """Left N_opt, right the minimum loss: the fitted budgets' optima as points, each approach's prediction as a
    line through its value at the held-out C, its band, and the held-out observation as a star there."""
    bt = backtest_section
    fig = plots.backtest(bt)
    n_ax, loss_ax = fig.axes[:2]
    held = bt["holdout_compute"]
    for ax, key, observed in ((n_ax, "params_opt", bt["observed"]["params_opt"]),
                              (loss_ax, "loss", bt["observed"]["loss_best"])):
        labels = _labels(ax)
        assert "Approach 2 prediction" in labels and "Approach 3 prediction" in labels
        assert sum("bootstrap band" in t for t in labels) == 2 and len(ax.collections) >= 2
        (star,) = [line for line in ax.get_lines() if line.get_marker() == "*"]
        assert star.get_xdata()[0] == pytest.approx(held) and star.get_ydata()[0] == pytest.approx(observed)
        for name in ("approach2", "approach3"):
            (line,) = [ln for ln in ax.get_lines() if ln.get_label() == plots.APPROACH_LABELS[name] + " prediction"]
            x, y = np.log(line.get_xdata()), np.asarray(line.get_ydata())
            y = np.log(y) if key == "params_opt" else y
            at = np.interp(math.log(held), x, y)
            expected = bt["predicted"][name][key]
            assert at == pytest.approx(math.log(expected) if key == "params_opt" else expected, abs=0.02)
        points = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
        assert len(points[0].get_xdata()) == len(bt["fitted_budgets"])
    assert n_ax.get_yscale() == "log" and loss_ax.get_yscale() == "linear"


@pytest.mark.parametrize("which", ["loss_curves", "isoflop", "optimal", "allocations", "backtest"])
def test_legends_never_cover_the_axes_and_one_style_labels_them(which, curves, iso, runs, approach2,
                                                                backtest_section):
    fig = {"loss_curves": lambda: plots.loss_curves(curves, runs=iso),
           "isoflop": lambda: plots.isoflop_profiles(iso, approach2["per_budget"]),
           "optimal": lambda: plots.optimal_scaling(approach2),
           "allocations": lambda: plots.allocation_comparison(allocation_table(runs), allocation_spread(runs)),
           "backtest": lambda: plots.backtest(backtest_section)}[which]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert legends
    data_axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel()]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in data_axes)
        assert all(t.get_fontsize() == plots.STYLE["legend.fontsize"] for t in legend.get_texts())
    for ax in data_axes:
        assert ax.xaxis.label.get_fontsize() == plots.STYLE["axes.labelsize"]
        assert ax.get_xscale() == "log"


@pytest.mark.parametrize("make", [
    lambda: plots.loss_curves(pd.DataFrame(columns=["run", "status", "params"])),
    lambda: plots.loss_curves(pd.DataFrame({"run": ["a"], "params": [1e4], "flops": [1e9], "train_loss": [3.0]})),
    lambda: plots.isoflop_profiles(pd.DataFrame()),
    lambda: plots.isoflop_profiles(pd.DataFrame({"budget.flops": [1e11, 1e11], "params": [1e4, 2e4],
                                                 "final_val_loss": [2.0, 2.1]})),
    lambda: plots.optimal_scaling({"per_budget": []}),
    lambda: plots.optimal_scaling({"a": 0.5, "b": 0.5, "params_coefficient": 1e-2, "tokens_coefficient": 10.0,
                                   "per_budget": [{"flops": 1e11, "params_opt": 3e4, "tokens_opt": 5e5,
                                                   "loss_opt": 2.0, "bracketed": False}]}),
    lambda: plots.allocation_comparison(pd.DataFrame()),
    lambda: plots.allocation_comparison(pd.DataFrame({"optimal": [2.0]}, index=[1e11])),
    lambda: plots.backtest({"holdout_compute": 3e12, "holdout_flops": 3e12, "fitted": [], "level": 0.95}),
], ids=["curves-empty", "curves-one-point", "iso-empty", "iso-two-sizes", "opt-empty", "opt-one-unbracketed",
        "alloc-empty", "alloc-one-point", "backtest-empty"])
def test_every_figure_draws_for_empty_ish_input(make):
    fig = make()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert plots.png(fig)[:8] == b"\x89PNG\r\n\x1a\n" and len(plots.png(make())) > 1000
