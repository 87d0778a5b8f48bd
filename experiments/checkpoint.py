"""Checkpoints: everything a run needs to continue exactly where it stopped, written atomically.

Model and optimizer state, the step (which also fixes the data position: batches are drawn per step), the
elapsed time and the RNG states of torch, numpy and Python, plus the run's fingerprint so a checkpoint is never
resumed into a different configuration.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from scaling.atomic import atomic_path
from scaling.errors import ScalingError, first_line
from scaling.rundir import CHECKPOINT


def save(run_dir: Path, *, model, optimizer, step: int, elapsed: float, fingerprint: str, **extra) -> None:
    state = {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed,
        "fingerprint": fingerprint,
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        **extra,
    }
    with atomic_path(run_dir / CHECKPOINT) as tmp:
        try:
            torch.save(state, tmp)
        except RuntimeError as err:  # torch's writer reports a failed write (a full disk) as a RuntimeError
            raise ScalingError(f"cannot write {run_dir / CHECKPOINT}: {first_line(err)} (is the disk full?); the "
                               f"last checkpoint is kept") from None


REQUIRED = ("model", "optimizer", "step", "elapsed", "fingerprint", "rng")


class DamagedCheckpoint(Exception):
    """checkpoint.pt exists but cannot be read back whole (truncated, empty, garbage, or missing state)."""


def load(run_dir: Path, map_location="cpu") -> dict | None:
    """The saved state, None where there is no checkpoint; DamagedCheckpoint where it cannot be trusted."""
    path = run_dir / CHECKPOINT
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for a damaged file
        raise DamagedCheckpoint(f"{type(err).__name__}: {first_line(err)}") from None
    missing = [k for k in REQUIRED if not isinstance(state, dict) or k not in state]
    if missing:
        raise DamagedCheckpoint(f"missing {', '.join(missing)}")
    return state


def restore_rng(state: dict) -> None:
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
