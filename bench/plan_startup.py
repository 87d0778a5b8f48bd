"""Benchmark: `scaling plan --flops 1e21 --json` against a bare `python -c "import numpy, scipy"`.

Target: the planner costs at most ~2x the bare import, i.e. it pulls in no torch, pandas or hydra.
Both commands run interleaved in one process, so machine noise hits them alike; medians and their ratio print.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    script = Path(sys.executable).with_name("scaling")
    commands = {
        "python -c 'import numpy, scipy'": [sys.executable, "-c", "import numpy, scipy"],
        "python -m scaling.cli plan --flops 1e21 --json": [sys.executable, "-m", "scaling.cli", "plan", "--flops",
                                                            "1e21", "--json"],
    }
    if script.exists() or shutil.which("scaling"):
        commands["scaling plan --flops 1e21 --json"] = [str(script) if script.exists() else "scaling", "plan",
                                                         "--flops", "1e21", "--json"]
    for cmd in commands.values():  # warm the page cache
        wall(cmd)
    times = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            times[name].append(wall(cmd))
    base = statistics.median(times["python -c 'import numpy, scipy'"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<50} median {med * 1000:7.1f} ms  ({med / base:.2f}x the bare import)")


if __name__ == "__main__":
    main()
