"""Parametric scaling laws L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, Eq. 2).

Compute-optimal allocation under C = 6ND has a closed form (Hoffmann et al. 2022, Eq. 4 and Appendix D.2):
N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta)),
a = beta / (alpha+beta), b = alpha / (alpha+beta).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scaling.errors import ScalingError


@dataclass(frozen=True)
class ParametricLaw:
    """L(N, D) = E + A / N^alpha + B / D^beta, N parameters and D training tokens."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    name: str = "custom"

    def __post_init__(self) -> None:
        for key in ("E", "A", "B", "alpha", "beta"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ScalingError(f"law {self.name!r}: {key} must be a number, got {value!r}")
            if not math.isfinite(value) or (value <= 0 if key != "E" else value < 0):
                raise ScalingError(f"law {self.name!r}: {key} must be finite and positive, got {value!r}")

    def loss(self, params, tokens):
        """Predicted loss (nats/token) for N = `params` and D = `tokens` (scalars or arrays)."""
        n = np.asarray(params, dtype=float)
        d = np.asarray(tokens, dtype=float)
        out = self.E + self.A / n**self.alpha + self.B / d**self.beta
        return float(out) if out.ndim == 0 else out

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

    def tokens_for_loss(self, params: float, target_loss: float) -> float:
        """D such that L(params, D) = target_loss; inf where the model cannot reach it at any D."""
        gap = target_loss - self.E - self.A / params**self.alpha
        return (self.B / gap) ** (1.0 / self.beta) if gap > 0 else math.inf

    def to_dict(self) -> dict:
        return {**asdict(self), "a": self.a, "b": self.b, "G": self.G}


NAMED_LAWS: dict[str, ParametricLaw] = {
    # Hoffmann et al. 2022, Eq. 10 (the rounded values the paper prints).
    "chinchilla": ParametricLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, name="chinchilla"),
    # The same fit unrounded, as recovered by Besiroglu et al. 2024.
    "chinchilla-unrounded": ParametricLaw(E=1.6934, A=406.40, B=410.72, alpha=0.33917, beta=0.28491,
                                          name="chinchilla-unrounded"),
    # Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt": refit of Hoffmann's own data.
    "epoch": ParametricLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658, name="epoch"),
}


def law_from_json(path: str | Path) -> ParametricLaw:
    """A law from a fit file (as `scaling fit --json` writes it): an object with E, A, B, alpha, beta."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ScalingError(f"fit file {str(path)!r} not found: give an existing fit JSON or a named law "
                           f"({', '.join(NAMED_LAWS)})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScalingError(f"cannot read fit file {str(path)!r}: {err}") from None
    except json.JSONDecodeError as err:
        raise ScalingError(f"fit file {str(path)!r} is not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, dict):
        raise ScalingError(f"fit file {str(path)!r} must hold a JSON object with E, A, B, alpha, beta")
    missing = [key for key in ("E", "A", "B", "alpha", "beta") if key not in data]
    if missing:
        raise ScalingError(f"fit file {str(path)!r} lacks {', '.join(missing)}: a law needs E, A, B, alpha, beta")
    return ParametricLaw(E=data["E"], A=data["A"], B=data["B"], alpha=data["alpha"], beta=data["beta"],
                         name=str(data.get("name", path.name)))


def get_law(name_or_path: str | ParametricLaw) -> ParametricLaw:
    """A named law (`NAMED_LAWS`) or a law read from a fit JSON file."""
    if isinstance(name_or_path, ParametricLaw):
        return name_or_path
    if name_or_path in NAMED_LAWS:
        return NAMED_LAWS[name_or_path]
    if str(name_or_path).endswith(".json") or Path(name_or_path).exists():
        return law_from_json(name_or_path)
    raise ScalingError(f"unknown law {name_or_path!r}: choose one of {', '.join(NAMED_LAWS)} or give a fit JSON "
                       f"path")
