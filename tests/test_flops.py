"""FLOPs per token: the three conventions against each other and against the papers' figures."""

import pytest

from scaling.architecture import ModelShape, preset
from scaling.errors import ScalingError
from scaling.flops import chinchilla, flops_per_token, palm, six_n
from tests.published import TABLE_A4


def _a4_shapes(style):
    for _, d, ffw, kv, heads, layers in TABLE_A4:
        yield ModelShape.of_style(style, d_model=d, n_layers=layers, n_heads=heads, head_dim=kv,
                                  ffn_hidden=None if style == "llama" else ffw, vocab_size=32000, seq_len=2048)


def test_chinchilla_appendix_f_within_paper_range_of_6nd_on_table_a4_shapes():
    # Hoffmann et al. 2022, Table A4: their FLOPs / 6ND lie in 0.99..1.10, embeddings and final logits left out.
    ratios = [chinchilla(s, include_embeddings=False) / six_n(s) for s in _a4_shapes("gopher")]
    assert 0.95 <= min(ratios) and max(ratios) <= 1.15, (min(ratios), max(ratios))


def test_ratio_to_6n_approaches_one_for_the_largest_models():
    # Attention's T^2 terms and embeddings fade as d grows: the largest Table A4 model sits within 5% of 6N.
    big = list(_a4_shapes("gopher"))[-1]
    assert abs(chinchilla(big, include_embeddings=False) / six_n(big) - 1) < 0.05


@pytest.mark.parametrize("style", ["llama", "gpt3"])
def test_palm_equals_appendix_f_minus_softmax_plus_logits(style):
    # Two formulas written apart: PaLM's 6 N_matmul + 12 L H Q T counts the output head (6 V d) but no input
    # embedding and no softmax (Appendix F's 3 H T^2 per layer forward, 9 H T per token fwd + bwd).
    for s in _a4_shapes(style):
        extra = palm(s) - chinchilla(s, include_embeddings=False) - 6 * s.vocab_size * s.d_model
        assert extra == pytest.approx(-9 * s.n_layers * s.n_heads * s.seq_len, rel=1e-9)


def test_gpt3_175b_on_300b_tokens_is_3_14e23():
    assert flops_per_token(preset("gpt3-175b")) * 300e9 == pytest.approx(3.14e23, rel=0.005)


def test_palm_exceeds_6n_by_the_attention_term_for_gpt2():
    # nanoGPT's MFU estimate for GPT-2 124M at T=1024: 6 N + 12 L H Q T, N without position embeddings.
    gpt2 = preset("gpt2-124m")
    n = gpt2.params - gpt2.param_breakdown()["position"]
    expected = 6 * n + 12 * 12 * 12 * 64 * 1024
    # nanoGPT's N also holds norms and biases; ours holds only matmul weights: they differ by those.
    b = gpt2.param_breakdown()
    small = b["norm"] + 12 * (4 * 768 + 3072 + 768)
    assert palm(gpt2) == pytest.approx(expected - 6 * small, rel=1e-12)


def test_unknown_method_is_an_error():
    with pytest.raises(ScalingError, match="6N, palm, chinchilla"):
        flops_per_token(preset("llama-7b"), "kaplan")
