"""Typed configuration of one run (Hydra structured configs, registered in the ConfigStore).

`conf/config.yaml` builds on `train_schema`, so every YAML file and command-line override is checked against
these dataclasses: an unknown key or a value of the wrong type is rejected before anything runs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from experiments.tracking import LoggerConfig
from scaling.architecture import (
    FFNS,
    NORM_POSITIONS,
    NORMS,
    SHAPE_RULES,
    SWITCHES,
    TRAINABLE_POSITIONS,
    Components,
    style_components,
)
from scaling.errors import ScalingError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"

# The switch values are the planner's (scaling.architecture): one list of choices for the CLI, configs and model.
Norm = Enum("Norm", {v: v for v in NORMS})
NormPosition = Enum("NormPosition", {v: v for v in NORM_POSITIONS})
FFN = Enum("FFN", {v: v for v in FFNS})
Position = Enum("Position", {v: v for v in TRAINABLE_POSITIONS})
ShapeRule = Enum("ShapeRule", {v: v for v in SHAPE_RULES})


class Tokenizer(Enum):
    byte = "byte"
    bpe = "bpe"


class Split(Enum):
    tail = "tail"  # the last val_fraction of every document is held out
    documents = "documents"  # whole documents are held out (every k-th, about val_fraction of the bytes)


class Schedule(Enum):
    cosine = "cosine"
    wsd = "wsd"
    constant = "constant"


@dataclass
class ModelConfig:
    # A named style (scaling.architecture.STYLES: llama, gpt3) sets every switch; a switch given below
    # overrides its style's value (null: the style's).
    style: str = "llama"
    norm: Norm | None = None
    norm_position: NormPosition | None = None
    ffn: FFN | None = None
    position: Position | None = None
    bias: bool | None = None
    tied: bool | None = None
    # Leave the shape null and the planner sizes it from the budget and allocation; set all three to fix it.
    d_model: int | None = None
    n_layers: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    # a fixed shape: null is d_model / n_heads; a planned shape: heads of this size at every width (null: the
    # width's rule, scaling.architecture.width_quantum: one head below d 64, then heads of 32, 64, 128)
    head_dim: int | None = None
    ffn_hidden: int | None = None
    # how the planner turns N into a shape (scaling.architecture.SHAPE_RULES): exact hits N within 2%; ladder
    # takes the nearest rung of a family whose width and depth grow together (smooth isoFLOP profiles)
    shape_rule: ShapeRule = ShapeRule.exact
    seq_len: int = 128  # context T; byte-level tiny models learn most within 128 bytes
    init_std: float = 0.02  # N(0, 0.02) as GPT-2/LLaMA; residual projections get 0.02 / sqrt(2 L)
    # the initial weights' seed apart from the batches' (null: `seed` sets both): tells a seed's init from its data
    init_seed: int | None = None
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5


@dataclass
class DataConfig:
    name: str = "gutenberg"  # gutenberg | sotu | tiny | text | hf | library
    tokenizer: Tokenizer = Tokenizer.byte
    vocab_size: int = 4096  # BPE only: the size to train
    paths: list[str] = field(default_factory=list)  # text: files or globs
    archive: str | None = None  # gutenberg/sotu: a local copy of the npm tarball (no network needed)
    hf_name: str | None = None  # hf: a dataset name or a local dataset directory
    hf_split: str = "train"
    hf_field: str = "text"
    sources: list[str] = field(default_factory=list)  # library: source names or kinds (prose, reference, docs); [] all
    split: Split = Split.tail
    val_fraction: float = 0.05
    val_windows: int = 256  # fixed held-out windows of seq_len tokens, the same for every run
    cache_dir: str = ".cache/data"  # relative to the directory the command is started from


@dataclass
class BudgetConfig:
    flops: float | None = None  # C: the planner picks N by the allocation rule, then D spends C on the shape
    tokens: float | None = None  # or fix D and let the rule pick N
    # what C counts (scaling.flops.COMPUTE_CONVENTIONS): 6nd, D = C / 6N; exact, D = C / (the Appendix F FLOPs
    # per token of the exact shape), so that every size of an isoFLOP profile spends the same real compute
    flops_method: str = "6nd"


@dataclass
class AllocationConfig:
    rule: str = "chinchilla"  # optimal | chinchilla | gpt3 | llama | kaplan | inference (scaling.allocation)
    size_factor: float = 1.0  # a multiple of the rule's N (isoFLOP sweeps vary it)
    law: str = "chinchilla"  # law for `optimal` and for the predicted loss; a name or a fit JSON
    inference_tokens: float | None = None  # for the inference rule


@dataclass
class OptimConfig:
    lr: float | None = None  # peak LR; null: the size rule (experiments/sizing.py)
    lr_scale: float = 1.0  # a multiple of the peak LR (the lr_sweep experiment varies it)
    batch_size: int | None = None  # sequences per optimizer step; null: the size rule
    micro_batch_size: int | None = None  # sequences per forward pass (gradient accumulation); null: batch_size
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1  # on matrices only; norms and biases are not decayed
    grad_clip: float = 1.0
    target_steps: int = 500  # the batch rule keeps at least this many steps where one sequence per step allows
    max_steps: int | None = None  # ... and at most this many (conf/hardware/cpu.yaml caps CPU sweeps)
    min_steps: int = 100  # fewer steps than this is refused: the loss would reflect the step count, not the size


@dataclass
class ScheduleConfig:
    name: Schedule = Schedule.cosine
    warmup_fraction: float = 0.05
    final_lr_fraction: float = 0.1  # Chinchilla: cosine to 10% of peak at exactly the run's last token
    cooldown_fraction: float = 0.2  # wsd: the final share of steps that decays linearly


@dataclass
class EvalConfig:
    every_tokens: float | None = None  # null: `count` evals spread evenly over the run
    count: int = 8
    batch_size: int = 64


@dataclass
class CheckpointConfig:
    every_steps: int = 0  # 0: only by time and at the end
    every_minutes: float = 5.0
    keep: bool = True  # keep the final checkpoint of a completed run


@dataclass
class TrainConfig:
    experiment_name: str = "default"  # results go to <results_dir>/<experiment_name>/<run_name>/
    results_dir: str = "results"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16
    compile: bool | None = None  # torch.compile the training step's model; null: on CUDA yes, elsewhere no
    compile_mode: str = "default"  # torch.compile's mode; reduce-overhead adds CUDA graphs (tiny models on a GPU)
    threads: int | None = None  # torch CPU threads; null: torch's default
    log_every_steps: int | None = None  # null: about 200 log points per run
    divergence_factor: float = 2.0  # a train loss above this x the first step's loss stops the run as diverged
    progress: bool = True  # tqdm bar (shown only on a terminal)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    allocation: AllocationConfig = field(default_factory=AllocationConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)  # trackers that mirror metrics.jsonl


def unknown_keys(cfg, schema=None, prefix: str = "") -> list[str]:
    """The keys of a composed config that the schema (`TrainConfig`) does not have: Hydra lets `+key=value` add
    one, and nothing would read it, while the run's name would carry it."""
    schema = OmegaConf.structured(TrainConfig) if schema is None else schema
    out = []
    for key in cfg:
        name = f"{prefix}{key}"
        if key not in schema:
            out.append(name)
        elif OmegaConf.is_dict(cfg[key]) and OmegaConf.is_dict(schema[key]) and \
                OmegaConf.get_type(schema[key]) not in (dict, None):  # a structured node: its keys are fixed
            out += unknown_keys(cfg[key], schema[key], f"{name}.")
    return out


