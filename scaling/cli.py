"""`scaling`: the planner's command line (count | plan | grid | fit | report).

Tables by default, `--json` for scripts. Bad input gets one line on stderr and exit code 2. The module imports
only what a subcommand needs, and never torch or hydra (pandas only for `fit`), so `scaling plan` answers in a
blink.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from scaling.errors import ScalingError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, where to look) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --- formatting --------------------------------------------------------------------------------------------------

def human(x: float) -> str:
    """1234567 -> '1.23M'; counts of parameters and tokens as people write them."""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Left-aligned text table; `columns` are (key, header) pairs and values are already strings."""
    widths = [max(len(header), *(len(r[key]) for r in rows)) for key, header in columns]
    lines = ["  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(r[k].ljust(w) for (k, _), w in zip(columns, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _emit(args, payload, text: str) -> None:
    print(json.dumps(payload, indent=2) if args.json else text)


# --- argument types ------------------------------------------------------------------------------------------------

def _flops_list(text: str, flag: str = "--flops") -> list[float]:
    from scaling.allocation import check_budget

    parts = [x.strip() for x in text.split(",") if x.strip()]
    if not parts:
        raise ScalingError(f"{flag} takes comma-separated budgets in FLOPs, got {text!r}")
    return [check_budget(x, f"every {flag} value") for x in parts]


# --- count ---------------------------------------------------------------------------------------------------------

def _shape_from_args(args):
    from scaling.architecture import Components, ModelShape, preset, style_components

    if args.preset is not None:
        if any(getattr(args, k) is not None for k in ("d_model", "n_layers", "n_heads")):
            raise ScalingError("give either --preset or --d-model/--n-layers/--n-heads, not both")
        return preset(args.preset)
    missing = [flag for flag, key in (("--d-model", "d_model"), ("--n-layers", "n_layers"),
                                      ("--n-heads", "n_heads")) if getattr(args, key) is None]
    if missing:
        raise ScalingError(f"give --preset NAME, or a shape with {', '.join(missing)}")
    base = style_components(args.style)
    switches = {k: getattr(args, k) for k in ("norm", "norm_position", "ffn", "position", "bias", "tied")
                if getattr(args, k) is not None}
    components = Components(**{**base.__dict__, **switches})
    return ModelShape(d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads,
                      n_kv_heads=args.n_kv_heads, head_dim=args.head_dim, ffn_hidden=args.ffn_hidden,
                      multiple_of=args.multiple_of, vocab_size=args.vocab, seq_len=args.seq_len,
                      components=components)


def _count_record(shape, name: str | None = None) -> dict:
    from scaling.flops import all_methods

    record = {"params": shape.params, "non_embedding_params": shape.non_embedding_params,
              "flops_per_token": all_methods(shape), "breakdown": shape.param_breakdown(),
              "shape": shape.to_dict()}
    return {"preset": name, **record} if name else record


def cmd_count(args) -> int:
    from scaling.architecture import PRESETS

    if args.preset == "all":
        records = [_count_record(shape, name) for name, shape in PRESETS.items()]
        rows = [{"preset": r["preset"], "style": r["shape"]["style"], "shape": PRESETS[r["preset"]].describe(),
                 "params": f"{r['params']:,}", "non_emb": f"{r['non_embedding_params']:,}",
                 "6N": f"{r['flops_per_token']['6N']:.4g}", "palm": f"{r['flops_per_token']['palm']:.4g}",
                 "chin": f"{r['flops_per_token']['chinchilla']:.4g}"} for r in records]
        text = table(rows, [("preset", "preset"), ("style", "style"), ("params", "params"),
                            ("non_emb", "non-embedding"), ("6N", "6N/token"), ("palm", "PaLM/token"),
                            ("chin", "Chinchilla/token"), ("shape", "shape")])
        _emit(args, records, text)
        return 0
    shape = _shape_from_args(args)
    record = _count_record(shape, args.preset)
    lines = [f"{args.preset or 'shape'}: {shape.describe()} ({shape.style} style)",
             f"  params                {record['params']:>20,}",
             f"  non-embedding params  {record['non_embedding_params']:>20,}"]
    lines += [f"    {part:<19} {n:>20,}" for part, n in record["breakdown"].items()]
    lines += [f"  FLOPs/token {method:<10} {v:>20.6g}" for method, v in record["flops_per_token"].items()]
    _emit(args, record, "\n".join(lines))
    return 0


# --- plan ----------------------------------------------------------------------------------------------------------

def _budget(args) -> float:
    from scaling.allocation import check_budget
    from scaling.hardware import DEFAULT_MFU, device_peak, flops_from_gpu_hours

    if args.flops is not None:
        if args.gpu_hours is not None:
            raise ScalingError("give either --flops or --gpu-hours with --gpu, not both")
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


def cmd_plan(args) -> int:
    from scaling.allocation import RULES, allocate
    from scaling.architecture import solve_shape
    from scaling.laws import get_law

    flops = _budget(args)
    law = get_law(args.law)
    rules = [r.strip() for r in args.rules.split(",")] if args.rules else \
        [r for r in RULES if r != "inference" or args.inference_tokens is not None]
    allocations = []
    for rule in rules:
        alloc = allocate(rule, flops, law, inference_tokens=args.inference_tokens)
        shape = solve_shape(alloc.params, args.style, vocab_size=args.vocab, seq_len=args.seq_len)
        allocations.append({**alloc.to_dict(), "shape": {**shape.to_dict(), "params": shape.params}})
    payload = {"flops": flops, "law": law.to_dict(), "allocations": allocations}
    note = getattr(args, "compute_note", "")
    if note:
        payload["compute"] = args.compute

    best = law.optimal_loss(flops)
    rows = [{"rule": a["rule"], "params": human(a["params"]), "tokens": human(a["tokens"]),
             "ratio": f"{a['tokens_per_param']:.3g}", "loss": f"{a['predicted_loss']:.4f}",
             "delta": f"{round(a['predicted_loss'] - best, 4) + 0.0:+.4f}", "train": f"{a['flops']:.3g}",
             "shape": f"d{a['shape']['d_model']} L{a['shape']['n_layers']} H{a['shape']['n_heads']} "
                      f"({human(a['shape']['params'])})"} for a in allocations]
    head = (f"Budget {flops:.4g} FLOPs{note} (C = 6ND) under law {law.name}: E={law.E:g} A={law.A:g} B={law.B:g} "
            f"alpha={law.alpha:g} beta={law.beta:g}; N_opt ~ C^{law.a:.3f}, D_opt ~ C^{law.b:.3f}")
    body = table(rows, [("rule", "rule"), ("params", "params"), ("tokens", "tokens"), ("ratio", "tokens/param"),
                        ("loss", "predicted loss"), ("delta", "vs optimal"), ("train", "train FLOPs"),
                        ("shape", f"{args.style} shape (exact params)")])
    notes = []
    by_rule = {a["rule"]: a for a in allocations}
    if "gpt3" in by_rule and "optimal" in by_rule:
        g, o = by_rule["gpt3"], by_rule["optimal"]
        notes.append(f"GPT-3-style ({g['tokens_per_param']:.3g} tokens/param): {human(g['params'])} params on "
                     f"{human(g['tokens'])} tokens -> loss {g['predicted_loss']:.4f}; the law-optimal "
                     f"{human(o['params'])} on {human(o['tokens'])} -> {o['predicted_loss']:.4f} "
                     f"({g['predicted_loss'] - o['predicted_loss']:+.4f} nats for GPT-3-style).")
    if "inference" in by_rule:
        i = by_rule["inference"]
        notes.append(f"inference-aware: serves {human(i['inference_tokens'])} tokens; training "
                     f"{i['flops']:.3g} + inference {i['inference_flops']:.3g} = {i['total_flops']:.3g} FLOPs.")
    _emit(args, payload, "\n".join([head, body, *notes]))
    return 0


# --- grid ----------------------------------------------------------------------------------------------------------

def cmd_grid(args) -> int:
    from scaling.grid import allocation_grid, isoflop_grid

    budgets = _flops_list(args.flops)
    common = {"style": args.style, "vocab_size": args.vocab, "seq_len": args.seq_len,
              "flops_method": args.flops_method}
    if args.allocations:
        rules = [r.strip() for r in args.allocations.split(",") if r.strip()]
        rows = allocation_grid(budgets, rules, args.law, inference_tokens=args.inference_tokens, **common)
    else:
        rows = isoflop_grid(budgets, args.law, points=args.points, span=args.span, **common)
    text = table([{"flops": f"{p.flops:.3g}", "rule": p.rule, "factor": f"{p.size_factor:.3g}",
                   "params": f"{p.params:,}", "tokens": human(p.tokens), "ratio": f"{p.tokens_per_param:.3g}",
                   "loss": f"{p.predicted_loss:.4f}", "shape": p.shape.describe()} for p in rows],
                 [("flops", "flops"), ("rule", "rule"), ("factor", "x N_opt" if not args.allocations else "factor"),
                  ("params", "params"), ("tokens", "tokens"), ("ratio", "tokens/param"),
                  ("loss", "predicted loss"), ("shape", "shape")])
    _emit(args, [p.to_dict() for p in rows], text)
    return 0


# --- fit -----------------------------------------------------------------------------------------------------------

def _interval(ci: dict | None, key: str, fmt) -> str:
    if not ci or ci.get(key) is None or None in ci[key]:
        return ""
    lo, hi = ci[key]
    return f"{fmt(lo)} .. {fmt(hi)}"


def _fit_text(out: dict) -> str:
    """The fit as tables: Approach 3's parameters, Approaches 2 and 1, then the budgets asked for."""
    lines = [f"{out['source']}: {out['n_points']} runs"
             + (f" ({out['dropped_highest_loss']} highest-loss dropped)" if out["dropped_highest_loss"] else "")]
    level = next((s["ci"]["level"] for s in (out, out.get("approach2", {}), out.get("approach1", {})) if "ci" in s),
                 None)
    ci_head = f"{level:.0%} CI" if level else "CI"
    if "E" in out:
        starts = out["starts"]
        loss = out["loss"] + (f" (x{out['asymmetry']:g} over-predictions)" if "asymmetry" in out else "")
        lines += ["", f"Approach 3: L = E + A/N^alpha + B/D^beta, {loss} delta {out['delta']:g} on log losses; "
                      f"{starts['grid']} starts ({starts['run']} run, {starts['reached_best']} reach the best); "
                      f"objective {out['objective']:.10f}"]
        ci = out.get("ci")
        rows = [{"q": q, "v": f"{out[q]:.5g}", "ci": _interval(ci, q, lambda x: f"{x:.5g}")}
                for q in ("E", "A", "B", "alpha", "beta", "a", "b")]
        lines.append(table(rows, [("q", "quantity"), ("v", "estimate"), ("ci", ci_head)]))
        if ci:
            lines.append(f"({ci['resamples']} bootstrap resamples, seed {ci['seed']}"
                         + (f"; {ci['failed']} failed to converge" if ci["failed"] else "") + ")")
    for name, label in (("approach2", "Approach 2 (isoFLOP parabolas)"), ("approach1", "Approach 1 (envelope)")):
        if name not in out:
            continue
        sec = out[name]
        ci = sec.get("ci")
        a_ci, b_ci = (f" [{_interval(ci, k, lambda x: f'{x:.4f}')}]" if ci else "" for k in ("a", "b"))
        lines += ["", f"{label}: N_opt ~ C^a with a = {sec['a']:.4f}{a_ci}, D_opt ~ C^b with b = {sec['b']:.4f}{b_ci}"]
        if name == "approach2":
            rows = [{"c": f"{r['flops']:.3g}", "n": str(r["n_runs"]),
                     "tried": f"{human(r['params_tried'][0])}-{human(r['params_tried'][1])}",
                     "N": human(r["params_opt"]) if r["params_opt"] else "-",
                     "D": human(r["tokens_opt"]) if r["tokens_opt"] else "-",
                     "L": f"{r['loss_opt']:.4f}" if r["loss_opt"] else "-",
                     "ok": "yes" if r["bracketed"] else "NO"} for r in sec["per_budget"]]
            lines.append(table(rows, [("c", "budget"), ("n", "runs"), ("tried", "sizes tried"), ("N", "N_opt"),
                                      ("D", "D_opt"), ("L", "min loss"), ("ok", "bracketed")]))
        else:
            lines.append(f"{sec['n_runs']} runs, envelope over {sec['envelope_points']} FLOP values from "
                         f"{sec['flops_range'][0]:.3g} to {sec['flops_range'][1]:.3g}")
    budget_rows = []
    for name, label in (("", "3"), ("approach2", "2"), ("approach1", "1")):
        sec = out.get(name, {}) if name else out
        for r in sec.get("budgets", []):
            ci = r.get("ci")
            budget_rows.append({"ap": label, "c": f"{r['flops']:.3g}", "N": human(r["params"]),
                                "Nci": _interval(ci, "params", human), "D": human(r["tokens"]),
                                "Dci": _interval(ci, "tokens", human),
                                "L": f"{r['loss']:.4f}" if "loss" in r else "-",
                                "Lci": _interval(ci, "loss", lambda x: f"{x:.4f}") if "loss" in r else ""})
    if budget_rows:
        lines += ["", "At the budgets asked:",
                  table(budget_rows, [("ap", "approach"), ("c", "flops"), ("N", "N_opt"), ("Nci", ci_head),
                                      ("D", "D_opt"), ("Dci", ci_head), ("L", "loss"), ("Lci", ci_head)])]
    return "\n".join(lines)


def _one_blas_thread() -> None:
    """The fit's matrices are tiny, so BLAS threads only contend: on a machine busy with a sweep they slowed
    scipy's L-BFGS-B ~50x here. One thread unless the user chose otherwise; it only takes before numpy loads."""
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ.setdefault(var, "1")


def cmd_fit(args) -> int:
    _one_blas_thread()
    from scaling.fit import fit, write_fit

    columns = {k: getattr(args, k) for k in ("params_col", "tokens_col", "flops_col", "loss_col", "run_col",
                                             "budget_col")}
    result = fit(args.path, approach=args.approach, bootstrap=args.bootstrap, seed=args.seed, loss=args.loss,
                 delta=args.delta, asymmetry=args.asymmetry, engine=args.engine, level=args.level,
                 budgets=_flops_list(args.budgets, "--budgets") if args.budgets else (),
                 drop_highest_loss=args.drop_highest_loss, budget_tol=args.budget_tol, min_runs=args.min_runs,
                 progress=True, **columns)
    payload = result.to_dict()
    if args.out:
        write_fit(payload, args.out)
    _emit(args, payload, _fit_text(payload) + (f"\nwrote {args.out}" if args.out else ""))
    return 0


# --- report ------------------------------------------------------------------------------------------------------

def cmd_report(args) -> int:
    _one_blas_thread()
    from scaling.report import build

    report = build(args.path, bootstrap=args.bootstrap, seed=args.seed, figures=not args.no_plots)
    if args.json:
        print(json.dumps({"report": str(report.directory / "report.md"), "fits": report.fits,
                          "skipped": report.skipped, "figures": [str(p) for p in report.figures],
                          "allocations": {f"{c:g}": row.dropna().to_dict()
                                          for c, row in report.allocations.iterrows()}}, indent=2))
        return 0
    print(report.headline())
    for name in ("1", "2", "3"):
        section = report.fits.get(name)
        if section:
            ci = section.get("ci", {}).get("a")
            band = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else ""
            print(f"approach {name}: a = {section['a']:.3f}{band}, b = {section['b']:.3f}")
        else:
            print(f"approach {name}: not fitted ({report.skipped.get(name)})")
    print(f"report: {report.directory / 'report.md'}; figures: " + ", ".join(str(p) for p in report.figures))
    return 0


# --- parser --------------------------------------------------------------------------------------------------------

def _add_shape_context(p, style_default: str = "llama") -> None:
    p.add_argument("--style", default=style_default, help="llama | gpt3 | gopher (default %(default)s)")
    p.add_argument("--vocab", type=int, default=32000, help="vocabulary size (default %(default)s)")
    p.add_argument("--seq-len", type=int, default=2048, help="context length T (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scaling", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{count,plan,grid,fit,report}")

    p = sub.add_parser("count", help="exact parameter count and FLOPs per token of a shape or preset",
                       description="Exact parameters and per-token training FLOPs (6N, PaLM, Chinchilla App. F).")
    p.add_argument("--preset", help="a published model (llama-7b, gpt3-175b, chinchilla-70b, ...) or 'all'")
    for flag in ("--d-model", "--n-layers", "--n-heads", "--n-kv-heads", "--head-dim", "--ffn-hidden"):
        p.add_argument(flag, type=int)
    p.add_argument("--multiple-of", type=int, default=256, help="SwiGLU width rounding (default %(default)s)")
    _add_shape_context(p)
    p.add_argument("--norm", choices=("rmsnorm", "layernorm"))
    p.add_argument("--norm-position", choices=("pre", "post"))
    p.add_argument("--ffn", choices=("swiglu", "gelu", "relu"))
    p.add_argument("--position", choices=("rope", "learned", "none", "relative"))
    p.add_argument("--bias", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--tied", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("plan", help="split a compute budget between parameters and tokens, rule by rule",
                       description="Allocations of a budget under a law: optimal, chinchilla (20), gpt3 (1.7), "
                                   "llama (~148 tokens/param), kaplan, and inference-aware.")
    p.add_argument("--flops", help="training budget C in FLOPs (C = 6ND)")
    p.add_argument("--gpu-hours", type=float, help="budget as GPU-hours (with --gpu and --mfu)")
    p.add_argument("--gpu", help="h100-sxm, h100-pcie, h200, b200, a100, v100, l4, rtx-4090, mi300x, tpu-v4, ...")
    p.add_argument("--mfu", type=float, help="model FLOPs utilisation (default 0.4)")
    p.add_argument("--law", default="chinchilla",
                   help="chinchilla | chinchilla-unrounded | epoch | a fit JSON (default %(default)s)")
    p.add_argument("--inference-tokens", type=float, help="tokens the model will serve (adds the inference rule)")
    p.add_argument("--rules", help="comma-separated rules (default: all that apply)")
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
    p.add_argument("--flops-method", default="6N", choices=("6N", "palm", "chinchilla"),
                   help="FLOPs per token used for D = C / flops_per_token (default %(default)s)")
    _add_shape_context(p)
    p.set_defaults(func=cmd_grid)


    p = sub.add_parser("fit", help="fit a scaling law to runs: Chinchilla Approaches 1, 2, 3 with bootstrap CIs",
                       description="Fit L = E + A/N^alpha + B/D^beta (Approach 3), isoFLOP parabolas (2) or the "
                                   "envelope of training curves (1) to a CSV of runs or a results dir.")
    p.add_argument("path", help="a CSV (columns params, tokens or flops, loss) or a results dir of the harness")
    p.add_argument("--approach", default="3", choices=("1", "2", "3", "all"), help="default %(default)s")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="K",
                   help="bootstrap resamples for the CIs, 0 for none (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default %(default)s)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the CIs (default %(default)s)")
    p.add_argument("--loss", default="huber", choices=("huber", "asymmetric"),
                   help="Approach 3's loss on log residuals; asymmetric weighs over-predictions more, for a "
                        "lower-envelope law (default %(default)s)")
    p.add_argument("--delta", type=float, default=1e-3, help="Huber delta (default %(default)s)")
    p.add_argument("--engine", default="batched", choices=("batched", "scipy"),
                   help="Approach 3's optimiser: batched (variable projection + batched Newton) or scipy (the "
                        "replication's L-BFGS-B from every start, ~100x slower); default %(default)s")
    p.add_argument("--asymmetry", type=float, default=10.0,
                   help="weight of over-predictions with --loss asymmetric (default %(default)s)")
    p.add_argument("--budgets", help="comma-separated FLOP budgets at which to report N_opt, D_opt, loss with CIs")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K",
                   help="drop the K runs with the highest loss first (the replication drops 5 of Chinchilla's)")
    p.add_argument("--budget-tol", type=float, default=0.02, metavar="DEX",
                   help="Approach 2 without a budget column: runs whose log10 FLOPs lie within DEX of a neighbour "
                        "share a budget (default %(default)s)")
    p.add_argument("--min-runs", type=int, default=3, metavar="K",
                   help="Approach 2 leaves out budgets with fewer runs than this (default %(default)s)")
    for key, default in (("params", "params"), ("tokens", "tokens"), ("flops", "flops"), ("loss", "loss"),
                         ("run", "run"), ("budget", "budget")):
        p.add_argument(f"--{key}-col", default=default, metavar="NAME",
                       help=f"CSV column holding {key} (default %(default)s)")
    p.add_argument("--out", metavar="FIT.json",
                   help="write the fit JSON here (atomically); scaling plan --law FIT.json reads it")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("report", help="fits, plots and report.md for a results dir of scaling-train",
                       description="Every fit the sweep supports, PNG figures and report.md, written into the dir.")
    p.add_argument("path", help="a results dir (e.g. results/cpu)")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples for the CIs (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.set_defaults(func=cmd_report)

    for p in sub.choices.values():
        p.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = args.func(args)
        except ScalingError as err:
            print(f"scaling {args.command}: error: {err}", file=sys.stderr)
            return 2
        except BrokenPipeError:  # `scaling ... | head`
            sys.stderr.close()
            return 0
    for w in caught:
        print(f"scaling {args.command}: warning: {w.message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
