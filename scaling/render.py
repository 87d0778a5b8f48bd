"""Text for the terminal: the tables and summaries `scaling` prints. Each function takes the JSON payload a
subcommand computed (what `--json` prints) and returns text; nothing here computes a number."""

from __future__ import annotations


def human(x: float) -> str:
    """1234567 -> '1.23M'; counts of parameters and tokens as people write them."""
    rounded = float(f"{x:.3g}")  # round first: 999.96e9 is 1T, not "1e+03B"
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(rounded) >= div:
            return f"{rounded / div:.3g}{suffix}"
    return f"{rounded:.3g}"


def share(x: float) -> str:
    """A fraction as a percentage to two significant figures below 10% (0.0033 -> '0.33%', not '0%')."""
    return f"{x:.0%}" if abs(x) >= 0.1 else f"{100 * x:.2g}%"


def _times(ratio: float) -> str:
    """A multiple of the budget: 1.46x, or 1.71e+22x where two decimals would print 23 digits."""
    return f"{ratio:.2f}x" if ratio < 1000 else f"{ratio:.3g}x"


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

FLOPS_LABELS = {"6N": "6N (N total)", "6N-non-embedding": "6N (N non-embedding)", "palm": "PaLM",
                "chinchilla": "App. F", "chinchilla-no-embeddings": "App. F w/o embedding+logits"}


def count_text(record: dict) -> str:
    lines = [f"{record.get('preset') or 'shape'}: {describe(record['shape'])} ({record['shape']['style']} style)",
             f"  params                {record['params']:>20,}",
             f"  non-embedding params  {record['non_embedding_params']:>20,}"]
    lines += [f"    {part:<19} {n:>20,}" for part, n in record["breakdown"].items()]
    lines += ["  training FLOPs per token:"]
    lines += [f"    {FLOPS_LABELS.get(method, method):<28} {v:>14.6g}"
              for method, v in record["flops_per_token"].items()]
    return "\n".join(lines)


def count_table(records: list[dict]) -> str:
    rows = [{"preset": r["preset"], "style": r["shape"]["style"], "shape": describe(r["shape"]),
             "params": f"{r['params']:,}", "non_emb": f"{r['non_embedding_params']:,}",
             **{m: f"{v:.4g}" for m, v in r["flops_per_token"].items()}} for r in records]
    return table(rows, [("preset", "preset"), ("style", "style"), ("params", "params"),
                        ("non_emb", "non-embedding"), ("6N", "6N/token"), ("6N-non-embedding", "6N non-emb"),
                        ("palm", "PaLM/token"), ("chinchilla", "App. F/token"),
                        ("chinchilla-no-embeddings", "App. F no emb"), ("shape", "shape")])


# --- plan --------------------------------------------------------------------------------------------------------

def _has(x) -> bool:
    return x is not None and x == x  # not None, not NaN


def _loss(x, above: bool = False) -> str:
    return f"{x:.4f}" + (" *" if above else "") if _has(x) else "-"


def _span(ci, fmt) -> str:
    return f"{fmt(ci[0])}..{fmt(ci[1])}" if ci else ""


def law_head(law: dict) -> str:
    """The law in one line: its constants and exponents, or its power laws (Approaches 1 and 2, no loss)."""
    if law.get("form") == "kaplan":
        return (f"law {law['name']}: L = E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D with E={law['E']:g} "
                f"N_c={law['N_c']:g} D_c={law['D_c']:g} alpha_N={law['alpha_N']:g} alpha_D={law['alpha_D']:g}; "
                f"N_opt ~ C^{law['a']:.3f}, D_opt ~ C^{law['b']:.3f}")
    if "E" in law:
        return (f"law {law['name']}: E={law['E']:g} A={law['A']:g} B={law['B']:g} alpha={law['alpha']:g} "
                f"beta={law['beta']:g}; N_opt ~ C^{law['a']:.3f}, D_opt ~ C^{law['b']:.3f}")
    return (f"law {law['name']} (Approach {law['approach']}): N_opt = {law['params_coefficient']:.4g} "
            f"C^{law['a']:.3f}, D_opt = {law['tokens_coefficient']:.4g} C^{law['b']:.3f}; no loss prediction "
            f"(Approaches 1 and 2 fit the split, not L: use an Approach 3 fit for losses)")


