"""The trainer end to end: a budgeted run, its records, resume after kill -9, golden losses, divergence, and
one-line refusals of bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.trainer import train
from scaling.errors import ScalingError
from scaling.rundir import read_metrics
from tests import golden_losses
from tests.conftest import BRIEF

SUMMARY_KEYS = {"status", "params", "non_embedding_params", "tokens", "flops", "flops_exact", "final_train_loss",
                "final_val_loss", "val_bits_per_byte", "steps", "wall_seconds", "tokens_per_second", "mfu", "model",
                "allocation", "budget", "seed", "data"}
METRIC_KEYS = {"step", "tokens", "flops", "lr", "train_loss", "tokens_per_second", "elapsed_s"}
# The CPU cap on steps for tests of the recipe's runs (>= 500 steps, the model learns) whose point is not the run's
# length: the batch rule keeps >= 500 steps of a larger batch (the same tokens), where the plain tiny-corpus runs
# take 2,000-2,600 steps of 2-3 sequences. Tests of the machinery alone take conftest's BRIEF (~200 steps).
SHORT = ("optim.max_steps=600",)


def scaling_train(*args, cwd, check=True, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "experiments.train", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.parametrize("style", golden_losses.STYLES)
def test_golden_losses_of_a_tiny_seeded_run(data_cache, tmp_path, style):
    """CPU, fp32, one thread: `python -m tests.golden_losses` regenerates the file after a deliberate change."""
    losses = golden_losses.first_losses([f"data.cache_dir={data_cache}", *golden_losses.overrides(style, tmp_path)],
                                        tmp_path / style)
    expected = json.loads(golden_losses.GOLDEN.read_text())[style]
    assert losses == pytest.approx(expected, abs=1e-4)


def test_same_seed_same_losses_other_seed_other_losses(compose, tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = compose("data=tiny", "budget.flops=3e10", f"seed={seed}", "log_every_steps=1", *BRIEF)
        train(cfg, tmp_path / name / "run")  # apart: a sibling's completed twin would be copied, not retrained
        runs[name] = [r["train_loss"] for r in read_metrics(tmp_path / name / "run")]
    assert runs["a"] == runs["b"] and runs["a"] != runs["c"]


def test_init_seed_sets_the_weights_and_seed_the_batches(compose, tmp_path):
    """model.init_seed=1 with seed=0 starts from seed 1's initial weights, and trains to other losses than either
    seed's own run (seed 1's weights on seed 0's batches)."""
    import torch

    from experiments.sizing import resolve
    from experiments.trainer import _fresh, fingerprint

    base = ("data=tiny", "budget.flops=3e10", "log_every_steps=1", *BRIEF)
    weights = {}
    for name, extra in (("s0", ["seed=0"]), ("s1", ["seed=1"]), ("i1s0", ["seed=0", "model.init_seed=1"])):
        cfg = compose(*base, *extra)
        model, _ = _fresh(cfg, resolve(cfg, 256), torch.device("cpu"))
        weights[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.equal(weights["i1s0"], weights["s1"]) and not torch.equal(weights["i1s0"], weights["s0"])
    # a run's identity holds init_seed where it differs from the seed (runs recorded before the key keep theirs:
    # test_fingerprints_of_the_committed_reference_runs_still_match)
    assert fingerprint(compose(*base, "model.init_seed=1")) != fingerprint(compose(*base))
    assert fingerprint(compose(*base, "model.init_seed=0")) == fingerprint(compose(*base))
    # trained: the swapped run differs from both seeds' (weights of one, batches of the other)
    losses = {}
    for name, extra in (("s0", ["seed=0"]), ("s1", ["seed=1"]), ("i1s0", ["seed=0", "model.init_seed=1"])):
        summary = train(compose(*base, *extra), tmp_path / name / "run")
        losses[name] = [r["train_loss"] for r in read_metrics(tmp_path / name / "run")]
        assert summary.get("init_seed") == (1 if name == "i1s0" else None)  # recorded where it is set
    assert losses["i1s0"] != losses["s0"] and losses["i1s0"] != losses["s1"]


LADDER_3E10 = ("data=tiny", "model.shape_rule=ladder", "budget.flops=3e10", "log_every_steps=10", *BRIEF)


def test_runs_asked_for_differently_that_train_the_same_model_share_a_computation(compose):
    """On the model ladder, LLaMA's allocation at 3e10 lands on the isoFLOP profile's quarter-size model: same
    shape, steps, batch and LR (the planner's answer), though the requests and so the fingerprints differ."""
    from experiments.sizing import resolve
    from experiments.trainer import computation, fingerprint

    def ids(*overrides):
        cfg = compose(*LADDER_3E10, *overrides)
        return fingerprint(cfg), computation(cfg, resolve(cfg, 256))

    profile, llama = ids("allocation=chinchilla", "allocation.size_factor=0.25"), ids("allocation=llama")
    assert profile[0] != llama[0] and profile[1] == llama[1]
    assert ids("allocation=llama", "seed=1")[1] != llama[1]
    assert ids("allocation=chinchilla", "allocation.size_factor=1")[1] != profile[1]


def test_a_run_whose_training_a_sibling_did_copies_it_and_matches_training_it(compose, tmp_path, monkeypatch):
    import experiments.trainer as trainer

    profile = compose(*LADDER_3E10, "allocation=chinchilla", "allocation.size_factor=0.25")
    llama = compose(*LADDER_3E10, "allocation=llama")
    alone = train(llama, tmp_path / "alone" / "llama")  # the oracle: the same run trained where no twin is
    train(profile, tmp_path / "sweep" / "profile")
    monkeypatch.setattr(trainer, "train_loop", lambda *a, **k: pytest.fail("trained again"))
    reused = train(llama, tmp_path / "sweep" / "llama")
    assert reused["reused_from"] == "profile" and reused["status"] == "completed"
    assert reused["allocation"]["rule"] == "llama" and reused["run_name"] == "llama"
    assert reused["fingerprint"] == alone["fingerprint"] and reused["computation"] == alone["computation"]
    for key in ("params", "tokens", "steps", "final_train_loss", "final_val_loss"):
        assert reused[key] == alone[key], key
    curve = [(r["step"], r["train_loss"]) for r in read_metrics(tmp_path / "sweep" / "llama")]
    assert curve == [(r["step"], r["train_loss"]) for r in read_metrics(tmp_path / "alone" / "llama")]
    assert "resolved:" in (tmp_path / "sweep" / "llama" / "config.yaml").read_text()
    # asked again, the reused run is this configuration's completed run: skipped, its files untouched
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "sweep" / "llama").iterdir()}
    assert train(llama, tmp_path / "sweep" / "llama") == reused
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "sweep" / "llama").iterdir()} == before


