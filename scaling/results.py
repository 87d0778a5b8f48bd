"""The harness's results as pandas DataFrames: `load_runs` (one row per run), `load_curves` (one row per logged
point), `select_runs` / `completed_runs` (the runs a fit or a report may use: completed, with usable numbers)
and `in_isoflop_profile` (which of them form isoFLOP profiles).

`path` may be a results root, one experiment's directory or one run's: every directory below it holding
metrics.jsonl or summary.json is a run (the files are `scaling.rundir`'s). Both readers tolerate a sweep that is
still writing: its unfinished runs have status "running".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scaling.errors import ScalingError
from scaling.fitting.isoflop import PARABOLA_SIZES
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


# Physical ranges: no model or corpus comes near 1e16 parameters or tokens (the largest trained have ~2e12 and
# ~4e13), so a larger value is a unit slip or garbage, and one such point dominates a fit in log space.
MAX_COUNT = 1e16


def bad_number(value, *, upper: float | None = None) -> str | None:
    """Why `value` cannot be a count or a loss (a finite positive number, at most `upper`); None when it can."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing (null or NaN)"
    if isinstance(value, bool):
        return f"{value!r} is not a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return f"{value!r} is not a number"
    if not math.isfinite(number) or number <= 0:
        return f"{number:g} is not a finite positive number"
    if upper is not None and number > upper:
        return f"{number:g} is above {upper:g}, beyond any real run"
    return None


@dataclass(frozen=True)
class RunSelection:
    """The runs a fit or a report uses (`runs`, one row each), the loss column they share, and the run
    directories left out with why (`skipped`: (run, reason) pairs), out of `total` found."""

    runs: pd.DataFrame
    loss_column: str
    skipped: tuple = ()
    total: int = 0

    def line(self, where: str) -> str:
        """One line: how many runs were used and which were skipped, and why."""
        return runs_line(where, self.to_dict())

    def to_dict(self) -> dict:
        return {"used": len(self.runs), "total": self.total, "loss_column": self.loss_column,
                "skipped": [{"run": r, "reason": why} for r, why in self.skipped]}


def runs_line(where: str, runs: dict) -> str:
    """`RunSelection.to_dict()` (the fit JSON's "runs") as one line: the count used, and the runs skipped."""
    text = f"{where}: used {runs['used']} of {runs['total']} runs ({runs['loss_column']})"
    skipped = runs["skipped"]
    if skipped:
        shown = "; ".join(f"{s['run']} ({s['reason']})" for s in skipped[:10])
        more = f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        text += f"; skipped {len(skipped)}: {shown}{more}"
    return text


def _loss_column(runs: pd.DataFrame) -> str:
    """final_val_loss where any run recorded one, else final_train_loss: never a mix of the two."""
    if "final_val_loss" in runs and runs["final_val_loss"].notna().any():
        return "final_val_loss"
    return "final_train_loss"


def select_runs(path: str | Path) -> RunSelection:
    """The runs fits and reports use: completed, with usable numbers. Left out, each named by its directory
    in one warning per kind: runs whose status is not completed, and completed runs whose params or tokens
    are not finite positive numbers up to MAX_COUNT, whose loss (the shared loss column) is not a finite
    positive number, or whose recorded flops or budget.flops is not (where recorded). A ScalingError when
    no run is left."""
    runs = load_runs(path)
    if runs.empty:
        raise ScalingError(f"results dir {str(path)!r} holds no runs (no summary.json or metrics.jsonl below it): "
                           f"give the directory a sweep wrote, e.g. results/cpu")
    total = len(runs)
    done = runs["status"] == "completed"
    not_done = list(zip(runs.loc[~done, "run"], runs.loc[~done, "status"], strict=True))
    skipped = [(r, f"status {s}") for r, s in not_done]
    if not_done:
        warnings.warn(f"left out {len(not_done)} run(s) whose status is not completed: "
                      + ", ".join(f"{r} ({s})" for r, s in not_done), stacklevel=2)
    runs = runs[done].copy()
    if runs.empty:
        raise ScalingError(f"results dir {str(path)!r} has no completed runs yet: wait for the sweep, or fit a CSV")
    loss = _loss_column(runs)
    checks = [("params", MAX_COUNT, True), ("tokens", MAX_COUNT, True), (loss, None, True),
              ("flops", None, False), ("budget.flops", None, False)]
    bad = {}  # row label -> the first unusable number's column and why, in the runs' order
    for i, run in runs.iterrows():
        for column, upper, required in checks:
            value = run.get(column)
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            why = None if (missing and not required) else bad_number(value, upper=upper)
            if why is not None:
                bad[i] = f"{column} {why}"
                break
    if bad:
        named = [(runs.at[i, "run"], why) for i, why in bad.items()]
        warnings.warn(f"skipped {len(named)} completed run(s) whose summary.json numbers are unusable: "
                      + ", ".join(f"{r} ({why})" for r, why in named), stacklevel=2)
        skipped += named
        runs = runs.drop(index=list(bad))
    if runs.empty:
        first = ", ".join(f"{r} ({why})" for r, why in named[:3]) + (", ..." if len(named) > 3 else "")
        raise ScalingError(f"results dir {str(path)!r} has no completed run with usable numbers (params, tokens, "
                           f"{loss}): {first}")
    _one_corpus(runs, path)
    for column, _, _ in checks:
        if column in runs:
            runs[column] = pd.to_numeric(runs[column], errors="coerce").astype(float)
    return RunSelection(runs, loss, tuple(skipped), total)