def _intervals_line(law: dict, ci: dict | None, where: str) -> str | None:
    if ci:
        parts = [f"N_opt {_span(ci['params'], human)}", f"D_opt {_span(ci['tokens'], human)}"]
        if "loss" in ci:
            parts.append(f"loss {_span(ci['loss'], lambda x: f'{x:.4f}')}")
        return f"{law['level']:.0%} intervals {where} from {law['draws']} bootstrap draws: " + ", ".join(parts)
    if law.get("approach"):
        return "no intervals: the fit file holds no bootstrap draws (`scaling fit --out` with --bootstrap K > 0)"
    return None


def _repetition_note(rep: dict, flops: float) -> list[str]:
    c = rep["constrained"]
    epochs = c["epochs"]
    if rep["optimal_epochs"] <= 1:  # the optimum reads each token at most once: nothing repeats, nothing to cost
        return [f"With {human(rep['unique_tokens'])} unique tokens: the law-optimal split reads "
                f"{human(c['tokens'])} of them ({rep['optimal_epochs']:.3g} epochs), so the data do not limit this "
                f"budget."]
    if epochs <= 4:
        regime = "up to ~4 epochs repeated tokens are worth almost as much as fresh ones"
    elif epochs <= rep["r_star_tokens"] + 1:
        regime = "past ~4 epochs repeated tokens are worth clearly less than fresh ones"
    else:
        regime = (f"past ~{rep['r_star_tokens'] + 1:.0f} epochs more compute buys little: the effective data "
                  f"tends to (1 + R*_D) U = {1 + rep['r_star_tokens']:.1f} U")
    return [f"With {human(rep['unique_tokens'])} unique tokens: the law-optimal split reads them "
            f"{rep['optimal_epochs']:.3g} times (loss {rep['optimal_loss_repeated']:.4f} against "
            f"{rep['fresh_optimal_loss']:.4f} on fresh data); the data-constrained optimum, {human(c['params'])} "
            f"params on {human(c['tokens'])} tokens ({epochs:.3g} epochs), reaches {c['loss']:.4f}: the data limit "
            f"costs {rep['data_limit_cost']:+.4f} nats, the loss unlimited fresh data reaches with "
            f"{share(rep['compute_equivalent'] / flops)} of the compute; {regime}.",
            f"Repeated data as Muennighoff et al. 2023 (Sec. 3) model it: effective tokens D' = U + U R*_D "
            f"(1 - exp(-R_D/R*_D)), R_D = D/U - 1, and effective parameters likewise; R*_D = "
            f"{rep['r_star_tokens']:.4g}, R*_N = {rep['r_star_params']:.4g} are their fitted values (with their "
            f"own law, `--law muennighoff`)."]