def test_a_twin_without_its_curve_or_in_another_state_is_not_copied(compose, tmp_path):
    """Only a completed sibling with its metrics is copied; anything else leaves the run to train (nothing written)."""
    from experiments.trainer import _reuse_twin, check, computation, fingerprint

    cfg = compose(*LADDER_3E10, "allocation=llama")
    checked = check(cfg)
    plan = checked.plan
    twin = tmp_path / "sweep" / "twin"
    twin.mkdir(parents=True)
    run_dir = tmp_path / "sweep" / "llama"
    run_dir.mkdir()
    base = {"status": "completed", "computation": computation(cfg, plan), "tokens": plan.tokens,
            "final_val_loss": 2.0}
    for summary, metrics in ((base, None), ({**base, "status": "diverged"}, "{}\n"),
                             ({**base, "computation": "0" * 16}, "{}\n"),
                             ({**base, "data": {"tokens_sha256": "0" * 16}}, "{}\n")):  # trained on other tokens
        (twin / "summary.json").write_text(json.dumps(summary))
        (twin / "metrics.jsonl").unlink(missing_ok=True)
        if metrics is not None:
            (twin / "metrics.jsonl").write_text(metrics)
        assert _reuse_twin(cfg, run_dir, checked, fingerprint(cfg)) is None
        assert list(run_dir.iterdir()) == []
    (twin / "summary.json").write_text(json.dumps(base))
    (run_dir / "metrics.jsonl").write_text('{"step": 5}\n')  # this run's own log (trained before a kill): kept
    assert _reuse_twin(cfg, run_dir, checked, fingerprint(cfg)) is None
    assert (run_dir / "metrics.jsonl").read_text() == '{"step": 5}\n' and len(list(run_dir.iterdir())) == 1
    (run_dir / "metrics.jsonl").write_text("")  # an empty log (stopped before its first point) holds nothing
    assert _reuse_twin(cfg, run_dir, checked, fingerprint(cfg))["reused_from"] == "twin"  # the control: a sound twin
    assert (run_dir / "metrics.jsonl").read_text() == "{}\n"


