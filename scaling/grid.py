"""Experiment grids: isoFLOP profiles (Hoffmann et al. 2022, Approach 2) and allocation comparisons.

An isoFLOP grid holds, for each budget C, K model sizes log-spaced from N_opt/S to N_opt*S around the law's
compute-optimal N; each size is a `planning.plan_point` (a concrete shape and the tokens that spend C exactly
on it, D = C / flops_per_token(shape)). An allocation grid holds one point per rule per budget.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from scaling.allocation import check_budget
from scaling.architecture import DEFAULT_SEQ_LEN, DEFAULT_STYLE, Components
from scaling.errors import ScalingError
from scaling.laws import ParametricLaw, get_law
from scaling.planning import PlannedRun, plan_point

MAX_POINTS = 1000  # sizes per budget: far more than any sweep trains, few enough to plan in seconds


def size_factors(points: int, span: float) -> np.ndarray:
    """K multiples of N_opt, log-spaced from 1/span to span (1 alone when K = 1)."""
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
        raise ScalingError(f"points must be a whole number from 1 to {MAX_POINTS} (sizes per budget), got {points!r}")
    if not (math.isfinite(span) and span >= 1):
        raise ScalingError(f"span must be a finite factor >= 1 (sizes run from N_opt/span to N_opt*span), "
                           f"got {span!r}")
    if points > 1 and span == 1:
        raise ScalingError(f"{points} points need a span > 1 to be distinct sizes")
    return np.geomspace(1.0 / span, span, points) if points > 1 else np.ones(1)


def isoflop_grid(budgets, law: ParametricLaw | str = "chinchilla", *, points: int = 7, span: float = 4.0,
                 style: str = DEFAULT_STYLE, vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN,
                 components: Components | None = None, flops_method: str = "6N") -> list[PlannedRun]:
    """isoFLOP grid: `points` sizes per budget around the law's N_opt; sizes that resolve to the same shape are
    kept once (a warning says how many were merged)."""
    law = get_law(law)
    factors = size_factors(points, span)
    rows: list[PlannedRun] = []
    for c in (check_budget(b) for b in budgets):
        seen, merged = set(), []
        for f in factors:
            point = plan_point(c, "optimal", law, size_factor=float(f), style=style, vocab_size=vocab_size,
                               seq_len=seq_len, components=components, flops_method=flops_method)
            if point.shape in seen:
                merged.append(f)
                continue
            seen.add(point.shape)
            rows.append(point)
        if merged:  # one line per budget, however many
            listed = ", ".join(f"{f:.3g}" for f in merged[:5]) + (", ..." if len(merged) > 5 else "")
            warnings.warn(f"budget {c:.3g}: {len(merged)} size factor(s) ({listed}) give the shape of a smaller "
                          f"factor; each shape kept once (widen --span or lower --points)", stacklevel=2)
    return rows


def allocation_grid(budgets, rules, law: ParametricLaw | str = "chinchilla", *, style: str = DEFAULT_STYLE,
                    vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN,
                    components: Components | None = None, flops_method: str = "6N",
                    inference_tokens: float | None = None) -> list[PlannedRun]:
    """One point per allocation rule per budget; each rule's N gets a shape, and D spends the budget on it."""
    law = get_law(law)
    rows = []
    for c in (check_budget(b) for b in budgets):
        for rule in rules:
            rows.append(plan_point(c, rule, law, style=style, vocab_size=vocab_size, seq_len=seq_len,
                                   components=components, flops_method=flops_method,
                                   inference_tokens=inference_tokens))
    return rows
