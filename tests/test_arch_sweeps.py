"""A sweep in which one run diverges (forced by a huge LR) records it as `status: diverged` and goes on: the other
runs complete, the sweep exits 0, and the LR-stability table reads the diverged run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scaling.ablation import lr_stability
from scaling.results import completed_runs, load_runs

ROOT = Path(__file__).resolve().parent.parent


def test_a_diverged_run_is_recorded_and_the_sweep_goes_on(tmp_path, data_cache):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.train", "-m", "experiment=debug", "allocation.size_factor=1",
         "+arch=llama_post", "optim.lr_scale=1,5000", "optim.batch_size=8", "hydra/launcher=basic",
         f"data.cache_dir={data_cache}", f"results_dir={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    status = {p.parent.name: json.loads(p.read_text())["status"] for p in (tmp_path / "debug").glob("*/summary.json")}
    assert sorted(status.values()) == ["completed", "diverged"], status
    assert "optim.lr_scale=5000" in next(name for name, s in status.items() if s == "diverged")
    runs = load_runs(tmp_path / "debug")
    with pytest.warns(UserWarning, match=r"left out 1 run.*\(diverged\)"):
        assert len(completed_runs(tmp_path / "debug")) == 1  # fits and reports leave the diverged run out
    table = lr_stability(runs)
    assert table["first_diverged_scale"].tolist() == [5000]
