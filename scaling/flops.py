"""Training FLOPs per token (forward + backward) by the three conventions in use.

- ``6N`` (Hoffmann et al. 2022): 6 x total parameters, embeddings included. Chinchilla's budgets are C = 6ND.
- ``6N-non-embedding`` (Kaplan et al. 2020, Sec. 2.1: C ~ 6 N D with N the non-embedding parameters).
- ``palm`` (Chowdhery et al. 2022, Appendix B; nanoGPT, torchtitan and OLMo-core use it for MFU):
  6 N_matmul + 12 L H Q T, N_matmul the weights a token is multiplied by, H Q the attention width, T the context.
- ``chinchilla`` (Hoffmann et al. 2022, Appendix F): every matmul of the forward pass counted, plus 3 H T^2 for
  the softmax; backward = 2 x forward.
- ``chinchilla-no-embeddings``: the same without the embedding and final-logit terms, as Appendix F's Table A4
  (their FLOPs over 6ND: 1.03, 1.10, 1.08, 1.04 for the 73M, 305M, 552M and 1.1B models) counts.
"""

from __future__ import annotations

from scaling.architecture import ModelShape
from scaling.errors import ScalingError

METHODS = ("6N", "6N-non-embedding", "palm", "chinchilla", "chinchilla-no-embeddings")
# What a compute budget C counts, by name (`budget.flops_method` in the harness): "6nd" is Chinchilla's C = 6ND,
# N all parameters; "exact" is the Appendix F count of the exact shape (attention, embeddings and logits too).
COMPUTE_CONVENTIONS = {"6nd": "6N", "exact": "chinchilla"}


def six_n(shape: ModelShape, non_embedding: bool = False) -> float:
    """6N per token, N all parameters (Chinchilla's convention: C = 6ND) or, with `non_embedding`, Kaplan et
    al.'s non-embedding N."""
    return 6.0 * (shape.non_embedding_params if non_embedding else shape.params)


def palm(shape: ModelShape) -> float:
    """PaLM's per-token training FLOPs: 6 N_matmul + 12 L H Q T (attention scores and values, fwd + bwd)."""
    return 6.0 * shape.matmul_params + 12.0 * shape.n_layers * shape.attn_dim * shape.seq_len


def chinchilla_forward_per_sequence(shape: ModelShape, include_embeddings: bool = True) -> float:
    """Hoffmann et al. 2022, Appendix F: forward FLOPs for one sequence of T tokens.

    Terms: embeddings 2TVd; per layer QKV 2T d (A + 2K), logits QK^T 2T^2 A, softmax 3HT^2, values 2T^2 A,
    output projection 2T A d, dense 2T (k d F) with k = 2 (GELU/ReLU) or 3 (SwiGLU's three matrices); final
    logits 2TdV. A = H Q is the attention width, K the key/value width (A without grouped-query attention).
    `include_embeddings=False` leaves out the embedding and final-logit terms, as the ratios of the paper's
    Table A4 (Appendix F's FLOP comparison) do.
    """
    t, d, a, kv = shape.seq_len, shape.d_model, shape.attn_dim, shape.kv_dim
    k = 3 if shape.components.ffn == "swiglu" else 2
    per_layer = (2 * t * d * (a + 2 * kv) + 2 * t * t * a + 3 * shape.n_heads * t * t + 2 * t * t * a
                 + 2 * t * a * d + 2 * t * k * d * shape.ffn_hidden)
    total = shape.n_layers * per_layer
    if include_embeddings:
        total += 2 * t * shape.vocab_size * d + 2 * t * d * shape.vocab_size
    return float(total)


def chinchilla(shape: ModelShape, include_embeddings: bool = True) -> float:
    """Appendix F training FLOPs per token: 3 x forward (backward = 2 x forward), per token of the sequence."""
    return 3.0 * chinchilla_forward_per_sequence(shape, include_embeddings) / shape.seq_len


def flops_per_token(shape: ModelShape, method: str = "6N") -> float:
    """Training FLOPs per token of `shape` by `method` (one of METHODS)."""
    if method in ("6N", "6N-non-embedding"):
        return six_n(shape, non_embedding=method == "6N-non-embedding")
    if method == "palm":
        return palm(shape)
    if method in ("chinchilla", "chinchilla-no-embeddings"):
        return chinchilla(shape, include_embeddings=method == "chinchilla")
    raise ScalingError(f"unknown FLOPs method {method!r}: choose one of {', '.join(METHODS)}")


def all_methods(shape: ModelShape) -> dict[str, float]:
    return {method: flops_per_token(shape, method) for method in METHODS}
