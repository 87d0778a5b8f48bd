"""Sweeps end to end: every experiment file composes, the debug sweep runs under each launcher, and a killed
sweep relaunched skips its completed runs and resumes the interrupted one."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import KILLABLE

CONF = Path(__file__).resolve().parent.parent / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def sweep(*args, cwd, timeout=300, check=True):
    proc = subprocess.run([sys.executable, "-m", "experiments.train", "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=ENV)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def summaries(root: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in root.glob("*/summary.json")}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_resolves(compose, name):
    """Each experiment file loads, and each point of its sweep resolves to a run (the planner accepts it)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from experiments.sizing import resolve

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=[f"experiment={name}"], return_hydra_config=True)
    params = {k: str(v).replace("'", "").split(",") for k, v in cfg.hydra.sweeper.params.items()}
    assert params, f"{name} defines no sweep"
    first = [f"{k}={v[0]}" for k, v in params.items()]
    last = [f"{k}={v[-1]}" for k, v in params.items()]
    for point in (first, last):
        plan = resolve(compose(f"experiment={name}", *point), vocab_size=256)
        assert plan.steps >= 100


def test_debug_sweep_under_the_basic_launcher(tmp_path, data_cache):
    sweep("experiment=debug", f"results_dir={tmp_path}", f"data.cache_dir={data_cache}", "hydra/launcher=basic",
          cwd=tmp_path)
    runs = summaries(tmp_path / "debug")
    assert sorted(runs) == ["allocation.size_factor=1", "allocation.size_factor=2"]
    assert all(r["status"] == "completed" for r in runs.values())


def test_debug_sweep_under_joblib_gives_each_job_its_share_of_threads(tmp_path, data_cache):
    sweep("experiment=debug", f"results_dir={tmp_path}", f"data.cache_dir={data_cache}", "hydra/launcher=joblib",
          "hydra.launcher.n_jobs=2", cwd=tmp_path)
    runs = summaries(tmp_path / "debug")
    assert len(runs) == 2 and all(r["status"] == "completed" for r in runs.values())
    configs = [(p / "config.yaml").read_text() for p in (tmp_path / "debug").iterdir() if p.is_dir()]
    expected = max(1, (os.cpu_count() or 1) // 2)
    assert all(f"threads: {expected}" in c for c in configs)


def test_debug_sweep_under_submitit_local(tmp_path, data_cache):
    sweep("experiment=debug", f"results_dir={tmp_path}", f"data.cache_dir={data_cache}",
          "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", cwd=tmp_path)
    runs = summaries(tmp_path / "debug")
    assert len(runs) == 2 and all(r["status"] == "completed" for r in runs.values())
    # the local launcher starts every job at once: one thread each, not torch's default of one per core
    configs = [p.read_text() for p in (tmp_path / "debug").glob("*/config.yaml")]
    assert len(configs) == 2 and all("threads: 1" in c for c in configs)


def _slurm_ready() -> str | None:
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return "no SLURM client on this machine (.ci/run starts a local SLURM: .ci/slurm.sh start)"
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    if state.returncode != 0 or "idle" not in state.stdout and "mix" not in state.stdout:
        return f"no SLURM node is up (sinfo: {(state.stdout + state.stderr).strip()[:80]})"
    return None


@pytest.mark.skipif(_slurm_ready() is not None, reason=str(_slurm_ready()))
def test_debug_sweep_under_submitit_slurm(tmp_path, data_cache):
    sweep("experiment=debug", f"results_dir={tmp_path}", f"data.cache_dir={data_cache}", "hydra/launcher=slurm",
          "hydra.launcher.partition=debug", cwd=tmp_path)
    runs = summaries(tmp_path / "debug")
    assert len(runs) == 2 and all(r["status"] == "completed" for r in runs.values())


@pytest.mark.skipif(_slurm_ready() is not None, reason=str(_slurm_ready()))
def test_a_cancelled_slurm_job_fails_the_sweep_instead_of_hanging(tmp_path, data_cache):
    proc = subprocess.Popen([sys.executable, "-m", "experiments.train", "-m", "experiment=debug",
                             f"results_dir={tmp_path}", f"data.cache_dir={data_cache}", "hydra/launcher=slurm",
                             "hydra.launcher.partition=debug", "budget.flops=3e11", "allocation.size_factor=1",
                             "threads=1", *KILLABLE],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    # cancel the job once it is training (a ~20 s run), so the cancellation cannot miss it
    assert _wait_for(lambda: any((tmp_path / "debug").glob("*/metrics.jsonl")), 120), "the SLURM job never started"
    jobs = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    assert jobs, "no SLURM job in the queue"
    subprocess.run(["scancel", *jobs], check=True)
    out, _ = proc.communicate(timeout=120)  # the launcher must notice the cancellation, not wait forever
    assert proc.returncode != 0 and "CANCELLED" in out.upper(), out[-2000:]
    assert not list((tmp_path / "debug").glob("*/summary.json"))


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_only_the_ledgers_of_dead_local_sweeps_are_reported_and_cleared(tmp_path, capsys, monkeypatch):
    """Left alone: a live sweep's ledger (this test's own pid), one another host wrote, one of a launcher whose
    jobs outlive the sweep (submitit: no tag), and one of another pid namespace. Reported once, however many
    sweeps look: a dead sweep's, and one whose pid now belongs to a process started after it (reused)."""
    import socket

    from experiments import train as cli

    monkeypatch.setattr(socket, "gethostname", lambda: "node-01.a-b")  # dashes in the host name
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now, ns = int(time.time()), cli._pid_namespace()
    rows = json.dumps({"run": "r1", "status": "completed"}) + "\n" + json.dumps(
        {"run": "r2", "status": "failed", "error": "boom"}) + "\n"
    names = {"dead": f"node-01.a-b-{dead.pid}-{now}.local-{ns}",
             "reused": f"node-01.a-b-{os.getpid()}-{now - 10 ** 6}.local-{ns}",  # this pid, started long after
             "alive": f"node-01.a-b-{os.getpid()}-{now}.local-{ns}",
             "elsewhere": f"node-02-{dead.pid}-{now}.local-{ns}",
             "submitit": f"node-01.a-b-{dead.pid}-{now}",
             "other namespace": f"node-01.a-b-{dead.pid}-{now}.local-{ns + 1}"}
    for name in names.values():
        (tmp_path / f"{name}.jsonl").write_text(rows)
    (tmp_path / f"{names['dead']}.jsonl.stop").write_text("SIGTERM")
    # stop markers whose ledger was never made: a dead local sweep's goes, another namespace's stays
    (tmp_path / f"node-01.a-b-{dead.pid}-{now + 1}.local-{ns}.jsonl.stop").write_text("SIGTERM")
    (tmp_path / f"node-01.a-b-{dead.pid}-{now + 1}.local-{ns + 1}.jsonl.stop").write_text("SIGTERM")
    cli.report_abandoned(tmp_path)
    cli.report_abandoned(tmp_path)  # a second sweep finds nothing left to report
    err = capsys.readouterr().err
    assert err.count("an earlier sweep") == 2 and f"(pid {dead.pid}," in err and f"(pid {os.getpid()}," in err
    assert err.count("its jobs had recorded: 1 completed, 1 failed (r2: boom)") == 2
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*(f"{names[w]}.jsonl" for w in ("alive", "elsewhere", "submitit", "other namespace")),
                           f"node-01.a-b-{dead.pid}-{now + 1}.local-{ns + 1}.jsonl.stop"])
    assert cli.ledger_path(tmp_path, "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
                           ).name.endswith(f".local-{ns}.jsonl")
    assert ".local-" not in cli.ledger_path(
        tmp_path, "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher").name


