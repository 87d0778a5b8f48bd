"""Approach 3's lack-of-fit test against replicate runs (seeds): quiet where the runs follow the law's form
within their noise, loud where they carry structure the form cannot follow, and equal to the textbook F
computed independently from a pandas group-by."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scaling.fitting import fit
from scaling.fitting.parametric import lack_of_fit
from scaling.laws import ParametricLaw

LAW = ParametricLaw(E=1.82, A=482.0, B=2085.0, alpha=0.35, beta=0.37, name="rounded epoch")


def replicated_grid(seed: int, noise: float = 0.004, budget_offset: float = 0.0) -> pd.DataFrame:
    """6 sizes x 5 budgets, two seeds each, log-normal noise; `budget_offset` adds +-offset nats alternately by
    budget (structure the form E + A/N^alpha + B/D^beta cannot follow)."""
    rng = np.random.default_rng(seed)
    rows = []
    for j, c in enumerate(np.geomspace(1e18, 1e20, 5)):
        n_opt = LAW.compute_optimal(c)[0]
        for n in n_opt * np.geomspace(0.2, 5.0, 6):
            d = c / (6 * n)
            for _ in range(2):
                loss = (LAW.loss(n, d) + budget_offset * (-1) ** j) * np.exp(noise * rng.standard_normal())
                rows.append({"params": n, "tokens": d, "flops": c, "loss": loss})
    return pd.DataFrame(rows)


def approach3(frame) -> tuple[dict, list[str]]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = fit(frame, approach="3", bootstrap=0).to_dict()
    return out, [str(w.message) for w in seen]


def test_f_equals_the_textbook_anova_from_a_group_by():
    frame = replicated_grid(0, budget_offset=0.02)
    out, _ = approach3(frame)
    law = ParametricLaw(E=out["E"], A=out["A"], B=out["B"], alpha=out["alpha"], beta=out["beta"], name="fit")
    frame["log_loss"] = np.log(frame["loss"])
    frame["residual"] = frame["log_loss"] - np.log(law.loss(frame["params"].to_numpy(), frame["tokens"].to_numpy()))
    cells = frame.groupby(["params", "tokens"])["log_loss"]
    ss_pe = float(((frame["log_loss"] - cells.transform("mean")) ** 2).sum())
    ss_lof = float((frame["residual"] ** 2).sum()) - ss_pe
    df_lof, df_pe = cells.ngroups - 5, len(frame) - cells.ngroups
    f = (ss_lof / df_lof) / (ss_pe / df_pe)
    got = out["lack_of_fit"]
    assert got["dof"] == [df_lof, df_pe] == [25, 30]
    assert got["F"] == pytest.approx(f, rel=1e-9)
    assert got["p"] == pytest.approx(stats.f.sf(f, df_lof, df_pe), rel=1e-9)


def test_runs_that_follow_the_form_pass_and_structured_ones_are_flagged():
    """Under the null (runs from the form, seed noise only) a 1% test flags about 1 sweep in 100: at most 2 of 20
    here (Huber is not least squares, which inflates F by a few percent). Budgets off the form by +-0.02 nats,
    5x the noise, are flagged every time."""
    flagged = 0
    for seed in range(20):
        out, said = approach3(replicated_grid(seed))
        flagged += out["lack_of_fit"]["p"] < 0.01
        assert (out["lack_of_fit"]["p"] < 0.01) == any("lack-of-fit F" in s for s in said)
    assert flagged <= 2
    for seed in range(3):
        out, said = approach3(replicated_grid(seed, budget_offset=0.02))
        misfit = out["lack_of_fit"]
        assert misfit["p"] < 1e-6 and misfit["residual_sd"] > 2 * misfit["replicate_sd"]
        assert misfit["replicate_sd"] == pytest.approx(0.004, rel=0.4)  # the seeds' noise, whatever the misfit
        assert any("lack-of-fit F" in s and "compare Approach 2" in s for s in said)


def test_no_replicates_no_test():
    frame = replicated_grid(0).drop_duplicates(subset=["params", "tokens"])
    assert lack_of_fit(frame["params"], frame["tokens"], frame["loss"], LAW) is None
    assert "lack_of_fit" not in approach3(frame)[0]
