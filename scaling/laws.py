"""Scaling laws the planner plans with.

- `ParametricLaw`: L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, Eq. 2). Compute-optimal
  allocation under C = 6ND has a closed form (Hoffmann et al. 2022, Eq. 4 and Appendix D.2):
  N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta)), a = beta / (alpha+beta),
  b = alpha / (alpha+beta); so L_opt(C) = E + K (C/6)^-gamma with K = A G^-alpha + B G^beta and
  gamma = alpha beta / (alpha+beta), which inverts in closed form (`compute_for_loss`).
- Repeated data (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", Sec. 3): with U unique tokens
  the law is evaluated at the effective data D' = U + U R*_D (1 - exp(-R_D / R*_D)), R_D = D/U - 1 repetitions, and
  the effective parameters N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)), U_N the compute-optimal N for U tokens,
  R_N = N/U_N - 1 (each term only where it is > 0: D' = D for D <= U, N' = N for N <= U_N, so U -> inf is the
  plain law). R*_D and R*_N are their fitted values (`R_STAR_TOKENS`, `R_STAR_PARAMS`).
- `KaplanLaw`: L(N, D) = E + [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D (Kaplan et al. 2020, Eq. 1.5, with
  an irreducible E). Under C = 6ND the bracket is smallest where r N_c^r N^-(r+1) = 6 D_c / C (r = alpha_N /
  alpha_D), so N_opt = (r N_c^r C / (6 D_c))^(1/(1+r)): a = 1/(1+r) = alpha_D / (alpha_N + alpha_D); there the
  bracket is (1 + r) (N_c / N_opt)^r, so L_opt(C) = E + K (C/6)^-gamma with gamma = alpha_N alpha_D /
  (alpha_N + alpha_D) again, and it too inverts in closed form. Repeated data enters it as it enters the
  parametric law (N', D' in place of N, D, U_N the N its optimal split pairs with U tokens): Muennighoff et al.'s
  R* were fitted in Chinchilla's form, so in this form they are an assumption.
- `PowerLawAllocation`: N_opt = k C^a, D_opt = k' C^b (Hoffmann et al. 2022, Approaches 1 and 2; Llama 3 planned
  this way): an allocation without a loss.
- `FittedLaw`: a law with what its fit file adds: the approach chosen, bootstrap draws, the data range.
  `load_law("FIT.json")` takes Approach 3 where the file has it, else 2, else 1; `FIT.json:2` picks one. A fit
  file's Approach 3 law is in Chinchilla's form unless its "form" says "kaplan" (`LAW_FORMS`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from scaling.errors import ScalingError

# Muennighoff et al. 2023, Sec. 3: the repetitions after which repeated tokens' (excess parameters') value has
# decayed by 1/e. Their fitted values (with their C4 law, NAMED_LAWS["muennighoff"]): R*_D ~ 15.4, R*_N ~ 5.3.
R_STAR_TOKENS = 15.387756
R_STAR_PARAMS = 5.309743

LAW_KEYS = ("E", "A", "B", "alpha", "beta")
KAPLAN_KEYS = ("E", "N_c", "D_c", "alpha_N", "alpha_D")
POWER_LAW_KEYS = ("a", "params_coefficient", "b", "tokens_coefficient")
APPROACH_ORDER = ("3", "2", "1")  # `--law FIT.json` takes the first the file holds
DEFAULT_LEVEL = 0.95  # intervals from draws, where the fit file states no level of its own
EXTRAPOLATION_DECADES = 1.0  # a plan this far (log10) outside the fit's data range gets a warning


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))


def effective_data(amount, unique, r_star):
    """Muennighoff et al. 2023, Sec. 3: U + U R* (1 - exp(-R / R*)), R = amount/U - 1 repetitions of U unique
    units (none when amount <= U: then it is `amount`)."""
    amount = np.asarray(amount, dtype=float)
    unique = np.minimum(np.asarray(unique, dtype=float), amount)
    repeats = np.maximum(amount / unique - 1.0, 0.0)
    out = unique + unique * r_star * (1.0 - np.exp(-repeats / r_star))
    return float(out) if out.ndim == 0 else out


def optimal_allocation(alpha, beta, A, B, flops, c: float = 6.0, p: float = 1.0):
    """(N_opt, D_opt, a, b) at `flops` minimising E + A/N^alpha + B/D^beta subject to C = c N^p D (6ND: c = 6,
    p = 1, where a = beta/(alpha+beta) and N_opt = G (C/6)^a); arrays broadcast, one row per law where the
    parameters are arrays (K,) and `flops` (m,). The vectorised form of `ParametricLaw.compute_optimal`, for
    bootstrap draws and other compute conventions."""
    alpha, beta, A, B = (np.asarray(v, dtype=float)[..., None] for v in (alpha, beta, A, B))
    logc = np.log(np.asarray(flops, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        k = alpha + p * beta
        log_n = (np.log(alpha * A / (p * beta * B)) - beta * math.log(c) + beta * logc) / k
        n_opt = np.exp(log_n)
        d_opt = np.exp(logc - math.log(c) - p * log_n)
        a = (beta / k)[..., 0]
    return n_opt, d_opt, a, 1.0 - p * a


def _loss(E, A, B, alpha, beta, params, tokens, unique_tokens=None):
    """E + A/N^alpha + B/D^beta, at (N', D') when `unique_tokens` is given; arrays broadcast (one row per draw)."""
    n = np.asarray(params, dtype=float)
    d = np.asarray(tokens, dtype=float)
    if unique_tokens is not None:
        u = np.asarray(unique_tokens, dtype=float)
        g = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
        n, d = _repeated(n, d, u, g * (g * u) ** (beta / alpha))  # U_N = G (G U)^(beta/alpha)
    return E + A / np.asarray(n) ** alpha + B / np.asarray(d) ** beta


def _repeated(params, tokens, unique_tokens, unique_params):
    """(N', D'): Muennighoff et al.'s effective parameters and data, U_N = `unique_params` the N the law's optimal
    split pairs with the U = `unique_tokens`."""
    return (effective_data(params, unique_params, R_STAR_PARAMS),
            effective_data(tokens, unique_tokens, R_STAR_TOKENS))


def kaplan_log_loss(e, n_c, d_c, r, alpha_d, log_n, log_d):
    """ln L of Kaplan's form from logs (e = ln E, -inf for E = 0; n_c = ln N_c, d_c = ln D_c; r = alpha_N /
    alpha_D): ln(E + [(N_c/N)^r + D_c/D]^alpha_D) by log-sum-exps, exact where its terms span many decades."""
    inner = np.logaddexp(r * (n_c - log_n), d_c - log_d)
    return np.logaddexp(e, alpha_d * inner)


def kaplan_log_params_opt(n_c, d_c, r, log_flops):
    """ln N_opt of Kaplan's form at C = 6ND: ((ln r + r n_c + ln(C/6) - d_c) / (1 + r)) (module docstring)."""
    return (np.log(r) + r * n_c + log_flops - math.log(6.0) - d_c) / (1.0 + r)