def plan_text(payload: dict, style: str, compute_note: str = "") -> str:
    """The allocations of one budget, rule by rule, with the notes: shapes missing or off the rule's N, GPT-3
    against optimal, the inference rule's compute, the data limit, losses above a uniform guess."""
    law, flops, best = payload["law"], payload["flops"], payload["optimal_loss"]
    allocations = payload["allocations"]
    unique = payload.get("repetition")
    with_ci = any(a.get("loss_interval") for a in allocations)
    rows = []
    for a in allocations:
        dev = a["shape_deviation"]
        ratio = a["budget_ratio"]
        rows.append({
            "rule": a["rule"], "target": human(a["target_params"]), "tokens": human(a["tokens"]),
            "params": human(a["params"]) + (f" ({dev:+.0%})" if dev is not None and abs(dev) > 0.02 else ""),
            "shape": _shape_cell(a["shape"]) if a["shape"] else "-", "ratio": f"{a['tokens_per_param']:.3g}",
            "epochs": f"{a['epochs']:.3g}" if a.get("epochs") else "",
            "loss": _loss(a["predicted_loss"], bool(a.get("above_uniform"))),
            "ci": _span(a.get("loss_interval"), lambda x: f"{x:.4f}"),
            "delta": (f"{round(a['predicted_loss'] - best, 4) + 0.0:+.4f}"
                      if _has(a["predicted_loss"]) and _has(best) else "-"),
            "train": f"{a['flops']:.3g}" + (f" ({_times(ratio)} budget)" if ratio and ratio > 1.0005 else "")})
    columns = [("rule", "rule"), ("params", "params"), ("shape", f"{style} shape"), ("target", "rule's N"),
               ("tokens", "tokens"), ("ratio", "tokens/param")]
    columns += [("epochs", "epochs")] if unique else []
    columns += [("loss", "predicted loss")] + ([("ci", f"{law['level']:.0%} interval")] if with_ci else [])
    columns += [("delta", "vs optimal"), ("train", "train FLOPs")]
    lines = [f"Budget {flops:.4g} FLOPs{compute_note} (C = 6ND) under {law_head(law)}"]
    intervals = _intervals_line(law, payload["optimal"]["intervals"], "at this budget")
    if intervals:
        lines.append(intervals)
    if unique:
        lines.append(f"Data limit: {human(unique['unique_tokens'])} unique tokens; every loss counts repeated data.")
    lines.append(table(rows, columns))
    lines.append("params: the exact count of the shape the solver picks for the rule's N; tokens spend the budget "
                 "on that shape (D = C / 6N), as `scaling grid` and `scaling-train` plan it.")
    for a in allocations:
        if a["shape"] is None:
            lines.append(f"{a['rule']}: {a['shape_note']}; its N and D = C / 6N are the law's split, without a "
                         f"shape.")
        elif not a["counts_embeddings"]:
            lines.append(f"{a['rule']}: its N, {human(a['target_params'])}, counts no embeddings (Kaplan et al. "
                         f"2020): the shape has {a['non_embedding_params']:,} parameters besides them "
                         f"({a['shape_deviation']:+.0%}) and {a['params']:,} in all, the N its tokens are planned "
                         f"on.")
        elif a["shape_deviation"] is not None and abs(a["shape_deviation"]) > 0.02:
            lines.append(f"{a['rule']}: the nearest shape has {a['params']:,} parameters, "
                         f"{a['shape_deviation']:+.0%} off the rule's {human(a['target_params'])} (with vocab "
                         f"{a['shape']['vocab_size']}, embeddings set a floor); its tokens spend the budget on it.")
    by_rule = {a["rule"]: a for a in allocations}
    if "gpt3" in by_rule and "optimal" in by_rule and _has(by_rule["gpt3"]["predicted_loss"]):
        g, o = by_rule["gpt3"], by_rule["optimal"]
        lines.append(f"GPT-3-style ({g['tokens_per_param']:.3g} tokens/param): {human(g['params'])} params on "
                     f"{human(g['tokens'])} tokens -> loss {g['predicted_loss']:.4f}; the law-optimal "
                     f"{human(o['params'])} on {human(o['tokens'])} -> {o['predicted_loss']:.4f} "
                     f"({g['predicted_loss'] - o['predicted_loss']:+.4f} nats for GPT-3-style).")
    if "inference" in by_rule:
        i = by_rule["inference"]
        lines.append(f"inference-aware: trains on {_times(i['budget_ratio'])} the budget ({i['flops']:.3g} of "
                     f"{i['budget']:.3g} FLOPs): the inference rule fixes the loss (the optimal split's), not the "
                     f"compute; it serves {human(i['inference_tokens'])} tokens: training {i['flops']:.3g} + "
                     f"inference {i['inference_flops']:.3g} = {i['total_flops']:.3g} FLOPs.")
    if unique:
        lines += _repetition_note(unique, flops)
    ratio = payload["optimal"]["budget_ratio"]
    if "E" not in law and abs(ratio - 1) > 0.05:
        lines.append(f"the fit's own D_opt ({human(payload['optimal']['tokens'])}) with its N_opt spends "
                     f"{_times(ratio)} the budget (its two power laws were fitted apart); the rows spend it exactly.")
    if any(a.get("above_uniform") for a in allocations):
        lines.append(f"* above {payload['uniform_loss']:.2f} nats = ln V, the loss of a uniform guess over the "
                     f"vocabulary: the law is used far outside its data there.")
    return "\n".join(lines)


