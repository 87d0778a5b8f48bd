"""Allocation rules: each rule's defining property, and the inference-aware rule against brute force."""

import math

import numpy as np
import pytest

from scaling.allocation import PF_DAY, TOKENS_PER_PARAM, allocate
from scaling.errors import ScalingError
from scaling.hardware import flops_from_gpu_hours
from scaling.laws import NAMED_LAWS

LAW = NAMED_LAWS["epoch"]


@pytest.mark.parametrize("rule,ratio", [("chinchilla", 20.0), ("gpt3", 1.7), ("llama", 1e12 / 6_738_415_616)])
def test_fixed_ratio_rules_spend_the_budget_at_their_ratio(rule, ratio):
    for c in (1e12, 1e20, 3.14e23):
        a = allocate(rule, c, LAW)
        assert a.tokens_per_param == pytest.approx(ratio, rel=1e-12)
        assert 6 * a.params * a.tokens == pytest.approx(c, rel=1e-12)


def test_llama_ratio_is_about_148():
    assert round(TOKENS_PER_PARAM["llama"]) == 148


def test_gpt3_rule_at_gpt3_budget_gives_gpt3():
    # 3.14e23 FLOPs at 1.7 tokens/param: ~175B parameters on ~300B tokens (Brown et al. 2020).
    a = allocate("gpt3", 3.14e23, LAW)
    assert a.params == pytest.approx(175e9, rel=0.01)
    assert a.tokens == pytest.approx(300e9, rel=0.01)


def test_kaplan_rule_gives_1_3b_at_one_pf_day():
    assert allocate("kaplan", PF_DAY, LAW).params == pytest.approx(1.3e9)


@pytest.mark.parametrize("law", sorted(NAMED_LAWS))
def test_optimal_rule_beats_every_other_rule_under_its_law(law):
    for c in (1e18, 1e21, 3.14e23):
        best = allocate("optimal", c, NAMED_LAWS[law]).predicted_loss
        for rule in ("chinchilla", "gpt3", "llama", "kaplan"):
            assert allocate(rule, c, NAMED_LAWS[law]).predicted_loss > best


def test_gpt3_allocation_loses_to_optimal_at_gpt3_budget_under_epoch_law():
    gpt3 = allocate("gpt3", 3.14e23, LAW).predicted_loss
    optimal = allocate("optimal", 3.14e23, LAW).predicted_loss
    assert gpt3 - optimal > 0.01


def test_size_factor_scales_n_and_keeps_the_budget():
    base = allocate("chinchilla", 1e20, LAW)
    big = allocate("chinchilla", 1e20, LAW, size_factor=2.0)
    assert big.params == pytest.approx(2 * base.params)
    assert 6 * big.params * big.tokens == pytest.approx(1e20)


def test_inference_rule_without_inference_is_compute_optimal():
    a = allocate("inference", 1e22, LAW, inference_tokens=0)
    n, d = LAW.compute_optimal(1e22)
    assert (a.params, a.tokens) == pytest.approx((n, d))


@pytest.mark.parametrize("d_inf", [1e11, 1e13, 1e15])
def test_inference_rule_minimises_total_cost_at_the_optimal_loss(d_inf):
    c = 1e22
    a = allocate("inference", c, LAW, inference_tokens=d_inf)
    target = LAW.optimal_loss(c)
    assert a.predicted_loss == pytest.approx(target, rel=1e-9)
    n_opt, d_opt = LAW.compute_optimal(c)
    assert a.params < n_opt and a.tokens_per_param > d_opt / n_opt  # smaller, trained longer
    # Brute force over N: no model of the same loss costs less in training plus inference.
    ns = np.geomspace(a.params / 3, a.params * 3, 4001)
    cost = [6 * n * LAW.tokens_for_loss(n, target) + 2 * n * d_inf for n in ns]
    assert a.flops + a.inference_flops <= min(cost) * (1 + 1e-6)


def test_gpu_hours_turn_into_flops():
    assert flops_from_gpu_hours(1000, "h100-sxm", 0.4) == pytest.approx(1000 * 3600 * 989e12 * 0.4)


@pytest.mark.parametrize("call,message", [
    (lambda: allocate("optimal", -1, LAW), "finite positive"),
    (lambda: allocate("optimal", math.nan, LAW), "finite positive"),
    (lambda: allocate("optimal", math.inf, LAW), "finite positive"),
    (lambda: allocate("bestest", 1e20, LAW), "unknown allocation rule"),
    (lambda: allocate("inference", 1e20, LAW), "inference tokens"),
    (lambda: allocate("chinchilla", 1e20, LAW, size_factor=0), "size_factor"),
    (lambda: flops_from_gpu_hours(10, "tpu-v9"), "unknown GPU"),
    (lambda: flops_from_gpu_hours(10, "a100", 1.5), "--mfu"),
    (lambda: flops_from_gpu_hours(-10, "a100"), "--gpu-hours"),
])
def test_bad_allocation_input_raises_one_clear_error(call, message):
    with pytest.raises(ScalingError, match=message):
        call()


@pytest.mark.parametrize("flops,context", [(1e18, {}), (1e21, {}), (1e16, {"style": "gpt3"}),
                                           (1e14, {"vocab_size": 8192, "seq_len": 512})])
def test_kaplans_rule_sizes_non_embedding_parameters_as_his_n_counts_them(flops, context):
    """Kaplan et al. 2020 (Eq. 6.1) size N without embeddings: the planned shape has 1.3e9 (C / PF-day)^0.73
    parameters besides its embeddings (within the solver's 2%), and its total N, on which D spends C, is more;
    also at small budgets, where embeddings are most of a model."""
    from scaling.planning import plan_point

    kaplan = 1.3e9 * (flops / 8.64e19) ** 0.73  # one PF-day: 1e15 FLOP/s for 86,400 s
    run = plan_point(flops, "kaplan", LAW, **context)
    assert run.shape.non_embedding_params == pytest.approx(kaplan, rel=0.02)
    assert run.shape_deviation == pytest.approx(run.shape.non_embedding_params / kaplan - 1, rel=1e-12)
    assert run.params > 1.03 * kaplan  # embeddings on top
    assert run.tokens == pytest.approx(flops / (6 * run.params), rel=1e-9)
