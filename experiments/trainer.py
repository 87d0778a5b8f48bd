"""Training one run: check it, build the model and optimizer the plan asks for, step through its budget, write
its summary. The launcher (`experiments.train`) composes the config and hands it here; this module never sees
Hydra's command line.

A run's directory is `scaling.rundir`'s: config.yaml when it starts, metrics.jsonl as it goes, checkpoint.pt
now and then, summary.json at the end. Rerunning the same configuration resumes from the checkpoint, or skips a
completed run; a different configuration is refused rather than mixed in. A run whose training a completed run
of the same experiment directory did under another name (`computation`) copies it (`_reuse_twin`).

What can go wrong, and what happens:
- a second process on the same run directory is refused (`RunLock`), naming the one that holds it;
- SIGINT (Ctrl-C) or SIGTERM (SLURM preemption, `kill`) saves a checkpoint at the end of the current step and
  raises RunInterrupted; the launcher prints one line; rerunning resumes exactly (a second Ctrl-C stops at once);
- a damaged checkpoint.pt, summary.json or config.yaml, or a metrics.jsonl that lacks log points the checkpoint
  has passed, is moved aside (`scaling.rundir.move_aside`), named in one line, and the run starts over or
  resumes from what is sound: the curve in metrics.jsonl always matches the weights.

Under `torchrun` the run spans several processes (DDP, `experiments.distributed`): rank 0 is the only writer and
decides (resume or not, checkpoint or not, stop or not); the ranks agree at log points, the only places the step
loop waits for the device. On CUDA: TF32 matmuls, bf16 autocast, fused AdamW, torch.compile (on by default),
batches copied from pinned host memory without blocking.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from experiments import checkpoint, distributed, tracking
from experiments.config import ADDED_AT_DEFAULT, identity_excluded_keys, model_components, unknown_keys
from experiments.data import Corpus, prepare
from experiments.distributed import SINGLE, World
from experiments.model import Transformer
from experiments.schedule import lr_multiplier
from experiments.sizing import RunPlan, resolve
from scaling.atomic import atomic_write_text
from scaling.errors import ScalingError, first_line
from scaling.flops import flops_per_token
from scaling.hardware import peak_of_device_name
from scaling.laws import R_STAR_TOKENS, effective_data
from scaling.rundir import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    SUMMARY,
    MetricsLog,
    RunLock,
    move_aside,
    read_metrics,
    read_summary,
    write_summary,
)

# Beyond ~4 epochs, repeated tokens are worth clearly less than fresh ones (Muennighoff et al. 2023, Sec. 3;
# scaling.laws.effective_data is their effective-data form, which the warning quotes).
EPOCHS_WARNING = 4.0

# torch.compile's modes; reduce-overhead adds CUDA graphs, which pay off where kernel launches dominate (tiny
# models on a GPU)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _config_data(cfg: DictConfig) -> dict:
    data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    data.pop("hydra", None)
    return data


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _identity(cfg: DictConfig) -> dict:
    """The config minus the keys that do not change the result (conf/config.yaml owns that list), with the
    model's switches spelled out from its style."""
    data = _config_data(cfg)
    data["model"].update(model_components(cfg.model).__dict__)
    for key, default in ADDED_AT_DEFAULT.items():
        group, name = key.split(".")
        if name in data.get(group, {}) and data[group][name] == default:
            del data[group][name]
    if data["model"].get("init_seed") == data.get("seed"):  # the weights' seed spelt out as the seed: one run
        data["model"].pop("init_seed", None)
    for key in identity_excluded_keys():
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return {k: v for k, v in data.items() if v != {}}  # a group whose keys all left (checkpoint) leaves too


def fingerprint(cfg: DictConfig) -> str:
    """Hash of what the run is asked to compute (`_identity`). A checkpoint or a completed summary is only
    reused by the configuration that wrote it."""
    return _digest(_identity(cfg))[:16]


# What a run asks for, not how it trains: the planner turns these into the plan's shape, steps, batch and LR
SIZING_GROUPS = ("allocation", "budget")


def computation(cfg: DictConfig, plan: RunPlan) -> str:
    """Hash of the training itself, whatever sizing request led to it: the fingerprint's config less the
    request (SIZING_GROUPS) plus the planner's answer (shape, steps, batch, micro-batch, LR, warmup). Planner-
    sized runs snap to one model ladder, so runs asked for differently (GPT-3's allocation at 1e11 and the 4x
    size of that budget's isoFLOP profile) can be one training; a sweep then trains it once (`_reuse_twin`)."""
    data = {k: v for k, v in _identity(cfg).items() if k not in SIZING_GROUPS}
    data["plan"] = {"shape": plan.shape.to_dict(), "steps": plan.steps, "batch_size": plan.batch_size,
                    "micro_batch_size": plan.micro_batch_size, "lr": plan.lr, "warmup_steps": plan.warmup_steps}
    return _digest(data)[:16]


