"""Allocation rules: how a compute budget C = 6ND is split between parameters N and tokens D.

- ``optimal``: the law's compute-optimal N and D (closed form, `ParametricLaw.compute_optimal`).
- ``chinchilla`` / ``gpt3`` / ``llama``: a fixed ratio r = D/N, so N = sqrt(C / 6r), D = r N. Chinchilla's ~20
  (Hoffmann et al. 2022, Table 3), GPT-3's 300B tokens on 175B parameters (1.7), LLaMA-7B's 1T tokens on its
  6.74B parameters (~148).
- ``kaplan``: N_opt = 1.3e9 (C / 1 PF-day)^0.73 (Kaplan et al. 2020, Eq. 6.1 / Fig. 14), D = C / 6N. Their N
  counts no embeddings: a planned shape (`scaling.planning.plan_point`) has that many non-embedding parameters,
  and its total N, embeddings added, is the run's.
- ``inference``: Sardana & Frankle 2023: minimise 6 N D_train + 2 N D_inference subject to
  L(N, D_train) = the loss the optimal allocation reaches with C. Its training compute is >= C by design.
- ``data-constrained``: with U unique tokens, the N minimising L(N', D') at C = 6ND, N' and D' the effective
  parameters and data of Muennighoff et al. 2023, Sec. 3 (`scaling.laws.effective_data`); D = C / 6N.

With `unique_tokens`, every rule's predicted loss is L(N', D'): what repeating the data costs is in it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from scaling.architecture import PRESETS
from scaling.errors import ScalingError
from scaling.laws import R_STAR_TOKENS, KaplanLaw, Law, ParametricLaw, effective_data

PF_DAY = 8.64e19  # FLOPs in one petaflop/s-day
# Kaplan et al. 2020, Eq. 6.1 / Fig. 14: N_opt = 1.3e9 (C / PF-day)^0.73 (non-embedding N, their setting).
KAPLAN_COEFFICIENT = 1.3e9
KAPLAN_EXPONENT = 0.73

TOKENS_PER_PARAM: dict[str, float] = {
    "chinchilla": 20.0,
    "gpt3": 1.7,
    "llama": 1.0e12 / PRESETS["llama-7b"].params,
}

RULES = ("optimal", "chinchilla", "gpt3", "llama", "kaplan", "inference", "data-constrained")
# The rules that need more than a budget, and what they need (`plan` leaves them out without it).
RULE_NEEDS = {"inference": "inference_tokens", "data-constrained": "unique_tokens"}
# Rules whose N counts no embeddings (Kaplan et al. 2020 size non-embedding N): a shape for one has that many
# parameters besides its embeddings (`scaling.planning.rule_shape`)
NON_EMBEDDING_RULES = ("kaplan",)


@dataclass(frozen=True)
class Allocation:
    """One way to spend a budget: N parameters on D tokens, and the loss the law predicts for it."""

    rule: str
    flops: float  # training compute 6 N D
    params: float
    tokens: float
    predicted_loss: float
    inference_tokens: float = 0.0
    budget: float | None = None  # the C the rule was given (the inference rule trains on more)
    unique_tokens: float | None = None  # the data limit U, where there is one

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params

    @property
    def inference_flops(self) -> float:
        """2 N per generated or scored token (a forward pass)."""
        return 2.0 * self.params * self.inference_tokens

    @property
    def budget_ratio(self) -> float | None:
        """Training compute over the budget given: above 1 only for the inference rule."""
        return self.flops / self.budget if self.budget else None

    @property
    def epochs(self) -> float | None:
        """Passes over the U unique tokens (D / U), where there is a data limit."""
        return self.tokens / self.unique_tokens if self.unique_tokens else None

    def to_dict(self) -> dict:
        out = {**asdict(self), "tokens_per_param": self.tokens_per_param,
               "inference_flops": self.inference_flops, "total_flops": self.flops + self.inference_flops,
               "budget_ratio": self.budget_ratio}
        if self.unique_tokens:
            out.update(epochs=self.epochs, effective_tokens=effective_data(self.tokens, self.unique_tokens,
                                                                           R_STAR_TOKENS))
        return out


def check_positive(value, what: str, unit: str) -> float:
    """A finite positive number (of `unit`), or a ScalingError saying what was given."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError):
        raise ScalingError(f"{what} must be a number of {unit}, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ScalingError(f"{what} must be a finite positive number of {unit}, got {value!r}")
    return number


def check_count(value, what: str, unit: str) -> float:
    """A finite number of `unit` (parameters, tokens) of at least one, or a ScalingError: a count below one is
    most often a size written in other units (0.5 meaning 0.5B)."""
    number = check_positive(value, what, unit)
    if number < 1:
        raise ScalingError(f"{what} counts {unit}: {value!r} is less than one; write the whole count (5e8 for 0.5 "
                           f"billion)")
    return number


def check_budget(flops, what: str = "compute budget") -> float:
    """A finite positive FLOP count, or a ScalingError saying what was given."""
    return check_positive(flops, what, "FLOPs")


def _needs_loss(law: Law, what: str) -> ParametricLaw | KaplanLaw:
    if not law.has_loss:
        raise ScalingError(f"{what} needs a law with a loss (Approach 3 or a named law); {law.name} is an "
                           f"Approach {law.approach} allocation, N_opt ~ C^a with no L(N, D)")
    return law


def kaplan_params(flops: float) -> float:
    """Kaplan et al. 2020: N_opt = 1.3e9 (C / PF-day)^0.73."""
    return KAPLAN_COEFFICIENT * (flops / PF_DAY) ** KAPLAN_EXPONENT


def inference_aware(flops: float, law: ParametricLaw | KaplanLaw, inference_tokens: float) -> tuple[float, float]:
    """(N, D_train) minimising 6 N D_train + 2 N D_inf at the loss the compute-optimal model reaches with
    `flops` (Sardana & Frankle 2023, Eq. 1). With no inference tokens it is the compute-optimal point."""
    from scipy.optimize import minimize_scalar  # only this rule needs it: keeps `scaling plan` fast

    n_opt, d_opt = law.compute_optimal(flops)
    if inference_tokens == 0:
        return n_opt, d_opt
    target = law.loss(n_opt, d_opt)
    n_min = law.min_params_for_loss(target)  # below it, no D reaches the target

    def total_cost(log_n: float) -> float:
        n = math.exp(log_n)
        # each term over C before the products: 2 N D_inf alone overflows for D_inf near the float limit
        return 6.0 * n * (law.tokens_for_loss(n, target) / flops) + 2.0 * n * (inference_tokens / flops)

    lo = math.log(n_min) + 1e-9 * max(1.0, abs(math.log(n_min)))
    result = minimize_scalar(total_cost, bounds=(lo, math.log(n_opt)), method="bounded",
                             options={"xatol": 1e-10})
    n = math.exp(result.x)
    return n, law.tokens_for_loss(n, target)


PLATEAU_TOL = 1e-9  # relative: losses this close to the minimum count as reaching it (data-constrained rule)


def data_constrained(flops: float, law: ParametricLaw | KaplanLaw, unique_tokens: float) -> float:
    """N minimising L(N', D') at C = 6ND with `unique_tokens` U (Muennighoff et al. 2023, Sec. 3 and their
    compute-optimal allocation under repetition): a scan over log N, then Brent's method between neighbours;
    where the loss is flat about its minimum (tiny U), the smallest N that reaches it."""
    from scipy.optimize import brentq, minimize_scalar  # only this rule needs them: keeps `scaling plan` fast

    def loss(log_n):
        n = np.exp(log_n)
        return law.loss(n, flops / (6.0 * n), unique_tokens)

    centre = math.log(law.compute_optimal(flops)[0])
    grid = np.linspace(centre - 4 * math.log(10), centre + 4 * math.log(10), 801)
    values = loss(grid)
    i = int(np.clip(np.argmin(values), 1, len(grid) - 2))
    result = minimize_scalar(lambda x: float(loss(x)), bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                             options={"xatol": 1e-9})
    # With few unique tokens both N' and D' saturate and the loss is flat over decades of N (to 1e-12): any N
    # there is "optimal", so the answer is the smallest N whose loss is within PLATEAU_TOL of the minimum, the
    # cheapest model that reaches it. A curved minimum moves by ~sqrt(PLATEAU_TOL) in log N: nothing.
    level = min(float(result.fun), float(values.min())) * (1.0 + PLATEAU_TOL)
    on = values <= level
    if not on.any() or grid[np.argmax(on)] >= result.x:  # a curved minimum: nothing to its left reaches it
        return math.exp(result.x)
    j = int(np.argmax(on))  # the first grid point on the plateau
    lower = grid[j - 1] if j > 0 else grid[0]
    while float(loss(lower)) <= level:  # the plateau reaches below the grid: follow it a decade at a time
        if lower <= 0.0:
            return 1.0  # flat down to a single parameter
        lower -= math.log(10)
    return math.exp(brentq(lambda x: float(loss(x)) - level, lower, grid[j], xtol=1e-12))


def allocate(rule: str, flops: float, law: Law, *, size_factor: float = 1.0,
             inference_tokens: float | None = None, unique_tokens: float | None = None) -> Allocation:
    """Split `flops` by `rule` (one of RULES); `size_factor` scales the rule's N and keeps C = 6ND. With
    `unique_tokens` U the predicted loss counts repeated data (Muennighoff et al. 2023)."""
    flops = check_budget(flops)
    if not (math.isfinite(size_factor) and size_factor > 0):
        raise ScalingError(f"size_factor must be a finite positive multiple of the rule's N, got {size_factor!r}")
    if unique_tokens is not None:
        unique_tokens = check_count(unique_tokens, "the number of unique tokens", "tokens")
        _needs_loss(law, "repeated data (unique tokens)")
    d_inf = 0.0
    if rule == "optimal":
        params = law.compute_optimal(flops)[0]
    elif rule in TOKENS_PER_PARAM:
        params = math.sqrt(flops / (6.0 * TOKENS_PER_PARAM[rule]))
    elif rule == "kaplan":
        params = kaplan_params(flops)
    elif rule == "inference":
        if inference_tokens is None or not (math.isfinite(inference_tokens) and inference_tokens >= 0):
            raise ScalingError("the inference rule needs a finite, non-negative number of inference tokens "
                               f"(--inference-tokens), got {inference_tokens!r}")
        if 0 < inference_tokens < 1:  # none is a choice (the plain optimum); a fraction of one is a slip of units
            check_count(inference_tokens, "--inference-tokens", "tokens")
        if size_factor != 1.0:
            raise ScalingError("size_factor does not apply to the inference rule: it fixes the loss, not C")
        if unique_tokens is not None:
            raise ScalingError("the inference rule does not take unique tokens: it fixes the loss of unlimited data")
        d_inf = float(inference_tokens)
        params, tokens = inference_aware(flops, _needs_loss(law, "the inference rule"), d_inf)
        return Allocation(rule, 6.0 * params * tokens, params, tokens, law.loss(params, tokens), d_inf,
                          budget=flops)
    elif rule == "data-constrained":
        if unique_tokens is None:
            raise ScalingError("the data-constrained rule needs the number of unique tokens (scaling plan "
                               "--unique-tokens U; unique_tokens=U in Python)")
        params = data_constrained(flops, law, unique_tokens)
    else:
        raise ScalingError(f"unknown allocation rule {rule!r}: choose one of {', '.join(RULES)}")
    params *= size_factor
    tokens = flops / (6.0 * params)
    return Allocation(rule, flops, params, tokens, law.loss(params, tokens, unique_tokens), d_inf, budget=flops,
                      unique_tokens=unique_tokens)
