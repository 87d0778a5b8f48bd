"""The architecture-claims analysis (scaling.ablation) against independent computations: scipy's Welch test for
the intervals, closed forms for the power law and the compute multiplier, and known synthetic sweeps for the
verdicts, the labels and the LR-stability table."""

import math

import numpy as np
import pytest
from scipy import stats

from scaling.ablation import (
    ablation_runs,
    arch_label,
    claims,
    compute_multiplier,
    lr_stability,
    power_law,
    welch_interval,
)
from scaling.architecture import STYLES
from scaling.cli import main
from scaling.errors import ScalingError
from scaling.results import load_runs
from tests.synthetic_runs import write_run

BUDGETS = (1e11, 3e11, 1e12)


def test_welch_interval_is_scipys():
    a, b = np.array([2.10, 2.13, 2.08, 2.11]), np.array([2.00, 2.06, 2.01])
    diff, lo, hi = welch_interval(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(a.mean() - b.mean()) and (lo, hi) == pytest.approx((ci.low, ci.high))


def test_power_law_and_multiplier_closed_forms():
    c = np.array(BUDGETS)
    e, k, g = 1.0, 30.0, 0.12
    assert power_law(c, e + k * c ** -g, irreducible=e) == pytest.approx((math.log(k), g))
    # the old architecture needs 2x the compute everywhere when its k is 2^g times the new one's (same g)
    new, old = (math.log(k), g), (math.log(k * 2 ** g), g)
    for budget in BUDGETS:
        assert compute_multiplier(new, old, budget, e) == pytest.approx(2.0)
    # a steeper old curve catches up: the multiplier shrinks with compute, L_old(m C) = L_new(C) by hand
    old = (math.log(k * 2 ** g), 0.15)
    m = [compute_multiplier(new, old, budget, e) for budget in BUDGETS]
    for budget, mult in zip(BUDGETS, m, strict=True):
        assert k * 2 ** g * (mult * budget) ** -0.15 == pytest.approx(k * budget ** -g)
    assert m[0] > m[-1]


def test_labels_name_the_end_and_the_switch_flipped():
    assert arch_label(STYLES["llama"].__dict__) == "llama"
    assert arch_label({**STYLES["gpt3"].__dict__, "norm_position": "post"}) == "gpt3 norm_position=post"
    assert arch_label({**STYLES["llama"].__dict__, "position": "learned"}) == "llama position=learned"


def _sweep(root, effects: dict, noise: float = 0.002, seeds: int = 3):
    """Runs of llama and its flips with loss = base(C) + effect + noise (effect: the flip's added loss)."""
    rng = np.random.default_rng(0)
    for flip, effect in effects.items():
        components = {**STYLES["llama"].__dict__, **dict([flip])} if flip else STYLES["llama"].__dict__
        for c in BUDGETS:
            for seed in range(seeds):
                loss = 10 * c ** -0.05 + effect + noise * rng.standard_normal()
                write_run(root / f"{flip}-{c:g}-{seed}", {
                    "status": "completed", "params": 5e4, "final_val_loss": loss, "flops_exact": c, "seed": seed,
                    "budget": {"flops": c}, "model": {"style": "custom", "components": components}}, [])
    return root


def test_verdicts_follow_the_interval(tmp_path):
    root = _sweep(tmp_path, {None: 0.0, ("norm", "layernorm"): 0.05, ("ffn", "gelu"): -0.05,
                             ("position", "learned"): 0.0})
    table = claims(ablation_runs(root)).set_index(["claim", "budget"])
    verdict = {claim.split()[0]: v for (claim, _), v in table["verdict"].items()}
    assert verdict == {"RMSNorm": "supported", "SwiGLU": "not at this scale", "RoPE": "inconclusive"}
    assert set(table["end"]) == {"llama"}  # no gpt3 runs: no gpt3 rows


def test_cli_writes_the_table_and_a_missing_dir_is_one_line(tmp_path, capsys):
    root = _sweep(tmp_path / "runs", {None: 0.0, ("norm", "layernorm"): 0.05})
    assert main(["ablation", str(root), "--bootstrap", "200", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "| llama norm=layernorm |" in out and "supported" in out and (root / "ablation.md").exists()
    assert main(["ablation", str(tmp_path / "nothing")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_an_ablation_without_figures_removes_an_earlier_ones(tmp_path, capsys):
    root = _sweep(tmp_path / "runs", {None: 0.0, ("norm", "layernorm"): 0.05})
    assert main(["ablation", str(root), "--bootstrap", "200"]) == 0
    assert (root / "ablation_loss_vs_compute.png").is_file()
    capsys.readouterr()
    assert main(["ablation", str(root), "--bootstrap", "200", "--no-plots"]) == 0
    assert not (root / "ablation_loss_vs_compute.png").exists() and (root / "ablation.md").is_file()
    assert "removed an earlier ablation's figures that this one does not draw" in capsys.readouterr().out


def _refused(capsys, *args) -> str:
    assert main(["ablation", *map(str, args), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bad_options_and_inputs_are_one_line_and_write_nothing(tmp_path, capsys):
    root = _sweep(tmp_path / "runs", {None: 0.0, ("norm", "layernorm"): 0.05})
    assert "--bootstrap takes a whole number of resamples from 200" in _refused(capsys, root, "--bootstrap", 0)
    assert "--seed takes a whole number >= 0" in _refused(capsys, root, "--seed", -1)
    assert "--irreducible takes a finite loss >= 0" in _refused(capsys, root, "--irreducible", "nan")
    for content in (b"[1, 2, 3]", b'[{"factors": 3}]', b"\xff\xfe"):
        (tmp_path / "ext.json").write_bytes(content)
        assert "ext.json" in _refused(capsys, root, "--extrapolation", tmp_path / "ext.json")
    (tmp_path / "empty").mkdir()
    assert "the LR sweep's runs lack" in _refused(capsys, root, "--lr-sweep", tmp_path / "empty")
    one = _sweep(tmp_path / "one", {None: 0.0})  # a sweep of one architecture is no ablation
    assert "have one architecture or none (llama)" in _refused(capsys, one)
    assert not (root / "ablation.md").exists() and not (one / "ablation.md").exists()


def test_lr_stability_reports_the_first_diverged_multiple(tmp_path):
    for position in ("pre", "post"):
        for warmup in (0, 10):
            for scale in (1, 4, 16):
                diverged = position == "post" and scale >= (4 if warmup == 0 else 16)
                write_run(tmp_path / f"{position}-{warmup}-{scale}", {
                    "status": "diverged" if diverged else "completed", "final_val_loss": 2.0 + scale / 100,
                    "model": {"components": {"norm_position": position}},
                    "steps": 7 if diverged else 100,
                    "optim": {"lr": 0.01 * scale, "lr_scale": scale, "warmup_steps": warmup}}, [])
    table = lr_stability(load_runs(tmp_path)).set_index(["norm_position", "warmup"])
    assert table.loc[("post", False), "first_diverged_scale"] == 4
    assert table.loc[("post", True), "first_diverged_scale"] == 16
    assert table.loc[("post", True), "first_diverged_lr"] == pytest.approx(0.16)
    assert table.loc[("post", True), "diverged_at_step"] == 7
    assert math.isnan(table.loc[("pre", False), "first_diverged_scale"])
    assert table.loc[("pre", True), "best_scale"] == 1


def test_a_sweep_at_one_lr_multiple_is_no_lr_sweep(tmp_path):
    """An isoFLOP sweep records the same optim fields at the rule's LR: nothing about stability to read in it."""
    for size in (1, 2, 4):
        write_run(tmp_path / f"size{size}", {
            "status": "completed", "final_val_loss": 2.0 + size / 100,
            "model": {"components": {"norm_position": "pre"}}, "steps": 100,
            "optim": {"lr": 0.01, "lr_scale": 1.0, "warmup_steps": 10}}, [])
    with pytest.raises(ScalingError, match=r"are at 1 LR multiple\(s\) \(1\), not a sweep"):
        lr_stability(load_runs(tmp_path))