# What makes two runs' losses one quantity: the text (its name, source, version and validation split), the
# tokenizer, and the tokens themselves (their digest: a text file edited in place keeps its name and source).
# `data.name` alone is the config's name, which corpora can share (data=library and data=library_prose).
CORPUS_KEYS = ("data.name", "data.source", "data.version", "data.val_tokens", "data.tokenizer", "data.vocab_size",
               "data.tokens_sha256")


def _shown(value) -> str:
    """A recorded value as written (256, not the 256.0 a column with gaps holds), exact: values are compared so."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _one_corpus(runs: pd.DataFrame, path: str | Path) -> None:
    """A law holds for one corpus and tokenizer: losses in nats per token of different tokenizers or texts are not
    one quantity, so runs that record different ones are refused rather than fitted as one (runs that lack
    a key are not judged on it: older summaries lack some). Runs of one corpus from several sweep directories are
    fitted together, with a warning."""
    differ = [k for k in CORPUS_KEYS if k in runs and runs[k].dropna().map(_shown).nunique() > 1]
    if differ:
        values = runs[differ].astype(object).where(runs[differ].notna(), "(none)")
        kinds = values.apply(lambda column: column.map(_shown)).value_counts(sort=False)  # DataFrame.map: pandas 2.1
        named = "; ".join(", ".join(f"{k.removeprefix('data.')} {v}" for k, v in zip(differ, kind, strict=True))
                          + f" ({n} run{'s' if n > 1 else ''})" for kind, n in kinds.items())
        raise ScalingError(f"results dir {str(path)!r} holds runs of more than one corpus or tokenizer: {named}: "
                           f"losses on different text or tokens are not one quantity, so a law is fitted to one; "
                           f"give the directory of one corpus's runs (move the others out)")
    # a sweep is a directory of runs (summary.json's `experiment` is the config's name, which sweeps may share)
    root = Path(path)
    sweeps = runs["path"].map(lambda p: Path(p).parent.relative_to(root).as_posix() if Path(p) != root
                              else ".").value_counts(sort=False)
    if len(sweeps) > 1:
        warnings.warn(f"{str(path)!r}: the runs of {len(sweeps)} sweep directories are fitted as one ("
                      + ", ".join(f"{name}: {n}" for name, n in sweeps.items()) + "); give one sweep's directory "
                      "to fit one", stacklevel=3)


def in_isoflop_profile(runs: pd.DataFrame) -> pd.Series:
    """True for the runs of an isoFLOP profile: an allocation rule at one budget, swept over PARABOLA_SIZES or
    more `allocation.size_factor`s that give as many model sizes (the isoflop sweeps: the chinchilla rule at
    several size factors). A rule run at one size (the allocation comparison's gpt3 and llama runs, an
    architecture ablation's fixed shapes) is not part of a profile, so Approaches 1 and 2 and their windows read
    only the profiles, as they were designed; Approach 3 reads every run. A run without a rule, size factor or
    budget is in none; all True when the runs record none of one of them (not the harness's allocation runs:
    the fits group them by FLOPs themselves)."""
    keys = ["allocation.rule", "budget.flops", "allocation.size_factor"]
    if any(k not in runs.columns or runs[k].isna().all() for k in keys):
        return pd.Series(True, index=runs.index)
    known = runs[keys].notna().all(axis=1)
    groups = runs[known].groupby(keys[:2])
    swept = (groups["allocation.size_factor"].transform("nunique") >= PARABOLA_SIZES) \
        & (groups["params"].transform("nunique") >= PARABOLA_SIZES)
    return swept.reindex(runs.index, fill_value=False).astype(bool)


def completed_runs(path: str | Path) -> pd.DataFrame:
    """`select_runs(path).runs`: the completed runs with usable numbers, the others named in warnings; fits and
    reports use the same runs, through this function (or `select_runs`, which also says what it left out)."""
    return select_runs(path).runs
