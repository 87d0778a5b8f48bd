"""The harness's results as pandas DataFrames (run directories as DESIGN.md lays them out).

Runs live at RESULTS/<experiment>/<run_name>/ with `metrics.jsonl` (one JSON object per log point) and, once a
run ends, `summary.json`. `path` may be a results root, one experiment's directory or one run's: every directory
below it holding either file is a run. Both readers tolerate a sweep that is still writing: a partial last line
of metrics.jsonl is skipped, and a run whose summary.json is missing or unreadable has status "running".
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from scaling.errors import ScalingError

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


def run_dirs(path: str | Path) -> list[Path]:
    """Every directory under `path` (itself included) that holds metrics.jsonl or summary.json, sorted."""
    root = Path(path)
    if not root.is_dir():
        raise ScalingError(f"results dir {str(root)!r} is not a directory")
    found = {p.parent for name in (METRICS, SUMMARY) for p in root.rglob(name)}
    return sorted(found)


def _run_name(root: Path, run: Path) -> str:
    rel = run.relative_to(root).as_posix()
    return run.name if rel == "." else rel


def read_summary(run: Path, warn: bool = True) -> dict | None:
    """summary.json as a dict; None where it is missing, partial or not an object (the run has not ended)."""
    try:
        data = json.loads((run / SUMMARY).read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        if warn:
            warnings.warn(f"{run / SUMMARY}: unreadable summary.json, run treated as still running", stacklevel=3)
        return None
    return data if isinstance(data, dict) else None


def read_metrics(run: Path) -> list[dict]:
    """The complete lines of metrics.jsonl; a partial last line (being written) is skipped quietly, a garbled
    line elsewhere with a warning."""
    try:
        lines = (run / METRICS).read_text().splitlines()
    except FileNotFoundError:
        return []
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                warnings.warn(f"{run / METRICS}: line {i + 1} is not JSON; skipped", stacklevel=3)
            continue
        if isinstance(record, dict):
            rows.append(record)
    return rows


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
