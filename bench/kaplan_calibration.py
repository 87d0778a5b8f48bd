"""Calibration of Approach 3 in Kaplan et al.'s form (`scaling.fitting.kaplan`): 30 sweeps drawn from a known law
(tests/test_kaplan.py's `_sweep`: 6 budgets x 7 sizes, 0.5% noise, seeds 100-129), each fitted with a 400-resample
bootstrap. Prints the a estimates' error and sd about the truth, how often the 95% interval holds it, the mean
half-width against 1.96 sd, and the time per fit. Run from the repository root (it imports the test's sweep):
PYTHONPATH=. python bench/kaplan_calibration.py
"""

import time

import numpy as np

from scaling.fitting import fit
from tests.test_kaplan import KAPLAN, _sweep


def main() -> None:
    truth = KAPLAN.a
    estimates, held, half, seconds = [], 0, [], []
    for seed in range(100, 130):
        start = time.perf_counter()
        section = fit(_sweep(KAPLAN, seed), approach="3", form="kaplan", bootstrap=400).to_dict()
        seconds.append(time.perf_counter() - start)
        lo, hi = section["ci"]["a"]
        estimates.append(section["a"])
        held += lo <= truth <= hi
        half.append((hi - lo) / 2)
    errors = np.array(estimates) - truth
    print(f"a = {truth:.4f}: mean error {errors.mean():+.4f}, sd {errors.std(ddof=1):.4f}; 95% interval held it "
          f"{held} of 30 times, mean half-width {np.mean(half):.4f} against 1.96 sd = {1.96 * errors.std(ddof=1):.4f}; "
          f"{np.median(seconds):.1f} s per fit (median)")


if __name__ == "__main__":
    main()
