"""Decoder-only transformer shapes and their exact parameter counts.

One `ModelShape` covers LLaMA style (RMSNorm pre-norm, SwiGLU, RoPE, no biases, untied; Touvron et al. 2023),
GPT-3 style (LayerNorm with bias, 4d GELU FFN with biases, learned positions, tied; Brown et al. 2020) and every
mix of the two: each architectural choice is a field of `Components`. The counts are the sums of
`numel()` over the modules the harness builds, term by term:

- token embedding ``V d``; learned positions ``T d``; Transformer-XL relative positions (Gopher, Chinchilla)
  ``L (d A + 2 A)`` for the projection W_r and the biases u, v, where ``A = n_heads * head_dim``;
- attention ``d A + 2 d K + A d`` with ``K = n_kv_heads * head_dim`` (grouped-query when K < A),
  biases ``A + 2 K + d``;
- FFN: SwiGLU ``3 d F`` (biases ``2 F + d``), GELU/ReLU ``2 d F`` (biases ``F + d``);
- norms: RMSNorm ``d``, LayerNorm ``d`` or ``2 d`` with bias; two per layer, plus a final norm with pre-norm
  (post-norm blocks end in a norm already, so none is added);
- output head ``V d`` unless tied to the embedding; no head bias.
"""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field, replace

from scaling.errors import ScalingError

NORMS = ("rmsnorm", "layernorm")
NORM_POSITIONS = ("pre", "post")
FFNS = ("swiglu", "gelu", "relu")
POSITIONS = ("rope", "learned", "none", "relative")
TRAINABLE_POSITIONS = ("rope", "learned", "none")  # what the harness builds; "relative" is only counted
SWITCHES = ("norm", "norm_position", "ffn", "position", "bias", "tied")  # the fields of Components


