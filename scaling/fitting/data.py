"""What the fits read: final losses (N, D, C, L per run) and, for Approach 1, loss curves; checked on the way in.

Three sources give the same `FitData`:
- a CSV or a pandas DataFrame with columns params, tokens or flops (or both), loss; other names are mapped
  (`params_col=...`; on the command line `--params-col`). Where only one of tokens and FLOPs is given, the other
  follows from C = 6ND. With a run column (`run` unless mapped) the rows are loss curves in long format (one
  row per logged point); the final losses are each run's last point (most tokens), and `fit` says so in a
  warning when that cuts the table. A `vocab_size` column, where every row agrees, is carried to the fit JSON.
- a results dir of the harness (`scaling.results.select_runs`, the filter fits and reports share): completed
  runs with usable numbers; their `params`, `tokens`, `flops` and loss (`final_val_loss` where any run recorded
  one, else `final_train_loss`: never a mix) from summary.json, the budget from `budget.flops` where recorded,
  `data.vocab_size` where every run agrees, and curves from metrics.jsonl (`val_loss` where every run logged
  it, else `train_loss`). The runs left out are named in warnings and counted in `selection`. `profile` marks
  the runs of isoFLOP profiles (`scaling.results.in_isoflop_profile`), the only runs Approaches 1 and 2 read
  (`profile_runs`); a table's rows are all profile runs.
`drop_highest_loss=K` drops the K runs with the highest final loss (the replication drops 5 of Chinchilla's).

Conventions (`apply_conventions`; `scaling fit --compute 6nd|exact --params total|non-embedding`): which N and
which C the fits use. N is every parameter (`total`, Chinchilla's) or the `non-embedding` count (Kaplan's: no
token embedding, untied output head or position parameters); C is 6ND with that N (Kaplan's C = 6ND uses the
non-embedding N) or `exact`, Chinchilla's Appendix F count of the shape trained (attention, embeddings, logits).
A results dir carries both counts in every summary.json (`non_embedding_params`, `flops_exact`); a table gives
them in columns of those names (else map a column of yours onto params or flops with `--params-col` /
`--flops-col` and keep the default conventions). D is always the tokens trained. The budgets keep what they
count (the harness's `budget.flops`, by `budget.flops_method`); where the convention's C differs, each run's C is
kept in `compute` for the fits to read.

Checks (one ScalingError line for what cannot be fitted, one warning line for what can but should be looked at):
- every params, tokens, FLOPs, loss value a finite positive number, params and tokens at most 1e16
  (`scaling.results.MAX_COUNT`; no real run comes near), else refused naming the first bad row;
- with params, tokens AND flops columns, FLOPs are compared with 6ND: beyond a factor of FLOPS_AGREEMENT (2.5)
  either way a warning gives the count and the worst ratio (Chinchilla's Appendix F count exceeds 6ND by up to
  ~2x for small models, so it passes; a unit slip or a forward-only 2ND count does not). D comes from tokens,
  the budgets (Approach 2's grouping, Approach 1's curves) from flops;
- exact duplicates (`drop_duplicates`): a final point with the same params, tokens and loss as another (the
  first is kept, or the first of an isoFLOP profile's), or a logged point repeated within a run, is dropped with
  a warning naming them, so that the bootstrap resamples each run once (a file concatenated twice would
  otherwise halve the intervals' width);
- points isolated in log N or log D (`warn_isolated`): separated from the bulk of the runs by a gap of more than
  ISOLATION_DECADES (2) decades; a warning names them, since one such point dominates the fit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.errors import ScalingError, first_line
from scaling.results import MAX_COUNT

CONVENTION_COLUMNS = ("non_embedding_params", "flops_exact")  # the summary's names, read where present
FLOPS_AGREEMENT = 2.5  # flops / 6ND beyond this factor either way: the columns disagree
ISOLATION_DECADES = 2.0  # a gap in log10 N or log10 D wider than this isolates the points beyond it
NAMED = 8  # points named in one warning line at most


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
    labels: np.ndarray | None = None  # how a message names each point: its run, or "row k" of the table
    vocab_size: int | None = None  # where every row or run agrees on one
    selection: dict | None = None  # results dirs: the runs used and those skipped (RunSelection.to_dict)
    rows_read: int | None = None  # long tables: rows before the cut to one final point per run
    run_col: str | None = None  # long tables: the run column
    duplicates: int = 0  # exact duplicate final points dropped (`drop_duplicates`)
    non_embedding: np.ndarray | None = None  # Kaplan's N per run, where recorded (summary's non_embedding_params)
    flops_exact: np.ndarray | None = None  # Appendix F's C per run, where recorded (summary's flops_exact)
    budget_method: str = "6nd"  # what the budgets count (the harness's budget.flops_method)
    compute: np.ndarray | None = None  # C per run under the conventions, where it is not `flops` (6ND, N total)
    budget_compute: bool = True  # the budgets count C as the conventions do (Approach 2 keeps them as its C)
    conventions: dict | None = None  # {"compute": "6nd" | "exact", "params": "total" | "non-embedding"}
    profile: np.ndarray | None = None  # results dirs: True for the runs of isoFLOP profiles; None: every run

    def __len__(self) -> int:
        return len(self.loss)

    def names(self, index) -> list[str]:
        """How messages name the points at `index`."""
        if self.labels is not None:
            return [str(self.labels[i]) for i in index]
        return [f"point {i + 1}" for i in index]

    def subset(self, keep: np.ndarray, **changes) -> FitData:
        """The data at the positions `keep` (sorted), curves cut to the runs kept."""
        curves = self.curves
        if curves is not None and self.runs is not None:
            curves = curves[curves["run"].isin(set(self.runs[keep]))]
        pick = {k: None if getattr(self, k) is None else getattr(self, k)[keep]
                for k in ("params", "tokens", "flops", "loss", "budget", "runs", "labels", "non_embedding",
                          "flops_exact", "compute", "profile")}
        return replace(self, **pick, curves=curves, **changes)


def _listed(names: list[str]) -> str:
    return ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def _row_name(frame: pd.DataFrame, i: int) -> str:
    label = frame.index[i]
    return f"row {label + 1}" if isinstance(label, (int, np.integer)) else f"run {label!r}"


def _numbers(frame: pd.DataFrame, column: str, where: str, upper: float | None = None) -> np.ndarray:
    """The column as finite positive floats (at most `upper`), or a ScalingError naming the first bad row."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = raw.iloc[i]
        if pd.isna(shown):
            what = "a missing (NaN) value"
        elif math.isnan(values[i]):
            what = f"a non-numeric value {shown!r}"
        else:
            what = f"{values[i]:g}"
        raise ScalingError(f"{where}: column {column!r} holds {what} at {_row_name(frame, i)}: every value must be "
                           f"a finite positive number")
    if upper is not None and (values > upper).any():
        above = np.flatnonzero(values > upper)
        i = int(above[0])
        raise ScalingError(f"{where}: column {column!r} holds {values[i]:g} at {_row_name(frame, i)} "
                           f"({len(above)} value(s) above {upper:g}): no real run has that many {column}; check "
                           f"the units, or drop the row")
    return values


