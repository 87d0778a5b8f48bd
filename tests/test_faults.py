"""Faults users meet on shared machines, injected one by one: a second writer, an interrupt, a killed sweep,
damaged files, unwritable places, a sweep with a failed job. Each asserts that nothing completed is lost, that
the message is one line (no traceback), and that a resumed run matches an uninterrupted one."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from experiments import trainer
from scaling.errors import ScalingError
from scaling.rundir import CHECKPOINT, CONFIG, METRICS, SUMMARY, RunLock, RunLocked, read_metrics
from tests.conftest import BRIEF, KILLABLE

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
RUN = ("data=tiny", "budget.flops=3e10", "log_every_steps=5", "threads=1", *BRIEF)  # 191 steps of 13x128


def command(*args, cwd, module="experiments.train", timeout=300):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    return lines[-1]


def curve(run_dir: Path) -> list[tuple]:
    """What a run computed, without the timings (tokens/s and elapsed differ from run to run)."""
    return [(r["step"], r["tokens"], r["train_loss"], r.get("val_loss")) for r in read_metrics(run_dir)]


def same_curve(a: list[tuple], b: list[tuple]) -> None:
    assert [r[:2] for r in a] == [r[:2] for r in b]  # the same steps, none missing or repeated
    assert [r[2] for r in a] == pytest.approx([r[2] for r in b], abs=1e-5)
    assert [r[3] for r in a if r[3] is not None] == pytest.approx([r[3] for r in b if r[3] is not None], abs=1e-5)


def snapshot(run_dir: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_cache):
    """An uninterrupted run of RUN: its curve and summary."""
    from hydra import compose, initialize_config_dir

    import experiments.config  # noqa: F401  (registers the schema)

    out = tmp_path_factory.mktemp("reference")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"data.cache_dir={data_cache}", f"results_dir={out}",
                                                       "progress=false", *RUN])
    summary = trainer.train(cfg, out / "run")
    return curve(out / "run"), summary


def stop_at(monkeypatch, step: int, signum=signal.SIGTERM) -> None:
    """Deliver `signum` (as the handler would record it) once the run has trained `step` steps."""
    original = trainer.train_step

    def train_step(run, fwd, lr):
        loss = original(run, fwd, lr)
        if run.step == step:
            run.stop.signum = signum
        return loss

    monkeypatch.setattr(trainer, "train_step", train_step)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, data_cache):
    """A run of RUN stopped by SIGTERM at step 137 (between log points, logged every 5): checkpoint and metrics on
    disk, no summary; with its config. Trained once: each test damages or resumes its own copy."""
    from hydra import compose, initialize_config_dir

    out = tmp_path_factory.mktemp("interrupted")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"data.cache_dir={data_cache}", f"results_dir={out}",
                                                       "progress=false", *RUN])
    with pytest.MonkeyPatch.context() as m:
        stop_at(m, 137)
        with pytest.raises(trainer.RunInterrupted) as stopped:
            trainer.train(cfg, out / "run")
    assert stopped.value.step == 137 and (out / "run" / CHECKPOINT).exists() and not (out / "run" / SUMMARY).exists()
    return cfg, out / "run"


def interrupted_run(interrupted, run_dir: Path):
    """A copy of the interrupted run at `run_dir` (its files byte for byte, times kept); the config to resume it."""
    cfg, source = interrupted
    shutil.copytree(source, run_dir)
    return cfg


# --- one writer per run directory -------------------------------------------------------------------------------

def test_a_run_directory_has_one_writer_and_the_lock_dies_with_its_process(tmp_path):
    first = RunLock(tmp_path).acquire()
    with pytest.raises(RunLocked, match=f"pid {os.getpid()} on "):
        RunLock(tmp_path).acquire()
    first.release()
    RunLock(tmp_path).acquire().release()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from scaling.rundir import RunLock; "
                               f"RunLock({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
                              env=ENV, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLocked, match=f"pid {holder.pid} "):
        RunLock(tmp_path).acquire()
    holder.kill()  # kill -9: the kernel drops the flock with the process
    holder.wait()
    RunLock(tmp_path).acquire().release()


def test_without_flock_the_lock_file_is_exclusive_and_a_dead_holders_is_taken_over(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    first = RunLock(tmp_path).acquire()
    with pytest.raises(RunLocked, match=f"pid {os.getpid()} "):
        RunLock(tmp_path).acquire()
    first.release()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename,
                                                "since": time.time()}))
    with pytest.warns(UserWarning, match="taking over"):
        RunLock(tmp_path).acquire().release()


def test_a_second_scaling_train_on_a_busy_run_is_refused_and_changes_nothing(interrupted, tmp_path, data_cache):
    run_dir = tmp_path / "results" / "default" / "busy"
    interrupted_run(interrupted, run_dir)
    before = snapshot(run_dir)
    with RunLock(run_dir):  # the first writer, still at work
        proc = command(*RUN, f"data.cache_dir={data_cache}", f"results_dir={tmp_path / 'results'}",
                       f"hydra.run.dir={run_dir}", cwd=tmp_path)
        after = snapshot(run_dir)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith("scaling-train: error:") and f"pid {os.getpid()}" in line, proc.stderr
    before.pop(".lock"), after.pop(".lock")  # the holder's own record
    assert after == before


# --- interrupts -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_a_checkpoint_and_exits_with_one_line_and_the_rerun_matches(tmp_path, data_cache, reference,
                                                                                  signum):
    args = [*RUN, f"data.cache_dir={data_cache}", "results_dir=out", "checkpoint.every_minutes=60"]
    proc = subprocess.Popen([sys.executable, "-m", "experiments.train", *args], cwd=tmp_path, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = tmp_path / "out" / "default"
    deadline = time.time() + 120
    while time.time() < deadline and not any(len(read_metrics(p)) >= 4 for p in run_dir.glob("*/")):
        time.sleep(0.02)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    run_dir = next(run_dir.glob("*/"))
    assert proc.returncode == 128 + signum, stderr
    line = one_line(stderr)
    assert f"stopped by {signal.Signals(signum).name} at step" in line and "rerun" in line, stderr
    assert (run_dir / CHECKPOINT).exists() and not (run_dir / SUMMARY).exists(), "it finished before the signal"
    rerun = command(*args, cwd=tmp_path)
    assert rerun.returncode == 0 and "resuming at step" in rerun.stderr, rerun.stderr
    same_curve(curve(run_dir), reference[0])


def test_a_checkpoint_between_log_points_resumes_the_same_averages(interrupted, tmp_path, reference):
    run_dir = tmp_path / "run"
    cfg = interrupted_run(interrupted, run_dir)  # logs every 5 steps: 136 < 137 < 140
    assert trainer.train(cfg, run_dir)["status"] == "completed"
    same_curve(curve(run_dir), reference[0])


# --- damaged files ----------------------------------------------------------------------------------------------

DAMAGE = {
    "truncated checkpoint": (CHECKPOINT, lambda b: b[: len(b) // 2]),
    "empty checkpoint": (CHECKPOINT, lambda b: b""),
    "garbage checkpoint": (CHECKPOINT, lambda b: os.urandom(4096)),
    "truncated metrics": (METRICS, lambda b: b"".join(b.splitlines(keepends=True)[:3])),
    "garbled metrics line": (METRICS, lambda b: b.replace(b'"step": 50,', b'"step": 5#,', 1)),
    "undecodable metrics line": (METRICS, lambda b: b.replace(b'"step": 50,', b'"step": \xff\xfe0,', 1)),
    "deleted metrics": (METRICS, None),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_file_is_named_moved_aside_and_the_run_ends_sound(interrupted, tmp_path, reference, case):
    name, damage = DAMAGE[case]
    run_dir = tmp_path / "run"
    cfg = interrupted_run(interrupted, run_dir)
    damaged = None if damage is None else damage((run_dir / name).read_bytes())
    if damaged is None:
        (run_dir / name).unlink()
    else:
        (run_dir / name).write_bytes(damaged)
    with pytest.warns(UserWarning) as caught:
        summary = trainer.train(cfg, run_dir)
    notes = [str(w.message) for w in caught if "moved aside" in str(w.message)]
    assert len(notes) == 1 and "\n" not in notes[0] and name in notes[0], [str(w.message) for w in caught]
    assert summary["status"] == "completed"
    same_curve(curve(run_dir), reference[0])
    if damaged is not None:  # never deleted: the damaged bytes are kept beside the run
        kept = list(run_dir.glob(f"{name}.damaged-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == damaged


def test_a_curve_with_no_checkpoint_to_resume_it_is_kept_aside_not_written_over(interrupted, tmp_path, reference):
    """A log and no checkpoint: a run killed before its first checkpoint, or a completed run with
    checkpoint.keep=false whose summary was lost. The run starts over; the earlier curve is moved aside (on a
    machine that does not repeat a run bit for bit it is the only record of that training)."""
    run_dir = tmp_path / "run"
    cfg = interrupted_run(interrupted, run_dir)
    (run_dir / CHECKPOINT).unlink()
    earlier = (run_dir / METRICS).read_bytes()
    with pytest.warns(UserWarning) as caught:
        summary = trainer.train(cfg, run_dir)
    notes = [str(w.message) for w in caught if "moved aside" in str(w.message)]
    assert len(notes) == 1 and f"{METRICS} holds an earlier start's curve" in notes[0], notes
    assert summary["status"] == "completed"
    same_curve(curve(run_dir), reference[0])
    (kept,) = run_dir.glob(f"{METRICS}.earlier-*")
    assert kept.read_bytes() == earlier


def test_a_run_on_text_that_has_changed_since_is_refused_not_skipped_or_resumed(tmp_path, monkeypatch):
    """data=text: the same configuration on a file whose contents changed is another run. A completed run is not
    skipped as if it were this one's, and a checkpoint is not resumed on the new tokens."""
    from hydra import compose, initialize_config_dir

    text = tmp_path / "book.txt"
    lines = [f"Line {i}: the quick brown fox jumps over the lazy dog, and the dog sleeps on.\n" for i in range(400)]
    text.write_text("".join(lines))
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"data.cache_dir={tmp_path / 'cache'}", f"results_dir={tmp_path / 'results'}", "progress=false",
            "data=text", f"data.paths=[{text}]", *RUN[1:]])

    def rewrite(old: str, new: str) -> None:  # the same length: only the contents differ
        text.write_text(text.read_text().replace(old, new))
        monkeypatch.setattr(trainer, "_CHECKED", {})  # a new process would check the corpus again

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the small file is read for several epochs
        done = trainer.train(cfg, tmp_path / "done")
        assert done["status"] == "completed" and done["data"]["tokens_sha256"]
        rewrite("fox", "cat")
        with pytest.raises(ScalingError, match="holds a completed run of this configuration on other tokens"):
            trainer.train(cfg, tmp_path / "done")
        with pytest.MonkeyPatch.context() as m:
            stop_at(m, 50)
            with pytest.raises(trainer.RunInterrupted):
                trainer.train(cfg, tmp_path / "cut")
        rewrite("dog", "cow")
        with pytest.raises(ScalingError, match="was trained on other tokens than the corpus now gives"):
            trainer.train(cfg, tmp_path / "cut")
        assert (tmp_path / "cut" / CHECKPOINT).exists()  # refused, not moved: it is that run's state


