"""What the planner answers: `count` (a shape's exact parameters and FLOPs per token), `plan_point` (one run
for a budget: the rule's N, the solver's shape, and the tokens that spend the budget on that exact shape) and
`plan` (one run per rule at a budget). `scaling plan`, `scaling grid` and the harness's sizing all go through
`plan_point`, so they agree on every number.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.allocation import RULES, Allocation, allocate, check_budget
from scaling.architecture import Components, ModelShape, preset, solve_shape
from scaling.flops import all_methods, flops_per_token
from scaling.laws import ParametricLaw, get_law


@dataclass(frozen=True)
class PlannedRun(Allocation):
    """An allocation realised: `params` is the exact count of the solver's shape for the rule's N
    (`target_params`), and `tokens` spend the budget on that shape, D = C / flops_per_token(shape)."""

    size_factor: float = 1.0  # target N / the rule's N
    target_params: float = 0.0
    shape: ModelShape | None = None
    flops_method: str = "6N"

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update(shape=self.shape.to_dict())
        return out


def plan_point(flops: float, rule: str, law: ParametricLaw | str = "chinchilla", *, size_factor: float = 1.0,
               style: str = "llama", vocab_size: int = 32000, seq_len: int = 2048,
               components: Components | None = None, flops_method: str = "6N",
               inference_tokens: float | None = None) -> PlannedRun:
    """One run: `rule` picks N for the budget (times `size_factor`), the solver gives it a shape, and
    D = C / flops_per_token(shape) spends the budget on that exact shape (the inference rule's training
    compute, which exceeds C by design, in its place)."""
    law = get_law(law)
    alloc = allocate(rule, flops, law, size_factor=size_factor, inference_tokens=inference_tokens)
    shape = solve_shape(alloc.params, style, vocab_size=vocab_size, seq_len=seq_len, components=components)
    tokens = alloc.flops / flops_per_token(shape, flops_method)
    return PlannedRun(rule, alloc.flops, shape.params, tokens, law.loss(shape.params, tokens), alloc.inference_tokens,
                      size_factor=size_factor, target_params=alloc.params, shape=shape, flops_method=flops_method)


def plan(flops: float, law: ParametricLaw | str = "chinchilla", *, rules=None, style: str = "llama",
         vocab_size: int = 32000, seq_len: int = 2048, inference_tokens: float | None = None) -> dict:
    """`flops` split by each rule (default: all of RULES that apply; the inference rule needs
    `inference_tokens`), each as a PlannedRun's dict, with the law and its compute-optimal loss at `flops`."""
    law = get_law(law)
    flops = check_budget(flops)
    rules = list(rules) if rules else [r for r in RULES if r != "inference" or inference_tokens is not None]
    runs = [plan_point(flops, rule, law, style=style, vocab_size=vocab_size, seq_len=seq_len,
                       inference_tokens=inference_tokens) for rule in rules]
    return {"flops": flops, "law": law.to_dict(), "optimal_loss": law.optimal_loss(flops),
            "allocations": [r.to_dict() for r in runs]}


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
