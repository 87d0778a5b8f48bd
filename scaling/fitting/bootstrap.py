"""Nonparametric bootstrap (Efron 1979): resamples as multiplicity counts, and percentile confidence intervals.

A resample of n points drawn with replacement is stored as one row of counts (how often each point was drawn),
so every resample shares the same points and a batch of refits is a weighted fit per row. Besiroglu et al. 2024
report percentile intervals from 4,000 such resamples for Approach 3.
"""

from __future__ import annotations

import numpy as np

CHUNK = 500  # resamples per batched refit (Approach 3, both forms): a progress tick, and arrays that stay in cache


def resample_counts(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n): how often each of n points is drawn in each resample of n draws with replacement."""
    picks = rng.integers(0, n, size=(resamples, n)) + (np.arange(resamples) * n)[:, None]
    return np.bincount(picks.ravel(), minlength=resamples * n).reshape(resamples, n)


def refit_in_chunks(counts: np.ndarray, refit, bar=None):
    """`refit(block)` on CHUNK rows of `counts` at a time, the blocks' outputs (an array, or a tuple of arrays,
    one row per resample) joined in order; `bar` (a progress bar) ticks per resample."""
    parts = []
    for first in range(0, len(counts), CHUNK):
        block = counts[first:first + CHUNK]
        parts.append(refit(block))
        if bar is not None:
            bar.update(len(block))
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(column) for column in zip(*parts, strict=True))
    return np.concatenate(parts)


def percentile_interval(samples, level: float = 0.95, axis: int = 0) -> np.ndarray:
    """[lo, hi] percentiles holding `level` of the samples (NaN samples, from failed refits, are left out)."""
    import warnings

    tail = 50.0 * (1.0 - level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # every sample NaN (all refits failed): NaN, said elsewhere
        return np.nanpercentile(np.asarray(samples, dtype=float), [tail, 100.0 - tail], axis=axis)


class _Quiet:
    """What `progress` gives when no bar should show."""

    def update(self, _n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress(total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr when `enabled` and stderr is a terminal (quiet in pipes, logs and tests)."""
    import sys

    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, unit="resample")
    return _Quiet()