def test_a_diverged_run_is_final_a_rerun_skips_it_and_touches_nothing(tmp_path, data_cache, capsys):
    """A diverged run would diverge again at the same step (its training is deterministic): a relaunched sweep
    skips it as it skips a completed one, and its curve is neither trained again nor moved aside."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"data.cache_dir={data_cache}", f"results_dir={tmp_path}", "progress=false", *RUN,
            "+arch=llama_post", "optim.lr_scale=5000"])
    run_dir = tmp_path / "run"
    assert trainer.train(cfg, run_dir)["status"] == "diverged"
    before = snapshot(run_dir)
    again = trainer.train(cfg, run_dir)
    assert again["status"] == "diverged" and snapshot(run_dir) == before
    assert f"{run_dir}: diverged already, skipping" in capsys.readouterr().err


def test_a_checkpoint_that_cannot_be_written_is_one_line_and_keeps_the_last(tmp_path, monkeypatch):
    """torch.save reports a full disk as a RuntimeError from its zip writer, not an OSError."""
    import torch

    from experiments import checkpoint

    model = torch.nn.Linear(4, 4)
    optimizer = torch.optim.AdamW(model.parameters())
    checkpoint.save(tmp_path, model=model, optimizer=optimizer, step=10, elapsed=1.0, fingerprint="f")
    before = (tmp_path / CHECKPOINT).read_bytes()

    def full_disk(state, path):
        Path(path).write_bytes(b"PK partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4096 vs 4000")

    monkeypatch.setattr(checkpoint.torch, "save", full_disk)
    with pytest.raises(ScalingError, match=re.escape(f"cannot write {tmp_path / CHECKPOINT}: ")) as err:
        checkpoint.save(tmp_path, model=model, optimizer=optimizer, step=20, elapsed=2.0, fingerprint="f")
    assert "\n" not in str(err.value) and "(is the disk full?); the last checkpoint is kept" in str(err.value)
    assert (tmp_path / CHECKPOINT).read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]


def test_a_metrics_file_that_is_a_directory_is_moved_aside_and_the_run_ends_sound(interrupted, tmp_path, reference):
    run_dir = tmp_path / "run"
    cfg = interrupted_run(interrupted, run_dir)
    (run_dir / METRICS).unlink()
    (run_dir / METRICS).mkdir()
    (run_dir / METRICS / "inside").write_text("kept")
    with pytest.warns(UserWarning, match="moved aside"):
        summary = trainer.train(cfg, run_dir)
    assert summary["status"] == "completed"
    same_curve(curve(run_dir), reference[0])
    (kept,) = run_dir.glob(f"{METRICS}.damaged-*")
    assert (kept / "inside").read_text() == "kept"


def test_a_torn_undecodable_last_metrics_line_is_dropped_and_the_run_resumes(interrupted, tmp_path, reference):
    """Bytes that are not UTF-8 after the last complete line (a write cut off by a crash): a partial last
    line like any other, so the run resumes from its checkpoint, nothing moved aside."""
    run_dir = tmp_path / "run"
    cfg = interrupted_run(interrupted, run_dir)
    with (run_dir / METRICS).open("ab") as f:
        f.write(b"\xff\xfe garbage\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all: nothing damaged, nothing moved
        summary = trainer.train(cfg, run_dir)
    assert summary["status"] == "completed" and not list(run_dir.glob("*.damaged-*"))
    same_curve(curve(run_dir), reference[0])


def test_a_deleted_or_garbled_config_is_written_again(interrupted, monkeypatch, tmp_path):
    run_dir = tmp_path / "run"
    cfg = interrupted_run(interrupted, run_dir)
    written = (run_dir / CONFIG).read_text()
    (run_dir / CONFIG).unlink()
    with monkeypatch.context() as m:
        stop_at(m, 150)
        with pytest.raises(trainer.RunInterrupted):
            trainer.train(cfg, run_dir)
    assert (run_dir / CONFIG).read_text() == written
    for n, garbage in enumerate((": [ not yaml", "::: not yaml [", "just a string\n"), start=1):
        (run_dir / CONFIG).write_text(garbage)
        with monkeypatch.context() as m:
            stop_at(m, 150 + 10 * n)
            with pytest.warns(UserWarning, match=f"{CONFIG} is unreadable"), pytest.raises(trainer.RunInterrupted):
                trainer.train(cfg, run_dir)
        assert (run_dir / CONFIG).read_text() == written
    assert len(list(run_dir.glob(f"{CONFIG}.damaged-*"))) == 3


def test_an_unreadable_summary_is_moved_aside_and_the_run_finished_again(compose, tmp_path, reference):
    run_dir = tmp_path / "run"
    cfg = compose(*RUN)
    trainer.train(cfg, run_dir)
    (run_dir / SUMMARY).write_text('{"status": "compl')
    with pytest.warns(UserWarning, match=f"{SUMMARY} is unreadable"):
        summary = trainer.train(cfg, run_dir)
    assert summary["status"] == "completed" and json.loads((run_dir / SUMMARY).read_text())["status"] == "completed"
    assert summary["tokens_per_second"] > 0  # carried by the checkpoint, not this process's zero steps
    same_curve(curve(run_dir), reference[0])


# --- unwritable places ------------------------------------------------------------------------------------------

def test_an_unwritable_results_dir_is_one_line_before_anything_starts(tmp_path, data_cache):
    proc = command(*RUN, f"data.cache_dir={data_cache}", "results_dir=/proc/no-results-here", cwd=tmp_path)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith("scaling-train: error: cannot write results under /proc/no-results-here"), proc.stderr
    assert "(/proc: it takes no new files)" in line  # not the OS's "No such file or directory" of a dir that exists


@pytest.mark.parametrize("target", ["dir", "/sys/fit.json"])
def test_fit_out_to_a_directory_or_an_unwritable_place_is_one_line_naming_it(tmp_path, target):
    out = tmp_path if target == "dir" else Path(target)
    proc = command("fit", str(ROOT / "tests" / "data" / "chinchilla_svg_extracted_data.csv"), "--params-col",
                   "Model Size", "--flops-col", "Training FLOP", "--bootstrap", "0", "--out", str(out),
                   module="scaling.cli", cwd=tmp_path)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert line.startswith(f"scaling fit: error: cannot write {out}"), proc.stderr
    assert not list(tmp_path.glob(".*.tmp"))


# --- sweeps -----------------------------------------------------------------------------------------------------

def test_results_are_readable_like_any_file_the_user_writes(compose, tmp_path):
    trainer.train(compose(*RUN), tmp_path / "run")
    umask = os.umask(0)
    os.umask(umask)
    for name in (SUMMARY, CONFIG, METRICS, CHECKPOINT):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_a_sweep_with_a_misspelt_launcher_is_one_line_before_any_job(tmp_path, data_cache):
    proc = command("-m", "experiment=debug", "hydra/launcher=nosuch", "allocation.size_factor=1,2",
                   f"data.cache_dir={data_cache}", f"results_dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert one_line(proc.stderr).startswith("scaling-train: error: unknown hydra/launcher 'nosuch'")
    assert not (tmp_path / "debug").exists()


def test_a_sweep_with_a_failed_job_ends_with_its_count_and_a_nonzero_exit(tmp_path, data_cache):
    proc = command("-m", "experiment=debug", "allocation.size_factor=1", "optim.lr_scale=1,-1",
                   "hydra/launcher=basic", f"data.cache_dir={data_cache}", f"results_dir={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    line = one_line(proc.stderr)
    assert line.startswith("scaling-train: sweep: 1 completed, 1 failed (") and "optim.lr_scale=-1" in line, line
    assert not list((tmp_path / ".sweeps").iterdir())  # the ledger is read and removed
    ok = command("-m", "experiment=debug", "allocation.size_factor=1", "hydra/launcher=basic",
                 f"data.cache_dir={data_cache}", f"results_dir={tmp_path}", cwd=tmp_path)
    assert ok.returncode == 0 and one_line(ok.stderr) == "scaling-train: sweep: 1 completed, 0 failed"


def test_killing_a_joblib_sweep_stops_its_workers_with_their_checkpoints(tmp_path, data_cache):
    """kill -9 of the sweep's process: its workers notice, save their checkpoints and exit (no orphans left
    training under init); the relaunch then resumes them."""
    args = ["-m", "experiment=debug", "budget.flops=1e11", "allocation.size_factor=1,2", "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2", "checkpoint.every_minutes=60", *KILLABLE, f"data.cache_dir={data_cache}",
            f"results_dir={tmp_path}"]
    sweep = subprocess.Popen([sys.executable, "-m", "experiments.train", *args], cwd=tmp_path, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tmp_path / "debug"
    deadline = time.time() + 180
    while time.time() < deadline and sum(len(read_metrics(p)) >= 3 for p in runs.glob("*/")) < 2:
        time.sleep(0.05)
    workers = {p: json.loads((p / ".lock").read_text())["pid"] for p in runs.glob("*/")}
    assert len(workers) == 2 and sweep.pid not in workers.values()
    sweep.kill()
    sweep.wait()
    deadline = time.time() + 60
    alive = set(workers.values())
    while alive and time.time() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive.discard(pid)
        time.sleep(0.1)
    assert not alive, f"orphaned workers still running: {alive}"
    assert all((p / CHECKPOINT).exists() and not (p / SUMMARY).exists() for p in workers), "saved, not finished"
    relaunch = command(*args, cwd=tmp_path)
    assert relaunch.returncode == 0 and relaunch.stderr.count("resuming at step") == 2, relaunch.stderr[-2000:]


STOPS = {  # how a sweep is stopped: jobs at once, the signal, sent to the process group or to the sweep's pid
    "SIGTERM to the group, jobs in the sweep's process": (1, signal.SIGTERM, "group"),
    "SIGTERM to the sweep's pid alone, jobs in workers": (2, signal.SIGTERM, "pid"),
    "Ctrl-C to the group, jobs in workers": (2, signal.SIGINT, "group"),
}


@pytest.mark.parametrize("how", sorted(STOPS))
def test_a_stopped_sweep_saves_its_running_jobs_and_starts_no_queued_one(tmp_path, data_cache, how):
    """`kill -TERM -PGID` (a time limit, `timeout`, a scheduler), `kill PID`, Ctrl-C: the running jobs save their
    checkpoints and no queued job starts after them. joblib with n_jobs=1 runs the jobs in the sweep's own
    process, one after another; with more, workers have their next job handed to them ahead of time, and a
    `kill PID` reaches only the sweep's process. A job started after the signal would train on with no signal of
    its own. The relaunch finishes them all (checked once: resuming is the signal test's subject)."""
    n_jobs, signum, target = STOPS[how]
    jobs = n_jobs + 1  # one queued behind the running ones
    args = ["-m", "experiment=debug", "budget.flops=1e11", f"allocation.size_factor={','.join('124'[:jobs])}",
            "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={n_jobs}", "checkpoint.every_minutes=60", *KILLABLE,
            f"data.cache_dir={data_cache}", f"results_dir={tmp_path}"]
    sweep = subprocess.Popen([sys.executable, "-m", "experiments.train", *args], cwd=tmp_path, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    runs = tmp_path / "debug"
    deadline = time.time() + 180
    while time.time() < deadline and sum(len(read_metrics(p)) >= 3 for p in runs.glob("*/")) < n_jobs:
        time.sleep(0.05)
    os.killpg(sweep.pid, signum) if target == "group" else os.kill(sweep.pid, signum)
    _, stderr = sweep.communicate(timeout=120)
    name = signal.Signals(signum).name
    assert sweep.returncode == 128 + signum, stderr[-2000:]
    assert "Traceback" not in stderr, stderr
    started = [p for p in runs.glob("*/") if (p / METRICS).exists()]
    assert len(started) == n_jobs, f"{len(started)} jobs trained, {n_jobs} were running at the signal"
    assert all((p / CHECKPOINT).exists() and not (p / SUMMARY).exists() for p in started), "saved, not finished"
    assert stderr.count(f"not started, the sweep was stopped by {name}") == 1, stderr[-2000:]
    assert f"sweep: 0 completed, {jobs} interrupted, 0 failed" in stderr
    assert not list((tmp_path / ".sweeps").iterdir())  # ledger and stop marker gone
    if n_jobs > 1:
        return
    relaunch = command(*args, cwd=tmp_path)
    assert relaunch.returncode == 0, relaunch.stderr[-2000:]
    assert relaunch.stderr.count("resuming at step") == n_jobs, relaunch.stderr[-2000:]
    assert one_line(relaunch.stderr).startswith(f"scaling-train: sweep: {jobs} completed, 0 failed")


def test_a_sweep_stopped_while_its_workers_start_says_so_in_one_line(tmp_path, data_cache):
    """A SIGTERM to the group before any worker runs a job: the workers die of it (nothing of the harness runs in
    them yet), which joblib raises as an error; the sweep says what happened, with no traceback, and exits 143."""
    args = ["-m", "experiment=debug", "allocation.size_factor=1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
            f"data.cache_dir={data_cache}", f"results_dir={tmp_path}"]
    sweep = subprocess.Popen([sys.executable, "-m", "experiments.train", *args], cwd=tmp_path, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def workers() -> list[str]:  # the sweep's loky workers, by their command lines (Linux /proc)
        found = []
        for children in Path(f"/proc/{sweep.pid}/task").glob("*/children"):
            for pid in children.read_text().split():
                cmdline = Path(f"/proc/{pid}/cmdline")
                if cmdline.exists() and b"popen_loky" in cmdline.read_bytes():
                    found.append(pid)
        return found

    deadline = time.time() + 120
    while time.time() < deadline and not workers():  # spawned: they take seconds to import torch and take a job
        time.sleep(0.01)
    os.killpg(sweep.pid, signal.SIGTERM)
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "Traceback" not in stderr, stderr
    assert not list((tmp_path / ".sweeps").iterdir())
    assert not any((p / METRICS).exists() for p in (tmp_path / "debug").glob("*/"))


def test_fit_refuses_to_write_through_a_scaling_error_not_a_traceback(tmp_path):
    from scaling.atomic import atomic_write_text

    with pytest.raises(ScalingError, match="it is a directory"):
        atomic_write_text(tmp_path, "x")


def test_a_sweep_job_refused_on_another_configurations_run_leaves_its_result_alone(tmp_path, data_cache):
    """Relaunching with a changed default keeps the run name: the job is refused (counted as failed) and the
    completed run's summary is not overwritten by the failure."""
    common = ["-m", *RUN, "hydra/launcher=basic", f"hydra.sweep.dir={tmp_path}/sweep", "hydra.sweep.subdir=same",
              f"data.cache_dir={data_cache}", f"results_dir={tmp_path}"]
    assert command(*common, "seed=1", cwd=tmp_path).returncode == 0
    summary = (tmp_path / "sweep" / "same" / SUMMARY).read_bytes()
    again = command(*common, "seed=2", cwd=tmp_path)
    assert again.returncode == 1 and "another configuration" in again.stderr
    assert one_line(again.stderr).startswith("scaling-train: sweep: 0 completed, 1 failed")
    assert (tmp_path / "sweep" / "same" / SUMMARY).read_bytes() == summary
