"""Approach 3 with alpha = beta (4 parameters) and the warnings that it is under-determined: a law fitted so by
Muennighoff et al. 2023 is recovered, untied data fit worse when tied, the tied derivatives match finite
differences, and too few points or one tokens/param are said in one line each."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.fitting import fit
from scaling.fitting.parametric import LogHuberObjective, TiedObjective
from scaling.laws import NAMED_LAWS, ParametricLaw
from tests.synthetic_runs import BUDGETS

TIED = NAMED_LAWS["muennighoff"]  # alpha = beta = 0.3527 (Muennighoff et al. 2023, fitted with them tied)
UNTIED = ParametricLaw(E=1.8, A=300.0, B=3000.0, alpha=0.25, beta=0.45, name="untied")


def sweep(law, seed: int = 0, noise: float = 0.005) -> pd.DataFrame:
    """6 budgets x 7 sizes (1/4..4 x the law's N_opt), log-normal noise on the loss."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in BUDGETS:
        for f in np.geomspace(1 / 4, 4, 7):
            n = law.compute_optimal(c)[0] * f
            d = c / (6 * n)
            rows.append({"params": n, "tokens": d, "loss": law.loss(n, d) * np.exp(noise * rng.standard_normal())})
    return pd.DataFrame(rows)


def quiet_fit(frame, **options) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(frame, **options).to_dict()


def test_tied_fit_recovers_alpha_of_a_law_with_equal_exponents():
    out = quiet_fit(sweep(TIED, noise=0.002), bootstrap=200, tie_exponents=True)
    assert out["tie_exponents"] is True and out["alpha"] == out["beta"]
    assert out["alpha"] == pytest.approx(TIED.alpha, abs=0.01)
    assert out["a"] == pytest.approx(0.5, abs=1e-12)  # beta / (alpha + beta) with alpha = beta
    assert out["ci"]["alpha"] == out["ci"]["beta"] and out["ci"]["alpha"][0] <= TIED.alpha <= out["ci"]["alpha"][1]
    assert np.array_equal(out["draws"]["alpha"], out["draws"]["beta"])


def test_untied_data_fit_worse_when_tied():
    """alpha 0.25, beta 0.45: the constrained optimum cannot reach the free one; here it is several times worse,
    and the free fit finds the law's exponents."""
    data = sweep(UNTIED, noise=0.002)
    free = quiet_fit(data, bootstrap=0)
    tied = quiet_fit(data, bootstrap=0, tie_exponents=True)
    assert free["alpha"] == pytest.approx(0.25, abs=0.03) and free["beta"] == pytest.approx(0.45, abs=0.03)
    assert tied["objective"] > 3 * free["objective"]
    same = quiet_fit(sweep(TIED, noise=0.002), bootstrap=0)
    same_tied = quiet_fit(sweep(TIED, noise=0.002), bootstrap=0, tie_exponents=True)
    assert same_tied["objective"] < 1.5 * same["objective"]  # tying costs little where the law is tied


def test_tied_derivatives_match_finite_differences():
    data = sweep(UNTIED, noise=0.01)
    full = LogHuberObjective(np.log(data["params"]), np.log(data["tokens"]), np.log(data["loss"]), delta=0.01)
    tied = TiedObjective(full)
    theta = np.array([5.5, 8.0, 0.6, 0.33])
    f, g, h = tied.value_grad_hess(theta[None, :])
    step = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = step
        fp, gp = tied.value_grad((theta + e)[None, :])
        fm, gm = tied.value_grad((theta - e)[None, :])
        assert g[0, i] == pytest.approx((fp[0] - fm[0]) / (2 * step), rel=1e-5, abs=1e-8)
        assert h[0, :, i] == pytest.approx((gp[0] - gm[0]) / (2 * step), rel=1e-4, abs=1e-6)
    assert f[0] == pytest.approx(full.value(np.append(theta, theta[3])[None, :])[0])


def test_too_few_points_for_the_parameters_warn_with_the_count():
    data = sweep(UNTIED).iloc[::5].reset_index(drop=True)  # 9 points
    with pytest.warns(UserWarning, match=r"approach 3: 9 points for 5 parameters \(fewer than 2 per parameter\): the "
                                         r"law is under-determined.*--tie-exponents: 4 parameters"):
        fit(data, bootstrap=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(data, bootstrap=0, tie_exponents=True)  # 9 points for 4 parameters: enough
    assert not [w for w in caught if "under-determined" in str(w.message)]


def test_runs_near_one_tokens_per_param_warn_with_the_spread():
    """12 sizes at ~20 tokens/param (0.8x to 1.5x of it): D grows with N, so alpha and beta trade off."""
    rng = np.random.default_rng(0)
    n = np.geomspace(1e7, 1e9, 12)
    d = 20 * n * np.exp(rng.uniform(np.log(0.8), np.log(1.5), 12))
    frame = pd.DataFrame({"params": n, "tokens": d, "loss": UNTIED.loss(n, d)})
    ratio = d / n
    with pytest.warns(UserWarning) as caught:
        fit(frame, bootstrap=0)
    said = [str(w.message) for w in caught if "tokens per parameter span" in str(w.message)]
    assert said == [f"approach 3: the runs' tokens per parameter span only {ratio.max() / ratio.min():.2g}x (D/N "
                    f"{ratio.min():.3g} to {ratio.max():.3g}; under 10x): N and D grow together, so alpha trades off "
                    f"against beta and a = beta/(alpha+beta) is barely pinned; add runs at other tokens per parameter "
                    f"(an isoFLOP grid)"]
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        fit(sweep(UNTIED), bootstrap=0)  # an isoFLOP grid: D/N over 2.5 decades, 42 points
    assert not [w for w in quiet if "approach 3:" in str(w.message)]


def test_tie_exponents_on_the_command_line(tmp_path, capsys):
    from scaling.cli import main

    csv = tmp_path / "runs.csv"
    sweep(TIED).to_csv(csv, index=False)
    assert main(["fit", str(csv), "--bootstrap", "0", "--tie-exponents", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"tie_exponents": true' in out
    assert main(["fit", str(csv), "--bootstrap", "200", "--tie-exponents"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line[:2] in ("a ", "b ")}
    # a = b = 0.5 by the tie, not a measurement: no interval of zero width that reads as one
    assert rows["a"].split()[1] == "0.5" and rows["a"].endswith("fixed by alpha = beta")
    assert rows["b"].endswith("fixed by alpha = beta")
