"""Many small runs per GPU: jobs spread over GPUs by slots (k per GPU), and a sweep's aggregate tokens/s and
MFU from its summaries, against hand-computed figures."""

import pandas as pd
import pytest

from experiments.train import claim_gpu
from scaling.report import sweep_throughput, throughput_section


def test_jobs_fill_k_slots_per_gpu_evenly_and_a_finished_job_frees_its_slot(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    held = [claim_gpu(2, 2, tmp_path) for _ in range(4)]  # 4 jobs, 2 GPUs, 2 per GPU
    assert [gpu for gpu, _ in held] == [0, 1, 0, 1]
    assert claim_gpu(2, 2, tmp_path) == (None, None)  # every slot taken: the caller maps by job number
    held[2][1].close()  # the second job on GPU 0 ends
    gpu, handle = claim_gpu(2, 2, tmp_path)
    assert gpu == 0
    for _, h in [*held[:2], held[3], (gpu, handle)]:
        h.close()


def test_gpus_are_named_as_cuda_visible_devices_names_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    gpu, handle = claim_gpu(2, 1, tmp_path)
    assert gpu == 0 and "gpu3-slot0" in handle.name
    handle.close()


def summaries(**extra) -> pd.DataFrame:
    # run a: 1e6 tokens at 1e5 tokens/s (10 s of training, MFU 0.2), 12 s wall, finished at t=100
    # run b: 2e6 tokens at 1e5 tokens/s (20 s, MFU 0.3), 20 s wall, finished at t=105 -> started at 85
    frame = pd.DataFrame({"tokens": [1e6, 2e6], "tokens_per_second": [1e5, 1e5], "mfu": [0.2, 0.3],
                          "wall_seconds": [12.0, 20.0], "finished_at": [100.0, 105.0],
                          "device": ["cuda", "cuda"], "world_size": [1, 1]})
    return frame.assign(**extra)


def test_aggregate_throughput_of_runs_that_overlapped_on_one_gpu():
    t = sweep_throughput(summaries())
    assert t["span_seconds"] == pytest.approx(20.0)  # from 85 (b's start) to 105
    assert t["tokens_per_second"] == pytest.approx(3e6 / 20)
    # peak-seconds of model FLOPs: 0.2 x 10 s + 0.3 x 20 s = 8, over 20 s of one GPU
    assert t["mfu"] == pytest.approx(0.4) and t["devices"] == 1
    assert "| 2 | 3e+06 | 20 s" in "\n".join(throughput_section(summaries()))


def test_aggregate_throughput_without_time_stamps_or_on_two_devices():
    t = sweep_throughput(summaries(finished_at=[None, None]))
    assert t["span_seconds"] == pytest.approx(32.0) and t["tokens_per_second"] == pytest.approx(3e6 / 32)
    t = sweep_throughput(summaries(device=["cuda:0", "cuda:1"]))
    assert t["devices"] == 2 and t["mfu"] == pytest.approx(8 / 40)
    cpu = sweep_throughput(summaries(mfu=[None, None]))
    assert cpu["mfu"] is None and "n/a" in "\n".join(throughput_section(summaries(mfu=[None, None])))


ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def test_the_gpu_check_summary_reports_what_its_phases_wrote_and_marks_what_timed_out(tmp_path):
    """bench/gpu_summary.py, the python piece of bench/gpu_check.sh, on a directory as the script leaves it."""
    import json
    import subprocess
    import sys

    (tmp_path / "environment.txt").write_text("torch 2.x cuda 12 available True\nNVIDIA H100 80GB HBM3\n")
    (tmp_path / "tests.status").write_text("exit 0\n")
    (tmp_path / "ladder.status").write_text("exit 124\n")
    (tmp_path / "ladder.json").write_text(json.dumps([{
        "params": 2_000_000, "shape": "d128 L8", "seq_len": 1024, "batch": 32, "plain_tokens_per_second": 1e6,
        "trainer_tokens_per_second": 9.7e5, "ratio": 0.97, "mfu": 0.05, "peak_memory_gib": 3.25}]))
    for k, stamps in ((1, (100.0, 105.0)), (4, (None, None))):
        (tmp_path / f"sweep_k{k}.status").write_text(f"exit 0 wall {30 + k}\n")
        for i, row in summaries(finished_at=list(stamps)).iterrows():
            run = tmp_path / f"sweep_k{k}" / "gpu" / f"run{i}"
            run.mkdir(parents=True)
            (run / "summary.json").write_text(json.dumps({"status": "completed", **row.to_dict()}))
    # the phase's tokens: each log's last row with tokens (a line cut by a kill and an eval-only row skipped)
    logs = {"run0": '{"step": 1, "tokens": 100}\n{"step": 2, "tokens": 200}\n{"step": 3, "tok',
            "run1": '{"step": 1, "tokens": 300}\n{"val_loss": 2.0}\n'}
    for name, text in logs.items():
        (tmp_path / "sweep_k1" / "gpu" / name / "metrics.jsonl").write_text(text)
    (tmp_path / "sweep_k2_reduce-overhead.status").write_text("exit 124 wall 50\n")  # stopped before any run
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_summary.py"), str(tmp_path)],
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "summary.md").read_text()
    assert "NVIDIA H100 80GB HBM3" in text and "Throughput ladder (TIMED OUT" in text
    assert "| 2,000,000 | d128 L8 | 1024 | 32 | 1,000,000 | 970,000 | 0.970 | 5.0% | 3.25 GiB |" in text
    assert "CUDA graphs" not in text  # that ladder phase was not asked for
    # the overlapping pair of the hand-computed test; the phase: (200 + 300) tokens over 31 s
    assert "| default | 1 | ok | 2 | 2 | 31 | 150,000 | 40.0% | 16 |" in text
    assert "| default | 4 | ok | 2 | 0 | 34 | 93,750 | 25.0% | 0 |" in text  # no time stamps: 32 s in turn, 8 / 32
    assert "| reduce-overhead | 2 | TIMED OUT (exit 124) | 0 | 0 | 50 | n/a | n/a | 0 |" in text


def test_the_gpu_check_script_refuses_a_missing_outdir_in_one_line():
    import subprocess

    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == ["usage: bench/gpu_check.sh OUTDIR [--cpu]"]
