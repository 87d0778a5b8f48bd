"""Parametric laws: closed-form compute-optimal allocation against brute force and the published numbers."""

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from scaling.errors import ScalingError
from scaling.laws import NAMED_LAWS, ParametricLaw, get_law, law_from_json
from tests.published import TABLE_3


def _numeric_optimum(law, flops):
    """Brute force, independent of the closed form: scan log N on a dense grid, then polish with Brent."""
    grid = np.linspace(math.log(1e3), math.log(1e16), 20001)
    losses = law.loss(np.exp(grid), flops / (6 * np.exp(grid)))
    i = int(np.argmin(losses))
    res = minimize_scalar(lambda x: law.loss(math.exp(x), flops / (6 * math.exp(x))),
                          bracket=(grid[i - 1], grid[i], grid[i + 1]), tol=1e-12)
    return math.exp(res.x)


@pytest.mark.parametrize("flops", [1e15, 1e18, 2.21e19, 1e21, 3.14e23, 1e26])
@pytest.mark.parametrize("name", sorted(NAMED_LAWS))
def test_closed_form_matches_numeric_minimisation(name, flops):
    law = NAMED_LAWS[name]
    n_opt, d_opt = law.compute_optimal(flops)
    assert n_opt == pytest.approx(_numeric_optimum(law, flops), rel=1e-3)
    assert 6 * n_opt * d_opt == pytest.approx(flops, rel=1e-12)


def test_epoch_exponent_a_is_0_513():
    assert round(NAMED_LAWS["epoch"].a, 3) == 0.513


def test_chinchilla_unrounded_at_2_21e19_gives_389m_and_9_47b():
    n, d = NAMED_LAWS["chinchilla-unrounded"].compute_optimal(2.21e19)
    assert n == pytest.approx(389e6, rel=0.005)
    assert d == pytest.approx(9.47e9, rel=0.005)


def test_chinchilla_rounded_at_2_21e19_gives_326m_and_11_3b():
    n, d = NAMED_LAWS["chinchilla"].compute_optimal(2.21e19)
    assert n == pytest.approx(326e6, rel=0.01)
    assert d == pytest.approx(11.3e9, rel=0.01)


def test_chinchilla_table_3_budgets_are_6nd():
    # The convention every law here uses: Table 3's FLOPs column is 6 N D (to the rounding of D).
    for n, c, d in TABLE_3:
        assert 6 * n * d == pytest.approx(c, rel=0.05)


def test_exponents_sum_to_one_and_g_balances_the_marginal_losses():
    law = NAMED_LAWS["epoch"]
    assert law.a + law.b == pytest.approx(1.0)
    n, d = law.compute_optimal(1e22)
    # At the optimum the two power-law terms trade off: alpha A N^-alpha = beta B D^-beta.
    assert law.alpha * law.A * n**-law.alpha == pytest.approx(law.beta * law.B * d**-law.beta, rel=1e-9)


def test_tokens_for_loss_inverts_loss():
    law = NAMED_LAWS["chinchilla"]
    assert law.loss(1e9, law.tokens_for_loss(1e9, 2.5)) == pytest.approx(2.5, rel=1e-12)
    assert law.tokens_for_loss(1e6, law.E) == math.inf


def test_law_loads_from_fit_json(tmp_path):
    path = tmp_path / "fit.json"
    path.write_text(json.dumps({"E": 1.8, "A": 500.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37, "objective": 1}))
    law = get_law(str(path))
    assert (law.E, law.A, law.B, law.alpha, law.beta) == (1.8, 500.0, 2000.0, 0.35, 0.37)
    assert law.a == pytest.approx(0.37 / 0.72)


@pytest.mark.parametrize("content,message", [
    (None, "not found"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"E": 1.8, "A": 500}', "lacks B, alpha, beta"),
    ('{"E": 1.8, "A": -5, "B": 1, "alpha": 0.3, "beta": 0.3}', "A must be finite and positive"),
    ('{"E": 1.8, "A": "x", "B": 1, "alpha": 0.3, "beta": 0.3}', "A must be a number"),
])
def test_bad_fit_files_raise_one_clear_error(tmp_path, content, message):
    path = tmp_path / "fit.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ScalingError, match=message):
        law_from_json(path)


def test_unknown_law_names_the_choices():
    with pytest.raises(ScalingError, match="chinchilla, chinchilla-unrounded, epoch"):
        get_law("kaplan")


def test_law_rejects_non_finite_coefficients():
    with pytest.raises(ScalingError):
        ParametricLaw(E=1.0, A=float("nan"), B=1.0, alpha=0.3, beta=0.3)