def pick_device(name: str, world: World = SINGLE) -> torch.device:
    """The device `name` asks for; under torchrun, `auto` and `cuda` mean this process's GPU (LOCAL_RANK)."""
    if name in ("auto", "cuda") and world.active and torch.cuda.is_available():
        return torch.device("cuda", world.local_rank % torch.cuda.device_count())
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ScalingError(f"device={name} but torch sees no CUDA device: use device=cpu (or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ScalingError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of the GPU (for MFU, from scaling.hardware's table); None on CPU or an unknown GPU."""
    return peak_of_device_name(torch.cuda.get_device_name(device)) if device.type == "cuda" else None


def load_corpus(cfg: DictConfig) -> Corpus:
    d = cfg.data
    return prepare(d.name, cache_dir=d.cache_dir, tokenizer=d.tokenizer.value, vocab_size=d.vocab_size,
                   split=d.split.value, val_fraction=d.val_fraction, paths=list(d.paths), archive=d.archive,
                   hf_name=d.hf_name, hf_split=d.hf_split, hf_field=d.hf_field, sources=list(d.sources))


def check_writable(directory: Path) -> None:
    """Refuse a results directory that cannot be written (read-only mount, no permission) before anything is
    made: by trying, since permission bits do not bind root and say nothing of read-only filesystems."""
    import tempfile

    existing = directory.resolve()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        # a directory that exists but refuses files (/proc, /sys) answers "No such file or directory"
        why = "it takes no new files" if err.errno == errno.ENOENT and existing.is_dir() else err.strerror or err
        raise ScalingError(f"cannot write results under {directory} ({existing}: {why}): choose a writable "
                           f"results_dir") from None


@dataclass
class Checked:
    """What `check` established: the corpus, the resolved plan, the validation windows, and the warnings it
    raised (replayed when the result is reused)."""

    corpus: Corpus
    plan: RunPlan
    val: np.ndarray
    warnings: list = field(default_factory=list)


_CHECKED: dict[str, Checked] = {}  # config hash -> result: the launcher's check is the run's check


def check_settings(cfg: DictConfig) -> None:
    """What a sweep can refuse once for all its jobs: settings nothing reads, and where the results go."""
    unknown = unknown_keys(cfg)
    if unknown:
        raise ScalingError(f"unknown setting {', '.join(unknown)} (added with +): no part of a run reads it; check "
                           f"the spelling against conf/config.yaml and drop the +")
    name = Path(cfg.experiment_name)
    if not cfg.experiment_name or name.is_absolute() or ".." in name.parts:
        raise ScalingError(f"experiment_name must be a relative name without '..' (results go to "
                           f"<results_dir>/<experiment_name>), got {cfg.experiment_name!r}")


def check(cfg: DictConfig) -> Checked:
    """Everything that can be refused before training: data, budget, shape, optimizer settings, logger. Runs
    once per configuration in a process; a second call replays the first's warnings and returns its result."""
    key = _digest(_config_data(cfg))
    if key in _CHECKED:
        done = _CHECKED[key]
        for w in done.warnings:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return done
    check_settings(cfg)
    if cfg.eval.count < 1 or cfg.data.val_windows < 1 or cfg.eval.batch_size < 1:
        raise ScalingError("eval.count, eval.batch_size and data.val_windows must be >= 1")
    if not cfg.divergence_factor > 1:  # NaN too: it would switch the divergence check off
        raise ScalingError(f"divergence_factor must be > 1, got {cfg.divergence_factor}")
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise ScalingError(f"precision must be auto, fp32 or bf16, got {cfg.precision!r}")
    if cfg.threads is not None and cfg.threads < 1:
        raise ScalingError(f"threads must be >= 1, got {cfg.threads}")
    if cfg.seed < 0:  # the data sampler's numpy generator takes none
        raise ScalingError(f"seed must be a whole number >= 0, got {cfg.seed}")
    if cfg.model.init_seed is not None and cfg.model.init_seed < 0:
        raise ScalingError(f"model.init_seed must be a whole number >= 0 or null, got {cfg.model.init_seed}")
    if cfg.log_every_steps is not None and cfg.log_every_steps < 1:
        raise ScalingError(f"log_every_steps must be >= 1 (or null for about 200 log points), got "
                           f"{cfg.log_every_steps}")
    if cfg.checkpoint.every_steps < 0 or cfg.checkpoint.every_minutes < 0:
        raise ScalingError(f"checkpoint.every_steps (0: none by step count) and checkpoint.every_minutes must be "
                           f">= 0, got {cfg.checkpoint.every_steps} and {cfg.checkpoint.every_minutes}")
    if cfg.compile_mode not in COMPILE_MODES:
        raise ScalingError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}, got {cfg.compile_mode!r}")
    pick_device(cfg.device)
    tracking.check_logger(cfg.logger)
    check_writable(Path(cfg.results_dir) / cfg.experiment_name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corpus = load_corpus(cfg)
        val = corpus.val_windows(cfg.model.seq_len, cfg.data.val_windows)
        if len(corpus.train) <= cfg.model.seq_len:  # refused here, before a run directory exists
            raise ScalingError(f"model.seq_len {cfg.model.seq_len} is longer than the training split "
                               f"({len(corpus.train)} tokens): lower model.seq_len or data.val_fraction")
        plan = resolve(cfg, corpus.vocab_size)
    world = distributed.from_env()
    if plan.micro_batch_size % world.size:
        raise ScalingError(f"{world.size} processes cannot split micro-batches of {plan.micro_batch_size} sequences "
                           f"evenly: set optim.micro_batch_size to a multiple of {world.size} that divides "
                           f"optim.batch_size ({plan.batch_size})")
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    _CHECKED[key] = Checked(corpus, plan, val, list(caught))
    return _CHECKED[key]


class RunInterrupted(Exception):
    """A run stopped by a signal after saving its checkpoint; rerunning the command resumes it."""

    def __init__(self, signum: int, run_dir: Path, step: int, saved: bool = True):
        self.signum, self.run_dir, self.step = signum, run_dir, step
        name = signal.Signals(signum).name
        what = "checkpoint saved: rerun the same command to resume" if saved else \
            "no step trained since the last start, nothing new to save: rerun the same command to go on"
        super().__init__(f"{run_dir.name}: stopped by {name} at step {step}; {what}")


_PENDING_STOP: list[int] = []  # a stop signal this process took before a run's StopSignals was in place


def note_stop(signum: int) -> None:
    """For a handler that takes SIGINT/SIGTERM outside a run (a sweep job still starting up): the next
    StopSignals starts stopped, so the run stops at its first step boundary instead of training on."""
    _PENDING_STOP[:] = [signum]


class StopSignals:
    """SIGINT and SIGTERM set `signum` instead of killing the process, so the loop can save and stop cleanly.
    A second SIGINT raises KeyboardInterrupt at once. Only the main thread can take signals; elsewhere this
    does nothing. A stop noted before (`note_stop`) is taken as received."""

    def __init__(self):
        self.signum: int | None = _PENDING_STOP[0] if _PENDING_STOP else None
        self.previous = {}

    def _handle(self, signum, _frame) -> None:
        self.signum = signum
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def log_points(cfg: DictConfig, plan: RunPlan) -> tuple[int, int]:
    """(log_every, eval_every) in steps: a row of metrics.jsonl at step 1, every log_every steps, every
    eval_every steps (with the validation loss) and at the last step."""
    log_every = cfg.log_every_steps or max(1, plan.steps // 200)
    every_tokens = cfg.eval.every_tokens
    eval_every = max(1, round(every_tokens / plan.tokens_per_step)) if every_tokens else \
        max(1, plan.steps // cfg.eval.count)
    return log_every, eval_every


def expected_rows(cfg: DictConfig, plan: RunPlan, upto: int) -> list[int]:
    """The steps metrics.jsonl holds rows for once a run has trained `upto` steps (without diverging)."""
    log_every, eval_every = log_points(cfg, plan)
    return [s for s in range(1, upto + 1) if s == 1 or s % log_every == 0 or s % eval_every == 0 or s == plan.steps]


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices (and embeddings) only; norms and biases are not decayed."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model, windows: torch.Tensor, batch_size: int, autocast) -> float:
    """Mean cross-entropy (nats/token) over the fixed validation windows."""
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=windows.device), 0  # summed on the device: one sync
    for i in range(0, len(windows), batch_size):
        w = windows[i:i + batch_size]
        with autocast():
            _, loss = model(w[:, :-1], w[:, 1:])
        total += loss.double() * w[:, 1:].numel()
        count += w[:, 1:].numel()
    model.train()
    return total.item() / count


@dataclass
class Run:
    """The state of a run in progress: what a checkpoint saves, and what the loop and the summary read."""

    cfg: DictConfig
    run_dir: Path
    plan: RunPlan
    corpus: Corpus
    val: np.ndarray  # the fixed validation windows
    device: torch.device
    bf16: bool
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    fingerprint: str
    step: int = 0
    start_step: int = 0  # where this process began (a resume's checkpoint step)
    elapsed_before: float = 0.0  # wall seconds of earlier processes
    first_loss: float | None = None  # the divergence check compares against it
    status: str = "completed"
    last_train: float = math.nan
    last_val: float = math.nan
    train_time: float = 0.0  # seconds inside steps (tokens/s leaves evaluation and checkpoints out)
    train_time_before: float | None = None  # the same, of earlier processes (None: a checkpoint that lacks it)
    started: float = field(default_factory=time.perf_counter)
    # the training loss summed since the last log point: saved with the checkpoint, so the first row after a
    # resume averages the same steps as an uninterrupted run's
    loss_sum: float = 0.0
    loss_count: int = 0
    stop: StopSignals = field(default_factory=StopSignals)
    lock: RunLock | None = None
    world: World = SINGLE
    compiled: bool = False  # torch.compile the training forward and backward
    ddp: torch.nn.parallel.DistributedDataParallel | None = None  # the model's DDP wrapper, under torchrun

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def save_checkpoint(self) -> None:
        if not self.world.main:  # rank 0 writes; every rank holds the same weights
            return
        checkpoint.save(self.run_dir, model=self.model, optimizer=self.optimizer, step=self.step,
                        elapsed=self.elapsed, fingerprint=self.fingerprint, first_loss=self.first_loss,
                        log_state={"loss_sum": float(self.loss_sum), "loss_count": self.loss_count},
                        train_time=(self.train_time_before or 0.0) + self.train_time,
                        tokens_sha256=self.corpus.digest)


def _fresh(cfg: DictConfig, plan: RunPlan, device: torch.device):
    """The model and optimizer at step 0: model.init_seed (or, where null, the seed) fixes the initial weights."""
    torch.manual_seed(cfg.seed if cfg.model.init_seed is None else cfg.model.init_seed)
    model = Transformer(plan.shape, cfg.model.init_std, cfg.model.rope_theta, cfg.model.norm_eps).to(device)
    if model.num_params() != plan.params:
        raise RuntimeError(f"the model has {model.num_params():,} parameters, the planner counted {plan.params:,}")
    o = cfg.optim
    optimizer = torch.optim.AdamW(param_groups(model, o.weight_decay), lr=plan.lr, betas=(o.beta1, o.beta2),
                                  eps=o.eps, fused=device.type == "cuda")
    return model, optimizer


def _set_aside(run_dir: Path, names: tuple[str, ...], why: str, then: str, tag: str = "damaged") -> None:
    """Move the named files aside (never delete: `move_aside`) and say so in one line."""
    moved = [f"{name} -> {move_aside(run_dir / name, tag).name}" for name in names if (run_dir / name).exists()]
    warnings.warn(f"{run_dir}: {why}: moved aside ({'; '.join(moved) or 'nothing to move'}); {then}", stacklevel=2)


def _other_tokens(recorded: str | None, corpus: Corpus) -> bool:
    """Whether a run or checkpoint that recorded `recorded` (its corpus's `digest`) trained on other tokens than
    `corpus` holds now; records from before the digest existed cannot say, and pass."""
    return recorded is not None and corpus.digest is not None and recorded != corpus.digest


def _sound_state(cfg: DictConfig, run_dir: Path, plan: RunPlan, fp: str,
                 corpus: Corpus) -> tuple[dict | None, list[dict]]:
    """The checkpoint to resume from and the metrics rows up to its step, if both are sound; damaged files are
    moved aside (the run then starts over: same seed, same batches, the same curve). A checkpoint of another
    configuration is refused, not moved: it is someone's run."""
    try:
        # on the CPU: the RNG states must stay CPU tensors; load_state_dict moves weights and moments to the device
        state = checkpoint.load(run_dir, map_location="cpu")
    except checkpoint.DamagedCheckpoint as err:
        _set_aside(run_dir, (CHECKPOINT, METRICS), f"{CHECKPOINT} is damaged ({err})", "the run starts over")
        return None, []
    if state is None:
        log = run_dir / METRICS
        if log.is_file() and log.stat().st_size:  # an earlier start's curve with nothing to resume it from (killed
            # before its first checkpoint, or completed with checkpoint.keep=false and its summary since lost)
            _set_aside(run_dir, (METRICS,), f"{METRICS} holds an earlier start's curve and there is no {CHECKPOINT} "
                       f"to resume it from", "the run starts over", tag="earlier")
        return None, []
    if state.get("fingerprint") != fp:
        raise ScalingError(f"{run_dir / CHECKPOINT} belongs to another configuration: delete it to start over, or "
                           f"choose another experiment name")
    if _other_tokens(state.get("tokens_sha256"), corpus):
        raise ScalingError(f"{run_dir / CHECKPOINT} was trained on other tokens than the corpus now gives (its "
                           f"files have changed since): move the run away to start over, or choose another "
                           f"experiment name")
    rows = [r for r in read_metrics(run_dir) if isinstance(r.get("step"), int) and r["step"] <= state["step"]]
    logged = sorted({r["step"] for r in rows})
    expected = expected_rows(cfg, plan, state["step"])
    if logged != expected:
        missing = len(set(expected) - set(logged))
        why = (f"{METRICS} is missing" if not (run_dir / METRICS).exists() else
               f"{METRICS} lacks {missing} of the {len(expected)} log points up to the checkpoint's step "
               f"{state['step']}")
        _set_aside(run_dir, (CHECKPOINT, METRICS), why, "the run starts over so that its curve is whole")
        return None, []
    return state, rows


def build(cfg: DictConfig, run_dir: Path, checked: Checked, fp: str) -> Run:
    """Model and optimizer as the plan says, then the checkpoint's state where a sound one exists (same
    fingerprint only); config.yaml (the composed config plus the planner's resolution) is written when the run
    starts, and again if it went missing."""
    plan = checked.plan
    world = distributed.from_env()
    device = pick_device(cfg.device, world)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # bf16 autocast on CUDA: the matmuls run in bf16 while the weights and optimizer stay fp32
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    if device.type == "cuda":  # fp32 matmuls outside autocast (and all of precision=fp32) on TF32 tensor cores
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    def resume_state():  # rank 0 decides what to resume from, moving damaged files aside
        state, rows = _sound_state(cfg, run_dir, plan, fp, checked.corpus)
        model, optimizer = _fresh(cfg, plan, device)
        if state is not None:
            try:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
            except (RuntimeError, ValueError, KeyError, TypeError) as err:
                _set_aside(run_dir, (CHECKPOINT, METRICS), f"{CHECKPOINT} does not fit the model "
                           f"({type(err).__name__}: {first_line(err)})", "the run starts over")
                state, rows = None, []
                model, optimizer = _fresh(cfg, plan, device)
        return state, rows, model, optimizer

    state, rows, model, optimizer = _on_main(world, resume_state) or (None, [], None, None)
    resume_step = distributed.broadcast(world, None if state is None else state["step"])
    if not world.main:  # the other ranks load what rank 0 chose (the file is sound: rank 0 just read it)
        model, optimizer = _fresh(cfg, plan, device)
        if resume_step is not None:
            state = checkpoint.load(run_dir, map_location="cpu")
            if state is None or state["step"] != resume_step:
                raise ScalingError(f"rank {world.rank} found another {CHECKPOINT} than rank 0 in {run_dir}: is "
                                   f"the run directory on a filesystem every rank sees?")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
    run = Run(cfg, run_dir, plan, checked.corpus, checked.val, device, bf16, model, optimizer, fp, world=world,
              compiled=cfg.compile if cfg.compile is not None else device.type == "cuda")
    if state is not None:
        run.step = run.start_step = state["step"]
        run.elapsed_before, run.first_loss = state["elapsed"], state.get("first_loss")
        run.train_time_before = state.get("train_time")
        log_state = state.get("log_state") or {}
        run.loss_sum, run.loss_count = log_state.get("loss_sum", 0.0), log_state.get("loss_count", 0)
        run.last_train = next((r["train_loss"] for r in reversed(rows) if r.get("train_loss") is not None), math.nan)
        run.last_val = next((r["val_loss"] for r in reversed(rows) if r.get("val_loss") is not None), math.nan)
        checkpoint.restore_rng(state)  # with the step, this fixes every later batch: the resume is exact
    if world.main:
        _write_config(cfg, run_dir, plan, fresh=state is None)
    return run


def _on_main(world: World, work):
    """`work()` on rank 0 only (its result; None elsewhere); when it fails, every other rank raises too instead
    of waiting for rank 0 at the next collective."""
    if not world.active:
        return work()
    result, error = None, None
    if world.main:
        try:
            result = work()
        except BaseException as err:  # told to the other ranks, then raised here as it was
            error = err
    failed = distributed.broadcast(world, None if error is None else f"{type(error).__name__}: {first_line(error)}")
    if error is not None:
        raise error
    if failed is not None:
        raise ScalingError(f"rank 0 stopped ({failed}); rank {world.rank} stops with it")
    return result


def _write_config(cfg: DictConfig, run_dir: Path, plan: RunPlan, fresh: bool) -> None:
    path = run_dir / CONFIG
    if not fresh and path.exists():
        try:
            written = OmegaConf.load(path)
            if isinstance(written, DictConfig) and {"model", "budget", "resolved"} <= set(written):
                return
        except Exception:  # omegaconf/yaml raise many types for a garbled file
            pass
        _set_aside(run_dir, (CONFIG,), f"{CONFIG} is unreadable", "written again")
    resolved = _config_data(cfg)
    resolved["resolved"] = plan.to_dict()
    atomic_write_text(path, OmegaConf.to_yaml(OmegaConf.create(resolved)))


def to_device(rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host batch on `device`: on CUDA copied from pinned memory without blocking the host (the copy overlaps
    the work already queued); elsewhere as it is."""
    batch = torch.from_numpy(rows)
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)


def train_step(run: Run, fwd, lr: float) -> torch.Tensor:
    """One optimizer step at `lr` over `batch_size` sequences in micro-batches; returns this process's mean loss
    as a tensor (no host sync: the caller reads it only at log points). Under DDP each rank takes its row slice
    of every micro-batch, and gradients are all-reduced once, on the last micro-batch (`no_sync` before it)."""
    plan, cfg, world = run.plan, run.cfg, run.world
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    accum = plan.batch_size // plan.micro_batch_size
    rows = plan.micro_batch_size // world.size
    total = torch.zeros((), device=run.device)
    for micro in range(accum):
        # batches are a pure function of (seed, step, micro): no data-loader state to checkpoint
        seqs = run.corpus.train_batch(cfg.seed, run.step, micro, plan.micro_batch_size, plan.seq_len)
        batch = to_device(seqs[world.rank * rows:(world.rank + 1) * rows], run.device)
        sync = run.ddp is None or micro == accum - 1
        with run.autocast(), (contextlib.nullcontext() if sync else run.ddp.no_sync()):
            _, loss = fwd(batch[:, :-1], batch[:, 1:])
            # scaled so accumulated gradients equal one big batch's (DDP averages the ranks' slices)
            (loss / accum).backward()
        total += loss.detach() / accum
    if cfg.optim.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.optim.grad_clip)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    return total


def forward_fn(run: Run):
    """What the step loop calls: the model, wrapped in DDP under torchrun (which then owns the gradient
    all-reduce), compiled where `run.compiled` says (torch.compile(DDP(model)), as PyTorch recommends)."""
    net = run.model
    if run.world.active:
        net = run.ddp = torch.nn.parallel.DistributedDataParallel(
            run.model, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    return torch.compile(net, mode=run.cfg.compile_mode) if run.compiled else net


def train_loop(run: Run, metrics: MetricsLog, tracker) -> None:
    """Steps until the budget is spent or the loss diverges; logs, evaluates and checkpoints on the way.

    The loop never waits for the device except at log points (one sync for the loss, and under DDP one
    all-reduce that also carries the ranks' checkpoint and stop requests) and at checkpoints. Training time is
    counted up to those syncs, so tokens/s is the device's, not how fast the host queued work."""
    cfg, plan, world = run.cfg, run.plan, run.world
    s = cfg.schedule
    fwd = forward_fn(run)
    val = torch.from_numpy(run.val).to(run.device)
    log_every, eval_every = log_points(cfg, plan)
    interval_time, interval_tokens = 0.0, 0
    # a tensor on the device: adding to it costs no host sync
    loss_sum, loss_count = torch.full((), run.loss_sum, device=run.device), run.loss_count
    last_ckpt = time.perf_counter()
    stop_agreed = ckpt_agreed = False
    bar = tqdm(total=plan.steps, initial=run.step, disable=None if cfg.progress and world.main else True,
               unit="step", desc=run.run_dir.name[:40], dynamic_ncols=True, leave=False)
    mark = time.perf_counter()  # training time since `mark` is not yet counted

    def count_time() -> None:  # after a sync: the device has done the work queued so far
        nonlocal interval_time
        spent = time.perf_counter() - mark
        interval_time += spent
        run.train_time += spent

    def save() -> None:
        # the loss summed since the last log point, over all ranks (a rank's own sum is of its rows only)
        run.loss_sum = (distributed.reduce_sum(world, loss_sum.clone()) / world.size).item()
        run.loss_count = loss_count
        count_time()
        run.save_checkpoint()

    run.model.train()
    while run.step < plan.steps:
        if stop_agreed if world.active else run.stop.signum is not None:  # save the last step and stop
            if run.step > run.start_step:
                save()
            run.status = "interrupted"
            break
        # the schedule is a function of the step alone, so a resumed run continues on the same curve
        lr = plan.lr * lr_multiplier(run.step, plan.steps, plan.warmup_steps, s.name.value, s.final_lr_fraction,
                                     s.cooldown_fraction)
        loss_sum += train_step(run, fwd, lr)
        loss_count += 1
        interval_tokens += plan.tokens_per_step
        bar.update(1)
        step = run.step

        eval_due = step % eval_every == 0 or step == plan.steps
        time_due = time.perf_counter() - last_ckpt >= 60 * cfg.checkpoint.every_minutes
        logged = step % log_every == 0 or eval_due or step == 1
        if logged:
            if world.active:  # one all-reduce: the loss, and whether any rank wants a checkpoint or a stop
                flags = torch.tensor([float(time_due), float(run.stop.signum is not None)], device=run.device)
                agreed = distributed.reduce_sum(world, torch.cat([loss_sum.view(1), flags]))
                mean = agreed[0] / (loss_count * world.size)
                ckpt_agreed, stop_agreed = (agreed[1:] > 0).tolist()
            else:
                mean = loss_sum / loss_count
            run.last_train = mean.item()  # the one host sync, at log points only
            count_time()
            loss_sum.zero_()
            loss_count = 0
            if run.first_loss is None:
                run.first_loss = run.last_train
            record = {"step": step, "tokens": step * plan.tokens_per_step,
                      "flops": 6.0 * plan.params * step * plan.tokens_per_step, "lr": lr,
                      "train_loss": run.last_train, "tokens_per_second": interval_tokens / interval_time,
                      "elapsed_s": run.elapsed}
            interval_time, interval_tokens = 0.0, 0
            diverged = not math.isfinite(run.last_train) or run.last_train > cfg.divergence_factor * run.first_loss
            if eval_due and not diverged and world.main:  # rank 0 evaluates; the others wait at the next all-reduce
                run.last_val = evaluate(run.model, val, cfg.eval.batch_size, run.autocast)
                record["val_loss"] = run.last_val
            metrics.append(record)
            tracker.log(record)
            if run.lock is not None:
                run.lock.heartbeat()
            bar.set_postfix(loss=f"{run.last_train:.3f}", tok_s=f"{record['tokens_per_second']:.3g}")
            if diverged:
                run.status = "diverged"
                if world.main:
                    print(f"{run.run_dir.name}: loss {run.last_train} at step {step} (first {run.first_loss:.3f}): "
                          f"diverged, stopping", file=sys.stderr)
                break
            mark = time.perf_counter()
        # a checkpoint every_steps (the same step on every rank), or by time: on one process at any step, under
        # DDP at a log point where a rank asked for it
        by_time = (ckpt_agreed and logged) if world.active else time_due
        if step < plan.steps and ((cfg.checkpoint.every_steps and step % cfg.checkpoint.every_steps == 0)
                                  or by_time):
            save()
            last_ckpt = mark = time.perf_counter()
    bar.close()


def summarise(run: Run) -> dict:
    """summary.json: what was trained, how it did, and where it came from (the contract `scaling fit` and
    `scaling report` read)."""
    cfg, plan, corpus = run.cfg, run.plan, run.corpus
    tokens_done = run.step * plan.tokens_per_step
    if run.train_time_before is not None or not run.start_step:  # every step's time is known
        trained, seconds = run.step, (run.train_time_before or 0.0) + run.train_time
    else:  # resumed from a checkpoint that predates train_time: this process's steps only
        trained, seconds = run.step - run.start_step, run.train_time
    tokens_per_second = trained * plan.tokens_per_step / seconds if seconds > 0 else None
    peak = peak_flops(run.device)
    devices = run.world.size  # tokens/s is the run's; MFU is per device
    train_tokens = corpus.manifest["tokens"]["train"]
    return {
        "status": run.status, "params": plan.params, "non_embedding_params": plan.shape.non_embedding_params,
        "tokens": tokens_done, "flops": 6.0 * plan.params * tokens_done,
        "flops_exact": flops_per_token(plan.shape, "chinchilla") * tokens_done,
        "final_train_loss": run.last_train, "final_val_loss": run.last_val,
        "val_bits_per_byte": run.last_val / math.log(2) / corpus.val_bytes_per_token,
        "steps": run.step, "wall_seconds": run.elapsed, "tokens_per_second": tokens_per_second,
        # MFU by PaLM's count (6N plus attention) over the device's dense bf16 peak
        "mfu": flops_per_token(plan.shape, "palm") * tokens_per_second / (peak * devices)
        if peak and tokens_per_second else None,
        "world_size": devices, "finished_at": time.time(),  # unix time: with wall_seconds, when the run ran
        "model": {"style": cfg.model.style, **plan.shape.to_dict()},
        **_request(cfg, plan, run.run_dir, run.fingerprint, tokens_done),
        "seed": cfg.seed,
        **({} if cfg.model.init_seed is None else {"init_seed": cfg.model.init_seed}),  # the weights' own seed
        "data": {"name": cfg.data.name, "tokenizer": corpus.manifest["tokenizer"],
                 "vocab_size": corpus.vocab_size, "tokens_available": train_tokens,
                 "epochs": tokens_done / train_tokens, "val_tokens": corpus.manifest["tokens"]["val"],
                 "unigram_entropy_nats": corpus.manifest["unigram_entropy_nats"]["val"],
                 "source": corpus.manifest["source"], "version": corpus.manifest["version"],
                 "tokens_sha256": corpus.digest},
        "optim": {"lr": plan.lr, "lr_scale": cfg.optim.lr_scale, "batch_size": plan.batch_size,
                  "micro_batch_size": plan.micro_batch_size, "seq_len": plan.seq_len,
                  "warmup_steps": plan.warmup_steps, "schedule": cfg.schedule.name.value},
        "device": str(run.device), "precision": "bf16" if run.bf16 else "fp32", "torch": torch.__version__,
    }


def _request(cfg: DictConfig, plan: RunPlan, run_dir: Path, fp: str, tokens_done: int) -> dict:
    """The summary's fields that say what this run asked for and who it is (a reused training keeps the rest)."""
    return {
        "allocation": {"rule": plan.rule, "size_factor": plan.size_factor, "law": plan.law,
                       "target_params": plan.target_params, "tokens_per_param": tokens_done / plan.params,
                       "predicted_loss": plan.predicted_loss},
        "budget": {"flops": plan.budget_flops, "tokens": plan.budget_tokens, "flops_method": plan.flops_method},
        "experiment": cfg.experiment_name, "run_name": run_dir.name, "fingerprint": fp,
        "computation": computation(cfg, plan),
    }


def _reuse_twin(cfg: DictConfig, run_dir: Path, checked: Checked, fp: str) -> dict | None:
    """Where a completed run in the same experiment directory did this run's training under another name (the
    same `computation`), its curve and results are copied here instead of training again, and the summary names
    it (`reused_from`); None otherwise. Only into a fresh directory, or one where such a copy was cut short (the
    twin's curve byte for byte, no checkpoint, no summary): a run with a checkpoint or metrics of its own resumes
    them. The twin is only read; this run's lock covers what is written."""
    if (run_dir / CHECKPOINT).exists():
        return None
    try:  # the curve a copy cut short left here (the summary is written last), else this run's own log
        own = (run_dir / METRICS).read_text() if (run_dir / METRICS).exists() else None
    except (OSError, UnicodeDecodeError):
        return None
    own = own or None  # an empty log (a run stopped before its first log point) holds nothing of its own
    plan = checked.plan
    wanted = computation(cfg, plan)
    try:  # an unreadable sibling is no twin: looking for one must never stop a run
        siblings = sorted(p for p in run_dir.parent.iterdir() if p != run_dir and (p / SUMMARY).is_file())
    except OSError:
        return None
    for other in siblings:
        done = read_summary(other, warn=False)
        if not done or done.get("status") != "completed" or done.get("computation") != wanted or \
                _other_tokens((done.get("data") or {}).get("tokens_sha256"), checked.corpus):
            continue
        try:
            curve = (other / METRICS).read_text()
        except (OSError, UnicodeDecodeError):
            continue
        if own is not None and own != curve:  # not this twin's copy (another twin's, or this run's own log)
            continue
        _write_config(cfg, run_dir, plan, fresh=True)
        atomic_write_text(run_dir / METRICS, curve)
        # a completed run of this computation trained the plan's steps, so its tokens are the plan's
        summary = {**done, **_request(cfg, plan, run_dir, fp, plan.tokens), "reused_from": other.name}
        write_summary(run_dir, summary)
        print(f"{run_dir.name}: the same training as {other.name} (completed): its curve and results copied, "
              f"not trained again; val loss {summary.get('final_val_loss')}", file=sys.stderr)
        return summary
    return None  # no twin, or a log of this run's own training: it resumes or starts over


def _previous_summary(run_dir: Path) -> dict | None:
    """summary.json if it is sound; an unreadable one is moved aside (the run then resumes or starts over)."""
    if not (run_dir / SUMMARY).exists():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = read_summary(run_dir)
    if summary is None:
        _set_aside(run_dir, (SUMMARY,), f"{SUMMARY} is unreadable", "the run resumes from its checkpoint or starts "
                   "over")
    return summary


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Train one run into `run_dir` (resuming or skipping as its files say) as its only writer; returns its
    summary, or raises RunInterrupted after a signal (checkpoint saved). Under torchrun every rank calls this;
    rank 0 holds the lock and writes."""
    checked = check(cfg)
    fp = fingerprint(cfg)
    world = distributed.from_env()
    done = read_summary(run_dir, warn=False)
    # read only, before the lock: a completed run's files stay untouched
    if _completed(done, fp, run_dir, checked, say=world.main):
        return done
    distributed.setup(world, pick_device(cfg.device, world))
    lock = None
    try:
        lock = _on_main(world, lambda: _lock(run_dir))
        with StopSignals() as stop:
            return _train_locked(cfg, run_dir, checked, fp, lock, stop, world)
    finally:
        if lock is not None:
            lock.release()
        distributed.teardown(world)


def _lock(run_dir: Path) -> RunLock:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        return RunLock(run_dir).acquire()
    except OSError as err:
        raise ScalingError(f"cannot write the run directory {run_dir}: {err.strerror or err}: choose a writable "
                           f"results_dir") from None


def _plan_drift(done: dict, plan: RunPlan) -> str | None:
    """How the plan recorded in `done` (a summary) differs from `plan`, or None. The fingerprint covers the
    configuration, not the planner's and size rules' answers to it: where those rules changed since (a new LR
    rule, a new shape solver), the same configuration now asks for another run."""
    recorded = done.get("optim") or {}
    trained = done.get("steps") if done.get("status") == "completed" else None  # a diverged run stopped early
    diffs = [f"{name} {old} -> {new}" for name, old, new in (
        ("params", done.get("params"), plan.params), ("steps", trained, plan.steps),
        ("batch", recorded.get("batch_size"), plan.batch_size))
        if old is not None and old != new]
    lr = recorded.get("lr")
    if lr is not None and not math.isclose(lr, plan.lr, rel_tol=1e-9):
        diffs.append(f"lr {lr:.4g} -> {plan.lr:.4g}")
    return ", ".join(diffs) or None


class _NoMetrics:
    """metrics.jsonl of a rank other than 0: rank 0 writes the run's."""

    def append(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


FINAL = ("completed", "diverged")  # statuses a rerun of the same run skips


def _completed(done: dict | None, fp: str, run_dir: Path, checked: Checked, say: bool = True) -> bool:
    """Whether `done` (a summary) is this configuration's completed (or diverged: `FINAL`) run, to be skipped;
    one of another
    configuration, of this one planned by rules that have changed since, or on tokens the corpus no longer
    gives, is refused."""
    plan = checked.plan
    # a diverged run is final too: its training is deterministic, so it would diverge again at the same step
    if not (done and done.get("status") in FINAL):
        return False
    if done.get("fingerprint") != fp:
        raise ScalingError(f"{run_dir} holds a {done['status']} run of another configuration: move it away or choose "
                           f"another experiment name")
    if _other_tokens((done.get("data") or {}).get("tokens_sha256"), checked.corpus):
        raise ScalingError(f"{run_dir} holds a {done['status']} run of this configuration on other tokens than the "
                           f"corpus now gives (its files have changed since): move it away or choose another "
                           f"experiment name")
    drift = _plan_drift(done, plan)
    if drift:
        raise ScalingError(f"{run_dir} holds a {done['status']} run of this configuration, but the planner's rules now "
                           f"plan it otherwise ({drift}): move it away or choose another experiment name")
    if say:
        print(f"{run_dir}: {done['status']} already, skipping", file=sys.stderr)
    return True


def _train_locked(cfg: DictConfig, run_dir: Path, checked: Checked, fp: str, lock: RunLock | None,
                  stop: StopSignals, world: World = SINGLE) -> dict:
    def finished() -> dict | None:  # again under the lock: another writer may have finished meanwhile
        done = _previous_summary(run_dir)
        if _completed(done, fp, run_dir, checked):
            return done
        return _reuse_twin(cfg, run_dir, checked, fp)

    done = _on_main(world, finished)
    if distributed.broadcast(world, done is not None):
        return done if world.main else read_summary(run_dir, warn=False)

    run = build(cfg, run_dir, checked, fp)
    run.stop, run.lock = stop, lock
    plan = run.plan
    if world.main:
        metrics = MetricsLog(run_dir, resume_step=run.step)  # cut back to the checkpoint: curve and weights agree
        tracker = tracking.open_tracker(cfg.logger, run_dir, run_dir.name, _config_data(cfg), resume_step=run.step)
    else:
        metrics, tracker = _NoMetrics(), tracking.Tracker()
    epochs = plan.tokens / run.corpus.manifest["tokens"]["train"]
    if world.main:  # rank 0 speaks for the run
        print(f"{run_dir.name}: {plan.shape.style} d{plan.shape.d_model} L{plan.shape.n_layers} H{plan.shape.n_heads} "
              f"({plan.params:,} params) on {plan.tokens:,} tokens ({plan.tokens / plan.params:.3g}/param), "
              f"{plan.steps} steps of {plan.batch_size}x{plan.seq_len}, lr {plan.lr:.3g}; {cfg.data.name} "
              f"{epochs:.2f} epochs" + (f"; resuming at step {run.step}" if run.step else "")
              + (f"; {world.size} processes (DDP)" if world.active else ""), file=sys.stderr)
    if epochs > EPOCHS_WARNING and world.main:
        worth = effective_data(plan.tokens, run.corpus.manifest["tokens"]["train"], R_STAR_TOKENS) / plan.tokens
        warnings.warn(f"{run_dir.name}: the budget reads the corpus {epochs:.1f} times (> {EPOCHS_WARNING:g} "
                      f"epochs): repeated tokens are worth less than fresh ones (Muennighoff et al. 2023: up to ~4 "
                      f"epochs almost as good as fresh; these are worth {worth:.0%} of fresh tokens; past ~16 "
                      f"little is gained)", stacklevel=1)

    try:
        train_loop(run, metrics, tracker)
    except BaseException:  # a crash or a second Ctrl-C: the tracker's run must not stay "running"
        tracker.close("interrupted")
        raise
    finally:
        metrics.close()
    if run.status == "interrupted":
        tracker.close("interrupted")
        # a rank the signal missed stops with the others: it reports SIGTERM
        raise RunInterrupted(stop.signum or signal.SIGTERM, run_dir, run.step, saved=run.step > run.start_step)

    def finish() -> dict:
        if run.status == "completed" and cfg.checkpoint.keep:
            run.save_checkpoint()
        summary = summarise(run)
        write_summary(run_dir, summary)
        if run.status == "completed" and not cfg.checkpoint.keep:
            (run_dir / CHECKPOINT).unlink(missing_ok=True)  # only once the summary is safe on disk
        tracker.close(run.status)
        print(f"{run_dir.name}: {run.status}, val loss {run.last_val:.4f} nats/token "
              f"({summary['val_bits_per_byte']:.3f} bits/byte), {summary['wall_seconds']:.1f} s, "
              f"{summary['tokens_per_second'] or 0:,.0f} tokens/s", file=sys.stderr)
        return summary

    # rank 0 writes the run's last files; through _on_main, so that if a write fails every rank stops with it
    summary = _on_main(world, finish)
    return summary if world.main else summarise(run)
