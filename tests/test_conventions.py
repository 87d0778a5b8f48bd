"""Which N and which C a fit uses (`--params total|non-embedding`, `--compute 6nd|exact`), against closed forms.

With C = c N^p D and a law L(N, D), the optimum along C is N_opt ~ C^(beta / (alpha + p beta)); a sweep whose
budgets count 6ND has, at its optima, C_exact ~ C6^(1 + (p - 1) a6), which gives the same exponent. A second N
with N' = k N^q moves a6 to q a6 / (1 + (q - 1) a6) (Kaplan's C' = 6 N' D). The synthetic sweeps are exact
isoFLOP profiles of the replication's law, so Approach 2 meets these closed forms to rounding.
"""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.cli import main
from scaling.errors import ScalingError
from scaling.fitting import fit
from tests.synthetic_runs import BUDGETS, LAW, isoflop_sweep, write_run

C_EXACT, P_EXACT = 10.0, 0.9  # flops_exact = 10 N^0.9 D: per token slower than 6N, as Appendix F for tiny models
K_NE, Q_NE = 0.5, 1.02  # non_embedding_params = 0.5 N^1.02: embeddings a shrinking share as N grows


def with_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """The sweep with the counts a harness summary records: non-embedding N and an exact FLOP count."""
    return frame.assign(non_embedding_params=K_NE * frame["params"] ** Q_NE,
                        flops_exact=C_EXACT * frame["params"] ** P_EXACT * frame["tokens"])


def quiet(frame, approach="2", **options) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fit(frame, approach=approach, bootstrap=0, **options).to_dict()
    return out if approach == "3" else out["approach2"]


def test_exact_compute_gives_beta_over_alpha_plus_p_beta_by_approaches_2_and_3():
    sweep = with_counts(isoflop_sweep(0, noise=0.0))
    expected = LAW.beta / (LAW.alpha + P_EXACT * LAW.beta)
    a2 = quiet(sweep, compute="exact")
    assert a2["a"] == pytest.approx(expected, abs=1e-6) and a2["b"] == pytest.approx(1 - P_EXACT * expected, abs=1e-6)
    for row in a2["per_budget"]:  # the budget's C is the exact count at its optimum, and D_opt what it buys there
        assert row["compute"] == pytest.approx(C_EXACT * row["params_opt"] ** P_EXACT * row["tokens_opt"], rel=1e-6)
    a3 = quiet(sweep, approach="3", compute="exact")
    assert a3["flops_per_token"]["coefficient"] == pytest.approx(C_EXACT)
    assert a3["flops_per_token"]["exponent"] == pytest.approx(P_EXACT)
    assert a3["a"] == pytest.approx(a3["beta"] / (a3["alpha"] + P_EXACT * a3["beta"]))
    assert a3["a"] == pytest.approx(expected, abs=1e-3) and "G" not in a3
    six = quiet(sweep, approach="3")
    assert six["a"] == pytest.approx(LAW.a, abs=1e-3) and six["objective"] == pytest.approx(a3["objective"])


def test_non_embedding_n_moves_a_by_the_closed_form():
    sweep = with_counts(isoflop_sweep(0, noise=0.0))
    expected = Q_NE * LAW.a / (1 + (Q_NE - 1) * LAW.a)
    a2 = quiet(sweep, params="non-embedding")
    assert a2["a"] == pytest.approx(expected, abs=1e-6)
    total = quiet(sweep)
    assert total["a"] == pytest.approx(LAW.a, abs=1e-9)


def test_a_law_in_non_embedding_n_is_found_there_and_fits_worse_in_total_n():
    """Losses drawn from the law with N non-embedding, embeddings 20% to 80% of the parameters: Approach 3
    finds the law's exponents with --params non-embedding, and the same losses fit worse with N total."""
    rng = np.random.default_rng(0)
    rows = []
    for c in BUDGETS:
        for f in np.geomspace(1 / 4, 4, 7):
            n_ne = LAW.compute_optimal(c)[0] * f
            d = c / (6 * n_ne)
            rows.append({"params": n_ne + 4e7 * (c / 1e18) ** 0.3, "non_embedding_params": n_ne, "tokens": d,
                         "loss": LAW.loss(n_ne, d) * np.exp(0.002 * rng.standard_normal())})
    frame = pd.DataFrame(rows)
    kaplan = quiet(frame, approach="3", params="non-embedding")
    total = quiet(frame, approach="3")
    assert kaplan["alpha"] == pytest.approx(LAW.alpha, abs=0.02) and kaplan["beta"] == pytest.approx(LAW.beta, abs=0.02)
    assert total["objective"] > 1.5 * kaplan["objective"]


def test_a_sweep_whose_budgets_count_exact_flops_gives_the_laws_a_under_6nd():
    """The harness's budget.flops_method=exact: each budget's runs spend C exact FLOPs, D = C / (c N^p). Under
    6ND the budget's C is 6 N_opt D_opt at its optimum and a is the law's beta / (alpha + beta); counted
    exactly, beta / (alpha + p beta)."""
    rows = []
    for c in BUDGETS:
        centre = (LAW.alpha * LAW.A / (P_EXACT * LAW.beta * LAW.B) * c ** LAW.beta / C_EXACT ** LAW.beta) ** (
            1 / (LAW.alpha + P_EXACT * LAW.beta))
        for f in np.geomspace(1 / 4, 4, 7):
            n = centre * f
            d = c / (C_EXACT * n ** P_EXACT)
            rows.append({"params": n, "tokens": d, "budget": c, "flops_exact": c, "flops_method": "exact",
                         "loss": LAW.loss(n, d)})
    frame = pd.DataFrame(rows)
    assert quiet(frame)["a"] == pytest.approx(LAW.a, abs=1e-6)
    assert quiet(frame, compute="exact")["a"] == pytest.approx(LAW.beta / (LAW.alpha + P_EXACT * LAW.beta), abs=1e-6)


def test_results_dir_counts_are_read_and_missing_ones_refused_in_one_line(tmp_path, capsys):
    sweep = with_counts(isoflop_sweep(1, noise=0.0))
    for i, row in sweep.iterrows():
        n, d = float(row["params"]), float(row["tokens"])
        write_run(tmp_path / "runs" / f"run{i:02d}", {
            "status": "completed", "params": n, "tokens": d, "flops": 6 * n * d, "final_val_loss": float(row["loss"]),
            "non_embedding_params": float(row["non_embedding_params"]), "flops_exact": float(row["flops_exact"]),
            "budget": {"flops": float(row["budget"]), "tokens": None, "flops_method": "6nd"}},
            [{"step": 1, "tokens": d, "flops": 6 * n * d, "train_loss": float(row["loss"]) + 0.01}])
    out = quiet(tmp_path / "runs", compute="exact", params="non-embedding")
    assert out["a"] == pytest.approx(quiet(sweep, compute="exact", params="non-embedding")["a"], rel=1e-9)
    assert main(["fit", str(tmp_path / "runs"), "--approach", "2", "--bootstrap", "0", "--compute", "exact",
                 "--json"]) == 0
    said = capsys.readouterr()
    assert json.loads(said.out)["conventions"] == {"compute": "exact", "params": "total"}
    assert "the laws in this fit are for comparison, not for planning" in said.err
    csv = tmp_path / "plain.csv"
    isoflop_sweep(1).to_csv(csv, index=False)
    assert main(["fit", str(csv), "--bootstrap", "0", "--params", "non-embedding"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--params non-embedding needs each run's non_embedding_params" in err[0]
    with pytest.raises(ScalingError, match="unknown compute convention 'palm'"):
        fit(csv, compute="palm")
