"""`scaling-train`: one run = compose config -> the planner resolves shape and tokens -> train -> results.

    scaling-train model=llama allocation=chinchilla budget.flops=3e11 data=tiny
    scaling-train -m experiment=isoflop_cpu                      # a sweep (Hydra multirun)

Results go to results/<experiment>/<run_name>/ (DESIGN.md): config.yaml (composed + resolved), metrics.jsonl,
summary.json and checkpoint.pt. Rerunning the same command resumes from the checkpoint, or skips a completed run.
Bad input is refused with one line and exit code 2 before anything is trained.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from tqdm import tqdm

from experiments import checkpoint
from experiments.config import register
from experiments.data import Corpus, prepare
from experiments.model import Transformer
from experiments.records import MetricsLog, read_summary, write_summary
from experiments.schedule import lr_multiplier
from experiments.sizing import RunPlan, resolve
from scaling.atomic import atomic_write_text
from scaling.errors import ScalingError
from scaling.flops import flops_per_token
from scaling.hardware import PEAK_FLOPS

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
# Keys that do not change what a run computes: left out of run names (conf/config.yaml) and fingerprints.
NON_IDENTITY = ("experiment_name", "results_dir", "device", "threads", "progress", "compile", "checkpoint",
                "data.cache_dir", "data.archive")
EPOCHS_WARNING = 4.0  # beyond ~4 epochs repeated data is worth less than fresh (Muennighoff et al. 2023)

register()


def fingerprint(cfg: DictConfig) -> str:
    """Hash of the config minus the keys that do not change the result: a checkpoint or a completed summary is
    only reused by the configuration that wrote it."""
    data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    data.pop("hydra", None)
    for key in NON_IDENTITY:
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node.get(p, {})
        node.pop(last, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ScalingError(f"device={name} but torch sees no CUDA device: use device=cpu (or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ScalingError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of the GPU (for MFU), from its name; None on CPU or an unknown GPU."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device).lower()
    for key, table in (("h200", "h200"), ("h100 pcie", "h100-pcie"), ("h100", "h100-sxm"), ("a100", "a100"),
                       ("b200", "b200"), ("l4", "l4"), ("v100", "v100"), ("4090", "rtx-4090")):
        if key in name:
            return PEAK_FLOPS[table]
    return None


def load_corpus(cfg: DictConfig) -> Corpus:
    d = cfg.data
    return prepare(d.name, cache_dir=d.cache_dir, tokenizer=d.tokenizer.value, vocab_size=d.vocab_size,
                   split=d.split.value, val_fraction=d.val_fraction, paths=list(d.paths), archive=d.archive,
                   hf_name=d.hf_name, hf_split=d.hf_split, hf_field=d.hf_field)


def check(cfg: DictConfig) -> tuple[Corpus, RunPlan, np.ndarray]:
    """Everything that can be refused before training: data, budget, shape, optimizer settings."""
    if cfg.eval.count < 1 or cfg.data.val_windows < 1 or cfg.eval.batch_size < 1:
        raise ScalingError("eval.count, eval.batch_size and data.val_windows must be >= 1")
    if cfg.divergence_factor <= 1:
        raise ScalingError(f"divergence_factor must be > 1, got {cfg.divergence_factor}")
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise ScalingError(f"precision must be auto, fp32 or bf16, got {cfg.precision!r}")
    if cfg.threads is not None and cfg.threads < 1:
        raise ScalingError(f"threads must be >= 1, got {cfg.threads}")
    pick_device(cfg.device)
    corpus = load_corpus(cfg)
    val = corpus.val_windows(cfg.model.seq_len, cfg.data.val_windows)
    plan = resolve(cfg, corpus.vocab_size)
    return corpus, plan, val


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices (and embeddings) only; norms and biases are not decayed."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model, windows: torch.Tensor, batch_size: int, autocast) -> float:
    """Mean cross-entropy (nats/token) over the fixed validation windows."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
        w = windows[i:i + batch_size]
        with autocast():
            _, loss = model(w[:, :-1], w[:, 1:])
        total += loss.item() * w[:, 1:].numel()
        count += w[:, 1:].numel()
    model.train()
    return total / count


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Train one run into `run_dir` (resuming or skipping as its files say); returns its summary."""
    corpus, plan, val_np = check(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    fp = fingerprint(cfg)
    done = read_summary(run_dir)
    if done and done.get("status") == "completed":
        if done.get("fingerprint") != fp:
            raise ScalingError(f"{run_dir} holds a completed run of another configuration: move it away or choose "
                               f"another experiment name")
        print(f"{run_dir}: completed already, skipping", file=sys.stderr)
        return done

    device = pick_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    torch.manual_seed(cfg.seed)
    model = Transformer(plan.shape, cfg.model.init_std, cfg.model.rope_theta, cfg.model.norm_eps).to(device)
    assert model.num_params() == plan.params, "model and planner disagree on the parameter count"
    o = cfg.optim
    optimizer = torch.optim.AdamW(param_groups(model, o.weight_decay), lr=plan.lr, betas=(o.beta1, o.beta2),
                                  eps=o.eps, fused=device.type == "cuda")
    state = checkpoint.load(run_dir, map_location=device)
    if state is not None and state.get("fingerprint") != fp:
        raise ScalingError(f"{run_dir / checkpoint.FILENAME} belongs to another configuration: delete it to start "
                           f"over, or choose another experiment name")
    step, elapsed_before, first_loss = 0, 0.0, None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed_before, first_loss = state["step"], state["elapsed"], state.get("first_loss")
        checkpoint.restore_rng(state)
    else:
        resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
        resolved["resolved"] = plan.to_dict()
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
    metrics = MetricsLog(run_dir, resume_step=step)

    train_tokens = corpus.manifest["tokens"]["train"]
    epochs = plan.tokens / train_tokens
    name = run_dir.name
    print(f"{name}: {plan.shape.style} d{plan.shape.d_model} L{plan.shape.n_layers} H{plan.shape.n_heads} "
          f"({plan.params:,} params) on {plan.tokens:,} tokens ({plan.tokens / plan.params:.3g}/param), "
          f"{plan.steps} steps of {plan.batch_size}x{plan.seq_len}, lr {plan.lr:.3g}; {cfg.data.name} "
          f"{epochs:.2f} epochs" + (f"; resuming at step {step}" if step else ""), file=sys.stderr)
    if epochs > EPOCHS_WARNING:
        warnings.warn(f"{name}: the budget reads the corpus {epochs:.1f} times (> {EPOCHS_WARNING:g} epochs): the "
                      f"data-constrained regime, where repeated tokens are worth less than fresh ones", stacklevel=1)

    fwd = model if not cfg.compile else torch.compile(model)
    val = torch.from_numpy(val_np).to(device)
    accum = plan.batch_size // plan.micro_batch_size
    log_every = cfg.log_every_steps or max(1, plan.steps // 200)
    every_tokens = cfg.eval.every_tokens
    eval_every = max(1, round(every_tokens / plan.tokens_per_step)) if every_tokens else \
        max(1, plan.steps // cfg.eval.count)
    s = cfg.schedule
    peak = peak_flops(device)
    palm_per_token = flops_per_token(plan.shape, "palm")

    start = time.perf_counter()
    last_ckpt = start
    train_time, interval_time, interval_tokens = 0.0, 0.0, 0
    loss_sum, loss_count = torch.zeros((), device=device), 0
    status, last_train, last_val = "completed", math.nan, math.nan
    bar = tqdm(total=plan.steps, initial=step, disable=None if cfg.progress else True, unit="step",
               desc=name[:40], dynamic_ncols=True, leave=False)

    def save_checkpoint() -> None:
        checkpoint.save(run_dir, model=model, optimizer=optimizer, step=step,
                        elapsed=elapsed_before + time.perf_counter() - start, fingerprint=fp, first_loss=first_loss)

    model.train()
    while step < plan.steps:
        t0 = time.perf_counter()
        lr = plan.lr * lr_multiplier(step, plan.steps, plan.warmup_steps, s.name.value, s.final_lr_fraction,
                                     s.cooldown_fraction)
        for group in optimizer.param_groups:
            group["lr"] = lr
        for micro in range(accum):
            batch = torch.from_numpy(corpus.train_batch(cfg.seed, step, micro, plan.micro_batch_size,
                                                        plan.seq_len)).to(device, non_blocking=True)
            with autocast():
                _, loss = fwd(batch[:, :-1], batch[:, 1:])
            (loss / accum).backward()
            loss_sum += loss.detach() / accum
        if o.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_count += 1
        dt = time.perf_counter() - t0
        train_time += dt
        interval_time += dt
        interval_tokens += plan.tokens_per_step
        bar.update(1)

        eval_due = step % eval_every == 0 or step == plan.steps
        if step % log_every == 0 or eval_due or step == 1:
            last_train = (loss_sum / loss_count).item()
            loss_sum.zero_()
            loss_count = 0
            if first_loss is None:
                first_loss = last_train
            record = {"step": step, "tokens": step * plan.tokens_per_step,
                      "flops": 6.0 * plan.params * step * plan.tokens_per_step, "lr": lr, "train_loss": last_train,
                      "tokens_per_second": interval_tokens / interval_time,
                      "elapsed_s": elapsed_before + time.perf_counter() - start}
            interval_time, interval_tokens = 0.0, 0
            diverged = not math.isfinite(last_train) or last_train > cfg.divergence_factor * first_loss
            if eval_due and not diverged:
                last_val = evaluate(model, val, cfg.eval.batch_size, autocast)
                record["val_loss"] = last_val
            metrics.append(record)
            bar.set_postfix(loss=f"{last_train:.3f}", tok_s=f"{record['tokens_per_second']:.3g}")
            if diverged:
                status = "diverged"
                print(f"{name}: loss {last_train} at step {step} (first {first_loss:.3f}): diverged, stopping",
                      file=sys.stderr)
                break
        now = time.perf_counter()
        if step < plan.steps and ((cfg.checkpoint.every_steps and step % cfg.checkpoint.every_steps == 0)
                                  or now - last_ckpt >= 60 * cfg.checkpoint.every_minutes):
            save_checkpoint()
            last_ckpt = time.perf_counter()
    bar.close()
    metrics.close()
    if status == "completed" and cfg.checkpoint.keep:
        save_checkpoint()
    elif status == "completed":
        (run_dir / checkpoint.FILENAME).unlink(missing_ok=True)

    tokens_done = step * plan.tokens_per_step
    tokens_per_second = (tokens_done - (state["step"] * plan.tokens_per_step if state else 0)) / max(train_time, 1e-9)
    summary = {
        "status": status, "params": plan.params, "non_embedding_params": plan.shape.non_embedding_params,
        "tokens": tokens_done, "flops": 6.0 * plan.params * tokens_done,
        "flops_exact": flops_per_token(plan.shape, "chinchilla") * tokens_done,
        "final_train_loss": last_train, "final_val_loss": last_val,
        "val_bits_per_byte": last_val / math.log(2) / corpus.val_bytes_per_token,
        "steps": step, "wall_seconds": elapsed_before + time.perf_counter() - start,
        "tokens_per_second": tokens_per_second,
        "mfu": palm_per_token * tokens_per_second / peak if peak else None,
        "model": {"style": cfg.model.style, **plan.shape.to_dict()},
        "allocation": {"rule": plan.rule, "size_factor": plan.size_factor, "law": plan.law,
                       "target_params": plan.target_params, "tokens_per_param": tokens_done / plan.params,
                       "predicted_loss": plan.predicted_loss},
        "budget": {"flops": plan.budget_flops, "tokens": plan.budget_tokens},
        "seed": cfg.seed,
        "data": {"name": cfg.data.name, "tokenizer": corpus.manifest["tokenizer"],
                 "vocab_size": corpus.vocab_size, "tokens_available": train_tokens,
                 "epochs": tokens_done / train_tokens, "val_tokens": corpus.manifest["tokens"]["val"],
                 "unigram_entropy_nats": corpus.manifest["unigram_entropy_nats"]["val"],
                 "source": corpus.manifest["source"], "version": corpus.manifest["version"]},
        "optim": {"lr": plan.lr, "batch_size": plan.batch_size, "micro_batch_size": plan.micro_batch_size,
                  "seq_len": plan.seq_len, "warmup_steps": plan.warmup_steps, "schedule": s.name.value},
        "device": str(device), "precision": "bf16" if bf16 else "fp32", "torch": torch.__version__,
        "experiment": cfg.experiment_name, "run_name": name, "fingerprint": fp,
    }
    write_summary(run_dir, summary)
    print(f"{name}: {status}, val loss {last_val:.4f} nats/token ({summary['val_bits_per_byte']:.3f} bits/byte), "
          f"{summary['wall_seconds']:.1f} s, {tokens_per_second:,.0f} tokens/s", file=sys.stderr)
    return summary


def share_resources(cfg: DictConfig) -> None:
    """Give each sweep job its share of the machine: under joblib, cpu_count / n_jobs torch threads and, with
    several GPUs, GPU (job number mod GPU count); under SLURM, the task's CPUs. Explicit settings are kept."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return
    target = str(hc.launcher.get("_target_", ""))
    with open_dict(cfg):
        if "Joblib" in target:
            n_jobs = hc.launcher.n_jobs if hc.launcher.n_jobs > 0 else os.cpu_count()
            if cfg.threads is None:
                cfg.threads = max(1, (os.cpu_count() or 1) // n_jobs)
            if cfg.device == "auto" and torch.cuda.device_count() > 1:
                cfg.device = f"cuda:{hc.job.num % torch.cuda.device_count()}"
        elif cfg.threads is None and os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
            cfg.threads = int(os.environ["SLURM_CPUS_PER_TASK"])


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_app(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    share_resources(cfg)
    warnings.showwarning = _show_warning
    try:
        summary = train(cfg, run_dir)
    except ScalingError as err:
        print(f"scaling-train: error: {err}", file=sys.stderr)
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # only if Hydra made it and nothing was written
        if multirun:  # one bad job must not stop the sweep: record it and go on
            write_summary(run_dir, {"status": "failed", "error": str(err), "run_name": run_dir.name})
            return
        sys.exit(2)
    if summary.get("status") != "completed" and not multirun:
        sys.exit(1)


def _show_warning(message, *args, **kwargs) -> None:
    print(f"scaling-train: warning: {message}", file=sys.stderr)


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def config_error(err: Exception) -> str:
    """One line for a Hydra/OmegaConf composition error."""
    from hydra.errors import MissingConfigException

    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        choices = f": choose one of {', '.join(err.options)}" if err.options else ""
        return f"unknown {group or 'config'} {option!r}{choices}"
    cause = err.__cause__ or err
    key = getattr(cause, "full_key", None)
    message = _first_line(cause)
    return f"{key}: {message}" if key and key not in message else message or _first_line(err)


def validate_args(overrides: list[str]) -> str | None:
    """Compose and check a single run's overrides as the app will; the error line, or None if all is well."""
    from hydra import compose, initialize_config_dir

    task = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=task)
    except Exception as err:  # Hydra and OmegaConf raise many types; each becomes one line
        return config_error(err)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the run itself reports them
            check(cfg)
    except ScalingError as err:
        return str(err)
    return None


def main() -> None:
    """Console script: refuse bad single-run input with one line (exit 2), then hand over to Hydra."""
    args = sys.argv[1:]
    if not any(a.startswith("-") for a in args):
        error = validate_args(args)
        if error:
            print(f"scaling-train: error: {error}", file=sys.stderr)
            sys.exit(2)
    hydra_app()


if __name__ == "__main__":
    main()
