"""Length extrapolation: a trained run evaluated at 1x, 2x and 4x its training context, loss per position bucket.

`python -m experiments.extrapolate RUN_DIR [RUN_DIR ...] [--factors 1,2,4] [--out FILE.json]` loads each run's
final checkpoint (a run keeps it with checkpoint.keep=true) and evaluates it, as it is, on validation windows of
k x T tokens, T its training context. RoPE (Su et al. 2021) and no-position models need nothing new: the rotary
table is built for the longer context (a fresh `Rotary` of k T rows, never the training table cut or repeated),
and causal attention alone carries no length. A learned absolute table (GPT-3) has no row for position T or
later: past 1x such a run is reported as unsupported, in one line, not extended by an invented rule.

The windows are `Corpus.val_windows` of k T + 1 tokens, as many as the run evaluated on (data.val_windows), so
at 1x the mean is the run's own final validation loss.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from experiments import checkpoint
from experiments.config import TrainConfig
from experiments.model import Transformer
from scaling.architecture import ModelShape
from scaling.atomic import atomic_write_json
from scaling.errors import ScalingError, first_line
from scaling.rundir import CONFIG, read_summary

FACTORS = (1, 2, 4)
BUCKETS_PER_CONTEXT = 4  # loss reported per quarter of the training context


def unsupported_reason(position: str, factor: int) -> str | None:
    """Why a model with `position` cannot be evaluated at `factor` x its training context, or None."""
    if position == "learned" and factor > 1:
        return "learned absolute positions have no table row past the training context (not extended)"
    return None


def _run_config(run_dir: Path, cache_dir: str | None):
    """The run's config.yaml read back through the schema (typed, so the corpus loads as the trainer loaded it)."""
    try:
        written = OmegaConf.load(run_dir / CONFIG)
    except FileNotFoundError:
        raise ScalingError(f"{run_dir} has no {CONFIG}: not a run directory of scaling-train") from None
    written.pop("resolved", None)
    cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), written)
    if cache_dir is not None:
        cfg.data.cache_dir = cache_dir
    return cfg


def model_at_context(shape: ModelShape, weights: dict, context: int, model_cfg) -> Transformer:
    """The run's weights in a model built for `context` tokens: its rotary table (a non-persistent buffer) is
    computed for `context` rows; a learned table keeps its T rows (so it is only asked for context <= T)."""
    model = Transformer(dataclasses.replace(shape, seq_len=context), model_cfg.init_std, model_cfg.rope_theta,
                        model_cfg.norm_eps)
    model.load_state_dict(weights)
    return model


def position_losses(model: Transformer, windows: torch.Tensor, batch_size: int = 32) -> np.ndarray:
    """Mean cross-entropy (nats) at each position of the windows (B, T + 1): an array of T."""
    total = torch.zeros(windows.shape[1] - 1, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            w = windows[i:i + batch_size]
            logits = model(w[:, :-1])
            loss = F.cross_entropy(logits.float().transpose(1, 2), w[:, 1:], reduction="none")
            total += loss.double().sum(0)
    return (total / len(windows)).numpy()


def extrapolate(run_dir: str | Path, factors=FACTORS, cache_dir: str | None = None) -> dict:
    """Loss of a completed run at each factor x its training context: mean and per bucket (T / 4 positions)."""
    from experiments.trainer import load_corpus

    run_dir = Path(run_dir)
    summary = read_summary(run_dir, warn=False)
    if summary is None or summary.get("status") != "completed":
        raise ScalingError(f"{run_dir}: no completed run there (summary.json missing or not completed)")
    try:
        state = checkpoint.load(run_dir)
    except checkpoint.DamagedCheckpoint as err:
        raise ScalingError(f"{run_dir}: checkpoint.pt is damaged ({first_line(err)})") from None
    if state is None:
        raise ScalingError(f"{run_dir}: no checkpoint.pt; train with checkpoint.keep=true to keep the weights")
    cfg = _run_config(run_dir, cache_dir)
    shape = ModelShape.from_dict(summary["model"])
    corpus = load_corpus(cfg)
    t = shape.seq_len
    bucket = max(1, t // BUCKETS_PER_CONTEXT)
    out = {"run": run_dir.name, "path": str(run_dir), "position": shape.components.position,
           "components": dataclasses.asdict(shape.components), "budget": summary.get("budget", {}).get("flops"),
           "seed": summary.get("seed"), "train_context": t, "final_val_loss": summary.get("final_val_loss"),
           "factors": {}}
    for k in factors:
        reason = unsupported_reason(shape.components.position, k)
        if reason is not None:
            out["factors"][str(k)] = {"context": k * t, "unsupported": reason}
            continue
        model = model_at_context(shape, state["model"], k * t, cfg.model)
        windows = torch.from_numpy(corpus.val_windows(k * t, cfg.data.val_windows))
        per_position = position_losses(model, windows, cfg.eval.batch_size)
        buckets = [{"start": s, "end": min(s + bucket, k * t), "loss": float(per_position[s:s + bucket].mean())}
                   for s in range(0, k * t, bucket)]
        out["factors"][str(k)] = {"context": k * t, "loss": float(per_position.mean()), "windows": len(windows),
                                  "buckets": buckets}
    return out


def render(result: dict) -> str:
    parts = []
    for k, r in result["factors"].items():
        loss = f"unsupported ({r['unsupported']})" if "unsupported" in r else f"{r['loss']:.4f}"
        parts.append(f"{k}x ({r['context']}): {loss}")
    return f"{result['run']} [{result['position']}]: " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.extrapolate", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="completed run directories (with checkpoint.pt)")
    parser.add_argument("--factors", default=",".join(map(str, FACTORS)),
                        help="multiples of the training context (default 1,2,4)")
    parser.add_argument("--out", help="write the results (a JSON list, one object per run) here")
    parser.add_argument("--cache-dir", help="the token cache (default: the run's data.cache_dir)")
    args = parser.parse_args(argv)
    try:
        try:
            factors = [int(f) for f in args.factors.split(",")]
        except ValueError:
            raise ScalingError(f"--factors takes positive integers such as 1,2,4, got {args.factors!r}") from None
        if not factors or min(factors) < 1:
            raise ScalingError(f"--factors takes positive integers such as 1,2,4, got {args.factors!r}")
        results = []
        for run in args.runs:
            results.append(extrapolate(run, factors, args.cache_dir))
            print(render(results[-1]))
        if args.out:
            atomic_write_json(Path(args.out), results)
    except ScalingError as err:
        print(f"extrapolate: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
