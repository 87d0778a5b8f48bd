"""What the fits read: final losses (N, D, C, L per run) and, for Approach 1, loss curves; checked on the way in.

Three sources give the same `FitData`:
- a CSV or a pandas DataFrame with columns params, tokens or flops (or both), loss; other names are mapped
  (`params_col=...`; on the command line `--params-col`). Where only one of tokens and FLOPs is given, the other
  follows from C = 6ND. With a run column (`run` unless mapped) the rows are loss curves in long format (one
  row per logged point); the final losses are each run's last point (most tokens).
- a results dir of the harness (`scaling.results`): completed runs' `params`, `tokens`, `flops` and
  `final_val_loss` (else `final_train_loss`) from summary.json, the budget from `budget.flops` where recorded,
  and curves from metrics.jsonl (`val_loss` where every run logged it, else `train_loss`). Runs whose status is
  not `completed` are left out with a warning that names them.
`drop_highest_loss=K` drops the K runs with the highest final loss (the replication drops 5 of Chinchilla's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.errors import ScalingError


@dataclass(frozen=True)
class FitData:
    params: np.ndarray
    tokens: np.ndarray
    flops: np.ndarray
    loss: np.ndarray
    budget: np.ndarray | None  # exact FLOP budget per run, where the data carry one
    runs: np.ndarray | None  # the run behind each final loss, where runs are named (curves, results dirs)
    curves: pd.DataFrame | None  # run, params, tokens, flops, loss: one row per logged point
    source: str
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.loss)


def _numbers(frame: pd.DataFrame, column: str, where: str) -> np.ndarray:
    """The column as finite positive floats, or a ScalingError naming the first bad row."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown, label = raw.iloc[i], frame.index[i]
        row = f"row {label + 1}" if isinstance(label, (int, np.integer)) else f"run {label!r}"
        if pd.isna(shown):
            what = "a missing (NaN) value"
        elif math.isnan(values[i]):
            what = f"a non-numeric value {shown!r}"
        else:
            what = f"{values[i]:g}"
        raise ScalingError(f"{where}: column {column!r} holds {what} at {row}: every value must be a finite positive "
                           f"number")
    return values


def _final_table(frame: pd.DataFrame, where: str, params_col: str, tokens_col: str, flops_col: str,
                 loss_col: str, budget_col: str | None) -> pd.DataFrame:
    """params, tokens, flops, loss (and budget where there is a budget column), checked, C = 6ND filling in."""
    columns = ", ".join(map(str, frame.columns))
    for name, flag in ((params_col, "--params-col"), (loss_col, "--loss-col")):
        if name not in frame.columns:
            raise ScalingError(f"{where} has no column {name!r} (columns: {columns}): name yours with {flag}")
    if tokens_col not in frame.columns and flops_col not in frame.columns:
        raise ScalingError(f"{where} has neither a {tokens_col!r} nor a {flops_col!r} column (columns: {columns}): "
                           f"name one with --tokens-col or --flops-col")
    params, loss = _numbers(frame, params_col, where), _numbers(frame, loss_col, where)
    tokens = _numbers(frame, tokens_col, where) if tokens_col in frame.columns else None
    flops = _numbers(frame, flops_col, where) if flops_col in frame.columns else 6.0 * params * tokens
    table = pd.DataFrame({"params": params, "tokens": flops / (6.0 * params) if tokens is None else tokens,
                          "flops": flops, "loss": loss})
    if budget_col is not None and budget_col in frame.columns:
        table["budget"] = _numbers(frame, budget_col, where)
    return table


def _fit_data(finals: pd.DataFrame, curves: pd.DataFrame | None, source: str) -> FitData:
    return FitData(finals["params"].to_numpy(), finals["tokens"].to_numpy(), finals["flops"].to_numpy(),
                   finals["loss"].to_numpy(), finals["budget"].to_numpy() if "budget" in finals else None,
                   finals["run"].to_numpy() if "run" in finals else None, curves, source)