def judge_text(runs: list[dict]) -> str:
    """Each run against the law-optimal split of its compute; with several, which uses its compute best."""
    lines = [f"Under {law_head(runs[0]['law'])}"]
    for r in runs:
        law, o = r["law"], r["optimal"]
        shape = f" ({describe(r['shape'])})" if r["shape"] else ""
        lines += [f"{r['name'] or 'run'}: {human(r['params'])} params{shape} on {human(r['tokens'])} tokens "
                  f"({r['tokens_per_param']:.3g} tokens/param): C = 6ND = {r['flops']:.4g} FLOPs"]
        if not _has(r["predicted_loss"]):
            lines.append(f"  law-optimal split of {r['flops']:.3g} FLOPs: {human(o['target_params'])} params on "
                         f"{human(o['flops'] / (6 * o['target_params']))} tokens "
                         f"({o['flops'] / (6 * o['target_params'] ** 2):.3g}/param); no loss to compare")
            continue
        ci = _span(r["loss_interval"], lambda x: f"{x:.4f}")
        lines.append(f"  predicted loss       {r['predicted_loss']:.4f}"
                     + (f" ({law['level']:.0%} interval {ci})" if ci else "")
                     + (f" * above ln V = {r['uniform_loss']:.2f}, a uniform guess" if r["above_uniform"] else ""))
        shape_cell = f"{o['shape']['style']} {_shape_cell(o['shape'])}" if o["shape"] else o["shape_note"]
        lines.append(f"  law-optimal split    {human(o['params_closed_form'])} params on "
                     f"{human(o['tokens_closed_form'])} tokens "
                     f"({o['tokens_closed_form'] / o['params_closed_form']:.3g}/param; {shape_cell}) "
                     f"-> {o['loss']:.4f}")
        lines.append(f"  left on the table    {r['loss_gap']:+.4f} nats")
        lines.append(f"  compute-equivalent   {r['compute_equivalent']:.4g} FLOPs: the optimal split reaches "
                     f"{r['predicted_loss']:.4f} with {share(r['compute_fraction'])} of this run's compute")
        if r.get("unique_tokens"):
            rep = r["repetition"]
            c = rep["constrained"]
            lines.append(f"  repeated data        {r['epochs']:.3g} epochs of {human(r['unique_tokens'])} unique "
                         f"tokens: {r['predicted_loss']:.4f} against {r['fresh_loss']:.4f} fresh "
                         f"({r['predicted_loss'] - r['fresh_loss']:+.4f}); the data-constrained optimum of this "
                         f"compute: {human(c['params'])} params, {c['epochs']:.3g} epochs -> {c['loss']:.4f}")
        ci = _intervals_line(law, o["intervals"], "of the optimal split")
        if ci:
            lines.append(f"  {ci}")
    judged = [r for r in runs if _has(r["predicted_loss"])]
    if len(judged) > 1:
        low = min(judged, key=lambda r: r["predicted_loss"])
        label = {id(r): r["name"] or f"{human(r['params'])}/{human(r['tokens'])}" for r in judged}
        for r in judged:
            if r is low:
                continue
            ratio = r["flops"] / low["flops"]
            better = r["compute_fraction"] > low["compute_fraction"]
            line = (f"{label[id(r)]} against {label[id(low)]}: {share(ratio)} of the compute, "
                    f"{r['predicted_loss'] - low['predicted_loss']:+.4f} nats ({r['predicted_loss']:.4f} against "
                    f"{low['predicted_loss']:.4f}). The optimal split matches it with "
                    f"{share(r['compute_fraction'])} of its compute ({label[id(low)]}: "
                    f"{share(low['compute_fraction'])}), so its split uses compute "
                    f"{'better' if better else 'no better'}")
            if ratio < 1:
                line += (f", but the law does not predict it to beat {label[id(low)]}: a lead on {share(ratio)} of the "
                         f"compute comes from what the law does not see, not from the split")
            lines.append(line + ".")
    if judged:
        data = runs[0]["law"].get("measured_on") or "the data it was fitted on"
        lines.append(f"The law sees only N and D: architecture, data and tokenizer are not in it, and its losses are "
                     f"per token of {data}, not the models' own reported losses.")
    return "\n".join(lines)


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


def ci_text(ci) -> str:
    """' [lo, hi]' to 3 decimals ('' without an interval); an end that rounds to zero reads 0.000, not -0.000."""
    if not ci or None in ci:
        return ""
    lo, hi = (f"{v:.3f}".replace("-0.000", "0.000") for v in ci)
    return f" [{lo}, {hi}]"


def _signed(value: float, digits: int) -> str:
    """+x.xx, with a value that rounds to zero printed +0.00 (not -0.00)."""
    text = f"{value:+.{digits}f}"
    return text if float(text) != 0 else f"{0.0:+.{digits}f}"