def test_a_copy_cut_short_before_its_summary_is_finished_on_the_rerun(compose, tmp_path, monkeypatch):
    """A kill between the copied curve and the summary (written last) leaves the twin's curve and no checkpoint:
    the rerun finishes the copy rather than training again."""
    import experiments.trainer as trainer

    profile = compose(*LADDER_3E10, "allocation=chinchilla", "allocation.size_factor=0.25")
    llama = compose(*LADDER_3E10, "allocation=llama")
    done = train(profile, tmp_path / "sweep" / "profile")
    monkeypatch.setattr(trainer, "train_loop", lambda *a, **k: pytest.fail("trained again"))
    with monkeypatch.context() as m:
        m.setattr(trainer, "write_summary", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt("killed")))
        with pytest.raises(KeyboardInterrupt):
            train(llama, tmp_path / "sweep" / "llama")
    assert not (tmp_path / "sweep" / "llama" / "summary.json").exists()
    reused = train(llama, tmp_path / "sweep" / "llama")
    assert reused["reused_from"] == "profile" and reused["final_val_loss"] == done["final_val_loss"]
    assert (tmp_path / "sweep" / "llama" / "metrics.jsonl").read_bytes() == \
        (tmp_path / "sweep" / "profile" / "metrics.jsonl").read_bytes()


def test_exploding_loss_stops_the_run_as_diverged_and_keeps_its_metrics(compose, tmp_path):
    summary = train(compose("data=tiny", "budget.flops=1e11", "optim.lr=30", "log_every_steps=1"), tmp_path / "d")
    assert summary["status"] == "diverged" and summary["steps"] < 50
    rows = read_metrics(tmp_path / "d")
    assert len(rows) == summary["steps"] and rows[-1]["train_loss"] > 2 * rows[0]["train_loss"]