def _check_flops(frame: pd.DataFrame, where: str, flops: np.ndarray, params: np.ndarray, tokens: np.ndarray,
                 flops_col: str, tokens_col: str) -> None:
    """Warn where the FLOPs column and 6 x params x tokens disagree by more than FLOPS_AGREEMENT."""
    ratio = flops / (6.0 * params * tokens)
    off = np.flatnonzero((ratio > FLOPS_AGREEMENT) | (ratio < 1.0 / FLOPS_AGREEMENT))
    if len(off):
        worst = int(off[np.argmax(np.abs(np.log(ratio[off])))])
        warnings.warn(f"{where}: column {flops_col!r} disagrees with 6 x params x {tokens_col} by more than "
                      f"{FLOPS_AGREEMENT:g}x at {len(off)} of {len(ratio)} rows (worst: {ratio[worst]:.3g}x at "
                      f"{_row_name(frame, worst)}): D comes from {tokens_col!r}, the FLOP budgets from "
                      f"{flops_col!r}; check the units", stacklevel=4)


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
    params, loss = _numbers(frame, params_col, where, MAX_COUNT), _numbers(frame, loss_col, where)
    tokens = _numbers(frame, tokens_col, where, MAX_COUNT) if tokens_col in frame.columns else None
    flops = _numbers(frame, flops_col, where) if flops_col in frame.columns else 6.0 * params * tokens
    if tokens is None:
        tokens = flops / (6.0 * params)
        if (tokens > MAX_COUNT).any():
            i = int(np.flatnonzero(tokens > MAX_COUNT)[0])
            raise ScalingError(f"{where}: D = {flops_col} / (6 x {params_col}) is {tokens[i]:.3g} tokens at "
                               f"{_row_name(frame, i)}, above {MAX_COUNT:g}: check the units of {flops_col!r}")
    elif flops_col in frame.columns:
        _check_flops(frame, where, flops, params, tokens, flops_col, tokens_col)
    table = pd.DataFrame({"params": params, "tokens": tokens, "flops": flops, "loss": loss})
    if budget_col is not None and budget_col in frame.columns:
        table["budget"] = _numbers(frame, budget_col, where)
    for column in CONVENTION_COLUMNS:  # checked where a convention reads them (`apply_conventions`)
        if column in frame.columns:
            table[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    method = next((c for c in ("flops_method", "budget.flops_method") if c in frame.columns), None)
    if method is not None:
        table["flops_method"] = frame[method].fillna("6nd").astype(str).to_numpy()
    return table


def _one_vocab(values: pd.Series) -> int | None:
    """The vocabulary size every row agrees on, else None."""
    numbers = pd.to_numeric(values, errors="coerce")
    if not len(numbers) or numbers.isna().any() or numbers.nunique() != 1:
        return None
    v = float(numbers.iloc[0])
    return int(v) if v.is_integer() and v > 0 else None


def _fit_data(finals: pd.DataFrame, curves: pd.DataFrame | None, source: str, labels, **extra) -> FitData:
    methods = set(finals["flops_method"]) if "flops_method" in finals else {"6nd"}
    return FitData(finals["params"].to_numpy(), finals["tokens"].to_numpy(), finals["flops"].to_numpy(),
                   finals["loss"].to_numpy(), finals["budget"].to_numpy() if "budget" in finals else None,
                   finals["run"].to_numpy() if "run" in finals else None, curves, source,
                   labels=np.asarray(labels, dtype=object),
                   non_embedding=finals["non_embedding_params"].to_numpy(dtype=float)
                   if "non_embedding_params" in finals else None,
                   flops_exact=finals["flops_exact"].to_numpy(dtype=float) if "flops_exact" in finals else None,
                   budget_method=methods.pop() if len(methods) == 1 else "mixed", **extra)


# The optional columns: under these names they are used where present; a column named otherwise must exist.
RUN_COL, BUDGET_COL = "run", "budget"


def from_frame(frame: pd.DataFrame, *, source: str = "DataFrame", params_col: str = "params",
               tokens_col: str = "tokens", flops_col: str = "flops", loss_col: str = "loss", run_col: str = RUN_COL,
               budget_col: str = BUDGET_COL) -> FitData:
    """FitData from a table (see the module docstring); `budget_col` and `run_col` are used where present
    under their default names, and must be present under any other."""
    if not len(frame):
        raise ScalingError(f"{source} has no rows: a fit needs runs with params, tokens or flops, and loss")
    for name, default, flag in ((run_col, RUN_COL, "--run-col"), (budget_col, BUDGET_COL, "--budget-col")):
        if name is not None and name != default and name not in frame.columns:
            raise ScalingError(f"{source} has no column {name!r} (named by {flag}; columns: "
                               f"{', '.join(map(str, frame.columns))})")
    frame = frame.reset_index(drop=True)
    table = _final_table(frame, source, params_col, tokens_col, flops_col, loss_col, budget_col)
    vocab = _one_vocab(frame["vocab_size"]) if "vocab_size" in frame.columns else None
    if run_col not in frame.columns:
        return _fit_data(table, None, source, [f"row {i + 1}" for i in range(len(table))], vocab_size=vocab)
    table.insert(0, "run", frame[run_col].astype(str).to_numpy())
    finals = table.sort_values(["run", "tokens"], kind="stable").groupby("run", sort=True).tail(1)
    return _fit_data(finals, table[["run", "params", "tokens", "flops", "loss"]], source,
                     [f"run {r!r}" for r in finals["run"]], vocab_size=vocab, rows_read=len(table), run_col=run_col)


def read_csv(path: str | Path, **columns) -> FitData:
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise ScalingError(f"no such file {str(path)!r}: give a CSV of runs or a results dir") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        reason = first_line(err) or type(err).__name__
        raise ScalingError(f"cannot read {str(path)!r} as CSV: {reason}") from None
    return from_frame(frame, source=path.name, **columns)


def _curves(points: pd.DataFrame, runs: pd.DataFrame, profile: np.ndarray) -> pd.DataFrame | None:
    """Loss curves of the runs used (`points`: `scaling.results.load_curves`): val_loss where every run
    Approach 1 reads (the profile runs) logged it, else train_loss."""
    if not len(points) or not {"tokens", "flops"} <= set(points.columns):
        return None
    points = points[points["run"].isin(set(runs.index))]
    read = points[points["run"].isin(set(runs.index[profile]))]
    logged = read.dropna(subset=["val_loss"])["run"].nunique() if "val_loss" in read else 0
    metric = "val_loss" if logged == read["run"].nunique() else "train_loss"
    if metric not in points:
        return None
    for column in (metric, "tokens", "flops"):
        points = points.assign(**{column: pd.to_numeric(points[column], errors="coerce")})
    points = points.dropna(subset=[metric, "tokens", "flops"])
    points = points[(points["tokens"] > 0) & (points["flops"] > 0) & (points[metric] > 0)]
    return pd.DataFrame({"run": points["run"], "params": points["run"].map(runs["params"]).astype(float),
                         "tokens": points["tokens"].astype(float), "flops": points["flops"].astype(float),
                         "loss": points[metric].astype(float)}).reset_index(drop=True)


def read_results(path: str | Path, selection=None, points: pd.DataFrame | None = None) -> FitData:
    """FitData from a harness results dir (see the module docstring); a caller that has already read it passes
    its `select_runs` and `load_curves` results, so the files are read once."""
    from scaling.results import in_isoflop_profile, load_curves, select_runs

    path = Path(path)
    selection = select_runs(path) if selection is None else selection
    points = load_curves(path) if points is None else points
    runs = selection.runs.set_index("run")
    runs = runs.assign(loss=runs[selection.loss_column])
    flops = runs["flops"] if "flops" in runs else pd.Series(np.nan, index=runs.index)
    runs = runs.assign(flops=flops.fillna(6.0 * runs["params"] * runs["tokens"]))
    budget = next((c for c in ("budget.flops", "budget") if c in runs and runs[c].notna().all()), None)
    where = f"results dir {path.name!r} (summary.json)"
    table = _final_table(runs, where, "params", "tokens", "flops", "loss", budget)
    table.insert(0, "run", runs.index.to_numpy())
    vocab = _one_vocab(runs["data.vocab_size"]) if "data.vocab_size" in runs else None
    profile = in_isoflop_profile(runs).to_numpy(dtype=bool)
    return _fit_data(table, _curves(points, runs, profile), path.name, list(runs.index), vocab_size=vocab,
                     selection=selection.to_dict(), profile=profile)


def read_fit_data(source, **columns) -> FitData:
    """FitData from a DataFrame, a CSV path or a results dir (or a FitData, as it is); column mappings apply to
    tables only."""
    if isinstance(source, FitData):
        return source
    if isinstance(source, pd.DataFrame):
        return from_frame(source, **columns)
    if Path(source).is_dir():
        return read_results(source)
    return read_csv(source, **columns)


def _convention_values(data: FitData, values, column: str, flag: str) -> np.ndarray:
    """The per-run counts a convention reads, or a ScalingError naming what is missing and how to fix it."""
    if values is None:
        raise ScalingError(f"{flag} needs each run's {column} (recorded in every summary.json of the harness, or "
                           f"a column of that name); {data.source} has none: fit a results dir, add the column, "
                           f"or map a column of yours with --params-col/--flops-col and keep the default")
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if len(bad):
        raise ScalingError(f"{flag}: {column} is missing or not a positive number at {len(bad)} run(s) of "
                           f"{data.source} ({_listed(data.names(bad))}): every run needs one")
    return np.asarray(values, dtype=float)


def apply_conventions(data: FitData, compute: str = "6nd", params: str = "total") -> FitData:
    """The data under the conventions (see the module docstring): N replaced by the chosen count (curves too),
    each run's C under the chosen compute in `compute` (None for 6ND with every parameter, the `flops` column),
    curves' FLOPs scaled to it run by run."""
    chosen = {"compute": compute, "params": params}
    counts = "6nd" if data.budget is None else data.budget_method  # grouped by the flops column: 6ND
    budget_compute = counts == compute and (compute == "exact" or params == "total")
    if compute == "6nd" and params == "total":
        return replace(data, conventions=chosen, budget_compute=budget_compute)
    n = data.params
    if params == "non-embedding":
        n = _convention_values(data, data.non_embedding, "non_embedding_params", "--params non-embedding")
    if compute == "exact":
        c = _convention_values(data, data.flops_exact, "flops_exact", "--compute exact")
    else:
        c = 6.0 * n * data.tokens
    curves = data.curves
    if curves is not None and data.runs is not None:
        by_run = pd.DataFrame({"n": n, "scale": c / data.flops}, index=pd.Index(data.runs.astype(str)))
        run = curves["run"].astype(str)
        curves = curves.assign(params=run.map(by_run["n"]).to_numpy(dtype=float),
                               flops=curves["flops"].to_numpy(dtype=float) * run.map(by_run["scale"]).to_numpy())
    return replace(data, params=n, compute=c, curves=curves, conventions=chosen, budget_compute=budget_compute)


def drop_duplicates(data: FitData) -> FitData:
    """The data without exact copies (see the module docstring): logged points repeated within a run, and final
    points with the same params, tokens and loss as another; each kind dropped with one warning."""
    curves = data.curves
    if curves is not None:
        repeated = curves.duplicated(subset=["run", "tokens", "loss"])
        if repeated.any():
            runs = curves.loc[repeated, "run"].unique()
            warnings.warn(f"{data.source}: dropped {int(repeated.sum())} logged point(s) that repeat an earlier one "
                          f"(same run, tokens and loss) in {len(runs)} run(s): "
                          f"{_listed([str(r) for r in runs])}", stacklevel=3)
            data = replace(data, curves=curves[~repeated])
    key = pd.DataFrame({"params": data.params, "tokens": data.tokens, "loss": data.loss})
    if not key.duplicated().any():
        return data
    # of each set of copies the first is kept, or the first of an isoFLOP profile's runs where one is a copy of
    # another rule's run (the allocation comparison's gpt3 run at a profile's size): the profile keeps its point
    rank = np.arange(len(data)) + (0 if data.profile is None else len(data) * ~data.profile)
    first = key.assign(rank=rank, index=np.arange(len(data))).sort_values("rank") \
        .groupby(["params", "tokens", "loss"])["index"].transform("first").sort_index().to_numpy()
    copies = first != np.arange(len(data))
    names = data.names(range(len(data)))
    pairs = [f"{names[i]} (= {names[first[i]]})" for i in np.flatnonzero(copies)]
    warnings.warn(f"{data.source}: dropped {len(pairs)} duplicate point(s) with the same params, tokens and loss "
                  f"as another, so the bootstrap resamples each run once: {_listed(pairs)}", stacklevel=3)
    return data.subset(np.flatnonzero(~copies), duplicates=data.duplicates + len(pairs))


def profile_runs(data: FitData) -> FitData:
    """The runs of isoFLOP profiles (`FitData.profile`), which Approaches 1 and 2 read; every run where the
    data do not mark them (tables)."""
    if data.profile is None or data.profile.all():
        return data
    if not data.profile.any():
        raise ScalingError(f"{data.source} has no isoFLOP profile (an allocation rule tried at 3 or more model "
                           f"sizes at one budget): run an isoFLOP sweep, e.g. experiment=isoflop_cpu")
    return data.subset(np.flatnonzero(data.profile))


def _isolated(values: np.ndarray) -> np.ndarray:
    """Positions outside the largest cluster of log10 values, clusters split at gaps > ISOLATION_DECADES."""
    logv = np.log10(values)
    order = np.argsort(logv, kind="stable")
    cluster = np.concatenate([[0], np.cumsum(np.diff(logv[order]) > ISOLATION_DECADES)])
    if cluster[-1] == 0:
        return np.array([], dtype=int)
    sizes = np.bincount(cluster)
    bulk = int(np.argmax(sizes))
    return np.sort(order[cluster != bulk])


def warn_isolated(data: FitData) -> None:
    """One warning naming the points isolated in log N or log D (see the module docstring)."""
    if len(data) < 3:
        return
    far = {what: _isolated(values) for what, values in (("N", data.params), ("D", data.tokens))}
    index = np.union1d(far["N"], far["D"]).astype(int)
    if not len(index):
        return
    rest = np.setdiff1d(np.arange(len(data)), index)
    ranges = f"N {data.params[rest].min():.3g}..{data.params[rest].max():.3g}, " \
             f"D {data.tokens[rest].min():.3g}..{data.tokens[rest].max():.3g}"
    shown = [f"{name} (N {data.params[i]:.3g}, D {data.tokens[i]:.3g})" for name, i in zip(data.names(index), index,
                                                                                            strict=True)]
    warnings.warn(f"{data.source}: {len(index)} point(s) lie more than {ISOLATION_DECADES:g} decades beyond the "
                  f"other {len(rest)} ({ranges}) in log N or log D and will dominate the fit: {_listed(shown)}",
                  stacklevel=3)


def drop_highest_losses(data: FitData, k: int) -> FitData:
    """The data without its k highest final losses (and those runs' curves)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ScalingError(f"--drop-highest-loss takes a whole number of runs >= 0, got {k!r}")
    if k == 0:
        return data
    if k >= len(data):
        raise ScalingError(f"--drop-highest-loss {k} would drop all {len(data)} runs")
    keep = np.sort(np.argsort(data.loss, kind="stable")[: len(data) - k])
    return data.subset(keep, dropped=data.dropped + k)
