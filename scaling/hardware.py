"""Accelerator peaks, for turning GPU-hours into a FLOP budget: C = hours x 3600 x peak x MFU.

Peaks are dense bf16/fp16 tensor-core FLOP/s from the vendors' data sheets (sparsity excluded), the convention
PaLM's MFU uses (DESIGN.md: H100 SXM and H200 989 TFLOP/s, A100 312).
"""

from __future__ import annotations

import math

from scaling.errors import ScalingError

PEAK_FLOPS: dict[str, float] = {
    "h100-sxm": 989e12,
    "h100-pcie": 756e12,
    "h200": 989e12,
    "b200": 2250e12,
    "a100": 312e12,
    "v100": 125e12,
    "l4": 121e12,
    "rtx-4090": 165.2e12,
    "mi300x": 1307.4e12,
    "tpu-v4": 275e12,
    "tpu-v5e": 197e12,
    "tpu-v5p": 459e12,
}

DEFAULT_MFU = 0.4  # a well-tuned dense-transformer run reaches 0.35-0.5 (PaLM 0.46, LLaMA ~0.4 on A100)


def device_peak(name: str) -> float:
    try:
        return PEAK_FLOPS[name.lower()]
    except KeyError:
        raise ScalingError(f"unknown GPU {name!r}: choose one of {', '.join(PEAK_FLOPS)}") from None


def flops_from_gpu_hours(gpu_hours: float, device: str, mfu: float = DEFAULT_MFU) -> float:
    """Training compute C = GPU-hours x 3600 s x peak FLOP/s x MFU."""
    if not (math.isfinite(gpu_hours) and gpu_hours > 0):
        raise ScalingError(f"--gpu-hours must be a finite positive number, got {gpu_hours!r}")
    if not (math.isfinite(mfu) and 0 < mfu <= 1):
        raise ScalingError(f"--mfu must be a fraction in (0, 1], got {mfu!r}")
    return gpu_hours * 3600.0 * device_peak(device) * mfu
