"""isoFLOP and allocation grids."""

import numpy as np
import pytest

from scaling.errors import ScalingError
from scaling.flops import flops_per_token
from scaling.grid import allocation_grid, isoflop_grid
from scaling.laws import NAMED_LAWS


@pytest.mark.parametrize("method", ["6N", "palm", "chinchilla"])
def test_isoflop_points_spend_exactly_the_budget(method):
    rows = isoflop_grid([1e18, 1e20], "chinchilla", points=7, span=4, flops_method=method)
    assert len(rows) == 14
    for p in rows:
        assert p.tokens * flops_per_token(p.shape, method) == pytest.approx(p.flops, rel=1e-12)


def test_isoflop_sizes_are_log_spaced_around_the_law_optimum():
    law = NAMED_LAWS["epoch"]
    rows = isoflop_grid([1e19], law, points=5, span=4)
    assert [p.size_factor for p in rows] == pytest.approx(np.geomspace(0.25, 4, 5))
    n_opt = law.compute_optimal(1e19)[0]
    for p in rows:
        assert p.params == pytest.approx(n_opt * p.size_factor, rel=0.02)
    losses = [p.predicted_loss for p in rows]
    assert int(np.argmin(losses)) == 2  # the law's own optimum is the grid's best point


def test_tiny_byte_level_grid_merges_duplicate_shapes_with_a_warning():
    with pytest.warns(UserWarning, match="give the shape of a smaller factor"):
        rows = isoflop_grid([1e9], "chinchilla", points=40, span=1.5, vocab_size=256, seq_len=128)
    shapes = [p.shape for p in rows]
    assert len(shapes) == len(set(shapes)) < 40


def test_allocation_grid_has_each_rule_at_each_budget():
    rows = allocation_grid([1e19, 1e21], ["gpt3", "chinchilla", "optimal", "llama"], "epoch")
    assert [(p.flops, p.rule) for p in rows] == [(c, r) for c in (1e19, 1e21)
                                                 for r in ("gpt3", "chinchilla", "optimal", "llama")]
    for p in rows:
        if p.rule == "chinchilla":
            assert p.tokens_per_param == pytest.approx(20, rel=0.05)
        if p.rule == "gpt3":
            assert p.tokens_per_param == pytest.approx(1.7, rel=0.05)


@pytest.mark.parametrize("kwargs,message", [(dict(points=0), "whole number from 1 to 1000"),
                                            (dict(points=100_000), "whole number from 1 to 1000"),
                                            (dict(span=0.5), ">= 1"), (dict(points=3, span=1.0), "span > 1")])
def test_bad_grid_arguments(kwargs, message):
    with pytest.raises(ScalingError, match=message):
        isoflop_grid([1e18], **kwargs)


def test_sizes_that_merge_into_one_shape_are_one_warning_per_budget():
    """200 factors within 1.1x of N_opt land on a handful of shapes: kept once each, said once per budget."""
    with pytest.warns(UserWarning) as caught:
        rows = isoflop_grid([1e19, 1e21], points=200, span=1.1)
    said = [str(w.message) for w in caught]
    assert len(said) == 2 and said[0].startswith("budget 1e+19: ") and said[1].startswith("budget 1e+21: ")
    for c, line in zip((1e19, 1e21), said, strict=True):
        shapes = [p.shape for p in rows if p.flops == c]
        assert len(set(shapes)) == len(shapes)  # each shape once
        assert f"{200 - len(shapes)} size factor(s)" in line
