"""Resolving a run before anything is built: budget + allocation -> shape and tokens (the planner, `scaling`),
then the peak learning rate, batch size and number of steps (the size rules below).

Size rules, used where `optim.lr` / `optim.batch_size` are null:
- Peak LR: below 60M parameters, 4 x clip(3e-3 (N/1e4)^-0.268, 1e-3, 3e-3) (measured on byte-level CPU sweeps:
  1.2e-2 at 10K parameters to 4e-3 at 600K), times sqrt(B / 512) for batches B below 512 tokens (docs/lr_study.md);
  from 60M up, the OLMo ladder's 0.0047 (N/108M)^(-1/3) / 2.
- Batch: the same for every run at a budget C, sized so that a model 4x the 20-tokens/param N gets
  `optim.target_steps` (500) steps (the trap it avoids: when batches give large models ~120 steps, the optimum
  moves 2-4x toward small models; and a batch that varies with model size confounds an isoFLOP profile), capped
  by the OLMo ladder's 160 (N/108M)^(2/3) sequences of 2,048 tokens; fewer sequences where a run would get
  fewer than `target_steps` steps, more where it would exceed `optim.max_steps` (set for CPU sweeps by
  conf/hardware/cpu.yaml: small models take larger batches at no loss); at least one sequence.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, replace

from experiments.config import model_components
from scaling.allocation import NON_EMBEDDING_RULES, TOKENS_PER_PARAM, allocate
from scaling.architecture import ModelShape, _positive_int, width_quantum
from scaling.errors import ScalingError
from scaling.flops import COMPUTE_CONVENTIONS, flops_per_token
from scaling.laws import get_law
from scaling.planning import plan_point, rule_shape

TINY_LR_LIMIT = 60e6  # parameters: above it the OLMo ladder's rule takes over


LR_BATCH_TOKENS = 512  # tokens per step from which the tiny models' LR no longer grows with the batch


def peak_lr(params: float, batch_tokens: float | None = None) -> float:
    """The size rule's peak LR for `params` parameters trained on `batch_tokens` tokens per step.

    Below `TINY_LR_LIMIT`, smaller batches than `LR_BATCH_TOKENS` take sqrt(B / 512) of it: Adam's square-root
    rule (Malladi et al. 2022), below the batch where gradient noise stops limiting the LR. The lr_sweep study
    on the model ladder found the best LR 0.53-0.63x the batch-free rule at 128 tokens per step (sqrt(1/4) = 0.5)
    and 0.83-1.39x at 512-1024 (docs/lr_study.md)."""
    if params < TINY_LR_LIMIT:
        noise = 1.0 if batch_tokens is None else min(1.0, math.sqrt(batch_tokens / LR_BATCH_TOKENS))
        return 4 * min(max(3e-3 * (params / 1e4) ** -0.268, 1e-3), 3e-3) * noise
    return 0.0047 * (params / 108e6) ** (-1 / 3) / 2


REFERENCE_SIZE_FACTOR = 4.0  # the largest model of an isoFLOP sweep, as a multiple of the 20-tokens/param N


def budget_batch_tokens(flops: float, target_steps: int) -> float:
    """Tokens per step at budget C: those that give `target_steps` steps to a model 4x the 20-tokens/param
    N = sqrt(C/120), the largest of an isoFLOP sweep around it. Every run at C gets the same batch, so the sizes
    of an isoFLOP profile differ in size, not in batch (2, 3, 7, 11 sequences of 128 at 1e11..3e12 FLOPs)."""
    n_ref = REFERENCE_SIZE_FACTOR * math.sqrt(flops / (6.0 * TOKENS_PER_PARAM["chinchilla"]))
    return flops / (6.0 * n_ref * target_steps)


def batch_sequences(params: float, tokens: float, seq_len: int, target_steps: int,
                    max_steps: int | None = None, budget: float | None = None) -> int:
    """Sequences per step: the batch of the budget (`budget_batch_tokens`; `budget` C, else 6ND), at most the
    OLMo ladder's
    160 (N/108M)^(2/3) x 2048 tokens; then fewer if needed for `target_steps` steps, more if needed to stay within
    `max_steps` (the lower bound wins); at least one."""
    ladder = 160 * 2048 * (params / 108e6) ** (2 / 3)
    budget = 6.0 * params * tokens if budget is None else budget
    preferred = math.floor(min(ladder, budget_batch_tokens(budget, target_steps)) / seq_len)
    most = math.floor(tokens / (seq_len * target_steps))  # keeps >= target_steps
    least = math.ceil(tokens / (seq_len * max_steps)) if max_steps else 1  # keeps <= max_steps
    return max(1, min(max(preferred, least), most))


@dataclass(frozen=True)
class RunPlan:
    """What a run will do, fixed before the model is built; recorded in config.yaml and summary.json."""

    shape: ModelShape
    rule: str
    size_factor: float
    law: str
    target_params: float  # the rule's N times size_factor (or the fixed shape's count)
    budget_flops: float | None
    budget_tokens: float | None
    steps: int
    batch_size: int  # sequences per optimizer step
    micro_batch_size: int  # sequences per forward pass
    lr: float
    warmup_steps: int
    predicted_loss: float
    flops_method: str = "6nd"  # what budget_flops counts (scaling.flops.COMPUTE_CONVENTIONS)

    @property
    def seq_len(self) -> int:
        return self.shape.seq_len

    @property
    def params(self) -> int:
        return self.shape.params

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def tokens(self) -> int:
        return self.steps * self.tokens_per_step

    @property
    def flops(self) -> float:
        """6 N D with the exact N and the tokens actually trained."""
        return 6.0 * self.params * self.tokens

    @property
    def flops_exact(self) -> float:
        """Chinchilla Appendix F count (attention, embeddings and logits included) for the tokens trained."""
        return flops_per_token(self.shape, "chinchilla") * self.tokens

    def to_dict(self) -> dict:
        out = asdict(self)
        out["shape"] = self.shape.to_dict()
        out.update(params=self.params, non_embedding_params=self.shape.non_embedding_params, tokens=self.tokens,
                   tokens_per_param=self.tokens / self.params, flops=self.flops, flops_exact=self.flops_exact,
                   seq_len=self.seq_len)
        return out


def _positive(name: str, value, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ScalingError(f"{name} must be a finite positive number, got {value!r}")
    return value


def _rule_params_for_tokens(rule: str, tokens: float, law, size_factor: float, inference_tokens) -> float:
    """N that `rule` pairs with D = `tokens`: the budget C whose allocation trains on D tokens, by bisection."""
    lo, hi = math.log(6 * tokens), math.log(6 * tokens * 1e12)  # N between 1 and 1e12 parameters
    for _ in range(200):
        mid = (lo + hi) / 2
        alloc = allocate(rule, math.exp(mid), law, size_factor=size_factor, inference_tokens=inference_tokens)
        lo, hi = (mid, hi) if alloc.tokens < tokens else (lo, mid)
    return allocate(rule, math.exp(hi), law, size_factor=size_factor, inference_tokens=inference_tokens).params


def _with_head_dim(shape: ModelShape, head_dim) -> ModelShape:
    """The planned `shape` with heads of `head_dim` (d_model / head_dim of them, keys and values unshared) in place
    of its width's rule (`width_quantum`). The parameter count does not depend on the head count, so N and the
    6ND tokens stay as planned; of Appendix F's FLOPs only the softmax (3 H T^2 per layer) grows with the heads."""
    head_dim = _positive_int("model.head_dim", head_dim)
    if shape.d_model % head_dim:
        raise ScalingError(f"model.head_dim={head_dim} does not divide the planned width d_model={shape.d_model}: "
                           f"choose a head size that divides every width the planner uses (8 divides them all)")
    return replace(shape, n_heads=shape.d_model // head_dim, head_dim=head_dim, n_kv_heads=None)


def resolve(cfg, vocab_size: int) -> RunPlan:
    """The run that `cfg` (a TrainConfig) asks for on a corpus of `vocab_size`; ScalingError if impossible."""
    m, b, a, o, s = cfg.model, cfg.budget, cfg.allocation, cfg.optim, cfg.schedule
    seq_len = m.seq_len
    if not isinstance(seq_len, int) or seq_len < 1:
        raise ScalingError(f"model.seq_len must be a positive integer, got {seq_len!r}")
    flops, tokens = _positive("budget.flops", b.flops), _positive("budget.tokens", b.tokens)
    if (flops is None) == (tokens is None):
        raise ScalingError("give exactly one budget: budget.flops=C (FLOPs, C = 6ND) or budget.tokens=D")
    if b.flops_method not in COMPUTE_CONVENTIONS:
        raise ScalingError(f"budget.flops_method must be one of {', '.join(COMPUTE_CONVENTIONS)}, got "
                           f"{b.flops_method!r}")
    method = COMPUTE_CONVENTIONS[b.flops_method]
    law = get_law(a.law)
    components = model_components(m)
    shape_rule = getattr(m.shape_rule, "value", m.shape_rule)  # an Enum in a structured config, else a string
    fixed = [m.d_model, m.n_layers, m.n_heads]
    if all(v is None for v in fixed):
        given = [f"model.{k}={getattr(m, k)}" for k in ("n_kv_heads", "ffn_hidden") if getattr(m, k) is not None]
        if given:  # the planner's shapes take their style's FFN and one key-value head per head
            raise ScalingError(f"{' and '.join(given)} would change a shape the planner sizes, which it would "
                               f"ignore: fix the shape (model.d_model, model.n_layers, model.n_heads) or drop "
                               f"{'them' if len(given) > 1 else 'it'}")
    if any(v is not None for v in fixed):
        if any(v is None for v in fixed):
            raise ScalingError("a fixed shape needs model.d_model, model.n_layers and model.n_heads together "
                               "(or none of them: the planner sizes the model from the budget)")
        shape = ModelShape(d_model=m.d_model, n_layers=m.n_layers, n_heads=m.n_heads, n_kv_heads=m.n_kv_heads,
                           head_dim=m.head_dim, ffn_hidden=m.ffn_hidden, multiple_of=width_quantum(m.d_model)[2],
                           vocab_size=vocab_size, seq_len=seq_len, components=components)
        target, rule = float(shape.params), "fixed-shape"
        if tokens is None:
            tokens = flops / flops_per_token(shape, method)
    elif flops is not None:
        try:
            point = plan_point(flops, a.rule, law, size_factor=a.size_factor, components=components,
                               vocab_size=vocab_size, seq_len=seq_len, inference_tokens=a.inference_tokens,
                               flops_method=method, shape_rule=shape_rule)
        except ScalingError as err:
            raise ScalingError(f"budget.flops={flops:g} under allocation {a.rule}: {err}") from None
        shape, tokens, target, rule = point.shape, point.tokens, point.target_params, a.rule
    else:
        target = _rule_params_for_tokens(a.rule, tokens, law, a.size_factor, a.inference_tokens)
        try:  # rule_shape: as plan_point sizes it (Kaplan's N counts no embeddings)
            shape = rule_shape(a.rule, target, shape_rule=shape_rule, vocab_size=vocab_size, seq_len=seq_len,
                               components=components)
        except ScalingError as err:
            raise ScalingError(f"budget.tokens={tokens:g} under allocation {a.rule} asks for a {target:.3g}-parameter "
                               f"model: {err}") from None
        rule = a.rule
    if m.head_dim is not None and fixed[0] is None:
        shape = _with_head_dim(shape, m.head_dim)
        if flops is not None:  # the exact convention's tokens follow the softmax's share of the new heads
            tokens = flops / flops_per_token(shape, method)
    if components.position == "rope" and shape.head_dim % 2:  # RoPE turns pairs of a head's dimensions
        raise ScalingError(f"rotary positions need an even head size, and this shape's is {shape.head_dim}: set "
                           f"model.head_dim (or d_model / n_heads) to an even number, or model.position=learned")
    # the count the rule's N is (Kaplan's counts no embeddings) against that N
    off = (shape.non_embedding_params if rule in NON_EMBEDDING_RULES else shape.params) / target
    # ladder rungs are up to ~2.6x apart, so its nearest rung may be ~1.6x off by design; "exact" aims within 2%
    if max(off, 1 / off) > (1.05 if shape_rule == "exact" else 1.65):
        warnings.warn(f"the nearest shape has {shape.params:,} parameters, {off - 1:+.0%} off the "
                      f"rule's {target:,.0f}: the budget sits at the edge of what the vocabulary allows",
                      stacklevel=2)

    if o.lr is not None:
        _positive("optim.lr", o.lr)
    _positive("optim.target_steps", o.target_steps)
    _positive("optim.lr_scale", o.lr_scale)
    if o.max_steps is not None and o.max_steps < o.target_steps:
        raise ScalingError(f"optim.max_steps {o.max_steps} is below optim.target_steps {o.target_steps}")
    batch = o.batch_size if o.batch_size is not None else batch_sequences(shape.params, tokens, seq_len,
                                                                          o.target_steps, o.max_steps, flops)
    _positive("optim.batch_size", batch)
    micro = o.micro_batch_size if o.micro_batch_size is not None else batch
    _positive("optim.micro_batch_size", micro)
    if batch % micro:
        raise ScalingError(f"optim.micro_batch_size {micro} must divide optim.batch_size {batch}")
    steps = math.floor(tokens / (batch * seq_len) + 1e-9)
    if steps < 1:
        raise ScalingError(f"the budget buys {tokens:.4g} tokens for a {shape.params:,}-parameter model, less than "
                           f"one optimizer step ({batch} x {seq_len} tokens): raise the budget")
    if steps < o.min_steps:
        raise ScalingError(f"the budget gives only {steps} optimizer steps of {batch} x {seq_len} tokens (fewer than "
                           f"optim.min_steps={o.min_steps}): raise the budget, lower optim.batch_size or "
                           f"optim.min_steps")
    for name, value, lo, hi in (("schedule.warmup_fraction", s.warmup_fraction, 0, 1),
                                ("schedule.final_lr_fraction", s.final_lr_fraction, 0, 1),
                                ("schedule.cooldown_fraction", s.cooldown_fraction, 0, 1),
                                ("optim.beta1", o.beta1, 0, 1), ("optim.beta2", o.beta2, 0, 1)):
        if not lo <= value <= hi:
            raise ScalingError(f"{name} must be between {lo} and {hi}, got {value}")
    for name, value in (("optim.weight_decay", o.weight_decay), ("optim.grad_clip", o.grad_clip)):
        if not (math.isfinite(value) and value >= 0):  # NaN passes `< 0`, and NaN clipping trains otherwise
            raise ScalingError(f"{name} must be a finite number >= 0, got {value}")
    for name, value in (("optim.eps", o.eps), ("model.init_std", m.init_std), ("model.norm_eps", m.norm_eps),
                        ("model.rope_theta", m.rope_theta)):
        _positive(name, value, allow_none=False)
    if o.min_steps < 0:
        raise ScalingError(f"optim.min_steps must be >= 0 (0: no floor), got {o.min_steps}")
    lr = (o.lr if o.lr is not None else peak_lr(shape.params, batch * seq_len)) * o.lr_scale
    plan_tokens = steps * batch * seq_len
    return RunPlan(shape=shape, rule=rule, size_factor=a.size_factor, law=law.name, target_params=target,
                   budget_flops=flops, budget_tokens=b.tokens, steps=steps, batch_size=batch, micro_batch_size=micro,
                   lr=lr, warmup_steps=round(s.warmup_fraction * steps),
                   predicted_loss=law.loss(shape.params, plan_tokens), flops_method=b.flops_method)