def model_components(model: ModelConfig) -> Components:
    """The switches a run builds: its style's, with each switch the config sets in their place."""
    base = style_components(model.style)
    chosen = {k: getattr(model, k) for k in SWITCHES if getattr(model, k) is not None}
    components = Components(**{**base.__dict__, **{k: getattr(v, "value", v) for k, v in chosen.items()}})
    if components.position not in TRAINABLE_POSITIONS:
        raise ScalingError(f"model.style={model.style} uses {components.position} positions, which the harness "
                           f"does not build: set model.position to one of {', '.join(TRAINABLE_POSITIONS)}")
    return components


# Keys added to the schema after runs were recorded: at these values they are left out of fingerprints, so
# runs recorded before the key existed keep their identity (and a relaunched sweep still finds them).
ADDED_AT_DEFAULT = {"budget.flops_method": "6nd", "model.shape_rule": "exact", "data.sources": [],
                    "model.init_seed": None}


def identity_excluded_keys() -> list[str]:
    """The override keys that do not change what a run computes (conf/config.yaml owns the list, as Hydra's
    `override_dirname.exclude_keys`): left out of run names there, and out of fingerprints here."""
    global _EXCLUDED
    if _EXCLUDED is None:
        conf = OmegaConf.load(CONF_DIR / "config.yaml")
        _EXCLUDED = list(conf.hydra.job.config.override_dirname.exclude_keys)
    return _EXCLUDED


_EXCLUDED: list[str] | None = None


def run_name(override_dirname: str) -> str:
    """A run's directory name from its overrides (Hydra's `override_dirname`): deterministic, so a relaunched
    sweep finds its runs again; quotes go (a sweep's '1e11' and a command line's 1e11 name the same run), path
    separators become '_', and very long names end in a hash."""
    name = re.sub(r"[/\\\s]+", "_", override_dirname.replace("'", "").replace('"', "")).strip("_") or "default"
    if len(name) > 200:
        name = name[:180] + "-" + hashlib.sha1(name.encode()).hexdigest()[:12]
    return name


def register() -> None:
    """Register the schema and the `run_name` resolver (idempotent)."""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)
    if not OmegaConf.has_resolver("run_name"):
        OmegaConf.register_new_resolver("run_name", run_name)


register()
