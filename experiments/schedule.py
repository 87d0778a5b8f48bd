"""Learning-rate schedules as a multiplier of the peak LR at each optimizer step (0-based).

- cosine (Hoffmann et al. 2022): linear warmup, then cosine decay that reaches `final` x peak at exactly the
  last step: the schedule is as long as the run (Chinchilla's key finding against Kaplan's setup).
- wsd (Hagele et al. 2024): warmup, constant, then linear decay over the last `cooldown` share of steps.
- constant: warmup, then flat.
"""

from __future__ import annotations

import math


def lr_multiplier(step: int, total_steps: int, warmup_steps: int, kind: str = "cosine", final: float = 0.1,
                  cooldown: float = 0.2) -> float:
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    last = total_steps - 1
    if kind == "cosine":
        progress = (step - warmup_steps) / max(1, last - warmup_steps)
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    if kind == "wsd":
        decay_start = max(warmup_steps, total_steps - max(1, round(cooldown * total_steps)))
        if step < decay_start:
            return 1.0
        progress = (step - decay_start + 1) / max(1, last - decay_start + 1)
        return 1.0 + (final - 1.0) * min(progress, 1.0)
    raise ValueError(f"unknown schedule {kind!r}")
