"""Which runs of a results dir form isoFLOP profiles (`scaling.results.in_isoflop_profile`): Approaches 1 and 2,
and Approach 3 on Approach 2's windows, read only those, in `scaling fit DIR` as in `scaling report DIR`; a rule
run at one size at a budget (the allocation comparison's gpt3 and llama runs) is left to Approach 3. The oracle
is the same fit on a table holding the profile runs alone."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.fitting import fit
from scaling.report import build
from scaling.results import in_isoflop_profile
from tests.synthetic_runs import LAW, isoflop_sweep, write_sweep

PROFILES = isoflop_sweep(0).assign(rule="chinchilla")  # 6 budgets x 7 sizes from the known law
PROFILES = PROFILES.assign(run=[f"r{i:03d}" for i in range(len(PROFILES))],
                           size_factor=np.tile(np.geomspace(1 / 4, 4, 7), 6))


def _comparison_runs() -> pd.DataFrame:
    """At each budget a gpt3-rule run at one size, 1.5 x N_opt, inside Approach 2's window and 3% above the
    law's loss (a rule whose runs are tuned worse): counted in a profile, it would move the vertex."""
    rows = []
    for i, c in enumerate(sorted(PROFILES["budget"].unique())):
        n = LAW.compute_optimal(c)[0] * 1.5
        d = c / (6 * n)
        rows.append({"run": f"x{i:02d}", "params": n, "tokens": d, "flops": c, "budget": c,
                     "loss": LAW.loss(n, d) * 1.03, "rule": "gpt3", "size_factor": 1.0})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    return write_sweep(root, pd.concat([PROFILES, _comparison_runs()], ignore_index=True))


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["run", "params", "tokens", "loss", "budget"]].assign(run=lambda f: f["run"].astype(str))


def _quiet(thunk):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return thunk()


def test_the_profile_runs_are_a_rule_swept_over_three_or_more_sizes_at_a_budget():
    runs = pd.DataFrame({"allocation.rule": ["chinchilla"] * 4 + ["gpt3", "llama", "gpt3"],
                         "budget.flops": [1e18, 1e18, 1e18, 1e19, 1e18, 1e18, 1e19],
                         "allocation.size_factor": [0.5, 1, 2, 1, 1, 1, 1],
                         "params": [1e7, 2e7, 4e7, 1e7, 3e7, 1e7, 5e7]})
    assert in_isoflop_profile(runs).tolist() == [True, True, True, False, False, False, False]
    # two seeds of two sizes are not a profile: sizes count, not runs
    seeds = runs.iloc[:4].assign(**{"budget.flops": 1e18, "allocation.size_factor": [1, 1, 2, 2],
                                    "params": [1e7, 1e7, 2e7, 2e7]})
    assert not in_isoflop_profile(seeds).any()
    # an architecture ablation: one rule, one size factor, sizes that differ by architecture alone
    shapes = runs.iloc[:4].assign(**{"budget.flops": 1e18, "allocation.size_factor": 1.0})
    assert not in_isoflop_profile(shapes).any()
    # a run whose budget is not recorded (a token budget) joins no profile of the runs whose budget is
    partly = runs.iloc[:3].assign(**{"budget.flops": [1e18, np.nan, 1e18]})
    assert not in_isoflop_profile(partly).any()
    # runs that do not record a rule, a size factor and a budget (not the harness's) are all taken
    assert in_isoflop_profile(runs[["params"]]).all()
    assert in_isoflop_profile(runs.assign(**{"budget.flops": np.nan})).all()


def test_approach_2_of_a_results_dir_reads_its_profiles_alone(sweep_dir):
    from_dir = _quiet(lambda: fit(sweep_dir, approach="2", bootstrap=200).to_dict()["approach2"])
    alone = _quiet(lambda: fit(_table(PROFILES), approach="2", bootstrap=200).to_dict()["approach2"])
    every = _quiet(lambda: fit(_table(pd.concat([PROFILES, _comparison_runs()])), approach="2",
                               bootstrap=0).to_dict()["approach2"])
    assert from_dir["a"] == pytest.approx(alone["a"], rel=1e-12)
    assert from_dir["ci"]["a"] == pytest.approx(alone["ci"]["a"], rel=1e-12)
    assert [r["n_runs"] for r in from_dir["per_budget"]] == [7] * 6
    assert abs(every["a"] - from_dir["a"]) > 0.005  # the comparison runs would have moved it


def test_approach_3_on_the_windows_takes_the_profiles_windows(sweep_dir):
    from_dir = _quiet(lambda: fit(sweep_dir, approach="3", bootstrap=0, law_window=2).to_dict())
    alone = _quiet(lambda: fit(_table(PROFILES), approach="3", bootstrap=0, law_window=2).to_dict())
    assert from_dir["law_window"]["points"] == alone["law_window"]["points"] == 6 * 5
    assert from_dir["a"] == pytest.approx(alone["a"], rel=1e-9)
    # Approach 3 on every run still reads the comparison runs
    assert _quiet(lambda: fit(sweep_dir, approach="3", bootstrap=0).to_dict())["n_points"] == len(PROFILES) + 6


def test_the_report_and_fit_dir_give_approach_2_the_same_runs(sweep_dir):
    report = _quiet(lambda: build(sweep_dir, bootstrap=200, write=False))
    from_dir = _quiet(lambda: fit(sweep_dir, approach="2", bootstrap=200).to_dict()["approach2"])
    assert report.fits["2"]["a"] == from_dir["a"] and report.fits["2"]["ci"]["a"] == from_dir["ci"]["a"]


def test_a_comparison_run_that_copies_a_profile_run_leaves_the_profile_whole(tmp_path):
    """The gpt3 run at 1e19 is the profile's 1 x N_opt run (same N, D and loss, as a deterministic rerun
    would be): one copy is dropped, and the copy kept is the profile's, which keeps its 7 sizes."""
    copy = PROFILES[(PROFILES["budget"] == 1e19) & np.isclose(PROFILES["size_factor"], 1.0)]
    copy = copy.assign(run="a_gpt3_1e19", rule="gpt3")  # named to sort first: kept if the first copy were
    write_sweep(tmp_path, pd.concat([PROFILES, copy], ignore_index=True))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        out = fit(tmp_path, approach="2", bootstrap=0).to_dict()
    lines = [str(w.message) for w in said if "duplicate" in str(w.message)]
    assert len(lines) == 1 and "isoflop/a_gpt3_1e19 (= isoflop/r" in lines[0]
    assert [r["n_runs"] for r in out["approach2"]["per_budget"]] == [7] * 6
    alone = _quiet(lambda: fit(_table(PROFILES), approach="2", bootstrap=0).to_dict()["approach2"])
    assert out["approach2"]["a"] == pytest.approx(alone["a"], rel=1e-12)


def test_a_results_dir_without_a_profile_says_so_for_approach_2(tmp_path):
    write_sweep(tmp_path, _comparison_runs())
    with pytest.raises(Exception, match="has no isoFLOP profile .* run an isoFLOP sweep"):
        _quiet(lambda: fit(tmp_path, approach="2", bootstrap=0))
