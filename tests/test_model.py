"""The transformer: exact parameter parity with the planner for every switch, causality, sane initial loss."""

import itertools
import math

import numpy as np
import pytest
import torch

from experiments.model import Transformer
from scaling.architecture import Components, ModelShape, solve_shape

SWITCHES = list(itertools.product(["rmsnorm", "layernorm"], ["pre", "post"], ["swiglu", "gelu", "relu"],
                                  ["rope", "learned", "none"], [False, True], [False, True]))


@pytest.mark.parametrize("norm,position_of_norm,ffn,position,bias,tied", SWITCHES)
def test_param_count_equals_planner_for_every_switch_combination(norm, position_of_norm, ffn, position, bias, tied):
    c = Components(norm, position_of_norm, ffn, position, bias, tied)
    for kv in (None, 2):  # grouped-query attention too
        shape = ModelShape(d_model=64, n_layers=2, n_heads=4, n_kv_heads=kv, vocab_size=256, seq_len=32,
                           components=c)
        assert Transformer(shape).num_params() == shape.params


@pytest.mark.parametrize("style", ["llama", "gpt3"])
def test_param_count_equals_planner_for_solved_shapes(style):
    for n in (2e4, 1e5, 1e6):
        shape = solve_shape(n, style, vocab_size=256, seq_len=128)
        assert Transformer(shape).num_params() == shape.params


def test_gpt2_small_built_has_openai_checkpoint_count():
    from scaling.architecture import preset

    assert Transformer(preset("gpt2-124m")).num_params() == 124_439_808


@pytest.mark.parametrize("position", ["rope", "learned", "none"])
def test_future_tokens_do_not_change_past_logits(position):
    torch.manual_seed(0)
    shape = ModelShape(d_model=32, n_layers=2, n_heads=2, vocab_size=256, seq_len=16,
                       components=Components(position=position))
    model = Transformer(shape).eval()
    x = torch.randint(0, 256, (1, 16))
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % 256
    with torch.no_grad():
        assert torch.allclose(model(x)[0, :10], model(y)[0, :10], atol=1e-6)
        assert not torch.allclose(model(x)[0, 10:], model(y)[0, 10:], atol=1e-6)


@pytest.mark.parametrize("style", ["llama", "gpt3"])
def test_initial_loss_is_near_uniform_over_the_vocabulary(style):
    torch.manual_seed(0)
    shape = solve_shape(1e5, style, vocab_size=256, seq_len=64)
    x = torch.randint(0, 256, (4, 65))
    _, loss = Transformer(shape)(x[:, :-1], x[:, 1:])
    assert abs(loss.item() - math.log(256)) < 0.05


def test_tied_head_shares_the_embedding():
    shape = ModelShape.of_style("gpt3", d_model=32, n_layers=1, n_heads=2, vocab_size=256, seq_len=16)
    model = Transformer(shape)
    assert model.head.weight.data_ptr() == model.embed.weight.data_ptr()


def test_rope_scores_depend_only_on_relative_position():
    from experiments.model import Rotary

    rot = Rotary(head_dim=8, seq_len=32, theta=10000.0)
    q, k = torch.randn(8), torch.randn(8)
    seq_q = q.expand(1, 1, 32, 8)
    seq_k = k.expand(1, 1, 32, 8)
    rq, rk = rot(seq_q)[0, 0], rot(seq_k)[0, 0]
    # <R(m) q, R(n) k> depends on m - n only
    assert torch.allclose(rq[5] @ rk[3], rq[12] @ rk[10], atol=1e-5)
    assert torch.allclose(rq[20] @ rk[20], q @ k, atol=1e-5)


def test_rope_is_meta_llamas_complex_rotation_of_channel_pairs_eager_and_compiled():
    """The oracle is Meta's formulation, in numpy: pairs (x[2i], x[2i+1]) as complex numbers times
    exp(i m theta^(-2i/Q)) at position m. Eager runs it as a complex product; under torch.compile the same in real
    arithmetic, since inductor cannot generate code for complex tensors (it falls back to eager kernels, with a
    warning): the traced graph holds none."""
    from experiments.model import Rotary

    head_dim, seq_len, theta = 16, 24, 500.0
    x = torch.randn(2, 3, seq_len, head_dim)
    pairs = x.double().numpy().reshape(2, 3, seq_len, head_dim // 2, 2)
    angles = np.outer(np.arange(seq_len), theta ** (-np.arange(0, head_dim, 2) / head_dim))
    expected = (pairs[..., 0] + 1j * pairs[..., 1]) * np.exp(1j * angles)
    expected = np.stack([expected.real, expected.imag], axis=-1).reshape(x.shape)
    rotary = Rotary(head_dim, 32, theta)
    for form in (rotary, rotary.complex, rotary.real):
        np.testing.assert_allclose(form(x).numpy(), expected, atol=1e-5)
    shape = ModelShape.of_style("llama", d_model=32, n_layers=2, n_heads=2, vocab_size=256, seq_len=16)
    traced = torch._dynamo.explain(Transformer(shape))(torch.randint(0, 256, (2, 16)))
    dtypes = {node.meta["example_value"].dtype for graph in traced.graphs for node in graph.graph.nodes
              if isinstance(node.meta.get("example_value"), torch.Tensor)}
    assert traced.graph_break_count == 0 and dtypes and not any(d.is_complex for d in dtypes)