def test_killed_sweep_relaunched_skips_completed_runs_and_resumes_the_interrupted_one(tmp_path, data_cache):
    args = ["experiment=debug", "allocation.size_factor=1,2,4", "checkpoint.every_steps=100", "threads=1",
            "hydra/launcher=basic", *KILLABLE, f"data.cache_dir={data_cache}"]
    sweep(*args, "results_dir=whole", cwd=tmp_path)
    cut = tmp_path / "cut" / "debug"
    proc = subprocess.Popen([sys.executable, "-m", "experiments.train", "-m", *args, "results_dir=cut"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
                            start_new_session=True)
    first, second = (cut / ",".join(sorted([f"allocation.size_factor={f}", *KILLABLE])) for f in (1, 2))
    assert _wait_for(lambda: (first / "summary.json").exists() and (second / "checkpoint.pt").exists(), 120)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (second / "summary.json").exists(), "the second run finished before the kill: lengthen it"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in first.iterdir()}
    abandoned = list((tmp_path / "cut" / ".sweeps").glob("*.jsonl"))  # the killed sweep never read its ledger
    assert len(abandoned) == 1
    relaunch = sweep(*args, "results_dir=cut", cwd=tmp_path)
    assert "completed already, skipping" in relaunch.stderr and "resuming at step" in relaunch.stderr
    # the relaunch says what the killed sweep's jobs had recorded (the first run), and clears its ledger
    assert (f"an earlier sweep in this results dir (pid {proc.pid}," in relaunch.stderr
            and "its jobs had recorded: 1 completed, 0 failed." in relaunch.stderr), relaunch.stderr
    assert not list((tmp_path / "cut" / ".sweeps").iterdir())
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in first.iterdir()} == before
    whole, again = summaries(tmp_path / "whole" / "debug"), summaries(cut)
    assert sorted(whole) == sorted(again) and len(whole) == 3
    for name in whole:
        for key in ("steps", "tokens", "params"):
            assert again[name][key] == whole[name][key]
        for key in ("final_train_loss", "final_val_loss"):
            assert again[name][key] == pytest.approx(whole[name][key], abs=1e-5)
