"""The CUDA path's habits that a CPU can check: the step loop reads the device only at log points, compile on
and off compute the same losses, batches are pinned only for CUDA, compile is on by default only on CUDA, and
accelerator peaks have one table."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from experiments import trainer
from scaling.rundir import read_metrics
from tests import golden_losses

ROOT = Path(__file__).resolve().parent.parent


def test_the_step_loop_reads_the_device_only_at_log_points(compose, tmp_path, monkeypatch):
    """Every host read of a tensor (.item, .tolist, float(), bool()) from the harness's code is counted: 30
    steps logged at steps 1, 10, 20, 30 read the loss 4 times, and the one evaluation reads its sum once."""
    reads = []
    for name in ("item", "tolist", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            caller = inspect.currentframe().f_back.f_code.co_filename
            if caller.startswith(str(ROOT / "experiments")):
                reads.append((_name, inspect.currentframe().f_back.f_code.co_name))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    summary = trainer.train(compose("data=tiny", "model.d_model=32", "model.n_layers=2", "model.n_heads=2",
                                    "model.seq_len=64", "optim.batch_size=4", "optim.micro_batch_size=2",
                                    "budget.tokens=7680", "optim.min_steps=10", "log_every_steps=10", "eval.count=1",
                                    "data.val_windows=8"), tmp_path / "run")
    assert summary["steps"] == 30 and [r["step"] for r in read_metrics(tmp_path / "run")] == [1, 10, 20, 30]
    assert sorted(reads) == sorted([("item", "train_loop")] * 4 + [("item", "evaluate")])


@pytest.mark.slow
def test_compile_on_and_off_give_the_same_losses_for_20_steps(data_cache, tmp_path):
    """The golden-loss run (CPU, fp32) eager and through torch.compile (inductor): ~1 min to compile on 2 cores."""
    losses = {}
    for flag in ("false", "true"):
        overrides = [f"data.cache_dir={data_cache}", *golden_losses.overrides("llama", tmp_path), f"compile={flag}"]
        losses[flag] = golden_losses.first_losses(overrides, tmp_path / flag)
    assert len(losses["true"]) == 20
    assert losses["true"] == pytest.approx(losses["false"], abs=1e-4)


def test_batches_are_pinned_and_copied_without_blocking_only_for_cuda(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: calls.append("pin") or self)
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: calls.append(k.get("non_blocking")) or self)
    rows = np.arange(6, dtype=np.int64).reshape(2, 3)
    trainer.to_device(rows, torch.device("cpu"))
    assert calls == [None]  # a plain copy (none at all: the tensor is on the CPU already)
    calls.clear()
    trainer.to_device(rows, torch.device("cuda", 0))
    assert calls == ["pin", True]


@pytest.mark.parametrize(("flag", "device", "expected"), [("null", "cpu", False), ("true", "cpu", True),
                                                          ("false", "cpu", False)])
def test_compile_is_on_by_default_only_on_cuda(compose, tmp_path, flag, device, expected):
    cfg = compose("data=tiny", "budget.flops=1e11", f"compile={flag}", f"device={device}")
    run = trainer.build(cfg, tmp_path / "run", trainer.check(cfg), trainer.fingerprint(cfg))
    assert run.compiled is expected


def test_compile_settings_do_not_change_a_runs_identity(compose):
    base = trainer.fingerprint(compose("data=tiny", "budget.flops=1e11"))
    for extra in ("compile=true", "compile=false", "compile_mode=reduce-overhead"):
        assert trainer.fingerprint(compose("data=tiny", "budget.flops=1e11", extra)) == base


def test_accelerator_peaks_have_one_table():
    """MFU's denominators live in scaling/hardware.py only: no other module or script writes a peak FLOP/s."""
    peak = re.compile(r"\b\d+(\.\d+)?e1[2-5]\b")
    files = [*ROOT.glob("experiments/**/*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("scaling/**/*.py")]
    holders = [str(f.relative_to(ROOT)) for f in files if "PEAK" in f.read_text() and peak.search(f.read_text())]
    assert holders == ["scaling/hardware.py"]
