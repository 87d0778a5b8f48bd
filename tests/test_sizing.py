"""Resolving a run: the planner's shape and tokens, and the documented LR and batch-size rules."""

import math

import pytest

from experiments.sizing import batch_sequences, peak_lr, resolve
from scaling.architecture import solve_shape
from scaling.errors import ScalingError


def test_peak_lr_rule_matches_the_documented_values():
    # measured on byte-level CPU sweeps: 1.2e-2 at 10K parameters to 4e-3 at 600K; OLMo ladder 0.0047/2 at 108M.
    assert peak_lr(1e4) == pytest.approx(1.2e-2)
    assert peak_lr(6e5) == pytest.approx(4e-3, rel=0.01)
    assert peak_lr(5e6) == pytest.approx(4e-3)
    assert peak_lr(108e6) == pytest.approx(0.0047 / 2)
    # Adam's square-root rule below 512 tokens per step; none above it, nor for the OLMo ladder's sizes
    assert peak_lr(1e4, 128) == pytest.approx(1.2e-2 / 2) and peak_lr(1e4, 256) == pytest.approx(1.2e-2 / 2 ** 0.5)
    assert peak_lr(1e4, 512) == peak_lr(1e4, 8192) == peak_lr(1e4)
    assert peak_lr(108e6, 128) == peak_lr(108e6)


def test_batch_rule_reproduces_the_prototype_batches_and_is_the_same_across_sizes_at_a_budget():
    # measured: 2, 3, 7, 11 sequences of 128 at 1e11, 3e11, 1e12, 3e12 made every isoFLOP profile trustworthy.
    batches = []
    for c in (1e11, 3e11, 1e12, 3e12):
        n1 = math.sqrt(c / 120)
        sizes = [batch_sequences(f * n1, c / (6 * f * n1), 128, 500) for f in (0.5, 1, 2, 4)]
        assert len(set(sizes)) == 1, (c, sizes)
        batches.append(sizes[0])
        assert c / (6 * 4 * n1) / (sizes[0] * 128) >= 500  # the 4x model still gets 500 steps
    assert batches == pytest.approx([2, 3, 7, 11], abs=1)


def test_batch_rule_bounds_the_steps_and_follows_the_ladder_at_scale():
    for params, tokens in ((3.6e3, 4.6e6), (5e4, 1e6), (3.2e5, 1.6e6), (2e4, 2.5e7)):
        steps = tokens / (batch_sequences(params, tokens, 128, 500, 4000) * 128)
        assert 500 <= steps <= 4000, (params, tokens, steps)
    assert batch_sequences(108e6, 1e12, 2048, 500) == 160  # the OLMo ladder's reference batch
    assert batch_sequences(1e4, 1e3, 128, 500) == 1


def test_budget_flops_resolves_through_the_planner(compose):
    cfg = compose("data=tiny", "budget.flops=3e11", "allocation=chinchilla", "model=llama")
    plan = resolve(cfg, vocab_size=256)
    assert plan.shape == solve_shape(5e4, "llama", vocab_size=256, seq_len=128)
    assert 6 * plan.params * plan.tokens == pytest.approx(3e11, rel=plan.tokens_per_step / plan.tokens + 1e-9)
    assert plan.steps >= 500 and plan.warmup_steps == round(0.05 * plan.steps)


def test_size_factor_and_gpt3_rule(compose):
    base = resolve(compose("data=tiny", "budget.flops=1e12", "allocation=optimal"), 256)
    big = resolve(compose("data=tiny", "budget.flops=1e12", "allocation=optimal", "allocation.size_factor=4"), 256)
    assert big.params == pytest.approx(4 * base.params, rel=0.05)
    gpt3 = resolve(compose("data=tiny", "budget.flops=1e12", "allocation=gpt3", "model=gpt3"), 256)
    assert gpt3.tokens / gpt3.params == pytest.approx(1.7, rel=0.1)
    assert gpt3.shape.components.position == "learned"


def test_budget_tokens_and_fixed_shapes(compose):
    plan = resolve(compose("data=tiny", "budget.tokens=2e6", "allocation=chinchilla"), 256)
    assert plan.tokens == pytest.approx(2e6, rel=0.01) and plan.params == pytest.approx(1e5, rel=0.03)
    fixed = resolve(compose("data=tiny", "budget.flops=1e12", "model.d_model=64", "model.n_layers=2",
                            "model.n_heads=2"), 256)
    assert (fixed.shape.d_model, fixed.shape.n_layers) == (64, 2) and fixed.rule == "fixed-shape"


def test_kaplans_rule_from_a_token_budget_sizes_non_embedding_parameters(compose):
    """budget.tokens=D under allocation=kaplan: the N that Kaplan's rule pairs with D (N = 1.3e9 (6 N D /
    PF-day)^0.73, solved for N here) is the shape's count besides its embeddings, as with budget.flops."""
    tokens = 3e8  # Kaplan's rule pairs it with ~1e5 parameters besides the embeddings
    kaplan = (1.3e9 * (6 * tokens / 8.64e19) ** 0.73) ** (1 / 0.27)
    plan = resolve(compose("data=tiny", f"budget.tokens={tokens:g}", "allocation=kaplan"), 256)
    assert plan.target_params == pytest.approx(kaplan, rel=1e-6)
    assert plan.shape.non_embedding_params == pytest.approx(kaplan, rel=0.02)
    assert plan.shape.params > plan.shape.non_embedding_params