def test_budgeted_tiny_run_completes_with_a_complete_summary(tmp_path):
    proc = scaling_train("model=llama", "allocation=chinchilla", "budget.flops=3e11", "data=tiny", *SHORT,
                         f"data.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    run = tmp_path / "results" / "default" / ("allocation=chinchilla,budget.flops=3e11,data=tiny,model=llama,"
                                              "optim.max_steps=600")
    summary = json.loads((run / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary) and summary["status"] == "completed"
    assert all(summary[k] is not None for k in SUMMARY_KEYS - {"mfu"})
    assert summary["flops"] == pytest.approx(3e11, rel=0.01) and summary["steps"] >= 500
    # the model learned: well below what a context-free (unigram) model of the same bytes can do
    assert summary["final_val_loss"] < 0.8 * summary["data"]["unigram_entropy_nats"]
    rows = read_metrics(run)
    assert all(METRIC_KEYS <= set(r) for r in rows) and "val_loss" in rows[-1]
    assert rows[-1]["step"] == summary["steps"] and rows[-1]["val_loss"] == summary["final_val_loss"]
    assert "resolved:" in (run / "config.yaml").read_text() and "worth less than fresh ones" in proc.stderr

    # the same command again: the completed run is skipped and its files are not touched
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    again = scaling_train("model=llama", "allocation=chinchilla", "budget.flops=3e11", "data=tiny", *SHORT,
                          f"data.cache_dir={tmp_path / 'cache'}", cwd=tmp_path)
    assert "skipping" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_kill_9_then_rerun_resumes_and_matches_an_uninterrupted_run(tmp_path):
    args = ["data=tiny", "budget.flops=1e11", "threads=1", "checkpoint.every_steps=40", "log_every_steps=1", *BRIEF,
            f"data.cache_dir={tmp_path / 'cache'}"]
    scaling_train(*args, "results_dir=whole", cwd=tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "experiments.train", *args, "results_dir=cut"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    ckpt = None
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list((tmp_path / "cut").glob("*/*/checkpoint.pt"))
        if found:
            ckpt = found[0]
            break
        time.sleep(0.05)
    assert ckpt is not None, "no checkpoint appeared"
    time.sleep(0.3)  # let it train past the checkpoint, then kill it mid-run
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_cut = ckpt.parent
    assert not (run_cut / "summary.json").exists(), "the run finished before it was killed: make it longer"
    killed_at = read_metrics(run_cut)[-1]["step"]
    resumed = scaling_train(*args, "results_dir=cut", cwd=tmp_path)
    assert "resuming at step" in resumed.stderr
    whole = json.loads(next((tmp_path / "whole").glob("*/*/summary.json")).read_text())
    cut = json.loads((run_cut / "summary.json").read_text())
    assert cut["steps"] == whole["steps"] and killed_at < whole["steps"]
    for key in ("final_train_loss", "final_val_loss"):
        assert cut[key] == pytest.approx(whole[key], abs=1e-5)
    whole_rows = read_metrics(next((tmp_path / "whole").glob("*/*/")))
    cut_rows = read_metrics(run_cut)
    assert [r["step"] for r in cut_rows] == [r["step"] for r in whole_rows]  # no duplicated or missing steps
    assert [r["train_loss"] for r in cut_rows] == pytest.approx([r["train_loss"] for r in whole_rows], abs=1e-5)


BAD_INPUT = {
    "heads not dividing d_model": ["budget.flops=3e11", "model.d_model=64", "model.n_layers=2", "model.n_heads=3"],
    "budget too small for one step": ["budget.tokens=100", "model.d_model=64", "model.n_layers=2",
                                      "model.n_heads=2"],
    "unknown model": ["budget.flops=3e11", "model=gpt4"],
    "unknown allocation": ["budget.flops=3e11", "allocation=bestest"],
    "sequence longer than validation set": ["budget.flops=3e11", "model.seq_len=20000"],
    "text path that does not exist": ["budget.flops=3e11", "data=text", "data.paths=[no/such/file.txt]"],
    "negative learning rate": ["budget.flops=3e11", "optim.lr=-0.001"],
    "unknown key": ["budget.flops=3e11", "model.depth=3"],
    "wrong type": ["budget.flops=lots"],
    "negative seed": ["budget.flops=3e11", "seed=-1"],
    "negative checkpoint interval": ["budget.flops=3e11", "checkpoint.every_steps=-5"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_refused_with_one_line_before_training(tmp_path, case):
    args = BAD_INPUT[case]
    if "data=text" not in args:
        args = ["data=tiny", *args]
    proc = scaling_train(*args, f"data.cache_dir={tmp_path / 'cache'}", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scaling-train: error:"), proc.stderr
    assert not (tmp_path / "results").exists()  # nothing was started


@pytest.mark.parametrize("override,message", [
    ("+foo=1", "unknown setting foo (added with +)"),
    ("+model.dmodel=64", "unknown setting model.dmodel (added with +)"),
    ("divergence_factor=nan", "divergence_factor must be > 1, got nan"),
    ("log_every_steps=0", "log_every_steps must be >= 1"),
    ("experiment_name=../elsewhere", "experiment_name must be a relative name without '..'"),
    ("experiment_name=", "experiment_name must be a relative name without '..'"),
    ("data.val_windows=???", "Missing mandatory value: data.val_windows"),
    ("results_dir=${oops}", "Interpolation key 'oops' not found"),
    # a context the validation split holds but the training split does not: refused before any directory
    ("data.val_fraction=0.999", "model.seq_len 1024 is longer than the training split"),
])
def test_settings_nothing_would_read_or_that_would_fail_later_are_one_line(tmp_path, override, message):
    from experiments.train import validate_args

    args = ["data=tiny", "budget.flops=3e11", f"data.cache_dir={tmp_path / 'cache'}",
            f"results_dir={tmp_path / 'results'}", override]
    if "val_fraction" in override:
        args.append("model.seq_len=1024")
    line = validate_args(args)
    assert line is not None and message in line and "\n" not in line, line
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("override,message", [
    ("+foo=1", "unknown setting foo (added with +)"),
    ("experiment_name=../elsewhere", "experiment_name must be a relative name without '..'"),
    ("data=tiny,foo", "unknown data 'foo': choose one of"),  # a later option of a swept group
])
def test_a_sweep_with_a_setting_nothing_reads_is_one_line_before_any_job(tmp_path, override, message):
    from experiments.train import validate_sweep

    line = validate_sweep(["experiment=debug", "allocation.size_factor=1,2", f"results_dir={tmp_path}", override])
    assert line is not None and message in line and "\n" not in line, line
    assert validate_sweep(["experiment=debug", "allocation.size_factor=1,2", f"results_dir={tmp_path}"]) is None


def test_the_launchers_check_is_the_runs_check(compose, tmp_path, monkeypatch):
    """`scaling-train` checks a single run before Hydra starts; the run then reuses that check (corpus loaded
    and plan resolved once), and replays its warnings."""
    from experiments import trainer

    calls = []
    load = trainer.load_corpus
    monkeypatch.setattr(trainer, "load_corpus", lambda cfg: calls.append(1) or load(cfg))
    monkeypatch.setattr(trainer, "_CHECKED", {})
    cfg = compose("data=tiny", "budget.flops=1e11", *SHORT)
    first = trainer.check(cfg)
    assert trainer.train(cfg, tmp_path / "once")["status"] == "completed"
    assert len(calls) == 1 and trainer.check(cfg) is first
    assert trainer.check(compose("data=tiny", "budget.flops=2e11")) is not first and len(calls) == 2


def test_a_completed_run_planned_by_an_older_rule_is_refused_not_reused(compose, tmp_path, monkeypatch):
    """The fingerprint covers the configuration; the size rules answer it. A run recorded under another LR rule
    (the same configuration, planned otherwise) must not pass for this configuration's run."""
    from experiments import sizing, trainer

    cfg = compose("data=tiny", "budget.flops=1e11", *SHORT)
    done = trainer.train(cfg, tmp_path / "run")
    assert done["status"] == "completed"
    before = (tmp_path / "run" / "summary.json").read_bytes()
    assert trainer.train(cfg, tmp_path / "run")["fingerprint"] == done["fingerprint"]  # same rules: reused
    monkeypatch.setattr(trainer, "_CHECKED", {})
    monkeypatch.setattr(sizing, "peak_lr", lambda params, batch_tokens=None: 2e-3)  # a new LR rule
    with pytest.raises(ScalingError, match=r"plan it otherwise \(lr [0-9.e-]+ -> 0\.002\)"):
        trainer.train(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "summary.json").read_bytes() == before


def test_fingerprints_of_the_committed_reference_runs_still_match(compose):
    """Relaunching a sweep must recognise its completed runs: the fingerprint recomputed from a reference run's
    overrides equals the one its summary.json recorded when it was trained."""
    results = Path(__file__).resolve().parent.parent / "results"
    from experiments.trainer import fingerprint

    for sweep, name in (
            ("reference", "allocation.size_factor=1,allocation=chinchilla,budget.flops=3e10,model.head_dim=8,"
                          "schedule.warmup_fraction=0.4"),
            ("reference", "allocation.size_factor=0.5,allocation=chinchilla,budget.flops=1.2e12,model.head_dim=8,"
                          "schedule.warmup_fraction=0.4,seed=1"),
            ("reference", "allocation.size_factor=1,allocation=gpt3,budget.flops=3e12,model.head_dim=8,"
                          "schedule.warmup_fraction=0.4"),
            ("reference_warmup5", "allocation.size_factor=1,allocation=chinchilla,budget.flops=3e10,model.head_dim=8"),
            ("reference_prose", "allocation.size_factor=0.5,allocation=chinchilla,budget.flops=7.5e12,"
                                "data=library_prose,model.head_dim=8,schedule.warmup_fraction=0.4,seed=1"),
            ("reference_onehead", "allocation.size_factor=1,allocation=chinchilla,budget.flops=3e10")):
        recorded = json.loads((results / sweep / name / "summary.json").read_text())["fingerprint"]
        assert fingerprint(compose("experiment=reference_cpu", *name.split(","))) == recorded, name