def _kaplan_loss(E, N_c, D_c, alpha_N, alpha_D, params, tokens, unique_tokens=None):
    """Kaplan's form at (N, D), at (N', D') with `unique_tokens`; arrays broadcast (one row per draw)."""
    n, d = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    r = np.asarray(alpha_N, dtype=float) / alpha_D
    if unique_tokens is not None:
        u = np.asarray(unique_tokens, dtype=float)
        with np.errstate(over="ignore"):  # U_N beyond floats is inf: then no excess parameters, as it should be
            unique_params = np.exp(np.log(N_c) + (np.log(r * u) - np.log(D_c)) / r)  # U_N = N_c (r U / D_c)^(1/r)
        n, d = _repeated(n, d, u, unique_params)
    with np.errstate(divide="ignore"):
        e = np.log(E)
    return np.exp(kaplan_log_loss(e, np.log(N_c), np.log(D_c), r, alpha_D, np.log(n), np.log(d)))


@dataclass(frozen=True)
class ParametricLaw:
    """L(N, D) = E + A / N^alpha + B / D^beta, N parameters and D training tokens."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    name: str = "custom"
    has_loss: ClassVar[bool] = True
    form: ClassVar[str] = "chinchilla"
    KEYS: ClassVar[tuple[str, ...]] = LAW_KEYS

    def __post_init__(self) -> None:
        _check_terms(self)
        try:
            g = self.G
        except OverflowError:
            g = math.inf
        if not (math.isfinite(g) and g > 0):  # exponents near 0 (a loss that does not fall) send G to 0 or inf
            raise ScalingError(f"law {self.name!r}: no compute-optimal split (G = (alpha A / (beta B))^(1/(alpha + "
                               f"beta)) = {float(g):.3g} with alpha {self.alpha:.3g}, beta {self.beta:.3g}): a loss "
                               f"that barely falls with N and D")

    def loss(self, params, tokens, unique_tokens=None):
        """Predicted loss (nats/token) for N = `params` and D = `tokens` (scalars or arrays); with
        `unique_tokens` U, at Muennighoff et al.'s effective N' and D' (repeated data)."""
        out = _loss(self.E, self.A, self.B, self.alpha, self.beta, params, tokens, unique_tokens)
        return float(out) if np.ndim(out) == 0 else out

    @property
    def a(self) -> float:
        """Exponent of N_opt ~ C^a."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D_opt ~ C^b."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    @property
    def gamma(self) -> float:
        """Exponent of the optimal loss: L_opt(C) - E ~ C^-gamma, gamma = alpha beta / (alpha + beta)."""
        return self.alpha * self.beta / (self.alpha + self.beta)

    def optimal_params(self, flops):
        """N_opt(C) = G (C/6)^a."""
        return self.G * (np.asarray(flops, dtype=float) / 6.0) ** self.a

    def optimal_tokens(self, flops):
        """D_opt(C) = G^-1 (C/6)^b."""
        return (np.asarray(flops, dtype=float) / 6.0) ** self.b / self.G

    def compute_optimal(self, flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) for a budget of `flops` = 6 N D."""
        return float(self.optimal_params(flops)), float(self.optimal_tokens(flops))

    def optimal_loss(self, flops: float) -> float:
        return self.loss(*self.compute_optimal(flops))

    def compute_for_loss(self, loss: float) -> float:
        """The compute at which the optimal split reaches `loss`: L_opt(C) = E + K (C/6)^-gamma solved for C,
        K = A G^-alpha + B G^beta; inf where `loss` <= E (no compute reaches it)."""
        k = self.A * self.G ** -self.alpha + self.B * self.G ** self.beta
        gap = loss - self.E
        return 6.0 * (k / gap) ** (1.0 / self.gamma) if gap > 0 else math.inf

    def params_for_tokens(self, tokens):
        """The N the compute-optimal split pairs with D tokens: G (G D)^(beta/alpha) (Muennighoff et al.'s U_N
        for U = D)."""
        return self.G * (self.G * np.asarray(tokens, dtype=float)) ** (self.beta / self.alpha)

    def tokens_for_loss(self, params: float, target_loss: float) -> float:
        """D such that L(params, D) = target_loss; inf where the model cannot reach it at any D."""
        gap = target_loss - self.E - self.A / params**self.alpha
        return (self.B / gap) ** (1.0 / self.beta) if gap > 0 else math.inf

    def min_params_for_loss(self, target_loss: float) -> float:
        """The N below which no D reaches `target_loss`: A / N^alpha = target - E (inf where target <= E)."""
        gap = target_loss - self.E
        return (self.A / gap) ** (1.0 / self.alpha) if gap > 0 else math.inf

    @staticmethod
    def draw_optimal(draws: dict, flops: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """N_opt, D_opt and L_opt at `flops`, one per draw (arrays of LAW_KEYS)."""
        n, t, _, _ = optimal_allocation(draws["alpha"], draws["beta"], draws["A"], draws["B"], [flops])
        n, t = n[:, 0], t[:, 0]
        return n, t, _loss(draws["E"], draws["A"], draws["B"], draws["alpha"], draws["beta"], n, t)

    @staticmethod
    def draw_loss(draws: dict, params, tokens, unique_tokens=None) -> np.ndarray:
        """L(N, D) (at N', D' with `unique_tokens`), one per draw."""
        return _loss(draws["E"], draws["A"], draws["B"], draws["alpha"], draws["beta"], params, tokens,
                     unique_tokens)

    def to_dict(self) -> dict:
        return {**asdict(self), "a": self.a, "b": self.b, "G": self.G}


def _check_terms(law) -> None:
    """Every term of `law.KEYS` a finite number, E >= 0 and the rest > 0; else one ScalingError line."""
    for key in law.KEYS:
        value = getattr(law, key)
        if not _number(value):
            raise ScalingError(f"law {law.name!r}: {key} must be a number, got {value!r}")
        if not math.isfinite(value) or (value <= 0 if key != "E" else value < 0):
            sign = "non-negative" if key == "E" else "positive"
            raise ScalingError(f"law {law.name!r}: {key} must be finite and {sign}, got {value!r}")


@dataclass(frozen=True)
class KaplanLaw:
    """L(N, D) = E + [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D (Kaplan et al. 2020, Eq. 1.5, plus E),
    N parameters and D training tokens; the planner's interface of `ParametricLaw` (module docstring)."""

    E: float
    N_c: float
    D_c: float
    alpha_N: float
    alpha_D: float
    name: str = "custom"
    has_loss: ClassVar[bool] = True
    form: ClassVar[str] = "kaplan"
    KEYS: ClassVar[tuple[str, ...]] = KAPLAN_KEYS

    def __post_init__(self) -> None:
        _check_terms(self)

    @property
    def r(self) -> float:
        """alpha_N / alpha_D: the power of N_c / N inside the bracket."""
        return self.alpha_N / self.alpha_D

    def loss(self, params, tokens, unique_tokens=None):
        """Predicted loss (nats/token) for N = `params` and D = `tokens`; with `unique_tokens`, at N', D'."""
        out = _kaplan_loss(self.E, self.N_c, self.D_c, self.alpha_N, self.alpha_D, params, tokens, unique_tokens)
        return float(out) if np.ndim(out) == 0 else out

    @property
    def a(self) -> float:
        """Exponent of N_opt ~ C^a: alpha_D / (alpha_N + alpha_D)."""
        return self.alpha_D / (self.alpha_N + self.alpha_D)

    @property
    def b(self) -> float:
        """Exponent of D_opt ~ C^b: alpha_N / (alpha_N + alpha_D)."""
        return self.alpha_N / (self.alpha_N + self.alpha_D)

    @property
    def gamma(self) -> float:
        """Exponent of the optimal loss: L_opt(C) - E ~ C^-gamma, gamma = alpha_N alpha_D / (alpha_N + alpha_D)."""
        return self.alpha_N * self.alpha_D / (self.alpha_N + self.alpha_D)

    def optimal_params(self, flops):
        """N_opt(C) = (r N_c^r C / (6 D_c))^(1/(1+r))."""
        log_c = np.log(np.asarray(flops, dtype=float))
        return np.exp(kaplan_log_params_opt(math.log(self.N_c), math.log(self.D_c), self.r, log_c))

    def optimal_tokens(self, flops):
        """D_opt(C) = C / (6 N_opt(C))."""
        return np.asarray(flops, dtype=float) / (6.0 * self.optimal_params(flops))

    def compute_optimal(self, flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) for a budget of `flops` = 6 N D."""
        return float(self.optimal_params(flops)), float(self.optimal_tokens(flops))

    def optimal_loss(self, flops: float) -> float:
        return self.loss(*self.compute_optimal(flops))

    def compute_for_loss(self, loss: float) -> float:
        """The compute at which the optimal split reaches `loss`: L_opt(C) = E + K (C/6)^-gamma solved for C, with
        K = [(1 + r) N_c^r (r N_c^r / D_c)^(-r/(1+r))]^alpha_D; inf where `loss` <= E."""
        gap = loss - self.E
        if not gap > 0:
            return math.inf
        r, n_c, d_c = self.r, math.log(self.N_c), math.log(self.D_c)
        log_k = self.alpha_D * (math.log1p(r) + r * n_c - r / (1.0 + r) * (math.log(r) + r * n_c - d_c))
        log_c = math.log(6.0) + (log_k - math.log(gap)) / self.gamma
        return math.exp(log_c) if log_c < 709.0 else math.inf

    def params_for_tokens(self, tokens):
        """The N the compute-optimal split pairs with D tokens: N_c (r D / D_c)^(1/r)."""
        return self.N_c * (self.r * np.asarray(tokens, dtype=float) / self.D_c) ** (1.0 / self.r)

    def tokens_for_loss(self, params: float, target_loss: float) -> float:
        """D such that L(params, D) = target_loss: D_c / ((target - E)^(1/alpha_D) - (N_c/N)^r); inf where the
        model cannot reach it at any D."""
        gap = target_loss - self.E
        if not gap > 0:
            return math.inf
        # in logs: a gap of many nats raised to 1 / alpha_D overflows a float
        reach = math.log(gap) / self.alpha_D  # ln of the bracket's value at the target
        held = self.r * math.log(self.N_c / params)  # ln of the N term
        if reach <= held:
            return math.inf
        # D_c / (e^reach - e^held) = D_c e^-reach / (1 - e^(held - reach))
        return math.exp(math.log(self.D_c) - reach - math.log(-math.expm1(held - reach)))

    def min_params_for_loss(self, target_loss: float) -> float:
        """The N below which no D reaches `target_loss`: (N_c / N)^r = (target - E)^(1/alpha_D) (inf where
        target <= E)."""
        gap = target_loss - self.E
        return self.N_c * gap ** (-1.0 / self.alpha_N) if gap > 0 else math.inf

    @staticmethod
    def draw_optimal(draws: dict, flops) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """N_opt, D_opt and L_opt at `flops`, one per draw (arrays of KAPLAN_KEYS; they broadcast against
        `flops`: (K, 1) draws and m budgets give K x m)."""
        flops = np.asarray(flops, dtype=float)
        r = draws["alpha_N"] / draws["alpha_D"]
        n = np.exp(kaplan_log_params_opt(np.log(draws["N_c"]), np.log(draws["D_c"]), r, np.log(flops)))
        t = flops / (6.0 * n)
        return n, t, KaplanLaw.draw_loss(draws, n, t)

    @staticmethod
    def draw_loss(draws: dict, params, tokens, unique_tokens=None) -> np.ndarray:
        """L(N, D) (at N', D' with `unique_tokens`), one per draw."""
        return _kaplan_loss(*(draws[k] for k in KAPLAN_KEYS), params, tokens, unique_tokens)

    def to_dict(self) -> dict:
        return {**asdict(self), "form": self.form, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class PowerLawAllocation:
    """N_opt = params_coefficient C^a and D_opt = tokens_coefficient C^b (Hoffmann et al. 2022, Approaches 1 and 2):
    how to split a budget, with no loss prediction (`loss` is NaN)."""

    a: float
    b: float
    params_coefficient: float
    tokens_coefficient: float
    name: str = "custom"
    approach: str = "2"
    has_loss: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for key in POWER_LAW_KEYS:
            value = getattr(self, key)
            positive = key.endswith("coefficient")
            if not _number(value):
                raise ScalingError(f"law {self.name!r}: {key} must be a number, got {value!r}")
            if not math.isfinite(value) or (positive and value <= 0):
                raise ScalingError(f"law {self.name!r}: {key} must be finite{' and positive' if positive else ''}, "
                                   f"got {value!r}")
        if not 0 < self.a < 1:
            raise ScalingError(f"law {self.name!r}: N_opt ~ C^a needs 0 < a < 1 (N and D both grow with C), "
                               f"got a = {self.a!r}")

    def optimal_params(self, flops):
        return self.params_coefficient * np.asarray(flops, dtype=float) ** self.a

    def optimal_tokens(self, flops):
        return self.tokens_coefficient * np.asarray(flops, dtype=float) ** self.b

    def compute_optimal(self, flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) by the two power laws (6 N_opt D_opt is C only as far as the two fits agree)."""
        return float(self.optimal_params(flops)), float(self.optimal_tokens(flops))

    def loss(self, params, tokens, unique_tokens=None):
        """No loss: Approaches 1 and 2 fit the allocation, not L. NaN of the inputs' shape."""
        out = np.full(np.broadcast(np.asarray(params), np.asarray(tokens)).shape, np.nan)
        return float(out) if out.ndim == 0 else out

    def optimal_loss(self, flops: float) -> float:
        return math.nan

    def to_dict(self) -> dict:
        return asdict(self)


Law = ParametricLaw | KaplanLaw | PowerLawAllocation
# A fit file's Approach 3 law by its "form" (absent: Chinchilla's).
LAW_FORMS: dict[str, type] = {"chinchilla": ParametricLaw, "kaplan": KaplanLaw}


NAMED_LAWS: dict[str, ParametricLaw] = {
    # Hoffmann et al. 2022, Eq. 10 (the rounded values the paper prints).
    "chinchilla": ParametricLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, name="chinchilla"),
    # The same fit unrounded, as recovered by Besiroglu et al. 2024.
    "chinchilla-unrounded": ParametricLaw(E=1.6934, A=406.40, B=410.72, alpha=0.33917, beta=0.28491,
                                          name="chinchilla-unrounded"),
    # Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt": refit of Hoffmann's own data.
    "epoch": ParametricLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, name="epoch"),
    # Muennighoff et al. 2023: their fit on C4 (GPT-2 tokenizer), published as log E, log A, log B with the code of
    # the paper; R_STAR_TOKENS and R_STAR_PARAMS were fitted with it.
    "muennighoff": ParametricLaw(E=math.exp(0.6254804), A=math.exp(6.255414), B=math.exp(7.3049974),
                                 alpha=0.3526596, beta=0.3526596, name="muennighoff"),
}


