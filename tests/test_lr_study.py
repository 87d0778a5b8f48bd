"""LR studies: the best LR per size read from a sweep of multiples, and the rule fitted to the optima."""

import math

import numpy as np
import pandas as pd
import pytest

from scaling.errors import ScalingError
from scaling.lr_study import best_lr, fit_lr_rule


def study(true_c=0.05, true_p=-0.3, true_q=0.0, rule=lambda n: 0.08 * n ** -0.3, multiples=(0.25, 0.5, 1, 2, 4)):
    """Runs whose loss is a parabola in log LR around a known optimum LR* = c N^p C^q."""
    rows = []
    for budget in (1e11, 1e12):
        for factor, params in ((0.25, 1e4), (1, 4e4), (4, 1.6e5)):
            optimum = true_c * params ** true_p * (budget / 1e11) ** true_q
            for m in multiples:
                lr = rule(params) * m
                rows.append({"budget.flops": budget, "allocation.size_factor": factor, "params": params,
                             "optim.lr": lr, "optim.lr_scale": m,
                             "final_val_loss": 2.0 + 0.05 * math.log(lr / optimum) ** 2})
    return pd.DataFrame(rows)


def test_the_best_lr_is_the_parabolas_vertex_and_the_rules_cost_its_excess():
    table = best_lr(study())
    truth = 0.05 * table["params"] ** -0.3
    assert np.allclose(table["best_lr"], truth, rtol=1e-9)
    assert np.allclose(table["rule_cost"], 0.05 * np.log(0.08 * table["params"] ** -0.3 / truth) ** 2, atol=1e-12)
    assert table["bracketed"].all()


def test_the_fitted_rule_recovers_the_size_and_budget_exponents():
    rule = fit_lr_rule(best_lr(study(true_q=0.1)))
    assert rule["p"] == pytest.approx(-0.3, abs=1e-9) and rule["q"] == pytest.approx(0.1, abs=1e-9)
    assert rule["c"] == pytest.approx(0.05 * 1e11 ** -0.1, rel=1e-6)


def test_an_optimum_beyond_the_multiples_tried_is_not_bracketed():
    table = best_lr(study(rule=lambda n: 1.0))  # every optimum lies below 0.25 x the rule's LR
    assert not table["bracketed"].any() and (table["best_multiple"] == 0.25).all()
    with pytest.raises(ScalingError, match="too few to fit"):
        fit_lr_rule(table)