@dataclass(frozen=True)
class Components:
    """The switches that separate GPT-3 style from LLaMA style; `SWITCHES` names them."""

    norm: str = "rmsnorm"  # rmsnorm | layernorm
    norm_position: str = "pre"  # pre | post
    ffn: str = "swiglu"  # swiglu | gelu | relu
    position: str = "rope"  # rope | learned | none | relative (planner only: Gopher/Chinchilla presets)
    bias: bool = False  # biases in every linear layer and in LayerNorm
    tied: bool = False  # output head shares the token embedding

    def __post_init__(self) -> None:
        for name, allowed in (("norm", NORMS), ("norm_position", NORM_POSITIONS), ("ffn", FFNS),
                              ("position", POSITIONS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ScalingError(f"unknown {name} {value!r}: choose one of {', '.join(allowed)}")


STYLES: dict[str, Components] = {
    "llama": Components(),
    "gpt3": Components(norm="layernorm", ffn="gelu", position="learned", bias=True, tied=True),
    # Gopher/Chinchilla (Rae et al. 2021; Hoffmann et al. 2022): RMSNorm, 4d dense FFN, relative positions, tied.
    "gopher": Components(norm="rmsnorm", ffn="gelu", position="relative", bias=False, tied=True),
}

# A shape's context where none is given (the solver, the planner, the command line): the llama style, and each
# style's published tokenizer and context: GPT-2's and GPT-3's BPE of 50,257 tokens (Radford et al. 2019; Brown
# et al. 2020), LLaMA's SentencePiece of 32,000 (Touvron et al. 2023), Gopher's and Chinchilla's SentencePiece of
# 32,000 (Rae et al. 2021); a context of 2048 for all three.
DEFAULT_STYLE = "llama"
STYLE_VOCAB = {"llama": 32000, "gpt3": 50257, "gopher": 32000}
DEFAULT_SEQ_LEN = 2048


def style_vocab(style: str, vocab_size: int | None = None) -> int:
    """`vocab_size`, or where it is None the style's published vocabulary (`STYLE_VOCAB`)."""
    if vocab_size is not None:
        return vocab_size
    style_components(style)  # an unknown style is one line naming the styles
    return STYLE_VOCAB[style]


def style_components(style: str) -> Components:
    """The components of a named style, or a one-line error naming the styles there are."""
    try:
        return STYLES[style]
    except KeyError:
        raise ScalingError(f"unknown style {style!r}: choose one of {', '.join(STYLES)}") from None


def swiglu_hidden(d_model: int, multiple_of: int = 256) -> int:
    """LLaMA's SwiGLU width: 2/3 of 4d, rounded up to a multiple of `multiple_of` (meta-llama/llama model.py)."""
    hidden = int(2 * (4 * d_model) / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def default_ffn_hidden(components: Components, d_model: int, multiple_of: int) -> int:
    return swiglu_hidden(d_model, multiple_of) if components.ffn == "swiglu" else 4 * d_model


def _positive_int(name: str, value) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise ScalingError(f"{name} must be a positive integer, got {value!r}") from None
    if value <= 0:
        raise ScalingError(f"{name} must be a positive integer, got {value}")
    return value


def param_breakdown(c: Components, d: int, n_layers: int, attn_dim: int, kv_dim: int, ffn_hidden: int,
                    vocab_size: int, seq_len: int) -> dict[str, int]:
    """Exact parameter counts by part (see the module docstring for every term)."""
    bias = c.bias
    attention = d * attn_dim + 2 * d * kv_dim + attn_dim * d + (attn_dim + 2 * kv_dim + d if bias else 0)
    if c.ffn == "swiglu":
        ffn = 3 * d * ffn_hidden + (2 * ffn_hidden + d if bias else 0)
    else:
        ffn = 2 * d * ffn_hidden + (ffn_hidden + d if bias else 0)
    per_norm = d * (2 if c.norm == "layernorm" and bias else 1)
    n_norms = 2 * n_layers + (1 if c.norm_position == "pre" else 0)
    if c.position == "learned":
        position = seq_len * d
    elif c.position == "relative":
        position = n_layers * (d * attn_dim + 2 * attn_dim)
    else:
        position = 0
    return {
        "embedding": vocab_size * d,
        "position": position,
        "attention": n_layers * attention,
        "ffn": n_layers * ffn,
        "norm": n_norms * per_norm,
        "head": 0 if c.tied else vocab_size * d,
    }


@dataclass(frozen=True)
class ModelShape:
    """A decoder-only transformer's shape. Unset fields take the style's defaults:
    `n_kv_heads` = `n_heads`, `head_dim` = `d_model / n_heads`, `ffn_hidden` = the FFN rule of the components."""

    d_model: int
    n_layers: int
    n_heads: int
    vocab_size: int
    seq_len: int
    components: Components = field(default_factory=Components)
    n_kv_heads: int | None = None
    head_dim: int | None = None  # set it when heads do not split d_model evenly (GPT-3 13B: 5140 = d, 40 x 128)
    ffn_hidden: int | None = None
    multiple_of: int = 256  # SwiGLU width rounding (LLaMA uses 256; tiny models need smaller)

    def __post_init__(self) -> None:
        for name in ("d_model", "n_layers", "n_heads", "vocab_size", "seq_len", "multiple_of"):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))
        if not isinstance(self.components, Components):
            raise ScalingError(f"components must be a Components, got {type(self.components).__name__}")
        if self.head_dim is None:
            if self.d_model % self.n_heads:
                raise ScalingError(
                    f"n_heads {self.n_heads} does not divide d_model {self.d_model}: choose a head count that "
                    f"divides it, or give head_dim explicitly")
            object.__setattr__(self, "head_dim", self.d_model // self.n_heads)
        else:
            object.__setattr__(self, "head_dim", _positive_int("head_dim", self.head_dim))
        kv = self.n_heads if self.n_kv_heads is None else _positive_int("n_kv_heads", self.n_kv_heads)
        if self.n_heads % kv:
            raise ScalingError(f"n_kv_heads {kv} does not divide n_heads {self.n_heads}: grouped-query attention "
                               f"shares each key/value head among an equal number of query heads")
        object.__setattr__(self, "n_kv_heads", kv)
        if self.ffn_hidden is None:
            object.__setattr__(self, "ffn_hidden", default_ffn_hidden(self.components, self.d_model,
                                                                       self.multiple_of))
        else:
            object.__setattr__(self, "ffn_hidden", _positive_int("ffn_hidden", self.ffn_hidden))

    @classmethod
    def of_style(cls, style: str, **fields) -> ModelShape:
        return cls(components=style_components(style), **fields)

    @property
    def style(self) -> str:
        """The named style whose components these are, or "custom"."""
        return next((name for name, c in STYLES.items() if c == self.components), "custom")

    @property
    def attn_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_dim

    def param_breakdown(self) -> dict[str, int]:
        return param_breakdown(self.components, self.d_model, self.n_layers, self.attn_dim, self.kv_dim,
                               self.ffn_hidden, self.vocab_size, self.seq_len)

    @property
    def params(self) -> int:
        """Total parameters, embeddings included (Chinchilla's N)."""
        return sum(self.param_breakdown().values())

    @property
    def non_embedding_params(self) -> int:
        """Kaplan et al.'s N: all parameters but the vocabulary (input and untied output) and position ones."""
        b = self.param_breakdown()
        return self.params - b["embedding"] - b["head"] - b["position"]

    @property
    def matmul_params(self) -> int:
        """Weights of the matrix multiplies a token goes through (PaLM's N for FLOPs): attention, FFN, the
        relative-position projection and the output head (tied or not); no lookups, norms or biases."""
        c = self.components
        per_layer = 2 * self.d_model * (self.attn_dim + self.kv_dim)
        per_layer += (3 if c.ffn == "swiglu" else 2) * self.d_model * self.ffn_hidden
        if c.position == "relative":
            per_layer += self.d_model * self.attn_dim
        return self.n_layers * per_layer + self.vocab_size * self.d_model

    def describe(self) -> str:
        kv = f" kv{self.n_kv_heads}" if self.n_kv_heads != self.n_heads else ""
        return (f"d{self.d_model} L{self.n_layers} H{self.n_heads}x{self.head_dim}{kv} F{self.ffn_hidden} "
                f"V{self.vocab_size} T{self.seq_len}")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["style"] = self.style
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ModelShape:
        data = dict(data)
        data.pop("style", None)
        components = data.pop("components", None)
        return cls(components=Components(**components) if components else Components(), **data)


def _gpt3(d_model: int, n_layers: int, n_heads: int, head_dim: int | None = None) -> ModelShape:
    return ModelShape.of_style("gpt3", d_model=d_model, n_layers=n_layers, n_heads=n_heads, head_dim=head_dim,
                               vocab_size=STYLE_VOCAB["gpt3"], seq_len=DEFAULT_SEQ_LEN)


def _llama(d_model: int, n_layers: int, n_heads: int) -> ModelShape:
    return ModelShape.of_style("llama", d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                               vocab_size=STYLE_VOCAB["llama"], seq_len=DEFAULT_SEQ_LEN, multiple_of=256)


def _gopher(d_model: int, n_layers: int, n_heads: int) -> ModelShape:
    return ModelShape.of_style("gopher", d_model=d_model, n_layers=n_layers, n_heads=n_heads, head_dim=128,
                               vocab_size=STYLE_VOCAB["gopher"], seq_len=DEFAULT_SEQ_LEN)


PRESETS: dict[str, ModelShape] = {
    # Touvron et al. 2023, Table 2 (SwiGLU widths 11008, 13824, 17920, 22016 follow from multiple_of 256).
    "llama-7b": _llama(4096, 32, 32),
    "llama-13b": _llama(5120, 40, 40),
    "llama-33b": _llama(6656, 60, 52),
    "llama-65b": _llama(8192, 80, 64),
    # Brown et al. 2020, Table 2.1 (context 2048, vocab 50257, d_ff = 4d, tied). Two rows of that table do not
    # add up: the 1.3B row lists 24 heads of 128 (= 3072, not d 2048) and we keep d_head 128, i.e. 16 heads
    # (3072-wide attention would make it 1.5B); the 13B row lists d 5140 with 40 heads of 128, which we keep
    # as given: a 5120-wide attention inside a 5140-wide residual stream.
    "gpt3-125m": _gpt3(768, 12, 12),
    "gpt3-350m": _gpt3(1024, 24, 16),
    "gpt3-760m": _gpt3(1536, 24, 16),
    "gpt3-1.3b": _gpt3(2048, 24, 16),
    "gpt3-2.7b": _gpt3(2560, 32, 32),
    "gpt3-6.7b": _gpt3(4096, 32, 32),
    "gpt3-13b": _gpt3(5140, 40, 40, head_dim=128),
    "gpt3-175b": _gpt3(12288, 96, 96),
    # OpenAI's GPT-2 small checkpoint: 1024 context, every bias present.
    "gpt2-124m": ModelShape.of_style("gpt3", d_model=768, n_layers=12, n_heads=12, vocab_size=STYLE_VOCAB["gpt3"],
                                     seq_len=1024),
    # Hoffmann et al. 2022 Table 4 and Rae et al. 2021 Table 1: key size 128, ffw 4d, relative positions.
    "chinchilla-70b": _gopher(8192, 80, 64),
    "gopher-280b": _gopher(16384, 80, 128),
}


def preset(name: str, *, vocab_size: int | None = None, seq_len: int | None = None) -> ModelShape:
    """A published model's shape by name (see `PRESETS`), with another vocabulary or context where given (the
    same layers under another tokenizer or context length)."""
    try:
        shape = PRESETS[name]
    except KeyError:
        raise ScalingError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}") from None
    changes = {k: v for k, v in (("vocab_size", vocab_size), ("seq_len", seq_len)) if v is not None}
    return replace(shape, **changes) if changes else shape


# --- Shape solver -----------------------------------------------------------------------------------------------

MAX_LAYERS = 256
MAX_WIDTH = 65536
ASPECT_WINDOW = 2.0  # a shape is "sensible" when its width/depth is within this factor of the target


def width_quantum(d_model: int) -> tuple[int, int, int]:
    """(width step, head_dim, SwiGLU multiple_of) for a residual width: the rule the solver uses.

    Below 64: steps of 8, one head. 64-255: steps of 32, heads of 32. 256-2047: steps of 64, heads of 64
    (GPT-3 125M-760M, Chinchilla's small models). 2048 and up: steps of 128, heads of 128 (LLaMA, GPT-3 6.7B+).
    """
    if d_model < 64:
        return 8, d_model, 8
    if d_model < 256:
        return 32, 32, 8
    if d_model < 2048:
        return 64, 64, 64
    return 128, 128, 256


def _widths() -> list[int]:
    out = list(range(8, 64, 8)) + list(range(64, 256, 32)) + list(range(256, 2048, 64))
    return out + list(range(2048, MAX_WIDTH + 1, 128))


WIDTHS = tuple(_widths())


def target_aspect_ratio(params: float) -> float:
    """Width/depth the solver aims for: 16 up to 1e5 parameters, 64 at 1e8, 128 from 1e10, log-linear between.

    Tiny models are deep for their width (TinyStories-1M..8M: 8..32; Pythia-14M: 21), GPT-3 125M-760M and
    Chinchilla's sub-1B models sit near 64, LLaMA-7B and GPT-3 6.7B/175B at 128 (Chinchilla-70B, LLaMA-65B 102).
    Kaplan et al. 2020 (Fig. 5) find the loss within ~1% over ratios of ~20-200 at 25M+ parameters.
    """
    x = math.log10(max(params, 1.0))
    if x <= 5:
        return 16.0
    if x <= 8:
        return 16.0 * 4.0 ** ((x - 5) / 3)
    return 64.0 * 2.0 ** min((x - 8) / 2, 1.0)


def _count(c: Components, d: int, n_layers: int, ffn_hidden: int, vocab_size: int, seq_len: int) -> int:
    return sum(param_breakdown(c, d, n_layers, d, d, ffn_hidden, vocab_size, seq_len).values())


def _standard_ffn(c: Components, d: int) -> int:
    return default_ffn_hidden(c, d, width_quantum(d)[2])


def shape_limits(style: str = DEFAULT_STYLE, *,
                 vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN,
                 components: Components | None = None) -> tuple[int, int]:
    """(smallest, largest) exact counts the solver's shapes reach: d 8 with one layer, d `MAX_WIDTH` with
    `MAX_LAYERS`. `solve_shape` answers targets from half the smallest (with the smallest) to the largest."""
    c = components if components is not None else style_components(style)
    vocab_size = _positive_int("vocab_size", style_vocab(style, vocab_size))
    seq_len = _positive_int("seq_len", seq_len)
    return (_count(c, WIDTHS[0], 1, _standard_ffn(c, WIDTHS[0]), vocab_size, seq_len),
            _count(c, WIDTHS[-1], MAX_LAYERS, _standard_ffn(c, WIDTHS[-1]), vocab_size, seq_len))


def no_shape_reason(target_params: float, style: str = DEFAULT_STYLE, *,
                    vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN,
                    components: Components | None = None) -> str | None:
    """Why `solve_shape` has no shape for `target_params` (one line), or None where it has one."""
    vocab_size = style_vocab(style, vocab_size)
    smallest, largest = shape_limits(style, vocab_size=vocab_size, seq_len=seq_len, components=components)
    if target_params < smallest / 2:
        return (f"below the smallest shape with vocab {vocab_size} ({smallest:,} parameters at d {WIDTHS[0]}, one "
                f"layer): a smaller vocabulary (--vocab) makes room")
    if target_params > largest:
        return (f"above the largest shape the solver builds ({largest:.3g} parameters: d {MAX_WIDTH}, "
                f"{MAX_LAYERS} layers)")
    return None


# How a parameter count becomes a shape: "exact" lands within 2% of it (bending the FFN or the depth where tiny
# widths are coarse); "ladder" takes the nearest rung of `shape_ladder`, whose width and depth never shrink as N
# grows: the sizes of an isoFLOP profile then differ in size alone, not in erratic shapes.
SHAPE_RULES = ("exact", "ladder")
LADDER_MIN_LAYERS = 2


def _shape(c: Components, d: int, n_layers: int, ffn_hidden: int, vocab_size: int, seq_len: int) -> ModelShape:
    step, head_dim, multiple_of = width_quantum(d)
    return ModelShape(d_model=d, n_layers=n_layers, n_heads=d // head_dim, vocab_size=vocab_size,
                      seq_len=seq_len, components=c, ffn_hidden=ffn_hidden, multiple_of=multiple_of)


def shape_ladder(up_to: float, style: str = DEFAULT_STYLE, *,
                 vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN,
                 components: Components | None = None) -> list[ModelShape]:
    """A model ladder, grown the way model families are (Pythia, OLMo's ladder, Chinchilla's Table A9): from
    d 8 and two layers, each rung adds one width step (`WIDTHS`) or one layer, whichever leaves d/L nearer
    `target_aspect_ratio` of the new count; the FFN keeps its style's rule. Width and depth never shrink from
    one rung to the next, and each rung is at most ~2.6x the last. Rungs up to the first past `up_to` parameters.
    The ladder starts at `LADDER_MIN_LAYERS` layers: a one-layer transformer cannot compose attention heads (no
    induction heads, Olsson et al. 2022), a different model rather than a smaller one, and on the reference sweep
    its final loss varied 0.05-0.14 nats between seeds where two layers and more varied by 0.02 at most."""
    c = components if components is not None else style_components(style)
    vocab_size = _positive_int("vocab_size", style_vocab(style, vocab_size))
    seq_len = _positive_int("seq_len", seq_len)

    def count(i: int, n_layers: int) -> int:
        return _count(c, WIDTHS[i], n_layers, _standard_ffn(c, WIDTHS[i]), vocab_size, seq_len)

    i, n_layers = 0, LADDER_MIN_LAYERS
    rungs = [(i, n_layers, count(i, n_layers))]
    while rungs[-1][2] < up_to and (i + 1 < len(WIDTHS) or n_layers < MAX_LAYERS):
        options = []
        for j, depth in ((i + 1, n_layers), (i, n_layers + 1)):
            if j < len(WIDTHS) and depth <= MAX_LAYERS:
                n = count(j, depth)
                options.append((abs(math.log(WIDTHS[j] / depth / target_aspect_ratio(n))), j, depth, n))
        _, i, n_layers, n = min(options)
        rungs.append((i, n_layers, n))
    return [_shape(c, WIDTHS[i], depth, _standard_ffn(c, WIDTHS[i]), vocab_size, seq_len)
            for i, depth, _ in rungs]


def solve_shape(target_params: float, style: str = DEFAULT_STYLE, *,
                vocab_size: int | None = None, seq_len: int = DEFAULT_SEQ_LEN,
                components: Components | None = None, tolerance: float = 0.02,
                rule: str = "exact") -> ModelShape:
    """A sensible shape whose exact parameter count (embeddings included) is close to `target_params`.

    With `rule="ladder"`: the rung of `shape_ladder` nearest the target in log (up to ~1.6x off at tiny sizes,
    where rungs are coarse). With `rule="exact"`, as follows.

    The rule, deterministic: widths come from `WIDTHS` (see `width_quantum`), the FFN from the style's rule.
    For each depth 1..256 the widths whose counts bracket the target are candidates; among candidates within
    `tolerance` of the target the one whose d/L is closest (in log) to `target_aspect_ratio` wins, ties going to
    the smaller count error. Where no standard shape lands within tolerance (tiny models, whose embeddings make
    widths coarse) the FFN width is moved off its rule (by at most 2x, in steps of 8) to close the gap,
    preferring the smallest such change. Raises ScalingError for targets outside what the widths can reach.
    """
    if not (isinstance(target_params, (int, float)) and math.isfinite(target_params) and target_params > 0):
        raise ScalingError(f"target parameter count must be a finite positive number, got {target_params!r}")
    if rule not in SHAPE_RULES:
        raise ScalingError(f"unknown shape rule {rule!r}: choose one of {', '.join(SHAPE_RULES)}")
    c = components if components is not None else style_components(style)
    vocab_size = _positive_int("vocab_size", style_vocab(style, vocab_size))
    seq_len = _positive_int("seq_len", seq_len)

    def standard(d: int) -> int:
        return _standard_ffn(c, d)

    smallest, largest = shape_limits(vocab_size=vocab_size, seq_len=seq_len, components=c)
    if not smallest / 2 <= target_params <= largest:
        raise ScalingError(f"no shape near {target_params:.4g} parameters: with vocab {vocab_size} this solver "
                           f"spans {smallest:,} to {largest:.3g} (d 8..{MAX_WIDTH}, 1..{MAX_LAYERS} layers)")
    if rule == "ladder":
        ladder = shape_ladder(target_params, vocab_size=vocab_size, seq_len=seq_len, components=c)
        return min(ladder, key=lambda s: abs(math.log(s.params / target_params)))
    aspect = target_aspect_ratio(target_params)
    log_tol = math.log1p(tolerance)
    candidates = []  # (aspect error, count error, ffn change, d, L, F)
    for n_layers in range(1, MAX_LAYERS + 1):
        lo, hi = 0, len(WIDTHS) - 1  # first width whose count reaches the target
        while lo < hi:
            mid = (lo + hi) // 2
            if _count(c, WIDTHS[mid], n_layers, standard(WIDTHS[mid]), vocab_size, seq_len) < target_params:
                lo = mid + 1
            else:
                hi = mid
        for i in {max(lo - 1, 0), lo}:
            d = WIDTHS[i]
            f0 = standard(d)
            n0 = _count(c, d, n_layers, f0, vocab_size, seq_len)
            aspect_err = abs(math.log(d / n_layers / aspect))
            candidates.append((aspect_err, abs(math.log(n0 / target_params)), 0.0, d, n_layers, f0))
            # The FFN width that would hit the target: counts are linear in F.
            slope = _count(c, d, n_layers, f0 + 8, vocab_size, seq_len) - n0
            f = 8 * round((f0 + (target_params - n0) * 8 / slope) / 8)
            if f != f0 and f0 / 2 <= f <= 2 * f0 and f > 0:
                n = _count(c, d, n_layers, f, vocab_size, seq_len)
                candidates.append((aspect_err, abs(math.log(n / target_params)), abs(math.log(f / f0)), d,
                                   n_layers, f))
        if n_layers > 4 and WIDTHS[lo] < n_layers * aspect / 16:
            break  # deeper models only get thinner: past any sensible aspect ratio
    feasible = [x for x in candidates if x[1] <= log_tol]
    sensible = [x for x in feasible if x[0] <= math.log(ASPECT_WINDOW)]
    standard_ffn = [x for x in sensible if x[2] == 0.0]
    near = [x for x in candidates if x[0] <= math.log(ASPECT_WINDOW) and x[1] <= 3 * log_tol]
    if standard_ffn:
        best = min(standard_ffn, key=lambda x: (x[0], x[1]))
    elif sensible:
        best = min(sensible, key=lambda x: (x[2] + x[0], x[1]))
    elif near:  # below ~20K parameters: a sensible shape a few percent off beats a 4-layer model 8 wide
        best = min(near, key=lambda x: (x[1], x[0]))
    elif feasible:
        best = min(feasible, key=lambda x: (x[2] + x[0], x[1]))
    else:
        best = min(candidates, key=lambda x: (x[1], x[0]))
    _, _, _, d, n_layers, f = best
    return _shape(c, d, n_layers, f, vocab_size, seq_len)
