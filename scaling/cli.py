"""`scaling`: the planner's command line (count | plan | grid | fit | report).

Tables by default, `--json` for scripts. Bad input gets one line on stderr and exit code 2. The module imports
only what a subcommand needs, and never torch or hydra (pandas only for `fit`), so `scaling plan` answers in a
blink.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
import warnings

from scaling.errors import ScalingError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and exit code 2."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # a negative number in any notation is a value (argparse before 3.13 took -1e12 for an option, and the
        # user heard "expected one argument" instead of why the value is refused); no option here starts "-digit"
        self._negative_number_matcher = re.compile(r"^-(\.?\d|inf|nan)", re.IGNORECASE)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _emit(args, payload, text: str) -> None:
    from scaling.atomic import json_ready

    print(json.dumps(json_ready(payload), indent=2) if args.json else text)


# --- argument types ------------------------------------------------------------------------------------------------

def _number(text: str, flag: str, unit: str) -> float:
    from scaling.allocation import check_count

    return check_count(text, flag, unit)


def _comma_list(text: str, flag: str, what: str) -> list[str]:
    """The non-empty items of a comma-separated option, at least one."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ScalingError(f"{flag} takes comma-separated {what}, got {text!r}")
    return items


def _flops_list(text: str, flag: str = "--flops") -> list[float]:
    from scaling.allocation import check_budget

    budgets = [check_budget(x, f"every {flag} value") for x in _comma_list(text, flag, "budgets in FLOPs")]
    twice = sorted({c for c in budgets if budgets.count(c) > 1})
    if twice:  # a budget given twice would be planned (or reported) twice
        raise ScalingError(f"{flag} lists {', '.join(f'{c:g}' for c in twice)} more than once: give each budget once")
    return budgets


# --- count ---------------------------------------------------------------------------------------------------------

def _shape_from_args(args):
    from scaling.architecture import SWITCHES, Components, ModelShape, style_components

    missing = [flag for flag, key in (("--d-model", "d_model"), ("--n-layers", "n_layers"),
                                      ("--n-heads", "n_heads")) if getattr(args, key) is None]
    if missing:
        raise ScalingError(f"give --preset NAME, or a shape with {', '.join(missing)}")
    base = style_components(args.style)
    switches = {k: getattr(args, k) for k in SWITCHES if getattr(args, k) is not None}
    components = Components(**{**base.__dict__, **switches})
    rounding = {"multiple_of": args.multiple_of} if args.multiple_of is not None else {}
    return ModelShape(d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads,
                      n_kv_heads=args.n_kv_heads, head_dim=args.head_dim, ffn_hidden=args.ffn_hidden,
                      vocab_size=args.vocab, seq_len=args.seq_len, components=components, **rounding)


def cmd_count(args) -> int:
    from scaling import render
    from scaling.architecture import PRESETS, SWITCHES, preset
    from scaling.planning import count

    if args.preset is None:
        _shape_context(args)
        record = count(_shape_from_args(args))
        _emit(args, record, render.count_text(record))
        return 0
    _shape_context(args, preset_given=True, also=("d_model", "n_layers", "n_heads", "n_kv_heads", "head_dim",
                                                  "ffn_hidden", "multiple_of", *SWITCHES),
                   instead="a shape: --d-model/--n-layers/--n-heads")
    names = list(PRESETS) if args.preset == "all" else [args.preset]
    records = [{"preset": name, **count(preset(name, vocab_size=args.vocab, seq_len=args.seq_len))}
               for name in names]
    if args.preset == "all":
        _emit(args, records, render.count_table(records))
    else:
        _emit(args, records[0], render.count_text(records[0]))
    return 0


# --- plan ----------------------------------------------------------------------------------------------------------

