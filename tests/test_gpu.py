"""The CUDA path on a GPU (skipped without one; bench/gpu_check.sh runs these): bf16 autocast, TF32, fused
AdamW and torch.compile by default, MFU from scaling/hardware.py's table, and a step loop that never waits
for the device between log points (torch's sync debug mode raises on any synchronising call)."""

import pytest
import torch

from experiments import trainer
from scaling.hardware import peak_of_device_name

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

SMALL = ["data=tiny", "model.d_model=64", "model.n_layers=2", "model.n_heads=2", "model.seq_len=128",
         "optim.batch_size=8", "budget.tokens=204800", "optim.min_steps=100", "device=cuda", "eval.count=2"]


def test_a_cuda_run_uses_bf16_tf32_fused_adamw_and_compile_and_reports_mfu(compose, tmp_path):
    cfg = compose(*SMALL)
    run = trainer.build(cfg, tmp_path / "built", trainer.check(cfg), trainer.fingerprint(cfg))
    assert run.bf16 and run.compiled and torch.backends.cuda.matmul.allow_tf32
    assert run.optimizer.defaults["fused"]
    summary = trainer.train(cfg, tmp_path / "run")
    assert summary["status"] == "completed" and summary["precision"] == "bf16"
    if peak_of_device_name(torch.cuda.get_device_name()):
        assert 0 < summary["mfu"] < 1


def test_the_step_loop_does_not_synchronise_between_log_points(compose, tmp_path):
    cfg = compose(*SMALL, "compile=false", "optim.micro_batch_size=4")
    run = trainer.build(cfg, tmp_path / "run", trainer.check(cfg), trainer.fingerprint(cfg))
    fwd = trainer.forward_fn(run)
    trainer.train_step(run, fwd, 1e-3)  # warm-up: allocations, kernels chosen
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        total = torch.zeros((), device=run.device)
        for _ in range(5):
            total += trainer.train_step(run, fwd, 1e-3)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(total).item()


def test_compiled_and_eager_bf16_runs_agree_closely(compose, tmp_path):
    """bf16 rounding differs between fused and unfused kernels: the curves agree to bf16's precision."""
    from scaling.rundir import read_metrics

    losses = {}
    for flag in ("false", "true"):
        trainer.train(compose(*SMALL, f"compile={flag}", "log_every_steps=1", "budget.tokens=20480",
                              "optim.min_steps=20"), tmp_path / flag)
        losses[flag] = [r["train_loss"] for r in read_metrics(tmp_path / flag)]
    assert losses["true"] == pytest.approx(losses["false"], abs=2e-2)
