"""Approach 2 of Hoffmann et al. 2022 (Section 3.2): isoFLOP profiles.

For each FLOP budget C, a parabola in log N fitted to the final losses near the budget's best run; its vertex is
N_opt(C) and its value there the best loss at C. The same in log D gives D_opt(C). Then N_opt ~ C^a and
D_opt ~ C^b by least squares in log space (`scaling.fitting.power_law`), and the minimum loss by
L_min = E' + k C^-g (`power_law.fit_saturating`: the form Chinchilla's law takes along its optimum; a pure power
law would overshoot the fall of a loss that flattens), which the backtest extrapolates. The paper reports
a = 0.49, b = 0.51.

Budgets: an exact budget per run where the data carry one (the harness's `budget.flops`, or `--budget-col`).
Otherwise runs are grouped by FLOPs C = 6ND: sorted by log10 C, a new group starts wherever two neighbours
differ by more than `budget_tol` dex (default 0.02, i.e. 4.7%), so each group holds runs of one nominal budget
(the digitised Chinchilla points scatter by ~0.01 dex around theirs); a group's C is the geometric mean of its
runs' FLOPs. Budgets with fewer than `min_runs` runs (default 3, the fewest a parabola needs; at least 3
distinct sizes in any case) are left out, with one warning that lists them. With another compute convention
than the budgets count (`compute`: one C per run, e.g. Appendix F's exact count), a budget keeps its runs, and
its C is the runs' C interpolated to N_opt (least squares of log C on log N over the window).

Window (`window` k, default 2): a parabola is the second-order expansion of a profile about its minimum, and the
profile is skewed (E + A/N^alpha + B/D^beta along C = 6ND is not symmetric in log N), so points far from the
minimum pull a parabola fitted through them off it, by an amount that grows with the square of the span; a
sweep not centred on the optimum (every sweep planned by a law other than the data's) then biases a. Each
parabola is therefore fitted on the best size (lowest mean loss) and its k neighbours on each side in log N,
cut at the ends of the sizes tried (and widened back to 3 sizes where that leaves fewer). k = 2 (5 sizes) is
the smallest window that leaves residual degrees of freedom (2 per budget), which the bootstrap needs, and it
holds the common 5-size sweep (1/4..4 x N, 16x) whole. `window=None` fits every size (the practice before).

Skew (`skew`): on a coarse grid the window still spans decades. Along C = 6ND, in x = ln N, Chinchilla's law is
E + A e^(-alpha x) + B' e^(beta x), whose third derivative at the minimum is kappa = beta - alpha times its
second; Kaplan et al.'s, E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D, has kappa = 1 - alpha_N/alpha_D: in
both forms the same kappa at every budget. A parabola through points at offsets h about the minimum takes the
cubic term into its slope, and its vertex moves by -kappa m4 / (6 m2) (m_k the mean of h^k): every budget's by
about the same factor, so a stays unbiased while N_opt's level does not (alpha 0.5, beta 0.25, 7 sizes over
300x: ~13% high; Chinchilla's law: ~3%), and the backtest, which compares a forecast with the held-out budget's
own vertex, cannot see a bias both share. So the fit estimates one kappa for every window (`shared_skew`): each
window's losses ~ c0 + c1 z + c2 (z^2 + kappa z^3 / 3), z = ln N less the window's mean, kappa common, by a grid
search over [-3, 3] refined by a parabola through its neighbours; some window must hold 4 sizes (3 fit any
kappa). With `skew` (the default) the vertices are that curve's minima (`profile_minima`), the residuals are
its (scaled for the degree of freedom kappa takes), and each resample re-estimates kappa, so every interval
carries its uncertainty. Where kappa cannot be placed, the vertices stay plain parabolas', with a warning: every
window holds 3 sizes; kappa runs to the end of the range searched (as on the published Chinchilla points in the
default window) or puts the curve's inflection, z = -1/kappa, inside a window (the windows are then not
near-parabolic); or no residual degree of freedom is left. A budget whose skewed curve has no minimum (it falls
or rises throughout) keeps its parabola's vertex, an extrapolation. Without it the vertices are plain
parabolas', and kappa is tested instead (`api._skew_test`): the resamples, drawn about plain parabolas, show how
far kappa strays from 0 by noise alone. Why on by default (`bench/skew_study.py`, docs/approach2_skew.md): on
sweeps drawn from skewed laws (|kappa| 0.25-0.29, among them the Kaplan-form law the reference sweep favours),
plain parabolas put N_opt's level up to 12% off with per-budget intervals that hold the true optimum as little
as 32-53% of the time, where allowing for the skew keeps the intervals at 84-96% in every setting and the level
within 5% in all but one (6.7%); the price, on near-symmetric laws (Chinchilla's, Epoch's), is up to 2.2 times
the level's error, with intervals widened to match.

Warnings: a budget whose parabola opens downwards (or is flat) has no minimum and is left out; one whose vertex
lies outside the sizes tried (not bracketed) is kept as an extrapolation; one whose vertex lies more than
FAR_STEPS (1.5) grid steps (the median spacing of its sizes in log N) from the best run, so that the best run is
not one of the sizes either side of it, or outside the window, is kept with a warning (the profile is skewed or
noisy near its minimum). Each names the budget, with numbers.

Bootstrap: residuals (Davison & Hinkley 1997, Algorithm 6.2 with modified residuals). Each resample refits the
windows' parabolas to their fitted losses plus residuals drawn with replacement from one pool: every budget's
least-squares residuals r / sqrt(1 - h) (h the leverage, so each has the noise's variance), centred. Why not
resample runs within a budget: of 5 runs, half the resamples hold only 3 distinct sizes, through which a
parabola passes exactly, noise and all, and 1 in 10 hold 2 (no parabola): vertices fly off, and on the reference
sweep a = 0.41 came with [0.04, 2.40]. Residuals keep every size in every resample (never fewer than 3), and
one pool estimates the noise from every budget (2 degrees of freedom per 5-size budget would not); it assumes
the noise is alike across budgets (loss noise in nats hardly changes over a sweep). The residuals hold the seed
noise and the scatter from size to size (each size has its own shape), both of which a rerun redraws; the seed
spread alone would understate it. A resample's optimum is its parabola's minimum within the window's sizes (the
vertex, else the better end of the window): a parabola says nothing beyond its data, and an unbounded vertex of
a nearly flat resample would make the interval's ends (not the data) decide it. Each resample also gives every
budget's N_opt, D_opt and minimum loss, whence the per-budget intervals.

Scatter between budgets (`between_budget_scatter`): the residuals redraw each budget's noise, but the budgets'
optima may scatter about the power law by more than that noise explains: each budget has its own sizes on a discrete
ladder, batch and steps, so its vertex carries an error that no rerun at that budget redraws. On the reference sweep
the 7 vertices lie about N_opt ~ C^a with chi^2 = 38 on 5 degrees of freedom against their own intervals (p < 1e-6;
24 on 4 for its first six budgets, where an interval from the residuals alone had a half-width of 0.045, a precision
the budgets do not share). The excess variance tau^2 is the one that brings that chi^2 down to its degrees of
freedom, sum_j r_j^2 / (v_j + tau^2) = m - 2 (the random-effects estimator of Paule & Mandel 1982), r_j budget j's
residual about the law, v_j the bootstrap variance of its log N_opt; likewise for the minimum losses about their
saturating law (m - 3). The residuals are the least-squares law's, the law the report gives, not a refit weighted
by 1 / (v_j + tau^2), which would lower the sum: so tau is, if anything, a little large. Unlike the unweighted
method of moments (DerSimonian & Laird 1986, RSS against sum_j (1 - h_j)(v_j + tau^2)), it cannot return 0 while
the chi^2 says the optima scatter, as that one does where the largest residuals sit on the budgets with the
smallest variances. Each resample then moves every budget's optimum
by its own draw N(0, tau^2) along its isoFLOP line (log N up, log D down by as much) and its minimum loss by N(0,
tau_L^2), before the power laws are refitted: a and b get intervals that hold the budgets' own scatter. At C not
swept (`flops_at`) the draws add one more such budget effect: an interval for the optimum that a new budget's sweep
would find, which is what a backtest compares with. The per-budget intervals stay the residuals' alone (what that
budget's runs say). tau = 0 where the optima lie on the law within their noise, and with m budgets it has m - 2 (m -
3 for the loss) degrees of freedom: with 3 budgets none, and it is 0.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np

from scaling.errors import ScalingError
from scaling.fitting.options import FitOptions
from scaling.fitting.power_law import OptimalScaling, PowerLaw, SaturatingLaw, fit_power_law, fit_saturating

PARABOLA_SIZES = 3  # distinct model sizes a budget needs for a parabola: an isoFLOP profile has at least this many


def is_profile(params, min_runs: int) -> bool:
    """True when one budget's runs (their parameter counts) can carry a parabola: min_runs runs or more, of
    PARABOLA_SIZES distinct sizes or more."""
    return len(params) >= min_runs and len(np.unique(params)) >= PARABOLA_SIZES


FAR_STEPS = 1.5  # a vertex further than this many grid steps (log N) from the best run is flagged: the best run
# is then not one of the two sizes either side of the vertex (noise alone moves the best run by one step)


def budget_groups(flops, budget=None, tol_dex: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """(label per run, C per label): exact budgets when given, else FLOPs clustered within `tol_dex`."""
    if budget is not None:
        values, labels = np.unique(np.asarray(budget, dtype=float), return_inverse=True)
        return labels, values
    if not (math.isfinite(tol_dex) and tol_dex >= 0):
        raise ScalingError(f"the budget tolerance must be a non-negative number of decades, got {tol_dex!r}")
    logc = np.log10(np.asarray(flops, dtype=float))
    order = np.argsort(logc, kind="stable")
    starts = np.concatenate([[True], np.diff(logc[order]) > tol_dex])
    labels = np.empty(len(logc), dtype=int)
    labels[order] = np.cumsum(starts) - 1
    centres = np.array([10 ** logc[labels == g].mean() for g in range(labels.max() + 1)])
    return labels, centres


def parabola_fit(x, ys) -> tuple[float, float, np.ndarray]:
    """Least-squares parabolas y ~ c0 + c1 z + c2 z^2 through (x, each row of `ys`), in z = (x - centre) / spread
    (for conditioning). Returns (centre, spread, the coefficients (K x 3))."""
    x = np.asarray(x, dtype=float)
    centre, spread = x.mean(), x.std() or 1.0
    z = (x - centre) / spread
    coef = np.atleast_2d(np.asarray(ys, dtype=float)) @ np.linalg.pinv(np.stack([np.ones_like(z), z, z * z], 1)).T
    return centre, spread, coef


SKEW_GRID = np.linspace(-3.0, 3.0, 241)  # kappa searched; published laws have |beta - alpha| and |1 - alpha_N /
# alpha_D| well under 1, and a profile skewed by more than 3 per unit of ln N is not near-parabolic over a window
FLAT = 1e-9  # a curvature c2 below this fraction of the losses is none: flat (identical losses give ~1e-30)
REACH = 20.0  # ln N: a vertex further than this (x5e8) from its window's centre is no estimate, and exp() of it
# overflows not much further out
_CHUNK = 2000  # resamples per block of the kappa search (its projections: block x grid x 3)


def _skew_design(z, kappa) -> np.ndarray:
    """Columns 1, z, z^2 + kappa z^3 / 3 at the points z, one design per kappa (shape kappa's + (len z, 3))."""
    z = np.asarray(z, dtype=float)
    k = np.asarray(kappa, dtype=float)[..., None]
    return np.stack(np.broadcast_arrays(np.ones_like(z), z, z * z + k * z**3 / 3), axis=-1)


def shared_skew(xs, ys) -> np.ndarray | None:
    """The skew kappa common to every window (one per row of the windows' losses): the value on SKEW_GRID, refined
    by a parabola through its neighbours, that minimises the pooled squared residuals of
    y ~ c0 + c1 z + c2 (z^2 + kappa z^3 / 3), z = x - mean x, fitted per window. `xs`: each window's ln N;
    `ys`: each window's losses (K x its runs). None where no window has 4 distinct sizes (3 fix any kappa)."""
    if not any(len(np.unique(x)) > PARABOLA_SIZES for x in xs):
        return None
    rows = np.atleast_2d(ys[0]).shape[0]
    sse = np.zeros((rows, len(SKEW_GRID)))
    for x, y in zip(xs, ys, strict=True):
        # residual sum of squares = |y|^2 - |Q'y|^2, Q an orthonormal basis of each kappa's design (grid x runs x 3):
        # no runs x runs matrices, so a window of many seeds costs no more memory than its runs
        basis = np.linalg.qr(_skew_design(x - np.mean(x), SKEW_GRID))[0]
        y = np.atleast_2d(y)
        y = y - y.mean(axis=1, keepdims=True)  # the constant column takes the mean: the rest stays small
        flat = basis.transpose(1, 0, 2).reshape(len(x), -1)  # runs x (grid * 3): one matrix product per block
        for s in range(0, rows, _CHUNK):
            block = y[s:s + _CHUNK]
            proj = (block @ flat).reshape(len(block), len(SKEW_GRID), 3)
            sse[s:s + _CHUNK] += np.sum(block * block, axis=1)[:, None] - np.sum(proj * proj, axis=2)
    best = np.argmin(sse, axis=1)
    j = np.clip(best, 1, len(SKEW_GRID) - 2)
    at = np.arange(rows)
    s0, s1, s2 = sse[at, j - 1], sse[at, j], sse[at, j + 1]
    curve = s0 - 2 * s1 + s2
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.where((j == best) & (curve > 0), 0.5 * (s0 - s2) / curve, 0.0)
    return SKEW_GRID[best] + step * (SKEW_GRID[1] - SKEW_GRID[0])


def skewed_fit(x, ys, kappa) -> np.ndarray:
    """Least-squares c0, c1, c2 of y ~ c0 + c1 z + c2 (z^2 + kappa z^3 / 3), z = x - mean x, per row of `ys` (each
    with its own kappa, or one for all): a parabola whose third derivative is kappa times its second at z = 0.
    Returns K x 3."""
    x = np.asarray(x, dtype=float)
    ys = np.atleast_2d(np.asarray(ys, dtype=float))
    design = np.broadcast_to(_skew_design(x - x.mean(), np.broadcast_to(np.asarray(kappa, dtype=float),
                                                                         (len(ys),))), (len(ys), len(x), 3))
    gram = np.einsum("kni,knj->kij", design, design)
    return np.linalg.solve(gram, np.einsum("kni,kn->ki", design, ys)[:, :, None])[:, :, 0]


def profile_minima(x, ys, kappa=0.0, within: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Minima of the skewed parabolas (`skewed_fit`) through (x, each row of `ys`). The local minimum, where
    f'(z) = c1 + 2 c2 z + kappa c2 z^2 = 0 and f''(z) = 2 c2 (1 + kappa z) > 0: with c2 > 0, z = -(c1 / c2) /
    (1 + sqrt(1 - kappa c1 / c2)) (kappa 0: the vertex). NaN where there is none: c2 not above FLAT of the losses'
    scale (flat, or opening downwards), or no stationary point (the curve falls or rises throughout). `within`:
    the lowest point over [min x, max x] instead: the lower end, or a local minimum that lies there and is lower
    (with c2 < 0 and kappa != 0 one lies past the inflection, at (-1 - sqrt(1 - kappa c1 / c2)) / kappa).
    Returns (x, y)."""
    x = np.asarray(x, dtype=float)
    ys = np.atleast_2d(np.asarray(ys, dtype=float))
    kappa = np.broadcast_to(np.asarray(kappa, dtype=float), (len(ys),))
    c0, c1, c2 = skewed_fit(x, ys, kappa).T
    centre = x.mean()

    def value(z):
        return c0 + c1 * z + c2 * (z * z + kappa * z**3 / 3)

    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = c1 / np.where(c2 != 0, c2, 1.0)
        disc = 1 - kappa * ratio
        root = np.sqrt(np.maximum(disc, 0.0))
        up = c2 > FLAT * np.max(np.abs(ys), axis=1)
        z = np.where(up & (disc >= 0), -ratio / (1 + root), np.nan)
        if not within:
            return centre + z, value(z)
        lo, hi = x.min() - centre, x.max() - centre
        past = np.where((c2 < 0) & (kappa != 0) & (disc >= 0), (-1 - root) / np.where(kappa != 0, kappa, 1.0),
                        np.nan)
        candidates = np.stack([np.full(len(ys), lo), np.full(len(ys), hi), z, past])
        inside = np.isfinite(candidates) & (candidates >= lo) & (candidates <= hi)
        values = np.where(inside, value(np.where(inside, candidates, 0.0)), np.inf)
        z = candidates[np.argmin(values, axis=0), np.arange(len(ys))]
    return centre + z, value(z)


def window_runs(log_n, loss, k: int | None) -> tuple[np.ndarray, dict]:
    """The runs of one budget a parabola is fitted on: the best size (lowest mean loss over its runs) and its k
    neighbours on each side in log N (every size for k None), at least 3 sizes. Returns (mask, facts)."""
    sizes, inverse = np.unique(log_n, return_inverse=True)
    means = np.bincount(inverse, loss) / np.bincount(inverse)
    best = int(np.argmin(means))
    last = len(sizes) - 1
    lo, hi = (0, last) if k is None else (max(0, best - k), min(last, best + k))
    if hi - lo < 2:  # cut at an end of the sizes tried: widen inwards to 3 sizes
        lo, hi = (0, min(2, last)) if lo == 0 else (max(0, last - 2), last)
    facts = {"best": float(sizes[best]), "loss_best": float(means[best]),
             "runs_best": int(np.sum(inverse == best)), "lo": float(sizes[lo]), "hi": float(sizes[hi]),
             "step": float(np.median(np.diff(sizes))) if len(sizes) > 1 else float("nan")}
    return (inverse >= lo) & (inverse <= hi), facts


@dataclass(frozen=True)
class Profile:
    """One budget's window: its runs, their logs, the parabolas' fitted losses and how C follows N there."""

    flops: float  # the budget
    members: np.ndarray  # indices of the runs in the window
    log_n: np.ndarray
    log_d: np.ndarray
    loss: np.ndarray
    fitted: np.ndarray  # the log-N parabola's losses at the runs
    modified: np.ndarray  # residuals r / sqrt(1 - h) of the runs with leverage h < 1
    compute_line: tuple[float, float] | None  # log C = c0 + c1 log N over the window, where C is not the budget

    def compute_at(self, log_n):
        """The budget's C at N_opt: the budget, or the runs' C (another convention) interpolated to it."""
        if self.compute_line is None:
            return np.full(np.shape(log_n), self.flops)
        return np.exp(self.compute_line[0] + self.compute_line[1] * np.asarray(log_n))


def _residuals(x, y, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """(fitted values, modified residuals r / sqrt(1 - h) of the points with h < 1) of a least-squares skewed
    parabola (`skewed_fit`; kappa 0: a parabola), its kappa taken as known."""
    design = _skew_design(x - x.mean(), kappa)
    hat = design @ np.linalg.pinv(design)
    fitted = hat @ y
    h = np.diag(hat)
    free = h < 1 - 1e-9
    return fitted, (y - fitted)[free] / np.sqrt(1 - h[free])


@dataclass(frozen=True)
class IsoflopFit(OptimalScaling):
    """Per-budget vertices and the power laws through them."""

    per_budget: list[dict]
    params_law: PowerLaw  # N_opt = k C^a
    tokens_law: PowerLaw  # D_opt = k C^b
    loss_law: SaturatingLaw  # L_min = E' + k C^-g
    groups: list[np.ndarray]  # indices of the runs behind each used budget (its window)
    budgets: np.ndarray  # C of each used budget (the power laws' x)
    profiles: list[Profile]
    window: int | None
    noise_sd: float  # pooled residual standard deviation of the windows' parabolas (NaN with no dof)
    # the profiles' shared kappa in ln N and ln D, whether the vertices allow for it, and by how much allowing for
    # it moves N_opt (mean over budgets, %); None where no window has the 4 sizes that show a skew
    skew: dict | None

    def to_dict(self) -> dict:
        return {**self.laws_dict(), "min_loss": self.loss_law.to_dict(), "n_budgets": len(self.budgets),
                "window": "all" if self.window is None else self.window,
                "noise_sd": self.noise_sd if math.isfinite(self.noise_sd) else None,
                "skew": self.skew,
                "per_budget": self.per_budget}

    def at_budgets(self, flops) -> dict:
        return {"params": self.params_law(flops), "tokens": self.tokens_law(flops)}


def _flag(c: float, row: dict, facts: dict, xn: float) -> None:
    """Warn where the vertex is far from the best run, or outside the window (see the module docstring)."""
    far = row["steps_from_best"] is not None and row["steps_from_best"] > FAR_STEPS
    if row["bracketed"] and (far or not row["in_window"]):
        where = [] if not far else [f"{row['steps_from_best']:.1f} grid steps (x{math.exp(facts['step']):.2g} each) "
                                    f"from the best run (N = {math.exp(facts['best']):.3g})"]
        if not row["in_window"]:
            where.append(f"outside the window N = {math.exp(facts['lo']):.3g} to {math.exp(facts['hi']):.3g}")
        warnings.warn(f"approach 2: budget {c:.3g} FLOPs: the vertex N = {math.exp(xn):.3g} lies "
                      f"{' and '.join(where)}: the profile is skewed or noisy near its minimum; sizes around it "
                      f"would pin it down", stacklevel=3)


def _estimate_skew(windows: list, apply: bool) -> tuple[tuple[float, float] | None, str | None]:
    """The windows' shared kappa in ln N and in ln D (`shared_skew`; None where no window has 4 sizes), and why the
    vertices cannot allow for it (None where they can): it runs to the end of the range searched, or puts the
    curve's inflection (z = -1 / kappa) inside a window (either way the windows are not near-parabolic, or too
    noisy to tell), or the windows have no residual degree of freedom left once it is fitted. A warning where
    `apply` asked for it."""
    reason = None
    kappa = None
    if not any(len(np.unique(w["log_n"])) > PARABOLA_SIZES for w in windows):
        reason = "every window holds 3 sizes, through which any skew fits; widen --window or add sizes"
    else:
        losses = [w["loss"][None, :] for w in windows]
        kappa = tuple(float(shared_skew([w[col] for w in windows], losses)[0]) for col in ("log_n", "log_d"))
        reach = max(abs(k) * float(np.max(np.abs(w[col] - np.mean(w[col]))))
                    for k, col in zip(kappa, ("log_n", "log_d"), strict=True) for w in windows)
        if max(abs(k) for k in kappa) >= SKEW_GRID[-1]:
            reason = (f"kappa runs to the end of the range searched ({kappa[0]:+.2f} in ln N): the windows are not "
                      f"near-parabolic, or too noisy to tell")
        elif reach >= 1:
            reason = (f"kappa = {kappa[0]:+.2f} puts the curve's inflection inside a window: the windows are not "
                      f"near-parabolic; a narrower --window")
        elif sum(len(w["runs"]) - 3 for w in windows) < 2:
            reason = "the windows leave no residual degree of freedom once kappa is fitted; add sizes or seeds"
    if apply and reason is not None:
        warnings.warn(f"approach 2: the profiles' skew cannot be allowed for ({reason}): the vertices are plain "
                      f"parabolas'", stacklevel=3)
    return kappa, reason


def fit_isoflop(params, tokens, flops, loss, *, budget=None, budget_tol: float = 0.02, min_runs: int = 3,
                window: int | None = FitOptions.window, skew: bool = FitOptions.skew,
                compute=None) -> IsoflopFit:
    """Approach 2 on final losses (see the module docstring); `skew`, the profiles' shared skew estimated and
    allowed for (else plain parabolas); `compute`, one C per run where the power law's C is not the budgets'
    (another convention)."""
    params, tokens, loss = (np.asarray(v, dtype=float) for v in (params, tokens, loss))
    labels, centres = budget_groups(flops, budget, budget_tol)
    if len(centres) < 2:
        raise ScalingError(f"approach 2 needs isoFLOP profiles at two or more budgets; these runs share one "
                           f"(~{centres[0]:.3g} FLOPs): add runs at other budgets, or use --approach 3")
    groups, small = [], []
    for g, c in enumerate(centres):
        members = np.flatnonzero(labels == g)
        enough = is_profile(params[members], min_runs)
        (groups if enough else small).append((c, members))
    fewest = max(min_runs, PARABOLA_SIZES)
    if small:
        listed = ", ".join(f"{c:.3g}" for c, _ in small[:8]) + (", ..." if len(small) > 8 else "")
        warnings.warn(f"approach 2: left out {len(small)} budget(s) with fewer than {fewest} runs or "
                      f"{PARABOLA_SIZES} model sizes: {listed} FLOPs", stacklevel=2)
    windows = []
    for c, members in groups:
        inside, facts = window_runs(np.log(params[members]), loss[members], window)
        runs = members[inside]
        windows.append({"flops": c, "members": members, "facts": facts, "runs": runs, "log_n": np.log(params[runs]),
                        "log_d": np.log(tokens[runs]), "loss": loss[runs]})
    kappa, reason = _estimate_skew(windows, skew)
    applied = skew and reason is None
    kappa_n, kappa_d = kappa if applied else (0.0, 0.0)
    per_budget, profiles, moved = [], [], []
    for w in windows:
        c, members, facts, runs, logn, logd, y = (w[k] for k in ("flops", "members", "facts", "runs", "log_n",
                                                                 "log_d", "loss"))
        xn, ln = (v[0] for v in profile_minima(logn, y, kappa_n))
        xd = profile_minima(logd, y, kappa_d)[0][0]
        plain = profile_minima(logn, y, 0.0)
        if applied and not np.isfinite(xn) and np.isfinite(plain[0][0]):
            # the skewed curve falls (or rises) throughout: no minimum of its own, so the profile's lies beyond the
            # window; the parabola's vertex stands for it, as an extrapolation (flagged below)
            (xn,), (ln,) = plain
            xd = profile_minima(logd, y, 0.0)[0][0]
        if abs(xn - logn.mean()) > REACH or abs(xd - logd.mean()) > REACH:
            xn = xd = float("nan")
        if kappa is not None and reason is None:  # how far allowing for the skew moves this vertex
            moved.append(profile_minima(logn, y, kappa[0])[0][0] - plain[0][0])
        row = {"flops": float(c), "n_runs": len(members), "params_tried": [float(params[members].min()),
                                                                           float(params[members].max())],
               "params_window": [math.exp(facts["lo"]), math.exp(facts["hi"])], "n_window": len(runs),
               "params_best": math.exp(facts["best"]), "loss_best": facts["loss_best"]}
        if not np.isfinite(xn) or not np.isfinite(xd):
            warnings.warn(f"approach 2: budget {c:.3g} FLOPs: the loss curve is flat or opens downwards "
                          f"(no minimum); left out", stacklevel=2)
            per_budget.append({**row, "compute": None, "params_opt": None, "tokens_opt": None, "loss_opt": None,
                               "bracketed": False, "in_window": False, "steps_from_best": None})
            continue
        logn_all = np.log(params[members])
        bracketed = bool(logn_all.min() <= xn <= logn_all.max())
        if not bracketed:
            warnings.warn(f"approach 2: budget {c:.3g} FLOPs: the minimum is not bracketed (vertex at "
                          f"N = {math.exp(xn):.3g}, sizes tried {params[members].min():.3g} to "
                          f"{params[members].max():.3g}); kept as an extrapolation", stacklevel=2)
        line = None
        if compute is not None:
            line = tuple(np.polyfit(logn, np.log(np.asarray(compute, dtype=float)[runs]), 1)[::-1])
        fitted, modified = _residuals(logn, y, kappa_n)
        profile = Profile(float(c), runs, logn, logd, y, fitted, modified, line)
        steps = abs(xn - facts["best"]) / facts["step"] if facts["step"] > 0 else float("nan")
        row.update(compute=float(profile.compute_at(xn)), params_opt=math.exp(xn), tokens_opt=math.exp(xd),
                   loss_opt=float(ln), bracketed=bracketed, in_window=bool(facts["lo"] <= xn <= facts["hi"]),
                   steps_from_best=float(steps) if math.isfinite(steps) else None)
        _flag(c, row, facts, xn)
        per_budget.append(row)
        profiles.append(profile)
    if len(profiles) < 2:
        left = (f" ({len(small)} left out with fewer than {fewest} runs or {PARABOLA_SIZES} sizes"
                + (f": --min-runs {min_runs} may ask for more runs than a budget has" if min_runs > PARABOLA_SIZES
                   else "") + ")") if small else ""
        raise ScalingError(f"approach 2 needs a minimum at two or more budgets; found {len(profiles)} among "
                           f"{len(centres)} budget(s){left}: add model sizes around each budget's optimum")
    rows = [r for r in per_budget if r["params_opt"] is not None]
    x = np.array([r["compute"] for r in rows])
    dof = sum(len(p.members) - 3 for p in profiles) - int(applied)  # the shared kappa costs one
    if applied and dof > 0:  # the residuals took kappa as known: scale them to the degrees of freedom left
        widen = math.sqrt((dof + 1) / dof)
        profiles = [replace(p, modified=p.modified * widen) for p in profiles]
    moved = [m for m in moved if math.isfinite(m)]
    # the median, not the mean: one budget extrapolated far outside its sizes would set a mean on its own
    skew_facts = None if kappa is None else {
        "params": kappa[0], "tokens": kappa[1], "applied": applied, "reason": reason,
        "shift_pct": 100 * math.expm1(float(np.median(moved))) if moved else None}
    sse = sum(float(np.sum((p.loss - p.fitted) ** 2)) for p in profiles)
    return IsoflopFit(per_budget, fit_power_law(x, [r["params_opt"] for r in rows]),
                      fit_power_law(x, [r["tokens_opt"] for r in rows]),
                      fit_saturating(x, [r["loss_opt"] for r in rows]), [p.members for p in profiles], x, profiles,
                      window, math.sqrt(sse / dof) if dof > 0 else float("nan"),
                      skew_facts)


def residual_pool(fit: IsoflopFit) -> np.ndarray:
    """Every window's modified residuals, centred: what the bootstrap draws its noise from."""
    pool = np.concatenate([p.modified for p in fit.profiles])
    return pool - pool.mean() if len(pool) else pool


def between_budget_scatter(residuals, within_var, dof: int) -> float:
    """tau^2, the variance of the budgets' optima about their law beyond each one's own noise: the root of
    sum_j r_j^2 / (v_j + tau^2) = dof (Paule & Mandel 1982), 0 where the chi^2 sum_j r_j^2 / v_j is already at
    most dof. NaN where the law leaves no degree of freedom."""
    from scipy.optimize import brentq

    r, v = np.asarray(residuals, dtype=float), np.asarray(within_var, dtype=float)
    if dof < 1 or not (np.all(np.isfinite(r)) and np.all(np.isfinite(v))):
        return float("nan")

    def excess(tau2: float) -> float:
        # a budget whose every resample agrees (v = 0) adds an infinite term, unless it lies on the law (r = 0)
        with np.errstate(divide="ignore"):
            return float(np.sum(np.divide(r * r, v + tau2, out=np.zeros_like(r), where=r != 0))) - dof

    if excess(0.0) <= 0:
        return 0.0
    # excess falls as tau^2 grows, and at sum r^2 / dof it is below 0 (every v_j > 0): the root lies between
    return float(brentq(excess, 0.0, float(np.sum(r * r)) / dof, xtol=1e-14, rtol=1e-12))


def budget_scatter(fit: IsoflopFit, log_n_draws, loss_draws) -> dict:
    """tau (log N_opt, natural log) and tau_L (nats) of `fit`'s optima about its laws (`between_budget_scatter`),
    given each budget's bootstrap draws of log N_opt and of its minimum loss (K x budgets), and what backs them:
    chi^2 of the optima against their own variances, and the degrees of freedom."""
    m = len(fit.budgets)
    out = {}
    for key, y, law, draws, p in (
            ("params", np.log([r["params_opt"] for r in fit.per_budget if r["params_opt"] is not None]),
             lambda c: np.log(np.ravel(fit.params_law(c))), log_n_draws, 2),
            ("loss", np.array([r["loss_opt"] for r in fit.per_budget if r["params_opt"] is not None]),
             lambda c: np.ravel(fit.loss_law(c)), loss_draws, 3)):
        v = np.nanvar(np.asarray(draws, dtype=float), axis=0, ddof=1)
        r = y - law(fit.budgets)
        tau2 = between_budget_scatter(r, v, m - p)
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2 = float(np.sum(r * r / v))
        out[key] = {"tau": math.sqrt(tau2) if math.isfinite(tau2) else 0.0, "chi2": chi2, "dof": m - p}
    return out


def bootstrap_isoflop(fit: IsoflopFit, rng: np.random.Generator, resamples: int, flops_at=()) -> dict | None:
    """Residual bootstrap with the budgets' scatter (see the module docstring). Per resample: a, b, the
    coefficients, N_opt, D_opt and the minimum loss at `flops_at` (with a new budget's effect), and each used
    budget's N_opt, D_opt, minimum loss (its runs' noise alone) and C (K x budgets); and `scatter`
    (`budget_scatter`). None, with a warning, where no window has a residual degree of freedom (each holds 3 runs
    of 3 sizes)."""
    pool = residual_pool(fit)
    if not len(pool):
        warnings.warn("approach 2: no intervals: every window holds exactly 3 runs of 3 sizes, which leaves no "
                      "residual to estimate the noise from; widen --window or add sizes or seeds", stacklevel=3)
        return None
    shape = (resamples, len(fit.profiles))
    n_opt, d_opt, l_opt, x = (np.empty(shape) for _ in range(4))
    ys = [p.fitted + rng.choice(pool, size=(resamples, len(p.members))) for p in fit.profiles]
    kappa_n = kappa_d = np.zeros(resamples)
    if fit.skew is not None:  # each resample estimates its own shared skew, as the fit did: an interval where the
        # vertices allow for it, else its spread under plain parabolas, against which the fit's kappa is tested
        kappa_n, kappa_d = (shared_skew([getattr(p, col) for p in fit.profiles], ys) for col in ("log_n", "log_d"))
    use_n, use_d = (kappa_n, kappa_d) if fit.skew is not None and fit.skew["applied"] else (0.0, 0.0)
    for j, p in enumerate(fit.profiles):
        xn, l_opt[:, j] = profile_minima(p.log_n, ys[j], use_n, within=True)
        n_opt[:, j], x[:, j] = np.exp(xn), p.compute_at(xn)
        d_opt[:, j] = np.exp(profile_minima(p.log_d, ys[j], use_d, within=True)[0])
    scatter = budget_scatter(fit, np.log(n_opt), l_opt)
    tau, tau_loss = scatter["params"]["tau"], scatter["loss"]["tau"]
    if scatter["params"]["dof"] < 1:  # two points fix a line: nothing measures how far optima stray from it
        warnings.warn(f"approach 2: a from {len(fit.budgets)} budgets is the slope through their optima, with no "
                      f"degree of freedom to measure how far budgets scatter about N_opt ~ C^a: its interval holds "
                      f"each budget's own noise only, and may be far too narrow; add budgets", stacklevel=3)
    shift = tau * rng.standard_normal(shape)  # each budget's own effect: along its isoFLOP line
    n_law, d_law = n_opt * np.exp(shift), d_opt * np.exp(-shift)
    l_law_opt = l_opt + tau_loss * rng.standard_normal(shape)
    p_law, t_law, l_law = fit_power_law(x, n_law), fit_power_law(x, d_law), fit_saturating(x, l_law_opt)
    new = np.atleast_1d(np.asarray(flops_at, dtype=float))
    at_shift = tau * rng.standard_normal((resamples, len(new)))  # the effect of a budget not swept
    skews = {} if fit.skew is None else {"skew_params": kappa_n, "skew_tokens": kappa_d}
    return {**skews, "a": p_law.exponent, "b": t_law.exponent, "params_coefficient": p_law.coefficient,
            "tokens_coefficient": t_law.coefficient, "params": p_law(new) * np.exp(at_shift),
            "tokens": t_law(new) * np.exp(-at_shift),
            "loss_min": l_law(new) + tau_loss * rng.standard_normal((resamples, len(new))),
            "params_opt": n_opt, "tokens_opt": d_opt, "loss_opt": l_opt, "compute": x, "scatter": scatter}