def _budget(args) -> float:
    from scaling.allocation import check_budget
    from scaling.hardware import DEFAULT_MFU, device_peak, flops_from_gpu_hours

    if args.flops is not None:
        if args.gpu_hours is not None:
            raise ScalingError("give either --flops or --gpu-hours with --gpu, not both")
        ignored = [flag for flag, value in (("--gpu", args.gpu), ("--mfu", args.mfu)) if value is not None]
        if ignored:  # they convert GPU-hours into FLOPs; with --flops they would be silently unused
            raise ScalingError(f"{' and '.join(ignored)} {'convert' if len(ignored) > 1 else 'converts'} --gpu-hours "
                               f"into FLOPs: with --flops, drop {'them' if len(ignored) > 1 else 'it'}")
        return check_budget(args.flops, "--flops")
    if args.gpu_hours is None:
        raise ScalingError("give a budget: --flops C, or --gpu-hours H --gpu NAME [--mfu F]")
    if args.gpu is None:
        raise ScalingError("--gpu-hours needs --gpu NAME (see scaling plan --help for the devices)")
    mfu = DEFAULT_MFU if args.mfu is None else args.mfu
    flops = flops_from_gpu_hours(args.gpu_hours, args.gpu, mfu)
    args.compute = {"gpu_hours": args.gpu_hours, "gpu": args.gpu, "peak_flops": device_peak(args.gpu), "mfu": mfu}
    args.compute_note = f" = {args.gpu_hours:g} GPU-hours x {args.gpu} {device_peak(args.gpu):.4g} FLOP/s x MFU {mfu:g}"
    return flops


