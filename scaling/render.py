"""Text for the terminal: the tables and summaries `scaling` prints. Each function takes the JSON payload a
subcommand computed (what `--json` prints) and returns text; nothing here computes a number."""

from __future__ import annotations


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


def _shape_cell(shape: dict) -> str:
    return f"d{shape['d_model']} L{shape['n_layers']} H{shape['n_heads']}"


def describe(shape: dict) -> str:
    """A shape's dict (ModelShape.to_dict) as one line: d512 L8 H8x64 F1536 V32000 T2048."""
    from scaling.architecture import ModelShape

    return ModelShape.from_dict(shape).describe()


# --- count -------------------------------------------------------------------------------------------------------

def count_text(record: dict) -> str:
    lines = [f"{record.get('preset') or 'shape'}: {describe(record['shape'])} ({record['shape']['style']} style)",
             f"  params                {record['params']:>20,}",
             f"  non-embedding params  {record['non_embedding_params']:>20,}"]
    lines += [f"    {part:<19} {n:>20,}" for part, n in record["breakdown"].items()]
    lines += [f"  FLOPs/token {method:<10} {v:>20.6g}" for method, v in record["flops_per_token"].items()]
    return "\n".join(lines)


def count_table(records: list[dict]) -> str:
    rows = [{"preset": r["preset"], "style": r["shape"]["style"], "shape": describe(r["shape"]),
             "params": f"{r['params']:,}", "non_emb": f"{r['non_embedding_params']:,}",
             "6N": f"{r['flops_per_token']['6N']:.4g}", "palm": f"{r['flops_per_token']['palm']:.4g}",
             "chin": f"{r['flops_per_token']['chinchilla']:.4g}"} for r in records]
    return table(rows, [("preset", "preset"), ("style", "style"), ("params", "params"),
                        ("non_emb", "non-embedding"), ("6N", "6N/token"), ("palm", "PaLM/token"),
                        ("chin", "Chinchilla/token"), ("shape", "shape")])


# --- plan --------------------------------------------------------------------------------------------------------

def plan_text(payload: dict, style: str, compute_note: str = "") -> str:
    """The allocations of one budget, rule by rule, with the GPT-3-vs-optimal and inference notes."""
    law, flops, best = payload["law"], payload["flops"], payload["optimal_loss"]
    allocations = payload["allocations"]
    rows = [{"rule": a["rule"], "params": human(a["params"]), "target": human(a["target_params"]),
             "tokens": human(a["tokens"]), "ratio": f"{a['tokens_per_param']:.3g}",
             "loss": f"{a['predicted_loss']:.4f}", "delta": f"{round(a['predicted_loss'] - best, 4) + 0.0:+.4f}",
             "train": f"{a['flops']:.3g}", "shape": _shape_cell(a["shape"])} for a in allocations]
    head = (f"Budget {flops:.4g} FLOPs{compute_note} (C = 6ND) under law {law['name']}: E={law['E']:g} "
            f"A={law['A']:g} B={law['B']:g} alpha={law['alpha']:g} beta={law['beta']:g}; N_opt ~ C^{law['a']:.3f}, "
            f"D_opt ~ C^{law['b']:.3f}")
    body = table(rows, [("rule", "rule"), ("params", "params"), ("shape", f"{style} shape"),
                        ("target", "rule's N"), ("tokens", "tokens"), ("ratio", "tokens/param"),
                        ("loss", "predicted loss"), ("delta", "vs optimal"), ("train", "train FLOPs")])
    notes = ["params: the exact count of the shape the solver picks for the rule's N; tokens spend the budget on "
             "that shape (D = C / 6N), as `scaling grid` and `scaling-train` plan it."]
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
    return "\n".join([head, body, *notes])


# --- grid --------------------------------------------------------------------------------------------------------

def grid_text(rows: list[dict], allocations: bool) -> str:
    return table([{"flops": f"{p['flops']:.3g}", "rule": p["rule"], "factor": f"{p['size_factor']:.3g}",
                   "params": f"{p['params']:,}", "tokens": human(p["tokens"]),
                   "ratio": f"{p['tokens_per_param']:.3g}", "loss": f"{p['predicted_loss']:.4f}",
                   "shape": describe(p["shape"])} for p in rows],
                 [("flops", "flops"), ("rule", "rule"), ("factor", "factor" if allocations else "x N_opt"),
                  ("params", "params"), ("tokens", "tokens"), ("ratio", "tokens/param"),
                  ("loss", "predicted loss"), ("shape", "shape")])


# --- fit ---------------------------------------------------------------------------------------------------------

def _interval(ci: dict | None, key: str, fmt) -> str:
    if not ci or ci.get(key) is None or None in ci[key]:
        return ""
    lo, hi = ci[key]
    return f"{fmt(lo)} .. {fmt(hi)}"


def fit_text(out: dict) -> str:
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



# --- report ------------------------------------------------------------------------------------------------------

def report_text(headline: str, fits: dict, skipped: dict, report_path, figures) -> str:
    lines = [headline]
    for name in ("1", "2", "3"):
        section = fits.get(name)
        if section:
            ci = section.get("ci", {}).get("a")
            band = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else ""
            lines.append(f"approach {name}: a = {section['a']:.3f}{band}, b = {section['b']:.3f}")
        else:
            lines.append(f"approach {name}: not fitted ({skipped.get(name)})")
    lines.append(f"report: {report_path}; figures: " + ", ".join(str(p) for p in figures))
    return "\n".join(lines)
