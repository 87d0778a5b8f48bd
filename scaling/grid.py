"""Experiment grids: isoFLOP profiles (Hoffmann et al. 2022, Approach 2) and allocation comparisons.

An isoFLOP grid holds, for each budget C, K model sizes log-spaced from N_opt/S to N_opt*S around the law's
compute-optimal N; each size gets a concrete shape from the solver and the tokens that spend C exactly on that
shape, D = C / flops_per_token(shape). An allocation grid holds one point per rule per budget.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from scaling.allocation import allocate, check_budget
from scaling.architecture import Components, ModelShape, solve_shape
from scaling.errors import ScalingError
from scaling.flops import flops_per_token
from scaling.laws import ParametricLaw, get_law


@dataclass(frozen=True)
class GridPoint:
    """One run of a grid: its budget, how its size was chosen, its shape and token count."""

    flops: float
    rule: str  # the allocation rule that placed N ("optimal" for isoFLOP points)
    size_factor: float  # target N / the rule's N
    target_params: float
    shape: ModelShape
    tokens: float
    predicted_loss: float
    flops_method: str = "6N"

    @property
    def params(self) -> int:
        return self.shape.params

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params

    def to_dict(self) -> dict:
        return {"flops": self.flops, "rule": self.rule, "size_factor": self.size_factor,
                "target_params": self.target_params, "params": self.params, "tokens": self.tokens,
                "tokens_per_param": self.tokens_per_param, "predicted_loss": self.predicted_loss,
                "flops_method": self.flops_method, "shape": self.shape.to_dict()}


def plan_point(flops: float, rule: str, law: ParametricLaw | str = "chinchilla", *, size_factor: float = 1.0,
               style: str = "llama", vocab_size: int = 32000, seq_len: int = 2048,
               components: Components | None = None, flops_method: str = "6N",
               inference_tokens: float | None = None) -> GridPoint:
    """One run: `rule` picks N for the budget (times `size_factor`), the solver gives it a shape, and
    D = C / flops_per_token(shape) spends the budget on that exact shape (the inference rule's training
    compute, which exceeds C by design, in its place)."""
    law = get_law(law)
    alloc = allocate(rule, flops, law, size_factor=size_factor, inference_tokens=inference_tokens)
    shape = solve_shape(alloc.params, style, vocab_size=vocab_size, seq_len=seq_len, components=components)
    tokens = alloc.flops / flops_per_token(shape, flops_method)
    return GridPoint(alloc.flops, rule, size_factor, alloc.params, shape, tokens, law.loss(shape.params, tokens),
                     flops_method)


def size_factors(points: int, span: float) -> np.ndarray:
    """K multiples of N_opt, log-spaced from 1/span to span (1 alone when K = 1)."""
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ScalingError(f"points must be a positive integer, got {points!r}")
    if not (math.isfinite(span) and span >= 1):
        raise ScalingError(f"span must be a finite factor >= 1 (sizes run from N_opt/span to N_opt*span), "
                           f"got {span!r}")
    if points > 1 and span == 1:
        raise ScalingError(f"{points} points need a span > 1 to be distinct sizes")
    return np.geomspace(1.0 / span, span, points) if points > 1 else np.ones(1)


def isoflop_grid(budgets, law: ParametricLaw | str = "chinchilla", *, points: int = 7, span: float = 4.0,
                 style: str = "llama", vocab_size: int = 32000, seq_len: int = 2048,
                 components: Components | None = None, flops_method: str = "6N") -> list[GridPoint]:
    """isoFLOP grid: `points` sizes per budget around the law's N_opt; sizes that resolve to the same shape are
    kept once (a warning says how many were merged)."""
    law = get_law(law)
    factors = size_factors(points, span)
    rows: list[GridPoint] = []
    for c in (check_budget(b) for b in budgets):
        seen = set()
        for f in factors:
            point = plan_point(c, "optimal", law, size_factor=float(f), style=style, vocab_size=vocab_size,
                               seq_len=seq_len, components=components, flops_method=flops_method)
            if point.shape in seen:
                warnings.warn(f"budget {c:.3g}: size factor {f:.3g} gives the same shape as a smaller factor; "
                              f"kept once (widen --span or lower --points)", stacklevel=2)
                continue
            seen.add(point.shape)
            rows.append(point)
    return rows


def allocation_grid(budgets, rules, law: ParametricLaw | str = "chinchilla", *, style: str = "llama",
                    vocab_size: int = 32000, seq_len: int = 2048, components: Components | None = None,
                    flops_method: str = "6N", inference_tokens: float | None = None) -> list[GridPoint]:
    """One point per allocation rule per budget; each rule's N gets a shape, and D spends the budget on it."""
    law = get_law(law)
    rows = []
    for c in (check_budget(b) for b in budgets):
        for rule in rules:
            rows.append(plan_point(c, rule, law, style=style, vocab_size=vocab_size, seq_len=seq_len,
                                   components=components, flops_method=flops_method,
                                   inference_tokens=inference_tokens))
    return rows
