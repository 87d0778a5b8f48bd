"""Length extrapolation (experiments.extrapolate) against independent computations: the 1x loss is the run's own
final validation loss, the rotary table at 2x is the closed form for 2T positions (not the training table cut),
the first T positions of a 2x window score as a 1x model scores the window's prefix (causality), and learned
positions past their table are reported unsupported."""

import json

import numpy as np
import pytest
import torch

from experiments import checkpoint
from experiments.extrapolate import extrapolate, main, model_at_context, position_losses
from experiments.trainer import train
from scaling.architecture import ModelShape
from scaling.rundir import read_summary
from tests.conftest import BRIEF

T = 32


@pytest.fixture
def trained(compose, tmp_path):
    def _train(position: str):
        cfg = compose("data=tiny", "budget.flops=3e9", f"model.seq_len={T}", f"model.position={position}",
                      "data.val_windows=16", "eval.count=2", "checkpoint.keep=true", "threads=1", *BRIEF)
        run_dir = tmp_path / position
        assert train(cfg, run_dir)["status"] == "completed"
        return run_dir, cfg
    return _train


def test_one_x_is_the_runs_own_evaluation_and_rope_extends_with_a_table_built_for_the_longer_context(trained):
    run_dir, cfg = trained("rope")
    out = extrapolate(run_dir, (1, 2, 4), cache_dir=cfg.data.cache_dir)
    assert out["factors"]["1"]["loss"] == pytest.approx(read_summary(run_dir)["final_val_loss"], rel=1e-5)
    assert [out["factors"][k]["context"] for k in ("1", "2", "4")] == [T, 2 * T, 4 * T]
    assert len(out["factors"]["4"]["buckets"]) == 16 and out["factors"]["4"]["buckets"][-1]["end"] == 4 * T

    shape = ModelShape.from_dict(read_summary(run_dir)["model"])
    weights = checkpoint.load(run_dir)["model"]
    long = model_at_context(shape, weights, 2 * T, cfg.model)
    q = shape.head_dim
    angles = np.outer(np.arange(2 * T), cfg.model.rope_theta ** (-np.arange(0, q, 2) / q))  # Su et al. 2021
    rotary = long.blocks[0].attn.rotary
    assert rotary.cos.shape == rotary.sin.shape == (2 * T, q // 2)
    np.testing.assert_allclose(rotary.cos.numpy(), np.cos(angles), atol=1e-5)
    np.testing.assert_allclose(rotary.sin.numpy(), np.sin(angles), atol=1e-5)

    # causal attention: the first T positions of a 2T window score exactly as the 1x model scores its prefix
    from experiments.trainer import load_corpus

    windows = torch.from_numpy(load_corpus(cfg).val_windows(2 * T, 8))
    at_2x = position_losses(long, windows)
    at_1x = position_losses(model_at_context(shape, weights, T, cfg.model), windows[:, :T + 1])
    np.testing.assert_allclose(at_2x[:T], at_1x, rtol=1e-5)


def test_no_positions_run_as_they_are_and_learned_positions_are_unsupported_past_their_table(trained, capsys):
    none_dir, cfg = trained("none")
    learned_dir, _ = trained("learned")
    out_file = none_dir.parent / "extrapolation.json"
    assert main([str(none_dir), str(learned_dir), "--cache-dir", cfg.data.cache_dir, "--out", str(out_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "unsupported" not in lines[0] and lines[1].count("unsupported") == 2
    none, learned = json.loads(out_file.read_text())
    assert set(none["factors"]) == {"1", "2", "4"} and all("loss" in r for r in none["factors"].values())
    assert learned["factors"]["1"]["loss"] == pytest.approx(read_summary(learned_dir)["final_val_loss"], rel=1e-5)
    assert "loss" not in learned["factors"]["2"] and "unsupported" in learned["factors"]["4"]


def test_a_directory_without_a_completed_run_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no completed run" in err
