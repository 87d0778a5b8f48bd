"""One decoder-only transformer; every GPT-3-vs-LLaMA difference is a switch (`scaling.architecture.Components`).

Built from the planner's `ModelShape`, so `sum(p.numel())` equals `shape.params` exactly for every combination of
switches (tests/test_model.py). Each architectural idea is a small module named after it; a switch picks one:

  norm            RMSNorm (LLaMA)            | LayerNorm, with bias when `bias` (GPT-2/3)
  norm_position   pre: x + f(norm(x))        | post: norm(x + f(x)) (the original Transformer)
  ffn             SwiGLU, 3 matrices (LLaMA) | GELU / ReLU MLP, 2 matrices (GPT-3)
  position        RoPE on q and k (LLaMA)    | learned absolute table (GPT-3) | none
  bias, tied      biases in every linear layer; output head shares the token embedding
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scaling.architecture import TRAINABLE_POSITIONS, ModelShape


class RMSNorm(nn.Module):
    """x / rms(x) * g (Zhang & Sennrich 2019), as LLaMA: no mean subtraction, no bias."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def make_norm(shape: ModelShape, eps: float) -> nn.Module:
    c = shape.components
    if c.norm == "rmsnorm":
        return RMSNorm(shape.d_model, eps)
    return nn.LayerNorm(shape.d_model, eps=eps, bias=c.bias)


class Rotary(nn.Module):
    """Rotary position embedding (Su et al. 2021, Eq. 34): rotate each channel pair (x[2i], x[2i+1]) of q and k by
    the angle m * theta^(-2i/Q) at position m. Eager, as a complex product (Meta's LLaMA formulation): on a CPU
    the faster form (the real one took 11-15% longer a step at two of the demo's shapes, one run). Under compile,
    the same product in real arithmetic: inductor generates no code for complex tensors and would leave the
    rotation to eager kernels between its fused ones. The two agree to float rounding; tables are buffers."""

    def __init__(self, head_dim: int, seq_len: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
        self.register_buffer("freqs", torch.polar(torch.ones_like(angles), angles), persistent=False)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, H, T, Q)
        return self.real(x) if torch.compiler.is_compiling() else self.complex(x)

    def complex(self, x: torch.Tensor) -> torch.Tensor:
        pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
        return torch.view_as_real(pairs * self.freqs[: x.shape[-2]]).flatten(-2).type_as(x)

    def real(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-2]
        cos, sin = self.cos[:t], self.sin[:t]
        pairs = x.float().unflatten(-1, (-1, 2))
        even, odd = pairs[..., 0], pairs[..., 1]
        # (even + i odd) * (cos + i sin)
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2).type_as(x)


class Attention(nn.Module):
    """Causal multi-head attention (grouped-query when n_kv_heads < n_heads) on torch's SDPA kernels."""

    def __init__(self, shape: ModelShape, rotary: Rotary | None):
        super().__init__()
        bias = shape.components.bias
        self.n_heads, self.n_kv_heads, self.head_dim = shape.n_heads, shape.n_kv_heads, shape.head_dim
        self.q = nn.Linear(shape.d_model, shape.attn_dim, bias=bias)
        self.k = nn.Linear(shape.d_model, shape.kv_dim, bias=bias)
        self.v = nn.Linear(shape.d_model, shape.kv_dim, bias=bias)
        self.out = nn.Linear(shape.attn_dim, shape.d_model, bias=bias)
        self.out.residual = True  # scaled at init
        self.rotary = rotary

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        if self.n_kv_heads != self.n_heads:
            k = k.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
            v = v.repeat_interleave(self.n_heads // self.n_kv_heads, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, -1))


class SwiGLU(nn.Module):
    """w2(silu(w1 x) * w3 x) (Shazeer 2020), LLaMA's feed-forward."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        bias = shape.components.bias
        self.w1 = nn.Linear(shape.d_model, shape.ffn_hidden, bias=bias)
        self.w3 = nn.Linear(shape.d_model, shape.ffn_hidden, bias=bias)
        self.w2 = nn.Linear(shape.ffn_hidden, shape.d_model, bias=bias)
        self.w2.residual = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MLP(nn.Module):
    """fc2(act(fc1 x)), GPT's feed-forward: GELU (GPT-2/3) or ReLU (the original Transformer)."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        bias = shape.components.bias
        self.fc1 = nn.Linear(shape.d_model, shape.ffn_hidden, bias=bias)
        self.fc2 = nn.Linear(shape.ffn_hidden, shape.d_model, bias=bias)
        self.fc2.residual = True
        self.act = nn.GELU() if shape.components.ffn == "gelu" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, shape: ModelShape, rotary: Rotary | None, eps: float):
        super().__init__()
        self.pre = shape.components.norm_position == "pre"
        self.norm1, self.norm2 = make_norm(shape, eps), make_norm(shape, eps)
        self.attn = Attention(shape, rotary)
        self.ffn = SwiGLU(shape) if shape.components.ffn == "swiglu" else MLP(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre:
            x = x + self.attn(self.norm1(x))
            return x + self.ffn(self.norm2(x))
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.ffn(x))


class Transformer(nn.Module):
    """Token ids (B, T) -> logits (B, T, V); with targets, also the mean cross-entropy in nats/token."""

    def __init__(self, shape: ModelShape, init_std: float = 0.02, rope_theta: float = 10000.0,
                 norm_eps: float = 1e-5):
        super().__init__()
        c = shape.components
        if c.position not in TRAINABLE_POSITIONS:
            raise ValueError(f"position {c.position!r} is a planner-only component; the harness builds "
                             f"{', '.join(TRAINABLE_POSITIONS)}")
        self.shape = shape
        self.embed = nn.Embedding(shape.vocab_size, shape.d_model)
        self.pos_embed = nn.Embedding(shape.seq_len, shape.d_model) if c.position == "learned" else None
        rotary = Rotary(shape.head_dim, shape.seq_len, rope_theta) if c.position == "rope" else None
        self.blocks = nn.ModuleList(Block(shape, rotary, norm_eps) for _ in range(shape.n_layers))
        self.final_norm = make_norm(shape, norm_eps) if c.norm_position == "pre" else nn.Identity()
        self.head = nn.Linear(shape.d_model, shape.vocab_size, bias=False)
        if c.tied:
            self.head.weight = self.embed.weight
        self._init(init_std)

    def _init(self, std: float) -> None:
        """N(0, std) for weights and embeddings, zeros for biases; residual output projections get
        std / sqrt(2 L) so the residual stream's variance does not grow with depth (GPT-2)."""
        residual_std = std / math.sqrt(2 * self.shape.n_layers)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, residual_std if getattr(module, "residual", False) else std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, 0.0, std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        x = self.embed(idx)
        if self.pos_embed is not None:
            x = x + self.pos_embed(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.final_norm(x))
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
