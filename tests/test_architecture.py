"""Exact parameter counts against published models, a closed-form second computation, and the shape solver."""

import math

import numpy as np
import pytest

from scaling.architecture import (
    PRESETS,
    WIDTHS,
    Components,
    ModelShape,
    preset,
    shape_ladder,
    solve_shape,
    swiglu_hidden,
    width_quantum,
)
from scaling.errors import ScalingError
from tests.published import GPT3_NAMES, LLAMA_SIZES_B, TABLE_A9


def test_llama7b_param_count_matches_paper():
    assert preset("llama-7b").params == 6_738_415_616


def test_llama_swiglu_widths_follow_multiple_of_rule():
    # meta-llama/llama params.json: 11008, 13824, 17920, 22016 for 7B..65B.
    assert [swiglu_hidden(d, 256) for d in (4096, 5120, 6656, 8192)] == [11008, 13824, 17920, 22016]


def test_llama_family_matches_paper_table():
    # The paper truncates to one decimal (65,285,660,672 is printed 65.2B).
    for name, billions in LLAMA_SIZES_B.items():
        assert math.floor(PRESETS[name].params / 1e8) / 10 == billions, name


def test_gpt2_small_counts_with_and_without_biases():
    gpt2 = preset("gpt2-124m")
    assert gpt2.params == 124_439_808
    no_bias = ModelShape(d_model=768, n_layers=12, n_heads=12, vocab_size=50257, seq_len=1024,
                         components=Components(norm="layernorm", ffn="gelu", position="learned", bias=False,
                                               tied=True))
    assert no_bias.params == 124_337_664
    assert gpt2.param_breakdown()["position"] == 786_432
    assert gpt2.params - gpt2.param_breakdown()["position"] == 123_653_376


def test_gpt3_175b_is_174_6b():
    assert round(preset("gpt3-175b").params / 1e9, 1) == 174.6


def test_gpt3_sizes_close_to_their_names():
    for name, n in GPT3_NAMES.items():
        assert abs(PRESETS[name].params / n - 1) < 0.02, (name, PRESETS[name].params)


def test_gqa_counts_match_llama2_70b_and_mistral_7b():
    # Published exact counts: Llama-2-70B 68,976,648,192; Mistral-7B-v0.1 7,241,732,096.
    llama2 = ModelShape(d_model=8192, n_layers=80, n_heads=64, n_kv_heads=8, ffn_hidden=28672, vocab_size=32000,
                        seq_len=4096)
    mistral = ModelShape(d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, ffn_hidden=14336, vocab_size=32000,
                         seq_len=8192)
    assert llama2.params == 68_976_648_192
    assert mistral.params == 7_241_732_096


def test_chinchilla_table_a4_sizes_reproduced_by_gopher_style():
    for millions, d, ffw, kv, heads, layers in TABLE_A9:
        shape = ModelShape.of_style("gopher", d_model=d, n_layers=layers, n_heads=heads, head_dim=kv,
                                    ffn_hidden=ffw, vocab_size=32000, seq_len=2048)
        assert abs(shape.params / 1e6 - millions) < 1.5, (millions, shape.params)


def test_chinchilla_and_gopher_presets_match_their_names():
    assert round(preset("chinchilla-70b").params / 1e9) == 70
    assert round(preset("gopher-280b").params / 1e9) == 280


@pytest.mark.parametrize("d,layers,heads,vocab,seq", [(64, 2, 4, 256, 128), (512, 6, 8, 32000, 1024),
                                                      (1536, 24, 16, 50257, 2048)])
def test_counts_equal_closed_form_per_style(d, layers, heads, vocab, seq):
    # A second, independent computation: the textbook formulas per style.
    llama = ModelShape.of_style("llama", d_model=d, n_layers=layers, n_heads=heads, vocab_size=vocab, seq_len=seq)
    f = llama.ffn_hidden
    assert llama.params == 2 * vocab * d + layers * (4 * d * d + 3 * d * f + 2 * d) + d
    gpt3 = ModelShape.of_style("gpt3", d_model=d, n_layers=layers, n_heads=heads, vocab_size=vocab, seq_len=seq)
    assert gpt3.params == vocab * d + seq * d + layers * (12 * d * d + 13 * d) + 2 * d
    assert gpt3.non_embedding_params == layers * (12 * d * d + 13 * d) + 2 * d


def test_switch_combinations_change_counts_by_their_own_terms():
    base = dict(d_model=96, n_layers=3, n_heads=3, vocab_size=256, seq_len=64, ffn_hidden=200)
    plain = ModelShape(components=Components(ffn="relu", position="none", norm="rmsnorm"), **base)
    biased = ModelShape(components=Components(ffn="relu", position="none", norm="rmsnorm", bias=True), **base)
    # per layer: q,k,v,o biases 4d + FFN biases F + d
    assert biased.params - plain.params == 3 * (4 * 96 + 200 + 96)
    post = ModelShape(components=Components(ffn="relu", position="none", norm_position="post"), **base)
    assert plain.params - post.params == 96  # post-norm has no final norm
    ln = ModelShape(components=Components(ffn="relu", position="none", norm="layernorm", bias=True), **base)
    assert ln.params - biased.params == (2 * 3 + 1) * 96  # LayerNorm's bias vectors
    tied = ModelShape(components=Components(ffn="relu", position="none", tied=True), **base)
    assert plain.params - tied.params == 256 * 96


