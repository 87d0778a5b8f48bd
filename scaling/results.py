"""The harness's results as pandas DataFrames: `load_runs` (one row per run), `load_curves` (one row per logged
point) and `completed_runs` (the runs a fit or a report may use).

`path` may be a results root, one experiment's directory or one run's: every directory below it holding
metrics.jsonl or summary.json is a run (the files are `scaling.rundir`'s). Both readers tolerate a sweep that is
still writing: its unfinished runs have status "running".
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from scaling.errors import ScalingError
from scaling.rundir import read_metrics, read_summary, run_dirs


def _run_name(root: Path, run: Path) -> str:
    rel = run.relative_to(root).as_posix()
    return run.name if rel == "." else rel


def load_runs(path: str | Path) -> pd.DataFrame:
    """One row per run: `run` (its path below `path`), `experiment` (its parent directory's name), `status`
    and every field of summary.json, nested objects flattened with dots (`model.d_model`, `budget.flops`)."""
    root = Path(path)
    records = []
    for run in run_dirs(root):
        summary = read_summary(run)
        base = {"run": _run_name(root, run), "experiment": run.parent.name, "path": str(run)}
        if summary is None:
            records.append({**base, "status": "running"})
        else:
            records.append({**base, **pd.json_normalize(summary, sep=".").iloc[0].to_dict(),
                            "status": summary.get("status", "unknown")})
    columns = ["run", "experiment", "path", "status"]
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=columns)
    return frame[columns + [c for c in frame.columns if c not in columns]]


def load_curves(path: str | Path) -> pd.DataFrame:
    """One row per line of each run's metrics.jsonl, with the run's `run`, `status` and `params` (from its
    summary; NaN while it runs)."""
    root = Path(path)
    frames = []
    for run in run_dirs(root):
        rows = read_metrics(run)
        if not rows:
            continue
        summary = read_summary(run, warn=False) or {}
        frame = pd.DataFrame.from_records(rows)
        frame.insert(0, "run", _run_name(root, run))
        frame.insert(1, "status", summary.get("status", "running"))
        frame.insert(2, "params", summary.get("params", float("nan")))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["run", "status", "params"])
    return pd.concat(frames, ignore_index=True)


def completed_runs(path: str | Path) -> pd.DataFrame:
    """`load_runs(path)` cut to the completed runs; the others are named in one warning. A ScalingError when
    there is no run, or none completed: fits and reports use the same runs, through this function."""
    runs = load_runs(path)
    if runs.empty:
        raise ScalingError(f"results dir {str(path)!r} holds no runs (no summary.json or metrics.jsonl below it): "
                           f"give the directory a sweep wrote, e.g. results/cpu")
    done = runs["status"] == "completed"
    if not done.all():
        names = ", ".join(f"{r} ({s})" for r, s in zip(runs.loc[~done, "run"], runs.loc[~done, "status"],
                                                         strict=True))
        warnings.warn(f"left out {int((~done).sum())} run(s) whose status is not completed: {names}", stacklevel=2)
    runs = runs[done].copy()
    if runs.empty:
        raise ScalingError(f"results dir {str(path)!r} has no completed runs yet: wait for the sweep, or fit a CSV")
    return runs
