"""Benchmark: the trainer's tokens/s against a plain hand-written PyTorch loop of the same LLaMA shape, on the
SAME device, and (`--ladder`, for a GPU) the 2M / 20M / 124M ladder at context 1024 with MFU and peak memory.

Target: trainer >= 0.95x the plain loop at every size, i.e. the harness adds no overhead to a training step.
Both train the same model class on the same data windows with the same optimizer, batch, step count, precision
(bf16 autocast on CUDA, fp32 on the CPU) and compile setting (on for CUDA, off for the CPU, as the trainer's
default), in one process, taking turns at going first (drift hits both alike). Both figures are steady state:
the first sixth of the steps (compilation, allocator warm-up) is left out; on CUDA the clock stops only after
the device has finished (the trainer's log points synchronise, the plain loop synchronises at its ends). MFU
uses PaLM's FLOPs per token over the GPU's dense bf16 peak (scaling/hardware.py); on the CPU GFLOP/s are shown
against this machine's measured fp32 matmul peak instead.

    python bench/train_throughput.py [--device cpu] [--steps 60] [--batch 16] [--repeats 2] [--threads N]
    python bench/train_throughput.py --device cuda --ladder [--json OUT.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

CONF = Path(__file__).resolve().parent.parent / "conf"
# parameter counts of the GPU ladder, the largest (GPT-2 small's size) first: its MFU is the headline, and a
# time limit (bench/gpu_check.sh) keeps the sizes finished
LADDER = "1.24e8,2e7,2e6"


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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(shape, corpus, steps: int, batch: int, lr: float, device: torch.device, compile_: bool,
               mode: str = "default") -> float:
    """The baseline: nothing but forward, backward, clip, AdamW step, as a GPU user would write it (bf16
    autocast, fused AdamW, pinned non-blocking copies on CUDA). Returns steady-state tokens/s."""
    from experiments.model import Transformer
    from experiments.trainer import param_groups

    torch.manual_seed(0)
    model = Transformer(shape).to(device)
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=lr, betas=(0.9, 0.95), fused=device.type == "cuda")
    fwd = torch.compile(model, mode=mode) if compile_ else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    warmup = max(1, steps // 6)
    for step in range(steps):
        if step == warmup:
            sync(device)
            start = time.perf_counter()
        x = torch.from_numpy(corpus.train_batch(0, step, 0, batch, shape.seq_len))
        x = x.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else x
        with autocast:
            _, loss = fwd(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync(device)
    return (steps - warmup) * batch * shape.seq_len / (time.perf_counter() - start)


def steady_rate(rows: list[dict], warmup: int) -> float:
    """tokens/s over the log intervals that start at or after `warmup` steps (each row's tokens_per_second
    is its interval's, training time only)."""
    tokens = seconds = 0.0
    for prev, row in zip(rows, rows[1:], strict=False):
        if prev["step"] >= warmup:
            tokens += row["tokens"] - prev["tokens"]
            seconds += (row["tokens"] - prev["tokens"]) / row["tokens_per_second"]
    return tokens / seconds


def trainer(shape, steps: int, batch: int, workdir: Path, tag: str, device: str, compile_: bool,
            mode: str = "default") -> dict:
    """The harness's `train` on a fixed shape: steady-state tokens/s, whole wall seconds, its summary."""
    from hydra import compose, initialize_config_dir

    import experiments.config  # noqa: F401
    from experiments.trainer import train
    from scaling.rundir import read_metrics

    warmup = max(1, steps // 6)
    overrides = ["data=tiny", f"data.cache_dir={workdir / 'cache'}", f"results_dir={workdir / 'results'}",
                 "progress=false", f"model.d_model={shape.d_model}", f"model.n_layers={shape.n_layers}",
                 f"model.n_heads={shape.n_heads}", f"model.ffn_hidden={shape.ffn_hidden}",
                 f"model.seq_len={shape.seq_len}", f"optim.batch_size={batch}",
                 f"budget.tokens={steps * batch * shape.seq_len}", f"optim.min_steps={steps}", "eval.count=1",
                 "data.val_windows=8", f"log_every_steps={warmup}", "checkpoint.keep=false",
                 "checkpoint.every_minutes=1e9", f"device={device}", f"compile={str(compile_).lower()}",
                 f"compile_mode={mode}"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    start = time.perf_counter()
    summary = train(cfg, workdir / "runs" / tag)
    wall = time.perf_counter() - start
    return {"tokens_per_second": steady_rate(read_metrics(workdir / "runs" / tag), warmup), "wall": wall,
            "summary": summary}


def main() -> None:
    from experiments.trainer import COMPILE_MODES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N: both loops run here")
    parser.add_argument("--ladder", action="store_true", help=f"the GPU ladder: sizes {LADDER} at context 1024")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=None, help="sequences per step (default 16; ladder 32)")
    parser.add_argument("--seq-len", type=int, default=None, help="context (default 128; ladder 1024)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sizes", default=None, help="target parameter counts (default 1e5,5e5,2e6,1e7)")
    parser.add_argument("--compile", default="auto", choices=["auto", "true", "false"],
                        help="torch.compile both loops (auto: on CUDA only, as the trainer)")
    parser.add_argument("--compile-mode", default="default", choices=COMPILE_MODES,
                        help="torch.compile's mode for both loops (reduce-overhead: CUDA graphs)")
    parser.add_argument("--plain", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the plain loop (--no-plain: the trainer's figures only)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch or (32 if args.ladder else 16)
    seq_len = args.seq_len or (1024 if args.ladder else 128)
    sizes = args.sizes or (LADDER if args.ladder else "1e5,5e5,2e6,1e7")

    from experiments.data import prepare
    from experiments.sizing import peak_lr
    from experiments.trainer import peak_flops, pick_device
    from scaling.architecture import solve_shape
    from scaling.flops import flops_per_token

    device = pick_device(args.device)
    compile_ = device.type == "cuda" if args.compile == "auto" else args.compile == "true"
    peak = peak_flops(device)  # dense bf16 FLOP/s of a known GPU; None on the CPU
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    cpu_peak = None if device.type == "cuda" else matmul_peak_gflops()
    print(f"torch {torch.__version__} on {name}; compile {compile_ and args.compile_mode}; {args.steps} steps x "
          f"{batch} x {seq_len} tokens "
          f"per measurement (first {max(1, args.steps // 6)} left out), best of {args.repeats}"
          + (f"; fp32 matmul peak {cpu_peak:.1f} GFLOP/s" if cpu_peak else "") + "\n")
    print(f"{'params':>12} {'shape':<22} {'plain tok/s':>12} {'trainer tok/s':>14} {'ratio':>6} "
          f"{'GFLOP/s':>9} {'MFU' if peak else 'of peak':>8} {'peak mem':>9} {'trainer wall':>13}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        corpus = prepare("tiny", cache_dir=workdir / "cache")
        for n in (float(x) for x in sizes.split(",")):
            shape = solve_shape(n, "llama", vocab_size=256, seq_len=seq_len)
            lr = peak_lr(shape.params)
            plain, ours, walls, memory = [], [], [], 0
            for r in range(args.repeats):  # alternate which goes first: drift hits both alike
                if r % 2 and args.plain:
                    plain.append(plain_loop(shape, corpus, args.steps, batch, lr, device, compile_, args.compile_mode))
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                got = trainer(shape, args.steps, batch, workdir, f"{int(n)}-{r}", args.device, compile_,
                              args.compile_mode)
                if device.type == "cuda":
                    memory = max(memory, torch.cuda.max_memory_allocated(device))
                ours.append(got["tokens_per_second"])
                walls.append(got["wall"])
                if not r % 2 and args.plain:
                    plain.append(plain_loop(shape, corpus, args.steps, batch, lr, device, compile_, args.compile_mode))
            p, t = (max(plain) if plain else None), max(ours)
            gflops = flops_per_token(shape, "palm") * t / 1e9
            share = gflops * 1e9 / peak if peak else (gflops / cpu_peak if cpu_peak else None)
            row = {"params": shape.params, "shape": shape.describe().split(" V")[0], "seq_len": seq_len,
                   "batch": batch, "plain_tokens_per_second": p, "trainer_tokens_per_second": t,
                   "ratio": t / p if p else None, "gflops": gflops, "mfu": gflops * 1e9 / peak if peak else None,
                   "peak_memory_gib": memory / 2**30 if device.type == "cuda" else None,
                   "trainer_wall_seconds": statistics.median(walls), "device": name, "compile": compile_,
                   "compile_mode": args.compile_mode if compile_ else None}
            rows.append(row)
            print(f"{shape.params:>12,} {row['shape']:<22} {p or float('nan'):>12,.0f} {t:>14,.0f} "
                  f"{row['ratio'] or float('nan'):>6.3f} {gflops:>9.1f} {share or float('nan'):>8.1%} "
                  f"{(f'{memory / 2**30:.2f} GiB' if device.type == 'cuda' else '-'):>9} "
                  f"{row['trainer_wall_seconds']:>12.1f}s", flush=True)
            if args.json:  # after every size, so that a run stopped by a time limit keeps the sizes it finished
                tmp = args.json.with_name(args.json.name + ".tmp")
                tmp.write_text(json.dumps(rows, indent=1) + "\n")
                tmp.replace(args.json)


if __name__ == "__main__":
    main()
