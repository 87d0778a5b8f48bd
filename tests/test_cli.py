"""The `scaling` command line: its JSON contracts, and one clear line for every bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scaling.architecture import PRESETS

ROOT = Path(__file__).resolve().parent.parent


def run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", *args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_count_preset_json_has_the_contract_keys():
    out = json.loads(run("count", "--preset", "llama-7b", "--json").stdout)
    assert out["params"] == 6_738_415_616
    assert out["non_embedding_params"] == 6_738_415_616 - 2 * 32000 * 4096
    assert set(out["flops_per_token"]) == {"6N", "6N-non-embedding", "palm", "chinchilla", "chinchilla-no-embeddings"}
    assert out["flops_per_token"]["6N-non-embedding"] == 6 * out["non_embedding_params"]


def test_count_all_presets_prints_every_preset():
    out = json.loads(run("count", "--preset", "all", "--json").stdout)
    assert [r["preset"] for r in out] == list(PRESETS)
    text = run("count", "--preset", "all").stdout
    assert "174,604,259,328" in text and "124,439,808" in text


def test_count_from_flags_matches_gpt2_without_biases():
    out = json.loads(run("count", "--d-model", "768", "--n-layers", "12", "--n-heads", "12", "--vocab", "50257",
                         "--seq-len", "1024", "--style", "gpt3", "--no-bias", "--json").stdout)
    assert out["params"] == 124_337_664



def test_a_shape_takes_its_styles_published_vocabulary_where_none_is_given():
    # GPT-2 small (Radford et al. 2019): 124,439,808 parameters with GPT-2's 50,257-token BPE, context 1024;
    # the llama style's default stays LLaMA's 32,000 (LLaMA-7B's shape gives the published 6,738,415,616)
    gpt2 = json.loads(run("count", "--d-model", "768", "--n-layers", "12", "--n-heads", "12", "--seq-len", "1024",
                          "--style", "gpt3", "--json").stdout)
    assert gpt2["params"] == 124_439_808 and gpt2["shape"]["vocab_size"] == 50257
    llama = json.loads(run("count", "--d-model", "4096", "--n-layers", "32", "--n-heads", "32", "--ffn-hidden",
                           "11008", "--json").stdout)
    assert llama["params"] == 6_738_415_616
    planned = json.loads(run("plan", "--flops", "1e21", "--style", "gpt3", "--json").stdout)
    assert planned["vocab_size"] == 50257 and {a["shape"]["vocab_size"] for a in planned["allocations"]} == {50257}


def test_a_presets_vocabulary_and_context_can_be_replaced_and_its_style_cannot():
    # LLaMA-7B under a 50,000-token vocabulary: the published 6,738,415,616 with 18,000 more rows in its untied
    # embedding and output layer (d 4096 each); a longer context adds nothing to a RoPE model's count
    more = 6_738_415_616 + 2 * (50_000 - 32_000) * 4096
    out = json.loads(run("count", "--preset", "llama-7b", "--vocab", "50000", "--seq-len", "4096", "--json").stdout)
    assert out["preset"] == "llama-7b" and out["params"] == more
    assert (out["shape"]["vocab_size"], out["shape"]["seq_len"]) == (50_000, 4096)
    # GPT-3's learned positions grow by 2048 rows of d 12288 when its context doubles to 4096
    gpt3 = json.loads(run("count", "--preset", "all", "--seq-len", "4096", "--json").stdout)
    assert {r["preset"]: r["params"] for r in gpt3}["gpt3-175b"] == 174_604_259_328 + 2048 * 12288
    judged = json.loads(run("plan", "--preset", "llama-7b", "--tokens", "1e12", "--vocab", "50000",
                            "--json").stdout)
    assert judged["runs"][0]["params"] == more
    for command in (["count", "--preset", "llama-7b"], ["plan", "--preset", "llama-7b", "--tokens", "1e12"]):
        proc = run(*command, "--style", "gpt3", check=False)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
        assert "--preset fixes the model's shape and style; --style would change it" in proc.stderr
    proc = run("count", "--preset", "llama-7b", "--multiple-of", "64", "--no-tied", check=False)
    assert proc.returncode == 2 and "--multiple-of, --tied would change it" in proc.stderr

def test_plan_at_gpt3_budget_shows_gpt3_allocation_above_optimal():
    out = json.loads(run("plan", "--flops", "3.14e23", "--law", "epoch", "--json").stdout)
    by_rule = {a["rule"]: a for a in out["allocations"]}
    assert {"optimal", "chinchilla", "gpt3", "llama"} <= set(by_rule)
    for a in out["allocations"]:
        assert {"rule", "params", "tokens", "tokens_per_param", "predicted_loss", "shape"} <= set(a)
    assert by_rule["gpt3"]["predicted_loss"] > by_rule["optimal"]["predicted_loss"]
    text = run("plan", "--flops", "3.14e23", "--law", "epoch").stdout
    assert "GPT-3-style" in text and "gpt3" in text


def test_plan_takes_a_fit_file_as_its_law(tmp_path):
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}))
    mine = json.loads(run("plan", "--flops", "1e21", "--law", str(fit), "--json").stdout)
    named = json.loads(run("plan", "--flops", "1e21", "--law", "epoch", "--json").stdout)
    assert mine["allocations"][0]["target_params"] == pytest.approx(named["allocations"][0]["target_params"])


def test_plan_from_gpu_hours_and_inference_tokens():
    out = json.loads(run("plan", "--gpu-hours", "1000", "--gpu", "h100-sxm", "--mfu", "0.4",
                         "--inference-tokens", "1e13", "--json").stdout)
    assert out["flops"] == pytest.approx(1000 * 3600 * 989e12 * 0.4)
    assert out["allocations"][-1]["rule"] == "inference"


def test_grid_json_rows():
    rows = json.loads(run("grid", "--flops", "1e18,1e19", "--points", "5", "--json").stdout)
    assert len(rows) == 10
    assert {"flops", "params", "tokens", "shape"} <= set(rows[0])


BAD_INPUT = {
    "negative budget": ["plan", "--flops", "-1"],
    "nan budget": ["plan", "--flops", "nan"],
    "overflowing budget": ["plan", "--flops", "1e400"],
    "text budget": ["plan", "--flops", "lots"],
    "unknown preset": ["count", "--preset", "llama-8b"],
    "unknown law": ["plan", "--flops", "1e20", "--law", "kaplan2"],
    "heads not dividing d_model": ["count", "--d-model", "100", "--n-layers", "2", "--n-heads", "3"],
    "missing fit file": ["plan", "--flops", "1e20", "--law", "no/such/fit.json"],
    "grid with a bad budget": ["grid", "--flops", "1e18,-5"],
    "unknown gpu": ["plan", "--gpu-hours", "10", "--gpu", "abacus"],
    "no subcommand": [],
    "gpu-hours that overflows": ["plan", "--gpu-hours", "1e300", "--gpu", "h100-sxm"],
    "a run whose 6ND overflows": ["plan", "--params", "1e300", "--tokens", "1e9"],
    "no allocations in the list": ["grid", "--flops", "1e18", "--allocations", ","],
    "no rules in the list": ["plan", "--flops", "1e20", "--rules", ","],
    "a device with a FLOP budget": ["plan", "--flops", "1e21", "--gpu", "h100-sxm", "--mfu", "0.5"],
    "a budget given twice": ["grid", "--flops", "1e18,1e18"],
    "inference tokens an isoFLOP grid does not use": ["grid", "--flops", "1e18", "--inference-tokens", "1e12"],
    "a negative budget in e-notation": ["plan", "--flops", "-1e12"],
    "a list that starts with a negative budget": ["grid", "--flops", "-1e12,1e13"],
    "minus infinity": ["plan", "--flops", "-inf"],
    "a vocabulary of one token": ["plan", "--flops", "1e20", "--vocab", "1"],
    "a preset with a vocabulary of one token": ["count", "--preset", "llama-7b", "--vocab", "1"],
    "half a parameter": ["plan", "--params", "0.5", "--tokens", "1e9"],
    "a fifth of a token": ["plan", "--params", "5e8", "--tokens", "0.2"],
    "half a unique token": ["plan", "--params", "5e8", "--tokens", "1e9", "--unique-tokens", "0.5"],
    "half a token of inference": ["plan", "--flops", "1e20", "--rules", "inference", "--inference-tokens", "0.5"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_2(case):
    proc = run(*BAD_INPUT[case], check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for value in ("-1e12", "-inf"):  # the value is refused for what it is, not taken for an unknown option
        if value in BAD_INPUT[case] or f"{value},1e13" in BAD_INPUT[case]:
            assert f"must be a finite positive number of FLOPs, got '{value}'" in proc.stderr
    if "one token" in case:
        assert "--vocab must be at least 2" in proc.stderr
    if case.startswith(("half a", "a fifth")):  # a count below one: most often a size in billions
        assert "is less than one; write the whole count" in proc.stderr
    if "overflows" in case:  # says which input overflowed, not a budget of inf the user never typed
        assert "overflows (inf FLOPs)" in proc.stderr and ("--gpu-hours 1e+300" in proc.stderr
                                                           or "1e+300 parameters" in proc.stderr)


@pytest.mark.parametrize("content", ["{oops", '{"E": 1.7, "A": 400}'])
def test_malformed_fit_file_is_one_line_and_exit_2(tmp_path, content):
    fit = tmp_path / "fit.json"
    fit.write_text(content)
    proc = run("plan", "--flops", "1e20", "--law", str(fit), check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert str(fit) in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, flag", [(["report", ""], "the path"), (["fit", " "], "the path"),
                                        (["plan", "--flops", "1e20", "--law", ""], "--law"),
                                        (["ablation", ".", "--lr-sweep", ""], "--lr-sweep")])
def test_an_empty_path_is_refused_not_read_as_the_current_directory(tmp_path, args, flag):
    """Path('') is '.': a report there would fit whatever runs lie below and write its files into it."""
    proc = subprocess.run([sys.executable, "-m", "scaling.cli", *args], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and proc.stderr.strip().endswith(f"{flag} is empty: give a file or directory")
    assert len(proc.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


PLANNER_SAYS = "the planner counts N with embeddings and C = 6ND"
MALFORMED = "conventions must be an object with params and compute"


@pytest.mark.parametrize("conventions,says", [({"params": "non-embedding", "compute": "6nd"}, PLANNER_SAYS),
                                              ({"params": "total", "compute": "exact"}, PLANNER_SAYS),
                                              ({"params": "bogus"}, MALFORMED), ("6nd", MALFORMED)])
def test_a_law_fitted_under_other_conventions_is_refused_for_planning(tmp_path, conventions, says):
    """The planner reads N_opt as total parameters at C = 6ND: a non-embedding law would name too small a model."""
    law = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({**law, "conventions": conventions}))
    proc = run("plan", "--flops", "1e21", "--law", str(fit), check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert str(fit) in proc.stderr and says in proc.stderr
    fit.write_text(json.dumps({**law, "conventions": {"params": "total", "compute": "6nd"}}))  # the planner's
    assert run("plan", "--flops", "1e21", "--law", str(fit), "--json").returncode == 0


def test_a_reports_approach_2_law_under_other_conventions_is_refused_too(tmp_path):
    """A report's fits.json keeps each approach in its own section; Approach 2's carries its conventions."""
    section = {"a": 0.5, "b": 0.5, "params_coefficient": 0.1, "tokens_coefficient": 1.6}
    fits = tmp_path / "fits.json"
    fits.write_text(json.dumps({"2": {**section, "conventions": {"params": "non-embedding", "compute": "6nd"}},
                                "conventions": [{"params": "total", "compute": "6nd"}]}))  # the report's table
    proc = run("plan", "--flops", "1e21", "--law", f"{fits}:2", check=False)
    assert proc.returncode == 2 and PLANNER_SAYS in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    fits.write_text(json.dumps({"2": {**section, "conventions": {"params": "total", "compute": "6nd"}}}))
    assert run("plan", "--flops", "1e21", "--law", f"{fits}:2", "--json").returncode == 0  # the control


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux) to fill the disk on write")
@pytest.mark.parametrize("args", [["plan", "--flops", "1e21"], ["count", "--preset", "all", "--json"]])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(args):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "scaling.cli", *args], stdout=full, stderr=subprocess.PIPE,
                              text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.stderr.strip() == f"scaling {args[0]}: error: cannot write the output: No space left on device"


def test_plan_imports_no_torch_pandas_hydra_or_matplotlib():
    code = ("import sys; from scaling.cli import main; main(['plan', '--flops', '1e21', '--json']); "
            "heavy = [m for m in ('torch', 'pandas', 'hydra', 'matplotlib', 'scipy.optimize') if m in sys.modules]; "
            "print(heavy, file=sys.stderr); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("flops", ["1e21", "3.14e23"])
def test_plan_and_grid_agree_on_every_rule(flops):
    """One planning path: `plan` and `grid --allocations` give the same shape and tokens for every rule, and the
    tokens spend the budget on that exact shape (C = 6ND; the inference rule trains on its own, larger C)."""
    rules = "optimal,chinchilla,gpt3,llama,kaplan,inference"
    plan = json.loads(run("plan", "--flops", flops, "--law", "epoch", "--rules", rules, "--inference-tokens", "1e13",
                          "--json").stdout)["allocations"]
    grid = json.loads(run("grid", "--flops", flops, "--law", "epoch", "--allocations", rules,
                          "--inference-tokens", "1e13", "--json").stdout)
    assert [p["rule"] for p in plan] == [g["rule"] for g in grid] == rules.split(",")
    for p, g in zip(plan, grid, strict=True):
        assert p["shape"] == g["shape"] and p["params"] == g["params"]
        assert p["tokens"] == pytest.approx(g["tokens"], rel=1e-12)
        assert 6 * p["params"] * p["tokens"] == pytest.approx(p["flops"], rel=1e-12)
        if p["rule"] != "inference":
            assert p["flops"] == pytest.approx(float(flops), rel=1e-12)


@pytest.mark.parametrize("x,text", [(999.96e9, "1T"), (1.234e9, "1.23B"), (999, "999"), (999.6, "1K"),
                                    (52.3e9, "52.3B"), (-2.5e6, "-2.5M"), (0.5, "0.5")])
def test_counts_are_written_as_people_write_them(x, text):
    from scaling.render import human

    assert human(x) == text  # never "1e+03B": a number rounds to three digits before it picks its unit


def test_fit_all_that_fails_says_why_each_approach_failed_in_one_line(tmp_path):
    """`--approach all` on 3 runs at one budget: one error line that carries each approach's reason."""
    csv = tmp_path / "three.csv"
    csv.write_text("params,tokens,loss\n1e6,2e7,3.0\n2e6,1e7,2.9\n4e6,5e6,3.1\n")
    proc = run("fit", str(csv), "--approach", "all", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("scaling fit: error: no approach could fit three.csv: approach 3 fits 5 parameters")
    assert "approach 2 needs isoFLOP profiles at two or more budgets" in line
    assert "approach 1 needs loss curves" in line


def test_an_interval_end_that_rounds_to_zero_prints_without_a_sign():
    """The demo's Approach 1 interval read [-0.000, 0.572]: -4e-5 rounded, sign kept."""
    from scaling.render import ci_text

    assert ci_text([-4e-5, 0.5721]) == " [0.000, 0.572]" and ci_text([-0.0, 1.0]) == " [0.000, 1.000]"
    assert ci_text([-0.0005, 0.1]) == " [-0.001, 0.100]" and ci_text(None) == "" and ci_text([None, 0.1]) == ""
