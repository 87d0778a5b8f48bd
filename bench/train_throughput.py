"""Benchmark: the trainer's tokens/s against a plain hand-written PyTorch loop of the same LLaMA shape.

Target: >= 0.95x the plain loop, i.e. the harness adds no overhead to a training step. Both train the
same model class on the same data windows with the same optimizer, batch and step count, in one process,
taking turns at going first (noise hits both alike). The trainer's figure is its own tokens_per_second
(training steps only, as in summary.json); its whole wall time (set-up, final eval, checkpoint) is printed
beside it. GFLOP/s use PaLM's FLOPs per token against this machine's measured fp32 matmul peak.

    python bench/train_throughput.py [--steps 60] [--batch 16] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

CONF = Path(__file__).resolve().parent.parent / "conf"


def matmul_peak_gflops(sizes=(512, 1024, 2048), seconds: float = 1.0) -> float:
    """The best fp32 GFLOP/s of square torch.mm over a few sizes: this machine's practical peak."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            torch.mm(a, b)
            count += 1
        best = max(best, 2 * n**3 * count / (time.perf_counter() - start) / 1e9)
    return best


def plain_loop(shape, corpus, steps: int, batch: int, lr: float) -> float:
    """The baseline: nothing but forward, backward, clip, AdamW step. Returns tokens/s."""
    from experiments.model import Transformer
    from experiments.trainer import param_groups

    torch.manual_seed(0)
    model = Transformer(shape)
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=lr, betas=(0.9, 0.95))
    start = time.perf_counter()
    for step in range(steps):
        x = torch.from_numpy(corpus.train_batch(0, step, 0, batch, shape.seq_len))
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * batch * shape.seq_len / (time.perf_counter() - start)


def trainer(shape, steps: int, batch: int, workdir: Path, tag: str) -> tuple[float, float]:
    """(tokens/s of the training steps, whole wall seconds) of `train` on a fixed shape."""
    from hydra import compose, initialize_config_dir

    import experiments.config  # noqa: F401
    from experiments.trainer import train

    overrides = ["data=tiny", f"data.cache_dir={workdir / 'cache'}", f"results_dir={workdir / 'results'}",
                 "progress=false", f"model.d_model={shape.d_model}", f"model.n_layers={shape.n_layers}",
                 f"model.n_heads={shape.n_heads}", f"model.ffn_hidden={shape.ffn_hidden}",
                 f"optim.batch_size={batch}", f"budget.tokens={steps * batch * shape.seq_len}",
                 f"optim.min_steps={steps}", "eval.count=1", "checkpoint.keep=false"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    start = time.perf_counter()
    summary = train(cfg, workdir / "runs" / tag)
    return summary["tokens_per_second"], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sizes", default="1e5,5e5,2e6,1e7", help="target parameter counts")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from experiments.data import prepare
    from experiments.sizing import peak_lr
    from scaling.architecture import solve_shape
    from scaling.flops import flops_per_token

    peak = matmul_peak_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul peak {peak:.1f} GFLOP/s "
          f"(best square torch.mm of 512..2048); {args.steps} steps x {args.batch} x 128 tokens per measurement, "
          f"best of {args.repeats}\n")
    print(f"{'params':>10} {'shape':<22} {'plain tok/s':>12} {'trainer tok/s':>14} {'ratio':>6} "
          f"{'GFLOP/s':>8} {'of peak':>8} {'trainer wall':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        corpus = prepare("tiny", cache_dir=workdir / "cache")
        for n in (float(x) for x in args.sizes.split(",")):
            shape = solve_shape(n, "llama", vocab_size=256, seq_len=128)
            plain, ours, walls = [], [], []
            for r in range(args.repeats):  # alternate which goes first: drift hits both alike
                if r % 2:
                    plain.append(plain_loop(shape, corpus, args.steps, args.batch, peak_lr(shape.params)))
                tps, wall = trainer(shape, args.steps, args.batch, workdir, f"{int(n)}-{r}")
                ours.append(tps)
                walls.append(wall)
                if not r % 2:
                    plain.append(plain_loop(shape, corpus, args.steps, args.batch, peak_lr(shape.params)))
            p, t = max(plain), max(ours)
            gflops = flops_per_token(shape, "palm") * t / 1e9
            print(f"{shape.params:>10,} {shape.describe().split(' V')[0]:<22} {p:>12,.0f} {t:>14,.0f} "
                  f"{t / p:>6.3f} {gflops:>8.1f} {gflops / peak:>8.1%} {statistics.median(walls):>12.1f}s")


if __name__ == "__main__":
    main()
