"""summary.md of a bench/gpu_check.sh directory: the card, the GPU tests' outcome, the ladder (tokens/s, MFU,
peak memory, trainer vs plain loop) and each sweep's aggregate tokens/s, MFU and wall time, all as measured
there (a phase that hit its time limit says so; nothing is filled in).

    python bench/gpu_summary.py OUTDIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def status(path: Path) -> str:
    text = path.read_text().strip() if path.exists() else "not run"
    return text.replace("exit 124", "TIMED OUT (exit 124)").replace("exit 0", "ok")


def fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def ladder_table(path: Path) -> list[str]:
    """bench/train_throughput.py's --json rows as a table."""
    rows = json.loads(path.read_text()) if path.exists() else []
    if not rows:
        return ["No ladder figures (the phase did not finish a size)."]
    lines = ["| params | shape | context | batch | plain tok/s | trainer tok/s | trainer/plain | MFU | peak memory |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['params']:,} | {r['shape']} | {r['seq_len']} | {r['batch']} | "
                     f"{fmt(r['plain_tokens_per_second'], ',.0f')} | {r['trainer_tokens_per_second']:,.0f} | "
                     f"{fmt(r['ratio'], '.3f')} | {fmt(r['mfu'], '.1%')} | "
                     f"{fmt(r['peak_memory_gib'], '.2f')} GiB |".replace("n/a GiB", "n/a"))
    return lines


def sweep_key(status_file: Path) -> tuple[str, int]:
    """sweep_k6.status -> ("default", 6); sweep_k6_reduce-overhead.status -> ("reduce-overhead", 6)."""
    k, _, mode = status_file.stem[len("sweep_k"):].partition("_")
    return mode or "default", int(k)


def phase_tokens(sweep: Path) -> tuple[int, float]:
    """How many runs a sweep started (a metrics log exists) and the tokens they trained in all: each log's last
    row, so a run that the phase's time limit stopped counts what it had trained when last logged."""
    started, tokens = 0, 0.0
    for log in sweep.glob("**/metrics.jsonl"):
        rows = [line for line in log.read_text().splitlines() if line.strip()]
        started += 1
        for line in reversed(rows):
            try:
                row = json.loads(line)
            except ValueError:  # a line cut short by the kill
                continue
            if isinstance(row, dict) and row.get("tokens"):
                tokens += float(row["tokens"])
                break
    return started, tokens


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python bench/gpu_summary.py OUTDIR (a bench/gpu_check.sh directory)", file=sys.stderr)
        return 2
    from scaling.report import sweep_throughput
    from scaling.results import load_runs

    out = Path(argv[0])
    env = (out / "environment.txt").read_text().strip() if (out / "environment.txt").exists() else "unknown"
    lines = ["# GPU check", "", "Measured on:", "", "```", env, "```", "",
             f"GPU tests: {status(out / 'tests.status')} (JUnit report: tests.xml)", ""]
    for stem, title in (("ladder", "Throughput ladder"),
                        ("ladder_graphs", "Throughput ladder, compile_mode=reduce-overhead (CUDA graphs)")):
        if stem == "ladder_graphs" and not (out / f"{stem}.status").exists():
            continue  # a phase not asked for
        lines += [f"## {title} ({status(out / f'{stem}.status')})", ""] + ladder_table(out / f"{stem}.json") + [""]
    lines += ["## Sweeps: the two smallest budgets, k jobs on the device at once", "",
              "Aggregate tokens/s and MFU are over the completed runs, first start to last finish. The phase's "
              "tokens/s counts every token trained in the phase, finished runs or not (each run's last logged "
              "step), over the phase's whole wall time (start-up and compilation included).", "",
              "| compile mode | k | status | runs completed | runs started | wall (s) | aggregate tokens/s | "
              "aggregate MFU | phase tokens/s |", "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(out.glob("sweep_k*.status"), key=sweep_key):
        mode, k = sweep_key(path)
        sweep = out / path.stem
        runs = load_runs(sweep) if sweep.is_dir() else None
        done = runs[runs["status"] == "completed"] if runs is not None and len(runs) else None
        t = sweep_throughput(done) if done is not None and len(done) else None
        wall = path.read_text().split("wall")[-1].strip() if "wall" in path.read_text() else "?"
        rate = format(t["tokens_per_second"], ",.0f") if t else "n/a"
        mfu = format(t["mfu"], ".1%") if t and t["mfu"] is not None else "n/a"
        started, trained = phase_tokens(sweep)
        phase = format(trained / float(wall), ",.0f") if wall.isdigit() and float(wall) > 0 else "n/a"
        lines.append(f"| {mode} | {k} | {status(path).split(' wall')[0]} | {0 if done is None else len(done)} | "
                     f"{started} | {wall} | {rate} | {mfu} | {phase} |")
    lines += ["", "These sweeps measure speed. Their losses say little about a law where the small sizes read the "
              "corpus many times (each run's config.yaml names its data, and its log the epochs).", ""]
    (out / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