# What each named law's losses are measured on (nats per token of that data and tokenizer).
LAW_DATA = {"chinchilla": "MassiveText", "chinchilla-unrounded": "MassiveText",
            "epoch": "MassiveText (Hoffmann et al.'s runs)", "muennighoff": "C4 (GPT-2 tokenizer)"}


@dataclass(frozen=True)
class FittedLaw:
    """A law as the planner uses it: the law, and what a fit file adds (which approach's law it is, the bootstrap
    draws behind its intervals, the range of the data it was fitted on). A named law has neither."""

    law: Law
    approach: str | None = None  # "3" | "2" | "1" for a law from a fit file
    draws: dict | None = field(default=None, compare=False)  # name -> array, one entry per usable resample
    data_range: dict | None = None  # {"params": (lo, hi), "tokens", "flops", "loss", "vocab_size"}
    level: float = DEFAULT_LEVEL

    @property
    def n_draws(self) -> int:
        return 0 if not self.draws else len(next(iter(self.draws.values())))

    def _interval(self, samples) -> list[float]:
        from scaling.fitting.bootstrap import percentile_interval

        return [float(x) for x in percentile_interval(samples, self.level)]

    def optimal_intervals(self, flops: float) -> dict | None:
        """[lo, hi] of N_opt, D_opt (and, for Approach 3, L_opt) at `flops` over the draws; None without draws."""
        if self.n_draws < 2:
            return None
        d, c = self.draws, float(flops)
        if self.law.has_loss:
            n, t, loss = self.law.draw_optimal(d, c)
            return {"params": self._interval(n), "tokens": self._interval(t), "loss": self._interval(loss)}
        n = d["params_coefficient"] * c ** d["a"]
        t = d["tokens_coefficient"] * c ** d["b"]
        return {"params": self._interval(n), "tokens": self._interval(t)}

    def loss_interval(self, params: float, tokens: float, unique_tokens: float | None = None) -> list[float] | None:
        """[lo, hi] of L(N, D) (at N', D' with `unique_tokens`) over the draws; None without loss draws."""
        if self.n_draws < 2 or not self.law.has_loss:
            return None
        return self._interval(self.law.draw_loss(self.draws, params, tokens, unique_tokens))

    def beyond(self, **values: float) -> list[tuple[str, float, float, float, float]]:
        """(name, value, lo, hi, decades outside) for each of params/tokens/flops outside the fit's data range."""
        out = []
        for name, value in values.items():
            span = (self.data_range or {}).get(name)
            if span is None or value is None or not value > 0:
                continue
            lo, hi = span
            decades = math.log10(value / hi) if value > hi else math.log10(lo / value) if value < lo else 0.0
            if decades > 0:
                out.append((name, value, lo, hi, decades))
        return out

    def to_dict(self) -> dict:
        measured_on = LAW_DATA.get(self.law.name) if self.approach is None else "the fit's runs"
        return {**self.law.to_dict(), "approach": self.approach, "draws": self.n_draws, "level": self.level,
                "data_range": self.data_range, "measured_on": measured_on}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ScalingError(f"fit file {str(path)!r} not found: give an existing fit JSON or a named law "
                           f"({', '.join(NAMED_LAWS)})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScalingError(f"cannot read fit file {str(path)!r}: {err}") from None
    except json.JSONDecodeError as err:
        raise ScalingError(f"fit file {str(path)!r} is not valid JSON ({err.msg} at line {err.lineno})") from None


def _read_draws(raw, keys: tuple[str, ...], where: str) -> dict | None:
    """The draws of one approach as equal-length float arrays, rows with a missing or impossible value dropped."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ScalingError(f"{where} must be an object of lists ({', '.join(keys)}), got {type(raw).__name__}")
    missing = [k for k in keys if k not in raw]
    if missing:
        raise ScalingError(f"{where} lacks {', '.join(missing)}: give one list per quantity ({', '.join(keys)})")
    arrays = {}
    for k in keys:
        values = raw[k]
        if not isinstance(values, list) or not all(v is None or _number(v) for v in values):
            raise ScalingError(f"{where}.{k} must be a list of numbers (null for a failed resample)")
        arrays[k] = np.array([np.nan if v is None else v for v in values], dtype=float)
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ScalingError(f"{where} lists differ in length ({', '.join(f'{k} {n}' for k, n in lengths.items())}): "
                           f"each needs one entry per resample")
    ok = np.all([np.isfinite(v) for v in arrays.values()], axis=0)
    positive = [k for k in keys if k not in ("E", "a", "b")]  # coefficients and exponents of a law
    ok &= np.all([arrays[k] > 0 for k in positive], axis=0)
    if "E" in arrays:
        ok &= arrays["E"] >= 0
    return {k: v[ok] for k, v in arrays.items()}


def _read_data_range(raw, where: str) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ScalingError(f"{where} must be an object ({{\"params\": [lo, hi], ...}}), got {type(raw).__name__}")
    out = {}
    for key in ("params", "tokens", "flops", "loss"):
        span = raw.get(key)
        if span is None:
            continue
        if (not isinstance(span, list) or len(span) != 2 or not all(_number(x) and math.isfinite(x) for x in span)
                or span[0] > span[1] or (key != "loss" and span[0] <= 0)):
            raise ScalingError(f"{where}.{key} must be [lo, hi] with 0 < lo <= hi, got {span!r}")
        out[key] = (float(span[0]), float(span[1]))
    vocab = raw.get("vocab_size")
    if vocab is not None and (not _number(vocab) or int(vocab) != vocab or vocab < 1):
        raise ScalingError(f"{where}.vocab_size must be a positive integer or null, got {vocab!r}")
    out["vocab_size"] = None if vocab is None else int(vocab)
    return out


def law_of_section(section: dict, name: str, where: str) -> ParametricLaw | KaplanLaw:
    """The Approach 3 law of a fit section (a fit file's top level, or a report's fits.json section): in the form
    its "form" names (`LAW_FORMS`; absent: Chinchilla's), from that form's terms only; a ScalingError naming
    `where` for an unknown form, terms of the other form, or a missing term."""
    form = section.get("form", "chinchilla")
    if not isinstance(form, str) or form not in LAW_FORMS:
        raise ScalingError(f"{where}: unknown law form {form!r}: choose one of {', '.join(LAW_FORMS)}")
    kind = LAW_FORMS[form]
    others = [key for other in LAW_FORMS.values() if other is not kind for key in other.KEYS
              if key in section and key not in kind.KEYS]
    if others:
        hint = " (a law in Kaplan et al.'s form says \"form\": \"kaplan\")" if form == "chinchilla" else ""
        raise ScalingError(f"{where} holds {', '.join(others)}, which a {form}-form law does not have: keep one "
                           f"form's terms ({', '.join(kind.KEYS)}){hint}")
    missing = [key for key in kind.KEYS if key not in section]
    if missing:
        raise ScalingError(f"{where} lacks {', '.join(missing)}: a {form}-form law needs {', '.join(kind.KEYS)}")
    return kind(**{k: section[k] for k in kind.KEYS}, name=name)


# What `scaling plan` counts: N with embeddings, C = 6ND. A law fitted under other conventions names other models.
PLANNER_CONVENTIONS = {"params": "total", "compute": "6nd"}


def _check_conventions(conventions, path: Path) -> None:
    """A fit file's `conventions` must be the planner's: its N_opt and D_opt are read as total parameters and
    tokens at C = 6ND, so a law of non-embedding N (or exact C) would plan too small (or too large) a model.
    Files without the field predate it and were all fitted under the planner's conventions."""
    if conventions is None:
        return
    if not (isinstance(conventions, dict) and all(isinstance(conventions.get(k), str) for k in PLANNER_CONVENTIONS)):
        raise ScalingError(f"fit file {str(path)!r}: conventions must be an object with params and compute, got "
                           f"{conventions!r}")
    if all(conventions[k] == v for k, v in PLANNER_CONVENTIONS.items()):
        return
    raise ScalingError(f"fit file {str(path)!r} was fitted with N = {conventions['params']} parameters and C = "
                       f"{conventions['compute']} FLOPs; the planner counts N with embeddings and C = 6ND: refit "
                       f"with --params total --compute 6nd (the defaults) to plan with it")


def read_fit_law(path: str | Path, approach: str | None = None) -> FittedLaw:
    """The law in a fit file (`scaling fit --out`, schema in scaling/fitting/api.py): Approach 3's where it holds
    one, else Approach 2's, else 1's; `approach` picks one. With its draws and data range where present."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ScalingError(f"fit file {str(path)!r} must hold a JSON object with E, A, B, alpha, beta (or an "
                           f"approach2/approach1 section)")
    data = _as_fit_file(data, approach)
    _check_conventions(data.get("conventions"), path)
    held = [x for x in APPROACH_ORDER if (x == "3" and any(k in data for k in (*LAW_KEYS, *KAPLAN_KEYS)))
            or (x != "3" and isinstance(data.get(f"approach{x}"), dict))]
    if approach is None:
        if not held:
            raise ScalingError(f"fit file {str(path)!r} holds no law: no E, A, B, alpha, beta (Approach 3) and no "
                               f"approach2 or approach1 section with a, b, params_coefficient, tokens_coefficient")
        approach = held[0]
    elif approach not in held:
        raise ScalingError(f"fit file {str(path)!r} holds no Approach {approach} law" +
                           (f" (it holds Approach {', '.join(held)}: use {path}:{held[0]})" if held else ""))
    name = str(data.get("name", path.name)) + ("" if approach == "3" else f":{approach}")
    where = f"fit file {str(path)!r}: "
    if approach == "3":
        law = law_of_section(data, name, f"fit file {str(path)!r}")
        kind = type(law)
        draws = _read_draws(data.get("draws"), kind.KEYS, where + "draws")
        ci = data.get("ci")
    else:
        section = data[f"approach{approach}"]
        missing = [key for key in POWER_LAW_KEYS if key not in section]
        if missing:
            raise ScalingError(f"fit file {str(path)!r}: approach{approach} lacks {', '.join(missing)}: its law "
                               f"needs a, b, params_coefficient, tokens_coefficient")
        law = PowerLawAllocation(**{k: section[k] for k in POWER_LAW_KEYS}, name=name, approach=approach)
        draws = _read_draws(section.get("draws"), POWER_LAW_KEYS, where + f"approach{approach}.draws")
        ci = section.get("ci")
    level = ci.get("level") if isinstance(ci, dict) else None
    level = float(level) if _number(level) and 0 < level < 1 else DEFAULT_LEVEL
    return FittedLaw(law, approach, draws, _read_data_range(data.get("data_range"), where + "data_range"), level)


def _as_fit_file(data: dict, approach: str | None) -> dict:
    """A report's fits.json (sections "1", "2", "3", each with its own data range) in the layout of `scaling
    fit --out` (Approach 3's law at the top, approach1/approach2 sections), so `--law DIR/fits.json:2` plans
    with the report's Approach 2; a fit file as it is."""
    if any(k in data for k in (*LAW_KEYS, *KAPLAN_KEYS, "approach1", "approach2")) \
            or not any(isinstance(data.get(x), dict) for x in APPROACH_ORDER):
        return data
    chosen = approach or next(x for x in APPROACH_ORDER if isinstance(data.get(x), dict))
    out = dict(data.get("3", {})) if isinstance(data.get("3"), dict) else {}
    for x in ("1", "2"):
        if isinstance(data.get(x), dict):
            out[f"approach{x}"] = data[x]
    if isinstance(data.get(chosen), dict):
        out["data_range"] = data[chosen].get("data_range")
        out["conventions"] = data[chosen].get("conventions", out.get("conventions"))
    return out


def law_from_json(path: str | Path, approach: str | None = None) -> Law:
    """A law from a fit file (as `scaling fit --out` writes it); see `read_fit_law`."""
    return read_fit_law(path, approach).law


def load_law(spec: str | Path | Law | FittedLaw) -> FittedLaw:
    """A named law (`NAMED_LAWS`), or the law of a fit JSON: `FIT.json` (Approach 3 where it holds one, else 2,
    else 1) or `FIT.json:N` (Approach N), with the file's draws and data range."""
    if isinstance(spec, FittedLaw):
        return spec
    if isinstance(spec, (ParametricLaw, KaplanLaw, PowerLawAllocation)):
        return FittedLaw(spec)
    text = str(spec)
    if text in NAMED_LAWS:
        return FittedLaw(NAMED_LAWS[text])
    chosen = re.fullmatch(r"(.+):([123])", text)
    path, approach = (chosen.group(1), chosen.group(2)) if chosen else (text, None)
    if path.endswith(".json") or Path(path).exists():
        return read_fit_law(path, approach)
    raise ScalingError(f"unknown law {text!r}: choose one of {', '.join(NAMED_LAWS)} or give a fit JSON path "
                       f"(FIT.json, or FIT.json:1/2/3 for that approach's law)")


def get_law(spec: str | Path | Law | FittedLaw) -> Law:
    """A named law or the law of a fit JSON (see `load_law`)."""
    return load_law(spec).law
