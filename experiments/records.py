"""The run directory's records (DESIGN.md contracts): `metrics.jsonl`, one JSON object per log point, and
`summary.json`, written atomically at the end. Readers tolerate a partial last line (a run still writing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from scaling.atomic import atomic_write_text

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"


def _clean(value):
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def read_metrics(run_dir: Path) -> list[dict]:
    """Every complete line of metrics.jsonl (a partial or garbled last line is skipped)."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


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


def read_summary(run_dir: Path) -> dict | None:
    path = Path(run_dir) / SUMMARY
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write_text(Path(run_dir) / SUMMARY, json.dumps(_clean(summary), indent=2) + "\n")