def _runs(args) -> list:
    """The runs `--preset`/`--params` with `--tokens` name (comma-separated lists of equal length, or one model
    or one token count for all)."""
    if args.preset is not None and args.params is not None:
        raise ScalingError("give the model as --preset NAME or --params N, not both")
    if args.tokens is None:
        raise ScalingError("judging a run needs its tokens: --params N (or --preset NAME) --tokens D")
    if args.preset is None and args.params is None:
        raise ScalingError("judging a run needs its model: --params N or --preset NAME, with --tokens D")
    for flag in ("flops", "gpu_hours", "rules", "inference_tokens"):
        if getattr(args, flag) is not None:
            raise ScalingError(f"--{flag.replace('_', '-')} plans a budget; --params/--preset with --tokens judges a "
                               f"run (its compute is 6ND): give one or the other")
    models = [x.strip() for x in (args.preset if args.preset is not None else args.params).split(",")]
    tokens = [x.strip() for x in args.tokens.split(",")]
    if len(models) != len(tokens) and 1 not in (len(models), len(tokens)):
        raise ScalingError(f"{len(models)} models and {len(tokens)} token counts: give one token count per model, "
                           f"or one for all")
    n = max(len(models), len(tokens))
    return list(zip(models * (n // len(models)), tokens * (n // len(tokens)), strict=True))


def cmd_plan(args) -> int:
    from scaling import render
    from scaling.planning import judge, plan

    _shape_context(args, preset_given=args.preset is not None)
    if any(getattr(args, k) is not None for k in ("params", "preset", "tokens")):
        runs = []
        for model, tokens in _runs(args):
            if args.preset is None:
                model = _number(model, "--params", "parameters")
            runs.append(judge(model, _number(tokens, "--tokens", "tokens"), args.law,
                              unique_tokens=args.unique_tokens, style=args.style, vocab_size=args.vocab,
                              seq_len=args.seq_len))
        payload = {"runs": runs}
        _emit(args, payload, render.judge_text(runs))
        return 0
    flops = _budget(args)
    rules = _comma_list(args.rules, "--rules", "rules") if args.rules is not None else None
    payload = plan(flops, args.law, rules=rules, style=args.style, vocab_size=args.vocab, seq_len=args.seq_len,
                   inference_tokens=args.inference_tokens, unique_tokens=args.unique_tokens)
    note = getattr(args, "compute_note", "")
    if note:
        payload["compute"] = args.compute
    _emit(args, payload, render.plan_text(payload, args.style, note))
    return 0


# --- grid ----------------------------------------------------------------------------------------------------------

def cmd_grid(args) -> int:
    from scaling import render
    from scaling.grid import allocation_grid, isoflop_grid

    _shape_context(args)
    budgets = _flops_list(args.flops)
    if args.inference_tokens is not None and args.allocations is None:
        raise ScalingError("--inference-tokens is for the inference rule in --allocations: an isoFLOP grid does not "
                           "use it")
    common = {"style": args.style, "vocab_size": args.vocab, "seq_len": args.seq_len,
              "flops_method": args.flops_method}
    if args.allocations is not None:
        rules = _comma_list(args.allocations, "--allocations", "rules")
        points = allocation_grid(budgets, rules, args.law, inference_tokens=args.inference_tokens, **common)
    else:
        points = isoflop_grid(budgets, args.law, points=args.points, span=args.span, **common)
    rows = [p.to_dict() for p in points]
    _emit(args, rows, render.grid_text(rows, allocations=args.allocations is not None))
    return 0


# --- fit -----------------------------------------------------------------------------------------------------------

def _one_blas_thread() -> None:
    """The fit's matrices are tiny, so BLAS threads only contend: on a machine busy with a sweep they slowed
    scipy's L-BFGS-B ~50x here. One thread unless the user chose otherwise; it only takes before numpy loads."""
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ.setdefault(var, "1")


def _window(value: str, flag: str = "--window") -> int | None:
    """--window / --law-window K (neighbours each side of the best size) or 'all' (None: every size)."""
    if value == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise ScalingError(f"{flag} takes a whole number of neighbours >= 1, or 'all', got {value!r}") from None


def backtest_lines(bt: dict) -> str:
    """The fit JSON's backtest as text: what was held out and observed, each approach's prediction and verdict."""
    obs = bt["observed"]
    ci = obs.get("params_opt_ci")
    lines = [f"Backtest: {bt['holdout_flops']:.3g} FLOPs held out, predicted from "
             f"{', '.join(f'{c:.3g}' for c in bt['fitted_budgets'])}; observed N_opt {obs['params_opt']:.4g}"
             + (f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "") + f", best run's loss {obs['loss_best']:.4f}"]
    for name, pred in bt["predicted"].items():
        verdict = bt["within"].get(name)
        said = "no interval" if not verdict else ", ".join(
            f"{k.replace('params_opt', 'N_opt')} {'within' if v else 'OUTSIDE'}" for k, v in verdict.items())
        lines.append(f"  {name}: N_opt {pred['params_opt']:.4g}"
                     + (f" [{pred['params_opt_ci'][0]:.4g}, {pred['params_opt_ci'][1]:.4g}]"
                        if "params_opt_ci" in pred else "")
                     + f" ({bt['params_error_pct'][name]:+.1f}%), loss {pred['loss']:.4f}"
                     + (f" [{pred['loss_ci'][0]:.4f}, {pred['loss_ci'][1]:.4f}]" if "loss_ci" in pred else "")
                     + f" ({bt['loss_error_pct'][name]:+.2f}%): {said}")
    lines += [f"  warning: {w}" for w in bt.get("warnings", [])]
    return "\n".join(lines)


def cmd_fit(args) -> int:
    from scaling import render
    from scaling.fitting import fit, write_fit

    columns = {k: getattr(args, k) for k in ("params_col", "tokens_col", "flops_col", "loss_col", "run_col",
                                             "budget_col")}
    holdout = args.holdout_budget
    if holdout is not None and holdout != "largest":
        holdout = _flops_list(holdout, "--holdout-budget")
        if len(holdout) != 1:
            raise ScalingError(f"--holdout-budget takes one budget, got {len(holdout)}")
        holdout = holdout[0]
    result = fit(args.path, approach=args.approach, bootstrap=args.bootstrap, seed=args.seed, loss=args.loss,
                 delta=args.delta, asymmetry=args.asymmetry, engine=args.engine, level=args.level,
                 budgets=_flops_list(args.budgets, "--budgets") if args.budgets else (),
                 drop_highest_loss=args.drop_highest_loss, budget_tol=args.budget_tol, min_runs=args.min_runs,
                 window=_window(args.window), skew=args.skew, law_window=_window(args.law_window, "--law-window"),
                 tie_exponents=args.tie_exponents, form=args.form, compute=args.compute,
                 min_tokens_per_param=args.min_tokens_per_param,
                 params=args.params, holdout_budget=holdout, progress=True, **columns)
    payload = result.to_dict()
    if args.out:
        write_fit(payload, args.out)
    text = render.fit_text(payload) + (f"\nwrote {args.out}" if args.out else "")
    if "backtest" in payload:  # render.py has no backtest table: one line per approach here
        text += "\n\n" + backtest_lines(payload["backtest"])
    if "runs" in payload:  # a results dir: which runs the fit used (the same as `scaling report DIR`)
        from scaling.results import runs_line

        text = runs_line(args.path, payload["runs"]) + "\n" + text
    _emit(args, payload, text)
    return 0


# --- report ------------------------------------------------------------------------------------------------------

def cmd_report(args) -> int:
    from scaling import render
    from scaling.report import build

    report = build(args.path, bootstrap=args.bootstrap, seed=args.seed, figures=not args.no_plots,
                   compute=args.compute, params=args.params, skew=args.skew)
    if args.json:
        print(json.dumps({"report": str(report.directory / "report.md"), "fits": report.fits,
                          "skipped": report.skipped, "figures": [str(p) for p in report.figures],
                          "removed": [str(p) for p in report.removed],
                          "runs": report.selection.to_dict(), "backtest": report.backtest,
                          "rolling": report.rolling, "conventions": report.conventions,
                          "allocations": {f"{c:g}": row.dropna().to_dict()
                                          for c, row in report.allocations.iterrows()}}, indent=2))
        return 0
    print(report.selection.line(args.path))  # which runs (the same as `scaling fit DIR`)
    from scaling.report import LAW_FILES

    laws = [report.directory / file for name, file in LAW_FILES.items() if name in report.fits]
    print(render.report_text(report.headline(), report.fits, report.skipped, report.directory / "report.md",
                             report.figures, laws, report.removed, plannable=report.plannable))
    if report.backtest is not None:
        print(backtest_lines(report.backtest))
    if report.rolling is not None:
        err = report.rolling["loss_error_pct"]
        print(f"Rolled forward over {len(report.rolling['rows'])} budget(s), each from the smaller ones: minimum loss "
              f"error mean {err['mean']:+.2f}%, mean absolute {err['mean_abs']:.2f}%, largest {err['max_abs']:.2f}%"
              + (f" ({len(report.rolling['skipped'])} budget(s) not forecast: report.md says why)"
                 if report.rolling["skipped"] else ""))
    if report.profiles and report.profiles["trend"]["observed"] is not None:
        trend, laws = report.profiles["trend"], report.profiles["laws"]
        ci = trend["observed_ci"]
        said = {True: "inside", False: "OUTSIDE", None: "no verdict"}
        print(f"isoFLOP profiles' curvature ~C^{trend['observed']:.3f}"
              + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f" ({report.profiles['note']})") + "; "
              + "; ".join(f"approach {name} law ~C^{law['trend']:.3f}: {said[law['agrees']]}"
                          for name, law in laws.items() if law["trend"] is not None))
    return 0


def cmd_ablation(args) -> int:
    from scaling.ablation import markdown, write

    ablation, written, removed = write(args.path, args.lr_sweep, args.extrapolation, args.irreducible,
                                       args.bootstrap, args.seed, figures=not args.no_plots)
    print(markdown(ablation), end="")
    print("wrote " + ", ".join(str(p) for p in written))
    if removed:
        print("removed an earlier ablation's figures that this one does not draw: "
              + ", ".join(str(p) for p in removed))
    return 0


# --- parser --------------------------------------------------------------------------------------------------------

def _add_shape_context(p) -> None:
    """--style, --vocab and --seq-len, left None when not given so that a preset keeps its own
    (`_shape_context` fills in the defaults)."""
    from scaling.architecture import DEFAULT_SEQ_LEN, DEFAULT_STYLE, STYLE_VOCAB, STYLES

    p.add_argument("--style", help=f"{' | '.join(STYLES)} (default {DEFAULT_STYLE}; a preset has its own)")
    p.add_argument("--vocab", type=int, help="vocabulary size (default: the style's, "
                   + ", ".join(f"{v} for {k}" for k, v in STYLE_VOCAB.items()) + "; replaces a preset's)")
    p.add_argument("--seq-len", type=int, help=f"context length T (default {DEFAULT_SEQ_LEN}; replaces a preset's)")


def _add_no_plots(p) -> None:
    """--no-plots of `report` and `ablation`, which remove an earlier run's figures with it."""
    p.add_argument("--no-plots", action="store_true",
                   help="skip the figures (an earlier run's figures in the dir are removed: they would not match)")


def _shape_context(args, preset_given: bool = False, also: tuple[str, ...] = (), instead: str = "--params N") -> None:
    """Fills in --style, --vocab (the style's) and --seq-len where not given. A preset keeps its own style and
    components: --style (and the `also` options, which change a shape) are refused with one; --vocab and --seq-len
    replace the preset's own and are left None where not given."""
    from scaling.architecture import DEFAULT_SEQ_LEN, DEFAULT_STYLE, style_vocab

    if args.vocab == 1:  # 0 and below get the shape's own message; 1 is a shape, but of no language model
        raise ScalingError("--vocab must be at least 2: one token leaves nothing to predict (its loss is ln 1 = 0)")
    if preset_given:
        given = [f"--{k.replace('_', '-')}" for k in ("style", *also) if getattr(args, k) is not None]
        if given:
            raise ScalingError(f"--preset fixes the model's shape and style; {', '.join(given)} would change it: "
                               f"give the preset alone (--vocab and --seq-len may replace its own), or the model as "
                               f"{instead}")
        return
    args.style = DEFAULT_STYLE if args.style is None else args.style
    args.vocab = style_vocab(args.style, args.vocab)
    args.seq_len = DEFAULT_SEQ_LEN if args.seq_len is None else args.seq_len


def build_parser() -> argparse.ArgumentParser:
    from dataclasses import fields

    from scaling.architecture import FFNS, NORM_POSITIONS, NORMS, POSITIONS, ModelShape
    from scaling.fitting.options import APPROACHES, ENGINES, LOSSES, FitOptions
    from scaling.flops import METHODS
    from scaling.laws import NAMED_LAWS

    fit_defaults = FitOptions()
    parser = _Parser(prog="scaling", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{count,plan,grid,fit,report,ablation}")

    p = sub.add_parser("count", help="exact parameter count and FLOPs per token of a shape or preset",
                       description="Exact parameters and per-token training FLOPs (6N, PaLM, Chinchilla App. F).")
    p.add_argument("--preset", help="a published model (llama-7b, gpt3-175b, chinchilla-70b, ...) or 'all'")
    for flag in ("--d-model", "--n-layers", "--n-heads", "--n-kv-heads", "--head-dim", "--ffn-hidden"):
        p.add_argument(flag, type=int)
    rounding = next(f.default for f in fields(ModelShape) if f.name == "multiple_of")
    p.add_argument("--multiple-of", type=int, help=f"SwiGLU width rounding (default {rounding}, LLaMA's)")
    _add_shape_context(p)
    p.add_argument("--norm", choices=NORMS)
    p.add_argument("--norm-position", choices=NORM_POSITIONS)
    p.add_argument("--ffn", choices=FFNS)
    p.add_argument("--position", choices=POSITIONS)
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--tied", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("plan", help="split a compute budget between parameters and tokens, rule by rule; or judge "
                                    "a given run",
                       description="Allocations of a budget under a law: optimal, chinchilla (20), gpt3 (1.7), "
                                   "llama (~148 tokens/param), kaplan, inference-aware and, with --unique-tokens, "
                                   "data-constrained. With --params/--preset and --tokens: that run's compute, "
                                   "loss, the optimal split of its compute and its compute-equivalent.")
    p.add_argument("--flops", help="training budget C in FLOPs (C = 6ND)")
    p.add_argument("--gpu-hours", type=float, help="budget as GPU-hours (with --gpu and --mfu)")
    p.add_argument("--gpu", help="h100-sxm, h100-pcie, h200, b200, a100, v100, l4, rtx-4090, mi300x, tpu-v4, ...")
    p.add_argument("--mfu", type=float, help="model FLOPs utilisation (default 0.4)")
    p.add_argument("--law", default="chinchilla",
                   help=f"{' | '.join(NAMED_LAWS)} | a fit JSON: FIT.json takes its Approach 3 law where it has one, "
                        f"else 2, else 1; FIT.json:2 picks Approach 2 (default %(default)s)")
    p.add_argument("--inference-tokens", type=float, help="tokens the model will serve (adds the inference rule)")
    p.add_argument("--unique-tokens", metavar="U",
                   help="unique tokens available: losses count repeated data (Muennighoff et al. 2023) and the "
                        "data-constrained rule is added")
    p.add_argument("--rules", help="comma-separated rules (default: all that apply)")
    p.add_argument("--params", metavar="N", help="judge a run of N parameters (with --tokens; comma-separated "
                                                 "for several)")
    p.add_argument("--preset", metavar="NAME", help="judge a published model's run (with --tokens), e.g. llama-13b")
    p.add_argument("--tokens", metavar="D", help="training tokens of the run judged")
    _add_shape_context(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("grid", help="isoFLOP grid (or allocation grid) of runs with shapes and token counts",
                       description="isoFLOP grid: per budget, --points sizes log-spaced from N_opt/span to "
                                   "N_opt*span, each with a shape and D = C / FLOPs-per-token.")
    p.add_argument("--flops", required=True, help="comma-separated budgets, e.g. 1e18,1e19,1e20")
    p.add_argument("--points", type=int, default=7, help="sizes per budget (default %(default)s)")
    p.add_argument("--span", type=float, default=4.0, help="sizes from N_opt/span to N_opt*span (default 4)")
    p.add_argument("--law", default="chinchilla", help="law that places the centre N_opt (default %(default)s)")
    p.add_argument("--allocations", help="comma-separated rules: an allocation grid instead of an isoFLOP one")
    p.add_argument("--inference-tokens", type=float, help="for the inference rule in --allocations")
    p.add_argument("--flops-method", default="6N", choices=METHODS,
                   help="FLOPs per token used for D = C / flops_per_token (default %(default)s)")
    _add_shape_context(p)
    p.set_defaults(func=cmd_grid)


    p = sub.add_parser("fit", help="fit a scaling law to runs: Chinchilla Approaches 1, 2, 3 with bootstrap CIs",
                       description="Fit L = E + A/N^alpha + B/D^beta (Approach 3), isoFLOP parabolas (2) or the "
                                   "envelope of training curves (1) to a CSV of runs or a results dir.")
    p.add_argument("path", help="a CSV (columns params, tokens or flops, loss) or a results dir of the harness")
    p.add_argument("--approach", default="3", choices=APPROACHES, help="default %(default)s")
    p.add_argument("--bootstrap", type=int, default=fit_defaults.bootstrap, metavar="K",
                   help="bootstrap resamples for the CIs, 0 for none (default %(default)s)")
    p.add_argument("--seed", type=int, default=fit_defaults.seed, help="bootstrap seed (default %(default)s)")
    p.add_argument("--level", type=float, default=fit_defaults.level,
                   help="confidence level of the CIs (default %(default)s)")
    p.add_argument("--loss", default=fit_defaults.loss, choices=LOSSES,
                   help="Approach 3's loss on log residuals; asymmetric weighs over-predictions more, for a "
                        "lower-envelope law (default %(default)s)")
    p.add_argument("--delta", type=float, default=fit_defaults.delta, help="Huber delta (default %(default)s)")
    p.add_argument("--engine", default=fit_defaults.engine, choices=ENGINES,
                   help="Approach 3's optimiser: batched (variable projection + batched Newton) or scipy (the "
                        "replication's L-BFGS-B from every start, ~100x slower); default %(default)s")
    p.add_argument("--asymmetry", type=float, default=fit_defaults.asymmetry,
                   help="weight of over-predictions with --loss asymmetric (default %(default)s)")
    p.add_argument("--budgets", help="comma-separated FLOP budgets at which to report N_opt, D_opt, loss with CIs")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K",
                   help="drop the K runs with the highest loss first (the replication drops 5 of Chinchilla's)")
    p.add_argument("--budget-tol", type=float, default=fit_defaults.budget_tol, metavar="DEX",
                   help="Approach 2 without a budget column: runs whose log10 FLOPs lie within DEX of a neighbour "
                        "share a budget (default %(default)s)")
    p.add_argument("--min-runs", type=int, default=fit_defaults.min_runs, metavar="K",
                   help="Approach 2 leaves out budgets with fewer runs than this (default %(default)s)")
    from scaling.fitting.options import COMPUTES, FORMS, PARAMS

    p.add_argument("--window", default=str(fit_defaults.window), metavar="K|all",
                   help="Approach 2: fit each parabola on the best size and K sizes either side, or all sizes "
                        "(default %(default)s)")
    p.add_argument("--skew", action=argparse.BooleanOptionalAction, default=fit_defaults.skew,
                   help="Approach 2: allow for the isoFLOP profiles' skew, one d3L/d(ln N)3 over d2L/d(ln N)2 shared "
                        "by every budget, so that the vertices are not pulled off the minima (the default); "
                        "--no-skew: plain parabolas, with the skew tested and a warning where it shows")
    p.add_argument("--holdout-budget", nargs="?", const="largest", metavar="C",
                   help="backtest: fit without budget C (alone: the largest), predict its N_opt and minimum loss by "
                        "Approaches 2 and 3 with intervals, and compare with what its runs show")
    p.add_argument("--tie-exponents", action="store_true", help="Approach 3 with alpha = beta (4 parameters)")
    p.add_argument("--form", default=fit_defaults.form, choices=FORMS,
                   help="Approach 3's law: chinchilla, E + A/N^alpha + B/D^beta, or kaplan, "
                        "E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (Kaplan et al. 2020, Eq. 1.5, plus E); "
                        "scaling plan --law FIT.json plans with either (default %(default)s)")
    p.add_argument("--law-window", default="all", metavar="K|all",
                   help="Approach 3 on the runs of Approach 2's windows only (each isoFLOP budget's best size and K "
                        "either side), or on every run (default %(default)s, Chinchilla's practice)")
    p.add_argument("--min-tokens-per-param", type=float, default=fit_defaults.min_tokens_per_param, metavar="T",
                   help="Approach 3 without the runs trained on fewer than T tokens per parameter, D/N with N as "
                        "--params counts it (the data-starved end of each isoFLOP profile); default: every run")
    p.add_argument("--compute", default=fit_defaults.compute, choices=COMPUTES,
                   help="C = 6ND, or exact (Chinchilla App. F; results dirs' flops_exact); default %(default)s")
    p.add_argument("--params", default=fit_defaults.params, choices=PARAMS,
                   help="N: total, or non-embedding (Kaplan's; results dirs' non_embedding_params); default "
                        "%(default)s")
    for key, default in (("params", "params"), ("tokens", "tokens"), ("flops", "flops"), ("loss", "loss"),
                         ("run", "run"), ("budget", "budget")):
        optional = key in ("run", "budget")  # used where present under the default name (scaling.fitting.data)
        p.add_argument(f"--{key}-col", default=default, metavar="NAME",
                       help=f"CSV column holding {key} (default %(default)s"
                            + (", used where present; a column named otherwise must exist)" if optional else ")"))
    p.add_argument("--out", metavar="FIT.json",
                   help="write the fit JSON here (atomically); scaling plan --law FIT.json reads it")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("report", help="fits, plots and report.md for a results dir of scaling-train",
                       description="Every fit the sweep supports, PNG figures and report.md, written into the dir.")
    p.add_argument("path", help="a results dir (e.g. results/cpu)")
    p.add_argument("--bootstrap", type=int, default=fit_defaults.bootstrap,
                   help="resamples for the CIs (default %(default)s)")
    p.add_argument("--seed", type=int, default=fit_defaults.seed)
    _add_no_plots(p)
    p.add_argument("--compute", default=fit_defaults.compute, choices=COMPUTES,
                   help="the main fits' and law.json's C: 6ND or exact (the report compares all four); default "
                        "%(default)s")
    p.add_argument("--params", default=fit_defaults.params, choices=PARAMS,
                   help="the main fits' and law.json's N: total or non-embedding; default %(default)s")
    p.add_argument("--skew", action=argparse.BooleanOptionalAction, default=fit_defaults.skew,
                   help="Approach 2 allows for the isoFLOP profiles' shared skew (as scaling fit --skew, the "
                        "default); --no-skew: plain parabolas, with the skew tested")
    p.set_defaults(func=cmd_report)

    for p in sub.choices.values():
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("ablation", help="the architecture claims at equal compute: table, verdicts, multipliers",
                       description="Reads the runs of experiment=arch_ablation_cpu (and the LR sweep and length "
                                   "extrapolation, when given); writes ablation.md and figures into the dir.")
    p.add_argument("path", help="the ablation's results dir (e.g. results/architecture)")
    p.add_argument("--lr-sweep", metavar="DIR", help="the post-norm LR sweep's dir (experiment=arch_postnorm_lr_cpu)")
    p.add_argument("--extrapolation", metavar="FILE.json", help="python -m experiments.extrapolate --out FILE.json")
    p.add_argument("--irreducible", type=float, default=0.0,
                   help="E of the per-architecture power law L = E + k C^-g (default %(default)s)")
    p.add_argument("--bootstrap", type=int, default=1000, help="seed resamples for the multipliers' intervals")
    p.add_argument("--seed", type=int, default=0)
    _add_no_plots(p)
    p.set_defaults(func=cmd_ablation)
    return parser


PATH_ARGS = {"path": "the path", "law": "--law", "out": "--out", "lr_sweep": "--lr-sweep",
             "extrapolation": "--extrapolation"}


def _no_empty_paths(args) -> None:
    """An empty path would name the current directory (a report would fit and write there): refused."""
    for key, flag in PATH_ARGS.items():
        value = getattr(args, key, None)
        if isinstance(value, str) and not value.strip():
            raise ScalingError(f"{flag} is empty: give a file or directory")


# Errors writing the command's output (a full disk or device): one line and exit 2, not a traceback
OUTPUT_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT}


def _output_failed(command: str, err: OSError) -> int:
    try:  # what stayed in the buffer would fail again when Python flushes at exit: it goes nowhere instead
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout with no file (a test's capture)
        pass
    print(f"scaling {command}: error: cannot write the output: {err.strerror or err}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:1] in (["fit"], ["report"]):
        _one_blas_thread()  # before the parser, whose choices import numpy
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _no_empty_paths(args)
            code = args.func(args)
            sys.stdout.flush()  # the output reaches its file here, where a failure is still one line
        except ScalingError as err:
            print(f"scaling {args.command}: error: {err}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # `scaling ... | head`
            sys.stderr.close()
            return 0
        except OSError as err:
            if err.errno not in OUTPUT_ERRNOS:
                raise
            return _output_failed(args.command, err)
    for w in caught:
        print(f"scaling {args.command}: warning: {w.message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
