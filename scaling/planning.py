"""What the planner answers: `count` (a shape's exact parameters and FLOPs per token), `plan_point` (one run
for a budget: the rule's N, the solver's shape, and the tokens that spend the budget on that exact shape),
`plan` (one run per rule at a budget) and `judge` (a given run against the law-optimal split of its compute).
`scaling plan`, `scaling grid` and the harness's sizing all go through `plan_point`, so they agree on every
number; `plan` alone may leave a row without a shape (and says why) where the solver has none.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

from scaling.allocation import (
    NON_EMBEDDING_RULES,
    RULE_NEEDS,
    RULES,
    Allocation,
    allocate,
    check_budget,
    check_count,
)
from scaling.architecture import (
    DEFAULT_SEQ_LEN,
    DEFAULT_STYLE,
    Components,
    ModelShape,
    no_shape_reason,
    preset,
    shape_limits,
    solve_shape,
    style_vocab,
)
from scaling.errors import ScalingError
from scaling.flops import all_methods, flops_per_token
from scaling.laws import EXTRAPOLATION_DECADES, R_STAR_PARAMS, R_STAR_TOKENS, FittedLaw, Law, get_law, load_law


@dataclass(frozen=True)
class PlannedRun(Allocation):
    """An allocation realised: `params` is the exact count of the solver's shape for the rule's N
    (`target_params`), and `tokens` spend the budget on that shape, D = C / flops_per_token(shape). Without a
    shape (`shape_note` says why) `params` is the rule's N and D = C / 6N."""

    size_factor: float = 1.0  # target N / the rule's N
    target_params: float = 0.0
    shape: ModelShape | None = None
    flops_method: str = "6N"
    shape_note: str | None = None
    counts_embeddings: bool = True  # False for NON_EMBEDDING_RULES: target_params is a non-embedding count

    @property
    def shape_deviation(self) -> float | None:
        """The shape's count (non-embedding where the rule's N is) over the rule's N, minus 1 (the solver aims for
        |x| <= 2%)."""
        if self.shape is None:
            return None
        have = self.params if self.counts_embeddings else self.shape.non_embedding_params
        return have / self.target_params - 1.0

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update(shape=self.shape.to_dict() if self.shape is not None else None,
                   shape_deviation=self.shape_deviation,
                   non_embedding_params=self.shape.non_embedding_params if self.shape is not None else None)
        return out


def plan_point(flops: float, rule: str, law: Law | str = "chinchilla", *, size_factor: float = 1.0,
               style: str = DEFAULT_STYLE, vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN,
               components: Components | None = None, flops_method: str = "6N",
               inference_tokens: float | None = None, unique_tokens: float | None = None,
               allow_no_shape: bool = False, shape_rule: str = "exact") -> PlannedRun:
    """One run: `rule` picks N for the budget (times `size_factor`), the solver (`shape_rule`, one of
    `SHAPE_RULES`) gives it a shape, and D = C / flops_per_token(shape) spends the budget on that exact shape (the
    inference rule's training compute, which exceeds C by design, in its place). Where the solver has no shape
    for N this raises, unless `allow_no_shape`: then the run keeps the rule's N, D = C / 6N, and `shape_note`
    says why."""
    law = get_law(law)
    alloc = allocate(rule, flops, law, size_factor=size_factor, inference_tokens=inference_tokens,
                     unique_tokens=unique_tokens)
    context = dict(vocab_size=vocab_size, seq_len=seq_len, components=components)
    common = dict(size_factor=size_factor, target_params=alloc.params, flops_method=flops_method,
                  counts_embeddings=rule not in NON_EMBEDDING_RULES)
    if allow_no_shape:
        reason = rule_no_shape_reason(rule, alloc.params, style, **context)
        if reason is not None:
            if flops_method != "6N":
                raise ScalingError(f"no shape for {alloc.params:.4g} parameters ({reason}): D = C / {flops_method} "
                                   f"needs one")
            return PlannedRun(**{**alloc.__dict__, **common}, shape_note=f"no shape: {alloc.params:.3g} "
                                                                         f"parameters is {reason}")
    shape = rule_shape(rule, alloc.params, style, shape_rule, **context)
    tokens = alloc.flops / flops_per_token(shape, flops_method)
    return PlannedRun(**{**alloc.__dict__, "params": shape.params, "tokens": tokens,
                         "predicted_loss": law.loss(shape.params, tokens, alloc.unique_tokens)},
                      **common, shape=shape)


