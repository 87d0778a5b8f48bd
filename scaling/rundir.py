"""The run directory: the one place that knows its files, how they are written and how they are read.

`scaling-train` writes one directory per run, RESULTS/<experiment_name>/<run_name>/:

- `config.yaml`: the composed configuration plus the planner's resolution (`resolved:`), written when the run
  starts;
- `metrics.jsonl`: one JSON object per log point (step, tokens, flops, lr, train_loss, tokens_per_second,
  elapsed_s and, at evaluations, val_loss), appended as the run goes; cut back to the checkpoint's step on
  resume, so the curve and the weights always agree;
- `checkpoint.pt`: the state to resume from (torch; written by `experiments.checkpoint`);
- `summary.json`: written once, atomically, when the run ends; its `status` is one of STATUSES.

JSON follows `scaling.atomic.json_ready`: NaN and infinity are written as null. The readers tolerate a run that
is still writing: a partial last line of metrics.jsonl is skipped, and a run without a readable summary.json is
"running". Torch-free, so the planner and the analysis read results without the harness installed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from scaling.atomic import atomic_write_json, atomic_write_text, json_ready
from scaling.errors import ScalingError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.pt"
# completed: trained its whole budget; diverged: stopped by the divergence check; failed: refused by a sweep
# job (its `error` says why); running: no summary yet (training, or killed before the end).
STATUSES = ("completed", "diverged", "failed", "running")


def run_dirs(path: str | Path) -> list[Path]:
    """Every directory under `path` (itself included) that holds metrics.jsonl or summary.json, sorted."""
    root = Path(path)
    if not root.is_dir():
        raise ScalingError(f"results dir {str(root)!r} is not a directory")
    found = {p.parent for name in (METRICS, SUMMARY) for p in root.rglob(name)}
    return sorted(found)


def read_summary(run: Path, warn: bool = True) -> dict | None:
    """summary.json as a dict; None where it is missing, partial or not an object (the run has not ended)."""
    try:
        data = json.loads((Path(run) / SUMMARY).read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        if warn:
            warnings.warn(f"{Path(run) / SUMMARY}: unreadable summary.json, run treated as still running",
                          stacklevel=3)
        return None
    return data if isinstance(data, dict) else None


def read_metrics(run: Path) -> list[dict]:
    """The complete lines of metrics.jsonl; a partial last line (being written) is skipped quietly, a garbled
    line elsewhere with a warning."""
    path = Path(run) / METRICS
    try:
        lines = path.read_text().splitlines()
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
                warnings.warn(f"{path}: line {i + 1} is not JSON; skipped", stacklevel=3)
            continue
        if isinstance(record, dict):
            rows.append(record)
    return rows


class MetricsLog:
    """Append-only metrics.jsonl. Opened at `resume_step` (0 for a fresh run), it first cuts the file back to
    the rows at or before that step, atomically: the log never holds steps the weights have not seen."""

    def __init__(self, run_dir: Path, resume_step: int = 0):
        self.path = Path(run_dir) / METRICS
        kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= resume_step] if resume_step else []
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.file = self.path.open("a")

    def append(self, record: dict) -> None:
        self.file.write(json.dumps(json_ready(record)) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write_json(Path(run_dir) / SUMMARY, summary)
