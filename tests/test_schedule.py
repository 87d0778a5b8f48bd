"""Learning-rate schedules: warmup, cosine to 10% at exactly the last step, WSD cooldown."""

import math

import pytest

from experiments.schedule import lr_multiplier


def test_warmup_is_linear_to_peak():
    assert [lr_multiplier(s, 100, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]


def test_cosine_reaches_final_fraction_at_the_last_step():
    total, warmup = 1000, 50
    values = [lr_multiplier(s, total, warmup, "cosine", 0.1) for s in range(total)]
    assert values[warmup] == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.1)
    mid = warmup + (total - 1 - warmup) / 2
    assert lr_multiplier(int(mid), total, warmup) == pytest.approx(0.55, abs=2e-3)  # half-way: (1 + 0.1) / 2
    assert all(a >= b for a, b in zip(values[warmup:], values[warmup + 1:], strict=False))


def test_cosine_matches_its_closed_form():
    total, warmup, final = 200, 10, 0.1
    for s in range(warmup, total):
        p = (s - warmup) / (total - 1 - warmup)
        assert lr_multiplier(s, total, warmup, "cosine", final) == pytest.approx(
            final + (1 - final) * (1 + math.cos(math.pi * p)) / 2)


def test_wsd_is_flat_then_decays_over_the_cooldown():
    total = 100
    values = [lr_multiplier(s, total, 5, "wsd", 0.0, 0.2) for s in range(total)]
    assert all(v == 1.0 for v in values[5:80])
    assert values[-1] == pytest.approx(0.0) and values[80] < 1.0


def test_constant_after_warmup():
    assert lr_multiplier(500, 1000, 10, "constant") == 1.0