def _sized_as(rule: str, context: dict) -> dict:
    """The solver's context for `rule`'s N: for NON_EMBEDDING_RULES a one-token vocabulary and context, under
    which a shape's count is its non-embedding count (bar one embedding row and, if learned, one position)."""
    return {**context, "vocab_size": 1, "seq_len": 1} if rule in NON_EMBEDDING_RULES else context


def rule_no_shape_reason(rule: str, params: float, style: str = DEFAULT_STYLE, **context) -> str | None:
    """Why `rule_shape` has no shape for `rule`'s N = `params` (one line), or None where it has one."""
    if rule not in NON_EMBEDDING_RULES:
        return no_shape_reason(params, style, **context)
    smallest, largest = shape_limits(style, **_sized_as(rule, context))
    if smallest / 2 <= params <= largest:
        return None
    return (f"{'below' if params < smallest else 'above'} the solver's shapes, which have {smallest:,} to "
            f"{largest:.3g} parameters besides their embeddings (the {rule} rule's N counts none)")


def rule_shape(rule: str, params: float, style: str = DEFAULT_STYLE, shape_rule: str = "exact", *,
               vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN,
               components: Components | None = None) -> ModelShape:
    """The shape for `rule`'s N = `params` (`solve_shape`). For the rules whose N counts no embeddings
    (`NON_EMBEDDING_RULES`: Kaplan et al. 2020, Eq. 6.1) the shape is solved as if its vocabulary and context
    were one token, so that its non-embedding count is N and its aspect follows N, and then given the real
    vocabulary and context: its embeddings come on top."""
    vocab_size = style_vocab(style, vocab_size)
    context = dict(vocab_size=vocab_size, seq_len=seq_len, components=components)
    if rule not in NON_EMBEDDING_RULES:
        return solve_shape(params, style, rule=shape_rule, **context)
    reason = rule_no_shape_reason(rule, params, style, **context)
    if reason is not None:
        raise ScalingError(f"no shape for {params:.4g} parameters: {reason}")
    shape = solve_shape(params, style, rule=shape_rule, **_sized_as(rule, context))
    return replace(shape, vocab_size=vocab_size, seq_len=seq_len)


def uniform_loss(vocab_size: int) -> float:
    """ln V: the loss (nats/token) of a uniform guess over the vocabulary; a law that predicts more is past where
    it can hold."""
    return math.log(vocab_size)


def _warn(messages: list[str], text: str) -> None:
    messages.append(text)
    warnings.warn(text, stacklevel=3)


def _check_extrapolation(fitted: FittedLaw, messages: list[str], vocab_size: int, what: str, **values) -> None:
    """Warn when the run (`values`: params, tokens, flops) lies far outside the fit's data or uses another
    vocabulary."""
    if fitted.approach is None:
        return
    name = fitted.law.name
    if fitted.data_range is None:
        _warn(messages, f"law {name} states no data_range (a fit file from an older `scaling fit`): how far this "
                        f"plan extrapolates beyond its data is unknown")
        return
    outside = fitted.beyond(**values)
    if outside and max(x[-1] for x in outside) > EXTRAPOLATION_DECADES:
        spans = ", ".join(f"{k} {fitted.data_range[k][0]:.3g}-{fitted.data_range[k][1]:.3g}" for k in values
                          if fitted.data_range.get(k) is not None)
        far = ", ".join(f"{k} {v:.3g} {d:.1f} decades {'above' if v > hi else 'below'}"
                        for k, v, lo, hi, d in outside)
        _warn(messages, f"law {name} was fitted on {spans}; {what} lies outside: {far}: its numbers are "
                        f"extrapolation")
    fit_vocab = fitted.data_range.get("vocab_size")
    if fit_vocab is not None and fit_vocab != vocab_size:
        _warn(messages, f"law {name} was fitted on runs with vocab {fit_vocab} and this plan uses {vocab_size}: its "
                        f"losses are per token of another tokenizer, and N counts {vocab_size}-row embeddings")


def _reference_vocab(fitted: FittedLaw, vocab_size: int) -> int:
    """The vocabulary the law's losses are measured in: the fit's where the file says, else the plan's."""
    return (fitted.data_range or {}).get("vocab_size") or vocab_size


def _check_uniform(fitted: FittedLaw, messages: list[str], vocab_size: int, losses: dict[str, float]) -> None:
    vocab = _reference_vocab(fitted, vocab_size)
    above = {k: v for k, v in losses.items() if v is not None and v > uniform_loss(vocab)}
    if above:
        _warn(messages, f"predicted loss above ln({vocab}) = {uniform_loss(vocab):.2f} nats, the loss of a uniform "
                        f"guess, for " + ", ".join(f"{k} ({v:.2f})" for k, v in above.items())
              + ": the law is used far outside its data")


