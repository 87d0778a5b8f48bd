"""The choices and options of `fit()`: one list of each, read by the fit and by `scaling fit`'s parser."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from scaling.errors import ScalingError
from scaling.laws import LAW_FORMS

APPROACHES = ("1", "2", "3", "all")
LOSSES = ("huber", "asymmetric")  # Approach 3: symmetric Huber, or a lower envelope
ENGINES = ("batched", "scipy")  # Approach 3: variable projection + batched Newton, or the L-BFGS-B loop
FORMS = tuple(LAW_FORMS)  # Approach 3's law: Chinchilla's E + A/N^alpha + B/D^beta, or Kaplan et al.'s
COMPUTES = ("6nd", "exact")  # C = 6ND (N as counted), or Chinchilla Appendix F's count (summary's flops_exact)
PARAMS = ("total", "non-embedding")  # N: every parameter (Chinchilla), or without embeddings (Kaplan)
TAIL_RESAMPLES = 5  # resamples each tail of a percentile interval must hold, at least
# More resamples than this do not move a 95% or 99% interval's ends by anything a fit can resolve, and each
# holds a refit's numbers in memory (Approach 2's resample counts alone: 8 bytes x runs per resample).
MAX_RESAMPLES = 100_000


def min_resamples(level: float) -> int:
    """The fewest resamples for a percentile interval at `level`: each tail, (1 - level) / 2 of them, must hold
    TAIL_RESAMPLES (200 at 95%, 1,000 at 99%); fewer put the interval's ends on one or two resamples, and with
    one resample the point estimate falls outside its own interval."""
    return math.ceil(round(2 * TAIL_RESAMPLES / (1.0 - level), 9))


def _whole(value, at_least: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= at_least


def _finite(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


@dataclass(frozen=True)
class FitOptions:
    """How the approaches fit, checked when made: one ScalingError line per bad value."""

    bootstrap: int = 1000  # resamples for the intervals; 0 for none, else at least min_resamples(level)
    seed: int = 0  # of the bootstrap
    level: float = 0.95  # of the percentile intervals
    loss: str = "huber"  # Approach 3: huber | asymmetric (a lower-envelope law)
    delta: float = 1e-3  # Approach 3: Huber width on log residuals (Hoffmann et al. 2022)
    asymmetry: float = 10.0  # Approach 3 with loss="asymmetric": weight of over-predictions
    grid: object = None  # Approach 3: starts (rows of a, b, e, alpha, beta); None: Hoffmann's 4,500
    engine: str = "batched"  # Approach 3: batched | scipy
    budget_tol: float = 0.02  # Approach 2 without a budget column: dex within which runs share a budget
    min_runs: int = 3  # Approach 2 leaves out budgets with fewer runs
    window: int | None = 2  # Approach 2: each parabola on the best size +- this many sizes; None: every size
    skew: bool = True  # Approach 2: allow for the profiles' skew, one kappa shared by every budget (else parabolas)
    form: str = "chinchilla"  # Approach 3's law: chinchilla | kaplan (scaling.laws.LAW_FORMS)
    tie_exponents: bool = False  # Approach 3: alpha = beta (4 parameters)
    law_window: int | None = None  # Approach 3 on the runs of Approach 2's windows (best size +- K); None: all
    min_tokens_per_param: float | None = None  # Approach 3 without the runs below this D/N; None: every run
    compute: str = "6nd"  # which C: 6ND, or "exact" (Appendix F; results dirs' flops_exact)
    params: str = "total"  # which N: "total" or "non-embedding" (Kaplan's; results dirs' non_embedding_params)
    progress: bool = False  # a progress bar for the bootstrap

    def __post_init__(self) -> None:
        if not _whole(self.bootstrap, 0):
            raise ScalingError(f"--bootstrap takes a whole number of resamples >= 0, got {self.bootstrap!r}")
        if self.bootstrap > MAX_RESAMPLES:
            raise ScalingError(f"--bootstrap {self.bootstrap} is more resamples than the intervals can use: give at "
                               f"most {MAX_RESAMPLES:,} (1,000 is the default, 4,000 the replication's)")
        if not _whole(self.min_runs, 1):
            raise ScalingError(f"--min-runs takes a whole number of runs >= 1, got {self.min_runs!r}")
        if not (isinstance(self.level, (int, float)) and 0 < self.level < 1):
            raise ScalingError(f"the confidence level must lie between 0 and 1, got {self.level!r}")
        if 0 < self.bootstrap < min_resamples(self.level):
            raise ScalingError(f"--bootstrap {self.bootstrap} is too few resamples for a {self.level * 100:g}% "
                               f"percentile interval (each tail must hold {TAIL_RESAMPLES}): give 0 for no "
                               f"intervals, or at least {min_resamples(self.level)}")
        if not _whole(self.seed, 0):
            raise ScalingError(f"--seed takes a whole number >= 0, got {self.seed!r}")
        if self.loss not in LOSSES:
            raise ScalingError(f"unknown loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        if self.engine not in ENGINES:
            raise ScalingError(f"unknown engine {self.engine!r}: choose one of {', '.join(ENGINES)}")
        # checked here, not only where an approach uses them: a bad value must not pass because that approach
        # was skipped or failed for another reason
        if not (_finite(self.delta) and self.delta > 0):
            raise ScalingError(f"--delta (Approach 3's Huber width) takes a positive number, got {self.delta!r}")
        if self.loss == "asymmetric" and not (_finite(self.asymmetry) and self.asymmetry >= 1):
            raise ScalingError(f"--asymmetry (the weight of over-predictions) takes a number >= 1, got "
                               f"{self.asymmetry!r}")
        if not (_finite(self.budget_tol) and self.budget_tol >= 0):
            raise ScalingError(f"--budget-tol takes a distance in dex >= 0, got {self.budget_tol!r}")
        if self.window is not None and not _whole(self.window, 1):
            raise ScalingError(f"--window takes a whole number of neighbours >= 1 on each side of the best size "
                               f"(or 'all' for every size), got {self.window!r}")
        if self.law_window is not None and not _whole(self.law_window, 1):
            raise ScalingError(f"--law-window takes a whole number of neighbours >= 1 on each side of each budget's "
                               f"best size (or 'all' for every run), got {self.law_window!r}")
        if self.min_tokens_per_param is not None and not (_finite(self.min_tokens_per_param)
                                                          and self.min_tokens_per_param > 0):
            raise ScalingError(f"--min-tokens-per-param takes a positive number of tokens per parameter, got "
                               f"{self.min_tokens_per_param!r}")
        for name in ("tie_exponents", "skew"):
            if not isinstance(getattr(self, name), bool):
                raise ScalingError(f"{name} takes True or False, got {getattr(self, name)!r}")
        if self.form not in FORMS:
            raise ScalingError(f"unknown law form {self.form!r}: choose one of {', '.join(FORMS)}")
        if self.form == "kaplan":
            clash = [what for what, on in (("--tie-exponents", self.tie_exponents),
                                           (f"--loss {self.loss}", self.loss != "huber"),
                                           (f"--compute {self.compute}", self.compute != "6nd"),
                                           (f"--engine {self.engine}", self.engine != "batched")) if on]
            if clash:
                raise ScalingError(f"--form kaplan is fitted by Huber on log losses with C = 6ND, untied exponents "
                                   f"and its own L-BFGS-B fit: drop {', '.join(clash)}")
        if self.compute not in COMPUTES:
            raise ScalingError(f"unknown compute convention {self.compute!r}: choose one of {', '.join(COMPUTES)}")
        if self.params not in PARAMS:
            raise ScalingError(f"unknown parameter convention {self.params!r}: choose one of {', '.join(PARAMS)}")
        object.__setattr__(self, "bootstrap", int(self.bootstrap))
        for name in ("window", "law_window"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))