def from_frame(frame: pd.DataFrame, *, source: str = "DataFrame", params_col: str = "params",
               tokens_col: str = "tokens", flops_col: str = "flops", loss_col: str = "loss", run_col: str = "run",
               budget_col: str = "budget") -> FitData:
    """FitData from a table (see the module docstring); `budget_col` and `run_col` are used where present."""
    if not len(frame):
        raise ScalingError(f"{source} has no rows: a fit needs runs with params, tokens or flops, and loss")
    frame = frame.reset_index(drop=True)
    table = _final_table(frame, source, params_col, tokens_col, flops_col, loss_col, budget_col)
    if run_col not in frame.columns:
        return _fit_data(table, None, source)
    table.insert(0, "run", frame[run_col].astype(str).to_numpy())
    finals = table.sort_values(["run", "tokens"], kind="stable").groupby("run", sort=True).tail(1)
    return _fit_data(finals, table[["run", "params", "tokens", "flops", "loss"]], source)


def read_csv(path: str | Path, **columns) -> FitData:
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ScalingError(f"no such file {str(path)!r}: give a CSV of runs or a results dir") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ScalingError(f"cannot read {str(path)!r} as CSV: {reason}") from None
    return from_frame(frame, source=path.name, **columns)


def _curves(path: Path, runs: pd.DataFrame) -> pd.DataFrame | None:
    """Loss curves of the completed runs: val_loss where every run logged it, else train_loss."""
    from scaling.results import load_curves

    points = load_curves(path)
    if not len(points) or not {"tokens", "flops"} <= set(points.columns):
        return None
    points = points[points["run"].isin(set(runs.index))]
    logged = points.dropna(subset=["val_loss"])["run"].nunique() if "val_loss" in points else 0
    metric = "val_loss" if logged == points["run"].nunique() else "train_loss"
    if metric not in points:
        return None
    points = points.dropna(subset=[metric, "tokens", "flops"])
    points = points[(points["tokens"] > 0) & (points["flops"] > 0)]
    return pd.DataFrame({"run": points["run"], "params": points["run"].map(runs["params"]).astype(float),
                         "tokens": points["tokens"].astype(float), "flops": points["flops"].astype(float),
                         "loss": points[metric].astype(float)}).reset_index(drop=True)


def read_results(path: str | Path) -> FitData:
    """FitData from a harness results dir (see the module docstring)."""
    from scaling.results import completed_runs

    path = Path(path)
    runs = completed_runs(path).set_index("run")
    final = runs["final_val_loss"] if "final_val_loss" in runs else pd.Series(np.nan, index=runs.index)
    runs = runs.assign(loss=final.fillna(runs["final_train_loss"]) if "final_train_loss" in runs else final)
    budget = next((c for c in ("budget.flops", "budget") if c in runs and runs[c].notna().all()), None)
    where = f"results dir {path.name!r} (summary.json)"
    table = _final_table(runs, where, "params", "tokens", "flops", "loss", budget)
    table.insert(0, "run", runs.index.to_numpy())
    return _fit_data(table, _curves(path, runs), path.name)


def read_fit_data(source, **columns) -> FitData:
    """FitData from a DataFrame, a CSV path or a results dir; column mappings apply to tables only."""
    if isinstance(source, pd.DataFrame):
        return from_frame(source, **columns)
    if Path(source).is_dir():
        return read_results(source)
    return read_csv(source, **columns)


def drop_highest_losses(data: FitData, k: int) -> FitData:
    """The data without its k highest final losses (and those runs' curves)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ScalingError(f"--drop-highest-loss takes a whole number of runs >= 0, got {k!r}")
    if k == 0:
        return data
    if k >= len(data):
        raise ScalingError(f"--drop-highest-loss {k} would drop all {len(data)} runs")
    keep = np.sort(np.argsort(data.loss, kind="stable")[: len(data) - k])
    curves = data.curves
    if curves is not None:
        curves = curves[curves["run"].isin(set(data.runs[keep]))]
    return FitData(data.params[keep], data.tokens[keep], data.flops[keep], data.loss[keep],
                   None if data.budget is None else data.budget[keep], None if data.runs is None else data.runs[keep],
                   curves, data.source, data.dropped + k)