def _row(run: PlannedRun, fitted: FittedLaw, vocab: int) -> dict:
    law, out = fitted.law, run.to_dict()
    out["loss_interval"] = fitted.loss_interval(run.params, run.tokens, run.unique_tokens)
    out["above_uniform"] = bool(run.predicted_loss > uniform_loss(vocab)) if law.has_loss else None
    if run.unique_tokens and law.has_loss:
        fresh = law.loss(run.params, run.tokens)
        out.update(fresh_loss=fresh, data_limit_cost=run.predicted_loss - fresh)
    return out


def _repetition(flops: float, law, unique_tokens: float) -> dict:
    """The data limit at this budget: the law-optimal split's epochs and loss with repetition, the
    data-constrained optimum, what the limit costs against unlimited data and the fresh-data compute that
    matches it."""
    n_opt, d_opt = law.compute_optimal(flops)
    best = allocate("data-constrained", flops, law, unique_tokens=unique_tokens)
    fresh = law.optimal_loss(flops)
    return {"unique_tokens": unique_tokens, "r_star_tokens": R_STAR_TOKENS, "r_star_params": R_STAR_PARAMS,
            "optimal_epochs": d_opt / unique_tokens,
            "optimal_loss_repeated": law.loss(n_opt, d_opt, unique_tokens),
            "constrained": {"params": best.params, "tokens": best.tokens, "epochs": best.epochs,
                            "loss": best.predicted_loss},
            "fresh_optimal_loss": fresh, "data_limit_cost": best.predicted_loss - fresh,
            "compute_equivalent": law.compute_for_loss(best.predicted_loss)}


def plan(flops: float, law: Law | FittedLaw | str = "chinchilla", *, rules=None, style: str = DEFAULT_STYLE,
         vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN, inference_tokens: float | None = None,
         unique_tokens: float | None = None) -> dict:
    """`flops` split by each rule (default: all of RULES that apply: the inference rule needs
    `inference_tokens`, the data-constrained one `unique_tokens`), each as a PlannedRun's dict with, where the
    law's fit has bootstrap draws, a loss interval; with the law, its optimal split and loss at `flops` (with
    intervals), the data limit's cost, and the warnings (extrapolation, vocabulary, losses above ln V)."""
    fitted = load_law(law)
    law = fitted.law
    flops = check_budget(flops)
    vocab_size = style_vocab(style, vocab_size)
    if unique_tokens is not None:
        unique_tokens = check_count(unique_tokens, "--unique-tokens", "tokens")
    given = {"inference_tokens": inference_tokens, "unique_tokens": unique_tokens}
    if rules is not None:
        rules = list(rules)
        if not rules:  # as on the command line: an empty list is a mistake, None asks for every rule that applies
            raise ScalingError(f"rules is empty: give one or more of {', '.join(RULES)}, or None for every rule "
                               f"that applies")
    else:
        rules = [r for r in RULES if r not in RULE_NEEDS or (given[RULE_NEEDS[r]] is not None and law.has_loss)]
    runs = [plan_point(flops, rule, law, style=style, vocab_size=vocab_size, seq_len=seq_len,
                       inference_tokens=inference_tokens, unique_tokens=unique_tokens, allow_no_shape=True)
            for rule in rules]
    n_opt, d_opt = law.compute_optimal(flops)
    vocab = _reference_vocab(fitted, vocab_size)
    messages: list[str] = []
    _check_extrapolation(fitted, messages, vocab_size, f"the optimal split at {flops:.3g} FLOPs",
                         params=n_opt, tokens=d_opt, flops=flops)
    if law.has_loss:
        _check_uniform(fitted, messages, vocab_size, {r.rule: r.predicted_loss for r in runs})
    payload = {"flops": flops, "law": fitted.to_dict(), "optimal_loss": law.optimal_loss(flops),
               "optimal": {"params": n_opt, "tokens": d_opt, "loss": law.optimal_loss(flops),
                           "budget_ratio": 6.0 * n_opt * d_opt / flops, "intervals": fitted.optimal_intervals(flops)},
               "vocab_size": vocab_size, "uniform_loss": uniform_loss(vocab),
               "allocations": [_row(r, fitted, vocab) for r in runs], "warnings": messages}
    if unique_tokens is not None:
        payload["repetition"] = _repetition(flops, law, unique_tokens)
    return payload


