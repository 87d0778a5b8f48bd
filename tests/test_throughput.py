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
