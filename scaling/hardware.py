"""Accelerator peaks, for turning GPU-hours into a FLOP budget: C = hours x 3600 x peak x MFU.

Peaks are dense bf16/fp16 tensor-core FLOP/s from the vendors' data sheets (sparsity excluded), the convention
PaLM's MFU uses (H100 SXM and H200 989 TFLOP/s, A100 312). The harness reads the same table for MFU.
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

# Substrings of the names torch.cuda.get_device_name reports, most specific first, -> PEAK_FLOPS keys.
DEVICE_NAMES = (("h200", "h200"), ("h100 pcie", "h100-pcie"), ("h100", "h100-sxm"), ("a100", "a100"),
                ("b200", "b200"), ("l4", "l4"), ("v100", "v100"), ("4090", "rtx-4090"), ("mi300x", "mi300x"))

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
    flops = gpu_hours * 3600.0 * device_peak(device) * mfu
    if not math.isfinite(flops):
        raise ScalingError(f"--gpu-hours {gpu_hours:g} on {device} at MFU {mfu:g} overflows ({flops} FLOPs): give "
                           f"a real number of GPU-hours")
    return flops


def peak_of_device_name(name: str) -> float | None:
    """Dense bf16 peak of a GPU from the name its driver reports ("NVIDIA H100 80GB HBM3"); None if unknown."""
    lowered = name.lower()
    return next((PEAK_FLOPS[key] for part, key in DEVICE_NAMES if part in lowered), None)
