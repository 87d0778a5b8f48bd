"""Writing the run directory's records (DESIGN.md contracts): `metrics.jsonl`, one JSON object per log point,
and `summary.json`, written atomically at the end. The readers are `scaling.results`'s (they tolerate a run
still writing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from scaling.atomic import atomic_write_text
from scaling.results import METRICS, SUMMARY, read_metrics, read_summary

__all__ = ["MetricsLog", "read_metrics", "read_summary", "write_summary"]


def _clean(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class MetricsLog:
    """Append-only metrics.jsonl; on resume it is cut back to the checkpoint's step (atomically)."""

    def __init__(self, run_dir: Path, resume_step: int | None):
        self.path = Path(run_dir) / METRICS
        kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= resume_step] if resume_step else []
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.file = self.path.open("a")

    def append(self, record: dict) -> None:
        self.file.write(json.dumps(_clean(record)) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write_text(Path(run_dir) / SUMMARY, json.dumps(_clean(summary), indent=2) + "\n")