def skew_line(skew: dict) -> str:
    """One sentence on the isoFLOP profiles' shared skew kappa, d3L/d(ln N)3 over d2L/d(ln N)2 (Approach 2's
    `skew`): whether the vertices allow for it, and how far doing so moves N_opt (median over budgets); or why
    it cannot be allowed for."""
    if skew.get("reason"):
        return f"The profiles' skew cannot be allowed for ({skew['reason']}): the vertices are plain parabolas'."
    moved = "" if skew.get("shift_pct") is None else f" by {_signed(skew['shift_pct'], 1)}%"
    if skew["applied"]:
        ci = skew.get("params_ci")
        return (f"The vertices allow for the profiles' shared skew kappa = {_signed(skew['params'], 2)}"
                + (f" [{_signed(ci[0], 2)}, {_signed(ci[1], 2)}]" if ci else "")
                + f" (d3L/d(ln N)3 over d2L/d(ln N)2), which moves N_opt{moved} from plain parabolas'.")
    tested = f" (p = {skew['p']:.2g} against no skew)" if skew.get("p") is not None else ""
    return (f"The profiles' shared skew kappa = {_signed(skew['params'], 2)} in ln N{tested}; allowing for it "
            f"(--skew) would move N_opt{moved}.")


def fit_text(out: dict) -> str:
    """The fit as tables: Approach 3's parameters, Approaches 2 and 1, then the budgets asked for."""
    from scaling.laws import KAPLAN_KEYS, LAW_KEYS

    lines = [f"{out['source']}: {out['n_points']} runs"
             + (f" ({out['dropped_highest_loss']} highest-loss dropped)" if out["dropped_highest_loss"] else "")]
    level = next((s["ci"]["level"] for s in (out, out.get("approach2", {}), out.get("approach1", {})) if "ci" in s),
                 None)
    ci_head = f"{level:.0%} CI" if level else "CI"
    if "E" in out:
        starts = out["starts"]
        loss = out["loss"] + (f" (x{out['asymmetry']:g} over-predictions)" if "asymmetry" in out else "")
        kaplan = out.get("form") == "kaplan"
        form = "E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D" if kaplan else "E + A/N^alpha + B/D^beta"
        tried = (f"{starts['grid']} starts" if kaplan else
                 f"{starts['grid']} starts ({starts['run']} run, {starts['reached_best']} reach the best)")
        lines += ["", f"Approach 3: L = {form}, {loss} delta {out['delta']:g} on log losses; {tried}; "
                      f"objective {out['objective']:.10f}"]
        kept = []  # the runs Approach 3 kept, the last choice first (`api._restricted` applies the window, then T)
        if "min_tokens_per_param" in out:
            rich = out["min_tokens_per_param"]
            kept.append((f"the runs with >= {rich['tokens_per_param']:g} tokens per parameter", rich))
        if "law_window" in out:
            window = out["law_window"]
            kept.append((f"the runs of Approach 2's windows (best size +- {window['k']})", window))
        if kept:
            lines.append(f"fitted on {' among '.join(what for what, _ in kept)}: {kept[0][1]['points']} of "
                         f"{out['n_points']}")
        ci = out.get("ci")
        terms = KAPLAN_KEYS if kaplan else LAW_KEYS
        tied = out.get("tie_exponents", False)  # alpha = beta makes a = b = 0.5 by construction: no interval
        rows = [{"q": q, "v": f"{out[q]:.5g}",
                 "ci": "fixed by alpha = beta" if tied and q in ("a", "b") else _interval(ci, q, lambda x: f"{x:.5g}")}
                for q in (*terms, "a", "b")]
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
            if sec.get("skew"):
                lines.append(skew_line(sec["skew"]))
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

def report_text(headline: str, fits: dict, skipped: dict, report_path, figures, laws=(), removed=(),
                plannable: bool = True) -> str:
    lines = [headline]
    for name in ("1", "2", "3", "3k"):
        section = fits.get(name)
        label = "approach 3 (Kaplan's form)" if name == "3k" else f"approach {name}"
        if section:
            lines.append(f"{label}: a = {section['a']:.3f}{ci_text(section.get('ci', {}).get('a'))}, "
                         f"b = {section['b']:.3f}")
        elif name != "3k" or name in skipped:
            lines.append(f"{label}: not fitted ({skipped.get(name)})")
    lines.append(f"report: {report_path}; figures: " + (", ".join(str(p) for p in figures) or "none drawn"))
    if laws:
        lines.append(("laws for `scaling plan --law`: " if plannable else "laws, for comparison (`scaling plan` "
                      "refuses their conventions): ") + ", ".join(str(p) for p in laws))
    if removed:
        lines.append("removed an earlier report's files that this one does not make: "
                     + ", ".join(str(p) for p in removed))
    return "\n".join(lines)