def judge(model: float | str | ModelShape, tokens: float, law: Law | FittedLaw | str = "chinchilla", *,
          unique_tokens: float | None = None, style: str = DEFAULT_STYLE, vocab_size: int | None = None,
          seq_len: int | None = None) -> dict:
    """A given run (N = a preset's name, a shape or a parameter count; D = `tokens`) against its law: its compute
    C = 6ND, predicted loss, the law-optimal split at C and the loss the run leaves there, and its
    compute-equivalent C' (L_opt(C') = L(N, D), `ParametricLaw.compute_for_loss`): the optimal split reaches the
    run's loss with C'/C of its compute. With `unique_tokens`, losses count repeated data. `vocab_size` and
    `seq_len` replace a preset's own where given; a parameter count takes the style's vocabulary (`style_vocab`)
    and `DEFAULT_SEQ_LEN` where not; a shape has its own."""
    fitted = load_law(law)
    law = fitted.law
    name, shape, components = None, None, None
    if isinstance(model, str):
        name, shape = model, preset(model, vocab_size=vocab_size, seq_len=seq_len)
    elif isinstance(model, ModelShape):
        shape = model
    if shape is not None:
        params, vocab_size, seq_len, components = shape.params, shape.vocab_size, shape.seq_len, shape.components
    else:
        params = check_count(model, "--params", "parameters")
        vocab_size = style_vocab(style, vocab_size)
        seq_len = DEFAULT_SEQ_LEN if seq_len is None else seq_len
    tokens = check_count(tokens, "--tokens", "tokens")
    if unique_tokens is not None:
        unique_tokens = check_count(unique_tokens, "--unique-tokens", "tokens")
        if not law.has_loss:
            raise ScalingError(f"repeated data (unique tokens) needs a law with a loss (Approach 3 or a named law); "
                               f"{law.name} is an Approach {law.approach} allocation with no L(N, D)")
    flops = 6.0 * params * tokens
    if not math.isfinite(flops):
        raise ScalingError(f"6 x {params:.3g} parameters x {tokens:.3g} tokens overflows ({flops} FLOPs): give a "
                           f"real run's size and tokens")
    loss = law.loss(params, tokens, unique_tokens)
    optimal = plan_point(flops, "optimal", law, style=style, vocab_size=vocab_size, seq_len=seq_len,
                         components=components, allow_no_shape=True)
    n_opt, d_opt = law.compute_optimal(flops)
    best = law.optimal_loss(flops)
    equivalent = law.compute_for_loss(loss) if law.has_loss else math.nan
    vocab = _reference_vocab(fitted, vocab_size)
    messages: list[str] = []
    _check_extrapolation(fitted, messages, vocab_size, f"the run ({name or 'given'})", params=params, tokens=tokens,
                         flops=flops)
    if law.has_loss:
        _check_uniform(fitted, messages, vocab_size, {name or "the run": loss})
    out = {"name": name, "params": params, "tokens": tokens, "tokens_per_param": tokens / params, "flops": flops,
           "shape": shape.to_dict() if shape is not None else None, "law": fitted.to_dict(),
           "predicted_loss": loss, "loss_interval": fitted.loss_interval(params, tokens, unique_tokens),
           "optimal": {**optimal.to_dict(), "params_closed_form": n_opt, "tokens_closed_form": d_opt,
                       "loss": best, "intervals": fitted.optimal_intervals(flops)},
           "optimal_loss": best, "loss_gap": loss - best, "compute_equivalent": equivalent,
           "compute_fraction": equivalent / flops, "unique_tokens": unique_tokens, "uniform_loss": uniform_loss(vocab),
           "above_uniform": bool(loss > uniform_loss(vocab)) if law.has_loss else None, "warnings": messages}
    if unique_tokens is not None:
        out.update(epochs=tokens / unique_tokens, fresh_loss=law.loss(params, tokens),
                   repetition=_repetition(flops, law, unique_tokens))
    return out


def count(shape: ModelShape | str) -> dict:
    """Exact parameters (total, non-embedding, by part) and training FLOPs per token by every method of a shape
    or a preset's name."""
    name = shape if isinstance(shape, str) else None
    if name is not None:
        shape = preset(name)
    record = {"params": shape.params, "non_embedding_params": shape.non_embedding_params,
              "flops_per_token": all_methods(shape), "breakdown": shape.param_breakdown(),
              "shape": shape.to_dict()}
    return {"preset": name, **record} if name else record