@pytest.mark.parametrize("kwargs,message", [
    (dict(d_model=100, n_layers=2, n_heads=3), "does not divide d_model"),
    (dict(d_model=128, n_layers=2, n_heads=8, n_kv_heads=3), "does not divide n_heads"),
    (dict(d_model=-8, n_layers=2, n_heads=1), "positive integer"),
    (dict(d_model=64.0, n_layers=2, n_heads=1), "positive integer"),
])
def test_impossible_shapes_raise_one_clear_error(kwargs, message):
    with pytest.raises(ScalingError, match=message):
        ModelShape(vocab_size=256, seq_len=64, **kwargs)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ScalingError, match="llama-7b"):
        preset("llama-8b")


@pytest.mark.parametrize("style", ["llama", "gpt3"])
@pytest.mark.parametrize("vocab,seq,lo,hi", [(256, 128, 2e4, 3e8), (32000, 2048, 3e7, 1e12),
                                             (50257, 2048, 1e8, 1e12)])
def test_solver_lands_within_two_percent_across_scales(style, vocab, seq, lo, hi):
    for n in np.geomspace(lo, hi, 37):
        shape = solve_shape(n, style, vocab_size=vocab, seq_len=seq)
        assert abs(shape.params / n - 1) <= 0.02, (n, shape.describe())
        assert shape.d_model % width_quantum(shape.d_model)[0] == 0
        assert shape.d_model % 8 == 0 and (shape.d_model < 256 or shape.d_model % 64 == 0)
        assert 8 <= shape.d_model / shape.n_layers <= 256 or shape.n_layers == 1, shape.describe()


def test_solver_head_dim_is_64_or_so_in_the_middle_and_128_at_scale():
    assert solve_shape(1.25e8, "gpt3", vocab_size=50257, seq_len=2048).head_dim == 64
    assert solve_shape(7e9, "llama").head_dim == 128


def test_solver_tiny_byte_level_models_are_dominated_by_embeddings():
    shape = solve_shape(2e4, "llama", vocab_size=256, seq_len=128)
    assert abs(shape.params / 2e4 - 1) <= 0.02
    b = shape.param_breakdown()
    assert b["embedding"] + b["head"] > 0.5 * shape.params


def test_solver_is_deterministic_and_recovers_a_published_shape():
    assert solve_shape(3.3e7, "gpt3", vocab_size=256, seq_len=128) == \
        solve_shape(3.3e7, "gpt3", vocab_size=256, seq_len=128)
    # At GPT-3 175B's own size and vocabulary the rule lands on GPT-3's shape (d 12288, 96 layers, 96 x 128).
    shape = solve_shape(preset("gpt3-175b").params, "gpt3", vocab_size=50257, seq_len=2048)
    assert (shape.d_model, shape.n_layers, shape.n_heads) == (12288, 96, 96)


def test_solver_rejects_targets_it_cannot_reach():
    with pytest.raises(ScalingError, match="no shape near"):
        solve_shape(1000, "llama", vocab_size=256, seq_len=128)
    with pytest.raises(ScalingError, match="finite positive"):
        solve_shape(math.nan)


def test_widths_table_is_increasing_and_head_divisible():
    assert list(WIDTHS) == sorted(set(WIDTHS))
    for d in WIDTHS:
        step, head_dim, _ = width_quantum(d)
        assert d % step == 0 and d % head_dim == 0


def test_shape_round_trips_through_dict():
    shape = preset("gpt3-13b")
    assert ModelShape.from_dict(shape.to_dict()) == shape


@pytest.mark.parametrize("style,vocab,seq", [("llama", 256, 128), ("gpt3", 50257, 2048), ("llama", 32000, 2048)])
def test_the_ladder_grows_width_and_depth_together_with_the_styles_ffn(style, vocab, seq):
    """Each rung adds one width step or one layer (never shrinking either), keeps the FFN rule, and is at most
    2.6x the last (the widest jumps: the first width step, and where the width quantum grows); ModelShape counts
    each rung itself."""
    ladder = shape_ladder(3e9, style, vocab_size=vocab, seq_len=seq)
    assert ladder[0].d_model == 8 and ladder[0].n_layers == 2 and ladder[-1].params >= 3e9
    for a, b in zip(ladder, ladder[1:], strict=False):
        grew = (b.d_model > a.d_model, b.n_layers > a.n_layers)
        assert b.d_model >= a.d_model and b.n_layers >= a.n_layers and sum(grew) == 1
        assert 1 < b.params / a.params < 2.6
        assert b.ffn_hidden == ModelShape(d_model=b.d_model, n_layers=b.n_layers, n_heads=b.n_heads,
                                          vocab_size=vocab, seq_len=seq, components=b.components,
                                          multiple_of=width_quantum(b.d_model)[2]).ffn_hidden


def test_the_ladder_rule_takes_the_nearest_rung():
    ladder = shape_ladder(1e7, "llama", vocab_size=256, seq_len=128)
    for target in np.geomspace(3e3, 5e6, 40):
        got = solve_shape(target, "llama", vocab_size=256, seq_len=128, rule="ladder")
        nearest = min(ladder, key=lambda s: abs(math.log(s.params / target)))
        assert got == nearest, target
    with pytest.raises(ScalingError, match="unknown shape rule 'nearest': choose one of exact, ladder"):
        solve_shape(1e5, rule="nearest")