@pytest.mark.parametrize("overrides,message", [
    (["budget.flops=3e11", "budget.tokens=1e6"], "exactly one budget"),
    (["budget.flops=3e11", "model.d_model=64"], "together"),
    (["budget.tokens=100", "model.d_model=64", "model.n_layers=2", "model.n_heads=2"], "one optimizer step"),
    (["budget.flops=3e11", "optim.lr=-1"], "optim.lr"),
    (["budget.flops=3e11", "optim.batch_size=6", "optim.micro_batch_size=4"], "must divide"),
    (["budget.flops=3e11", "optim.batch_size=1000"], "min_steps"),
    (["budget.flops=1e8"], "no shape near"),
    # values the optimizer or model would take and train with otherwise
    (["budget.flops=3e11", "optim.grad_clip=nan"], "optim.grad_clip must be a finite number >= 0, got nan"),
    (["budget.flops=3e11", "optim.eps=-1"], "optim.eps must be a finite positive number"),
    (["budget.flops=3e11", "model.init_std=-1"], "model.init_std must be a finite positive number"),
    (["budget.flops=3e11", "optim.min_steps=-5"], "optim.min_steps must be >= 0"),
    # settings of a fixed shape that a planned one would drop
    (["budget.flops=3e11", "model.ffn_hidden=999"], "model.ffn_hidden=999 would change a shape the planner sizes"),
    (["budget.flops=3e11", "model.n_kv_heads=7"], "model.n_kv_heads=7 would change a shape the planner sizes"),
    # rotary positions turn pairs of dimensions: an odd head size would fail inside the model
    (["budget.flops=3e11", "model.d_model=16", "model.n_layers=2", "model.n_heads=4", "model.head_dim=3"],
     "rotary positions need an even head size"),
])
def test_impossible_runs_are_refused(compose, overrides, message):
    with pytest.raises(ScalingError, match=message):
        resolve(compose("data=tiny", *overrides), 256)


@pytest.mark.parametrize("method", ["6nd", "exact"])
def test_a_budget_is_spent_in_the_compute_it_names_at_every_size(compose, method):
    """budget.flops_method=exact sizes D from the Appendix F FLOPs per token of the exact shape, so that every
    size of an isoFLOP profile spends the same real compute; 6nd spends C = 6ND (within one step's tokens)."""
    from scaling.flops import COMPUTE_CONVENTIONS, flops_per_token

    for factor in (0.25, 1, 4):
        plan = resolve(compose("experiment=isoflop_cpu", "budget.flops=1e11", f"allocation.size_factor={factor}",
                               f"budget.flops_method={method}"), vocab_size=256)
        per_token = flops_per_token(plan.shape, COMPUTE_CONVENTIONS[method])
        assert plan.tokens * per_token == pytest.approx(1e11, abs=per_token * plan.tokens_per_step)
        assert plan.flops_method == method


def test_the_compute_convention_is_part_of_a_runs_identity(compose):
    from experiments.trainer import fingerprint

    assert fingerprint(compose("budget.flops=1e11", "budget.flops_method=exact")) != \
        fingerprint(compose("budget.flops=1e11"))
    with pytest.raises(ScalingError, match="budget.flops_method must be one of 6nd, exact"):
        resolve(compose("data=tiny", "budget.flops=1e11", "budget.flops_method=palm"), vocab_size=256)


def test_head_dim_splits_every_planned_width_without_moving_n_or_c(compose):
    """model.head_dim=8 replaces the width's head rule on planned shapes (the reference sweep's one-head tiny
    widths) and leaves the parameters and tokens as planned; of Appendix F's FLOPs only the softmax moves, by its
    3 H T per token per layer (forward) for the added heads, three times that in training."""
    from scaling.flops import flops_per_token

    for factor in (0.25, 1, 8):
        overrides = ("experiment=reference_cpu", "budget.flops=1.2e12", f"allocation.size_factor={factor}")
        base = resolve(compose(*overrides), 256)
        split = resolve(compose(*overrides, "model.head_dim=8"), 256)
        assert split.shape.d_model == base.shape.d_model and split.shape.n_layers == base.shape.n_layers
        assert split.shape.n_heads == split.shape.n_kv_heads == base.shape.d_model // 8
        assert split.shape.head_dim == 8
        assert split.shape.params == base.shape.params and split.steps == base.steps
        added_heads, t = split.shape.n_heads - base.shape.n_heads, split.shape.seq_len
        assert flops_per_token(split.shape, "chinchilla") - flops_per_token(base.shape, "chinchilla") == \
            3 * split.shape.n_layers * 3 * added_heads * t
    exact = resolve(compose("experiment=reference_cpu", "budget.flops=1.2e12", "budget.flops_method=exact",
                            "model.head_dim=8"), 256)
    spent = exact.steps * exact.batch_size * exact.shape.seq_len * flops_per_token(exact.shape, "chinchilla")
    assert spent <= 1.2e12 and spent == pytest.approx(1.2e12, rel=0.01)
    with pytest.raises(ScalingError, match="does not divide the planned width"):
        resolve(compose("data=tiny", "budget.flops=1.2e12", "model.head_dim=7"), 256)
