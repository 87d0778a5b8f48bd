"""Benchmark: RMSNorm vs LayerNorm, forward + backward, eager and torch.compile, across widths; and the norms'
share of a training step at the architecture ablation's sizes.

The claim under test (Zhang & Sennrich 2019; LLaMA): RMSNorm is cheaper than LayerNorm, which also centres and
(GPT-3) adds a bias. Both norms are the harness's own modules (experiments.model.make_norm: RMSNorm on
F.rms_norm, nn.LayerNorm with bias as GPT-3), timed in one process, taking turns (noise hits both alike), on
`--tokens` rows of each width; the ratio is LayerNorm time / RMSNorm time.

Share of a step: for each architecture of experiment=arch_ablation_cpu at each budget (its exact shape and
batch, from the harness's own sizing), the time of one optimizer step (forward, backward, clip, AdamW) and the
time of its 2L (+1 with pre-norm) norm calls at the step's shape, forward + backward, from the same loop.

    python bench/norm_speed.py [--threads 1] [--tokens 4096] [--widths 32,64,...] [--no-compile]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

CONF = Path(__file__).resolve().parent.parent / "conf"


def _time(fn, repeats: int, min_seconds: float = 0.05) -> float:
    """Median seconds per call over `repeats` timed batches of calls (each at least `min_seconds`)."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn()
        n += 1
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


def fwd_bwd(norm, x: torch.Tensor, grad: torch.Tensor):
    def call():
        x.grad = None
        for p in norm.parameters():
            p.grad = None
        norm(x).backward(grad)
    return call


def make(kind: str, width: int):
    from experiments.model import make_norm
    from scaling.architecture import Components, ModelShape

    components = Components(norm=kind, bias=kind == "layernorm")  # LayerNorm as GPT-3 has it: with bias
    shape = ModelShape(d_model=width, n_layers=1, n_heads=1, vocab_size=256, seq_len=128, components=components)
    return make_norm(shape, 1e-5)


def microbench(widths: list[int], tokens: int, repeats: int, compiled: bool) -> list[dict]:
    rows = []
    for width in widths:
        x = torch.randn(tokens, width, requires_grad=True)
        grad = torch.randn(tokens, width)
        times = {}
        for kind in ("rmsnorm", "layernorm"):
            norm = make(kind, width)
            if compiled:
                norm = torch.compile(norm, dynamic=False)
            times[kind] = fwd_bwd(norm, x, grad)
        measured = {k: [] for k in times}
        for turn in range(2):  # take turns at going first
            for kind in (("rmsnorm", "layernorm") if turn == 0 else ("layernorm", "rmsnorm")):
                measured[kind].append(_time(times[kind], repeats))
        rms, ln = min(measured["rmsnorm"]), min(measured["layernorm"])
        rows.append({"width": width, "rmsnorm_us": rms * 1e6, "layernorm_us": ln * 1e6, "ratio": ln / rms})
    return rows


def train_step(model, opt, data: torch.Tensor):
    """One optimizer step as the trainer takes it: forward, backward, clip, AdamW."""
    def step():
        _, loss = model(data[:, :-1], data[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def step_share(budgets: list[str], archs: list[str], repeats: int) -> list[dict]:
    """Per (arch, budget): one training step's time and its norm calls' time, forward + backward."""
    from hydra import compose, initialize_config_dir

    import experiments.config  # noqa: F401  (registers the schema)
    from experiments.model import Transformer
    from experiments.sizing import resolve
    from experiments.trainer import param_groups
    from scaling.planning import plan_point

    rows = []
    for budget in budgets:
        # the ablation's width at this budget: the model ladder's rung nearest the Chinchilla-rule N
        # (conf/experiment/arch_ablation_cpu.yaml)
        width = plan_point(float(budget), "chinchilla", "chinchilla", vocab_size=256, seq_len=128,
                           shape_rule="ladder").shape.d_model
        for arch in archs:
            with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
                cfg = compose(config_name="config", overrides=["experiment=arch_ablation_cpu", f"+arch={arch}",
                                                               f"budget.flops={budget}", f"model.d_model={width}"])
            plan = resolve(cfg, 256)  # byte-level Gutenberg's vocabulary
            shape, batch, t = plan.shape, plan.batch_size, plan.seq_len
            torch.manual_seed(0)
            model = Transformer(shape)
            opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3)
            data = torch.randint(0, 256, (batch, t + 1))

            norm = model.blocks[0].norm1
            x = torch.randn(batch, t, shape.d_model, requires_grad=True)
            calls = 2 * shape.n_layers + (1 if shape.components.norm_position == "pre" else 0)
            step_s = _time(train_step(model, opt, data), repeats, 0.2)
            norm_s = _time(fwd_bwd(norm, x, torch.randn_like(x)), repeats)
            rows.append({"arch": arch, "budget": budget, "d_model": shape.d_model, "n_layers": shape.n_layers,
                         "norm": shape.components.norm, "tokens_per_step": batch * t, "step_ms": step_s * 1e3,
                         "norm_calls": calls, "norms_ms": calls * norm_s * 1e3, "share": calls * norm_s / step_s})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: pinned, comparable)")
    parser.add_argument("--tokens", type=int, default=4096, help="rows normalised per call in the microbenchmark")
    parser.add_argument("--widths", default="32,64,128,256,512,1024,2048,4096")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="eager only")
    parser.add_argument("--budgets", default="1e11,3e11")
    parser.add_argument("--archs", default="llama,llama_layernorm,gpt3,gpt3_rmsnorm")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU; {args.tokens} rows per call; "
          f"time per call, forward + backward (not measured on GPU)")
    modes = [("eager", False)] + ([] if args.no_compile else [("compiled", True)])
    for mode, compiled in modes:
        print(f"\n{mode}:\n{'width':>6} {'RMSNorm us':>11} {'LayerNorm us':>13} {'LN/RMS':>7}")
        for r in microbench(widths, args.tokens, args.repeats, compiled):
            print(f"{r['width']:>6} {r['rmsnorm_us']:>11.1f} {r['layernorm_us']:>13.1f} {r['ratio']:>7.2f}")
    print("\nshare of a training step (eager; the ablation's shapes and batches):")
    print(f"{'arch':<16} {'C':>6} {'d':>4} {'L':>2} {'norm':<10} {'tok/step':>8} {'step ms':>8} {'calls':>5} "
          f"{'norms ms':>8} {'share':>6}")
    for r in step_share(args.budgets.split(","), args.archs.split(","), args.repeats):
        print(f"{r['arch']:<16} {r['budget']:>6} {r['d_model']:>4} {r['n_layers']:>2} {r['norm']:<10} "
              f"{r['tokens_per_step']:>8} {r['step_ms']:>8.2f} {r['norm_calls']:>5} {r['norms_ms']:>8.3f} "
              f"{r['share']:>6.1%}")


if __name__ == "__main__":
    main()
