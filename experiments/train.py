"""`scaling-train` (also `python -m experiments.train`): the command line of the harness. It composes the Hydra
config, refuses bad input with one line before anything is made, gives each sweep job its share of the machine,
and hands the run to `experiments.trainer`.

    scaling-train model=llama allocation=chinchilla budget.flops=3e11 data=tiny
    scaling-train -m experiment=isoflop_cpu                      # a sweep (Hydra multirun)

Results go to results/<experiment_name>/<run_name>/ (the files are `scaling.rundir`'s). Exit codes: 0 done,
1 a run that did not complete (diverged) or a sweep with a failed job, 2 bad input, 128 + signal number for a
run stopped by SIGINT/SIGTERM (its checkpoint saved: rerun to resume).

A sweep ends with one line: "sweep: N completed, M failed (names: why)". Its jobs report to a ledger file the
launcher reads at the end (`<results_dir>/.sweeps/`, on the results filesystem so SLURM jobs on other nodes
reach it). Under joblib, each worker watches its parent: if the sweep's process dies (kill -9), the worker
saves its checkpoint and exits instead of training on as an orphan; the next sweep in that results dir says
what the dead one's jobs had recorded, and removes its ledger (`report_abandoned`: basic and joblib sweeps
only, whose jobs die with them).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from experiments.config import CONF_DIR, TrainConfig, register
from experiments.trainer import RunInterrupted, check, check_settings, note_stop, train
from scaling.errors import ScalingError, first_line
from scaling.rundir import CHECKPOINT, SUMMARY, RunLocked, write_summary

LEDGER_ENV = "SCALING_SWEEP_LEDGER"  # the file a sweep's jobs append their outcome to
SWEEP_PID_ENV = "SCALING_SWEEP_PID"  # host:pid of the sweep's own process (basic and 1-job joblib run jobs in it)

register()


def share_resources(cfg: DictConfig) -> None:
    """Give each sweep job its share of the machine: under joblib, cpu_count / n_jobs torch threads (two
    processes with torch's default threads each on 2 cores run up to 20x slower) and, with several GPUs,
    GPU (job number mod GPU count); under submitit's local launcher, which starts every job at once, the
    launcher's cpus_per_task or else one thread; under SLURM, the task's CPUs. Explicit settings are kept."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return
    target = str(hc.launcher.get("_target_", ""))
    with open_dict(cfg):
        if "Joblib" in target:
            n_jobs = hc.launcher.n_jobs if hc.launcher.n_jobs > 0 else os.cpu_count()
            if cfg.threads is None:
                cfg.threads = max(1, (os.cpu_count() or 1) // n_jobs)
            gpus = torch.cuda.device_count()
            if cfg.device == "auto" and gpus > 1:
                global _GPU_SLOT
                if _GPU_SLOT is not None:  # this worker's previous job is over
                    _GPU_SLOT.close()
                index, _GPU_SLOT = claim_gpu(gpus, -(-n_jobs // gpus), GPU_SLOTS)
                cfg.device = f"cuda:{hc.job.num % gpus if index is None else index}"
        elif "LocalLauncher" in target and cfg.threads is None:
            cfg.threads = hc.launcher.get("cpus_per_task") or 1
        elif cfg.threads is None and os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
            cfg.threads = int(os.environ["SLURM_CPUS_PER_TASK"])
    if "SlurmLauncher" in target:
        slurm_world()


GPU_SLOTS = Path(tempfile.gettempdir()) / f"scaling-gpu-slots-{os.getuid() if hasattr(os, 'getuid') else 0}"
_GPU_SLOT = None  # the slot this worker process holds (one job at a time)


def claim_gpu(gpus: int, per_gpu: int, slot_dir: Path) -> tuple[int | None, object | None]:
    """A GPU for a sweep job that runs beside others on this host: the first free slot of `per_gpu` per GPU,
    slots filled evenly across GPUs (k jobs per GPU from hydra.launcher.n_jobs = k x GPUs, whichever jobs
    finish first). A slot is an exclusive flock on a file, held until the job's worker closes it or dies, so
    a slow job never gets a second job stacked on its GPU while another GPU idles. GPUs are named as
    CUDA_VISIBLE_DEVICES names them, so sweeps with different visible sets do not collide. Returns (GPU
    index, open slot file), or (None, None) where every slot is taken or locks are unavailable."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): the caller maps jobs by number
        return None, None
    names = (os.environ.get("CUDA_VISIBLE_DEVICES") or "").split(",")
    with contextlib.suppress(OSError):
        slot_dir.mkdir(parents=True, exist_ok=True)
        for slot in range(per_gpu):
            for gpu in range(gpus):
                name = names[gpu].strip() if gpu < len(names) and names[gpu].strip() else str(gpu)
                handle = open(slot_dir / f"{socket.gethostname()}-gpu{name}-slot{slot}", "a")  # noqa: SIM115
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return gpu, handle
                except OSError:
                    handle.close()
    return None, None


def slurm_world() -> None:
    """In a SLURM job of several tasks (hydra/launcher=slurm_ddp: tasks_per_node x nodes), make the tasks one
    DDP run: torch.distributed's variables (RANK, WORLD_SIZE, MASTER_ADDR, ...) from SLURM's, by submitit, with
    each task's CUDA_VISIBLE_DEVICES narrowed to its own GPU. A single task, or torchrun's variables, are left."""
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "RANK" not in os.environ:
        from submitit.helpers import TorchDistributedEnvironment

        TorchDistributedEnvironment().export()


def rank0() -> bool:
    """Whether this process speaks for its run: always, except ranks other than 0 of a DDP run."""
    return os.environ.get("RANK", "0") == "0"


def watch_parent(interval: float = 1.0) -> None:
    """In a sweep worker: when the process that launched it dies (its parent changes, e.g. to init after a
    kill -9 of the sweep), send ourselves SIGTERM, so the run saves its checkpoint and the worker exits instead
    of training on as an orphan that a relaunch would race."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def _stop_marker() -> Path | None:
    """Beside the sweep's ledger: written when the sweep's own process is stopped by a signal, so that jobs the
    launcher has queued (joblib hands each worker its next job ahead of time; the basic launcher runs them in
    turn) do not start after the running ones have saved their checkpoints."""
    path = os.environ.get(LEDGER_ENV)
    return Path(path + ".stop") if path else None


def _this_process() -> str:
    # with the host: a SLURM job inherits the sweep's environment and may have the same pid on its node
    return f"{socket.gethostname()}:{os.getpid()}"


def _in_sweep_process() -> bool:
    return os.environ.get(SWEEP_PID_ENV) == _this_process()


def _stop_sweep(signum: int) -> None:
    marker = _stop_marker()
    if marker is not None:
        with contextlib.suppress(OSError):
            marker.write_text(signal.Signals(signum).name)


def _sweep_stopped_by() -> str | None:
    marker = _stop_marker()
    try:
        return marker.read_text().strip() or "a signal" if marker is not None else None
    except OSError:
        return None


def _ledger(entry: dict) -> None:
    path = os.environ.get(LEDGER_ENV)
    if not path:
        return
    line = json.dumps(entry) + "\n"
    with contextlib.suppress(OSError):  # a missing ledger must not fail the job; the sweep then says so
        with open(path, "a") as f:  # one short append per job: atomic on local filesystems and NFS alike
            f.write(line)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_app(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    parent = os.getppid()
    share_resources(cfg)
    if multirun and "Joblib" in str(HydraConfig.get().launcher.get("_target_", "")):
        watch_parent()
        if not _in_sweep_process():
            # a worker: a SIGTERM while a job starts up or between jobs is noted (the run then stops at once, the
            # jobs queued behind it do not start) instead of killing the worker, which joblib reports as a crash
            signal.signal(signal.SIGTERM, _note_stop)
    warnings.showwarning = _show_warning
    if not rank0():  # under DDP, rank 0 speaks for the run
        warnings.simplefilter("ignore")
    outcome = {"run": run_dir.name, "status": "failed"}
    try:
        stopped_by = _sweep_stopped_by() if multirun else None
        if stopped_by:  # a job the launcher had queued before the sweep was stopped: leave it for the rerun
            print(f"scaling-train: {run_dir.name}: not started, the sweep was stopped by {stopped_by}",
                  file=sys.stderr)
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if Hydra made it and nothing was written
            outcome.update(status="interrupted", error=f"{stopped_by}, not started")
            return
        summary = train(cfg, run_dir)
        outcome["status"] = summary.get("status", "unknown")
    except RunLocked as err:  # someone else's run: touch nothing in its directory
        print(f"scaling-train: error: {err}", file=sys.stderr)
        outcome["error"] = str(err)
        if not multirun:
            sys.exit(2)
        return
    except RunInterrupted as err:
        print(f"scaling-train: {err}", file=sys.stderr)
        outcome.update(status="interrupted", error=signal.Signals(err.signum).name)
        if not multirun:
            sys.exit(128 + err.signum)
        if _in_sweep_process():  # the basic launcher (and joblib with one job at a time) runs jobs in this process
            if err.signum == signal.SIGINT:
                raise KeyboardInterrupt from None  # Ctrl-C of the sweep: stop it all
            _stop_sweep(err.signum)  # SIGTERM stops the sweep too: the next jobs do not start
        if os.getppid() != parent:  # orphaned (the sweep's process died): leave now, checkpoint saved
            _ledger(outcome)
            os._exit(128 + err.signum)
        # a job stopped on its own (kill, preemption): recorded as interrupted, the launcher goes on
        return
    except ScalingError as err:
        print(f"scaling-train: error: {err}", file=sys.stderr)
        outcome["error"] = str(err)
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # only if Hydra made it and nothing was written
        if not multirun:
            sys.exit(2)
        # one bad job must not stop the sweep: record it and go on, but never over a run's own files (a
        # completed run or a checkpoint of another configuration is someone's result)
        if rank0() and not any((run_dir / name).exists() for name in (SUMMARY, CHECKPOINT)):
            with contextlib.suppress(ScalingError):
                write_summary(run_dir, {"status": "failed", "error": str(err), "run_name": run_dir.name})
        return
    except Exception as err:
        if not multirun:
            raise  # a bug, not bad input: the traceback is what its reader needs
        # one crashed job must not stop the sweep: its traceback goes to error.log, the sweep goes on
        with contextlib.suppress(OSError):
            (run_dir / "error.log").write_text(traceback.format_exc())
        print(f"scaling-train: {run_dir.name}: {type(err).__name__}: {err} (traceback in {run_dir / 'error.log'})",
              file=sys.stderr)
        outcome["error"] = f"{type(err).__name__}: {err}"
        return
    finally:
        if multirun and rank0():  # one entry per run, not one per DDP rank
            _ledger(outcome)
    if summary.get("status") != "completed" and not multirun:
        sys.exit(1)


def _show_warning(message, *args, **kwargs) -> None:
    print(f"scaling-train: warning: {message}", file=sys.stderr)


def config_error(err: Exception) -> str:
    """One line for a Hydra/OmegaConf composition error."""
    from hydra.errors import MissingConfigException

    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        choices = f": choose one of {', '.join(err.options)}" if err.options else ""
        return f"unknown {group or 'config'} {option!r}{choices}"
    cause = err.__cause__ or err
    key = getattr(cause, "full_key", None)
    message = first_line(cause)
    return f"{key}: {message}" if key and key not in message else message or first_line(err)


def validate_sweep(overrides: list[str], found: dict | None = None) -> str | None:
    """Compose a sweep's first point, Hydra's own settings included (launcher, sweeper), so that a misspelt
    group or key is one line before any job starts; the jobs' values are checked by each job (one bad job must
    not stop the others). The error line, or None; `found["launcher"]` gets the launcher's class path."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        first, options = [], []
        for o in parsed:
            if o.value_type in (ValueType.GLOB_CHOICE_SWEEP, ValueType.INTERVAL_SWEEP):
                continue  # needs the config loader (glob) or is drawn by a sweeper (interval): Hydra checks it
            if o.is_sweep_override():
                values = list(o.sweep_string_iterator())
                first.append(f"{o.get_key_element()}={values[0]}")
                if (CONF_DIR / o.key_or_group.replace(".", "/")).is_dir():  # a config group: Hydra stops the whole
                    # sweep on an option it lacks, so each option is tried here, where the error is one line
                    options += [(len(first) - 1, f"{o.get_key_element()}={v}") for v in values[1:]]
            else:
                first.append(o.input_line)
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=first, return_hydra_config=True)
            for at, option in options:
                compose(config_name="config", overrides=[*first[:at], option, *first[at + 1:]])
        if found is not None:
            found["launcher"] = str(OmegaConf.select(cfg, "hydra.launcher._target_", default=""))
    except Exception as err:  # Hydra and OmegaConf raise many types; each becomes one line
        return config_error(err)
    try:  # before Hydra makes the sweep's directory, and once rather than in every job
        check_settings(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
    except ScalingError as err:
        return str(err)
    except OmegaConfBaseException as err:
        return config_error(err)
    return None


def validate_args(overrides: list[str]) -> str | None:
    """Compose and check a single run's overrides as the app will (the app reuses this check's result); the
    error line, or None if all is well."""
    from hydra import compose, initialize_config_dir

    task = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=task)
    except Exception as err:  # Hydra and OmegaConf raise many types; each becomes one line
        return config_error(err)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # recorded by check and replayed when the run reuses its result
            check(cfg)
    except ScalingError as err:
        return str(err)
    except OmegaConfBaseException as err:  # read when checked: a value left ??? or an interpolation that fails
        return config_error(err)
    return None


def _stopped_before_training(signum, _frame) -> None:
    print(f"scaling-train: stopped by {signal.Signals(signum).name} before training started; nothing to save",
          file=sys.stderr)
    sys.exit(128 + signum)


def _note_stop(signum, _frame) -> None:
    """A stop signal for this process (its next run starts stopped) and for the sweep (no queued job starts):
    a worker's SIGTERM handler, and the first half of the sweep process's."""
    note_stop(signum)
    _stop_sweep(signum)


def _child_processes() -> list[int]:
    """This process's children, from /proc (Linux; none found elsewhere)."""
    pids = []
    for path in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(pid) for pid in path.read_text().split()]
    return pids


def _sweep_signalled(signum, _frame) -> None:
    """SIGTERM or a first Ctrl-C to the sweep's own process: no new job starts (the marker), a job starting up in
    this process stops at once (note_stop), and running jobs save their checkpoints. SIGTERM goes on to the
    joblib workers: a `kill` of the process group reaches them anyway, a `kill PID` would not (joblib's resource
    tracker, also a child, ignores it). Ctrl-C reaches the workers from the terminal; a second one stops all at
    once."""
    if signum == signal.SIGINT:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    first = _sweep_stopped_by() is None
    _note_stop(signum, _frame)
    # a worker still starting up dies of the signal, which joblib raises as an error: let it reach main() (Hydra
    # would print its traceback and exit 1) to be reported in one line
    os.environ["HYDRA_FULL_ERROR"] = "1"
    if first:
        again = "; Ctrl-C again stops them at once" if signum == signal.SIGINT else ""
        print(f"scaling-train: stopped by {signal.Signals(signum).name}: running jobs save their checkpoints and "
              f"no new job starts{again}; rerun the same command to go on", file=sys.stderr)
        if signum == signal.SIGTERM:  # a second SIGINT would stop a worker's save half-way
            for pid in _child_processes():
                with contextlib.suppress(OSError):
                    os.kill(pid, signum)


def _results_dir(args: list[str]) -> Path:
    """results_dir as the command line sets it (the last `results_dir=` wins), else the schema's default."""
    given = [a.split("=", 1)[1] for a in args if a.startswith("results_dir=")]
    return Path(given[-1] if given else TrainConfig.results_dir).resolve()


def _read_ledger(ledger: Path) -> list[dict]:
    """The jobs' outcomes, one per line; the ledger is removed once read."""
    rows = []
    with contextlib.suppress(OSError):
        for line in ledger.read_text().splitlines():
            with contextlib.suppress(ValueError):
                rows.append(json.loads(line))
    with contextlib.suppress(OSError):
        ledger.unlink()
    return rows


def _outcomes(rows: list[dict]) -> tuple[str, bool]:
    """("N completed, M failed (names: why)", whether any job failed or was interrupted)."""
    counts = Counter(row.get("status", "unknown") for row in rows)
    bad = [r for r in rows if r.get("status") not in ("completed", "diverged")]
    parts = [f"{counts['completed']} completed"]
    parts += [f"{n} {status}" for status, n in sorted(counts.items()) if status not in ("completed", "failed")]
    parts.append(f"{counts['failed']} failed")
    names = "; ".join(f"{r.get('run')}: {r.get('error', r.get('status'))}" for r in bad)
    return ", ".join(parts) + (f" ({names})" if names else ""), bool(bad)


def sweep_report(ledger: Path) -> int:
    """Read the jobs' outcomes, print "sweep: N completed, M failed (...)" and return the exit code: 1 if any
    job failed or was interrupted, else 0."""
    line, bad = _outcomes(_read_ledger(ledger))
    print(f"scaling-train: sweep: {line}", file=sys.stderr)
    return 1 if bad else 0


# Launchers whose jobs run in the sweep's own process or in workers that stop when it dies (joblib's watch
# their parent): once such a sweep's process is gone, its ledger holds all it will ever hold. Jobs of submitit's
# launchers (local or SLURM) outlive it, so their ledgers are never taken for abandoned.
JOBS_DIE_WITH_THE_SWEEP = ("BasicLauncher", "JoblibLauncher")


def ledger_path(results_dir: Path, launcher: str) -> Path:
    """`<results_dir>/.sweeps/<host>-<pid>-<start>[.local-<pid namespace>].jsonl`; the tag marks a sweep whose
    jobs die with it (`JOBS_DIE_WITH_THE_SWEEP`), the only ledgers `report_abandoned` may read."""
    name = f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}"
    if launcher.endswith(JOBS_DIE_WITH_THE_SWEEP):
        name += f".local-{_pid_namespace()}"
    return results_dir / ".sweeps" / f"{name}.jsonl"


def _pid_namespace() -> int:
    """The inode of this process's pid namespace (containers on one host share its name, not their pids)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def report_abandoned(sweeps: Path) -> None:
    """The ledgers of sweeps that died before their report (kill -9, a crash of the machine): each is told in
    one line (what its jobs had recorded) and removed, with its stop marker (a marker whose ledger was never
    made goes too). Only those `_dead_local` takes; each is first renamed to a name of this sweep's, so two
    sweeps starting at once cannot both report it."""
    for ledger in sorted(sweeps.glob("*.local-*.jsonl")):
        dead = _dead_local(ledger.name)
        if dead is None:
            continue
        claimed = ledger.with_name(f"{ledger.name}.claimed-{os.getpid()}")
        try:
            ledger.rename(claimed)
        except OSError:  # another sweep claimed it first
            continue
        line, _ = _outcomes(_read_ledger(claimed))
        Path(f"{ledger}.stop").unlink(missing_ok=True)
        pid, started = dead
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(started))
        print(f"scaling-train: an earlier sweep in this results dir (pid {pid}, started {when}) ended before its "
              f"report; its jobs had recorded: {line}. Rerunning its command resumes what it left", file=sys.stderr)
    for marker in sweeps.glob("*.local-*.jsonl.stop"):
        if not marker.with_suffix("").exists() and _dead_local(marker.with_suffix("").name) is not None:
            marker.unlink(missing_ok=True)


def _dead_local(name: str) -> tuple[int, int] | None:
    """(pid, start) of the sweep that `ledger_path` named `name`, if it ran on this host and in this pid
    namespace under a launcher whose jobs die with it, and its process is gone; else None."""
    base, tagged, namespace = name.removesuffix(".jsonl").rpartition(".local-")
    host, pid, started = (base.rsplit("-", 2) + ["", ""])[:3]
    if (not tagged or host != socket.gethostname() or namespace != str(_pid_namespace()) or not pid.isdigit()
            or not started.isdigit() or _alive(int(pid), int(started))):
        return None
    return int(pid), int(started)


def _alive(pid: int, started: float) -> bool:
    """Whether process `pid` runs and is the one that started at `started` (epoch seconds), not a later one
    given the same pid (its start, from /proc, is after it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK") <= started + 2  # the ledger is named after the start
    except (OSError, ValueError, IndexError, StopIteration):
        return True  # no /proc: take it for alive (the ledger stays)


def main() -> None:
    """Console script: refuse bad single-run input with one line (exit 2), then hand over to Hydra; a sweep
    ends with its count of completed and failed jobs."""
    args = sys.argv[1:]
    multirun = any(a in ("-m", "--multirun") for a in args)
    # until a run takes over SIGTERM (to save its checkpoint), a stop says so in one line
    signal.signal(signal.SIGTERM, _stopped_before_training)
    found: dict = {}  # what validate_sweep learns of the sweep (its launcher)
    try:
        if not any(a.startswith("-") for a in args):
            error = validate_args(args)
        elif multirun:
            error = validate_sweep([a for a in args if not a.startswith("-")], found)
        else:
            error = None
    except KeyboardInterrupt:
        _stopped_before_training(signal.SIGINT, None)
    if error:
        print(f"scaling-train: error: {error}", file=sys.stderr)
        sys.exit(2)
    ledger = None
    if multirun:
        ledger = ledger_path(_results_dir(args), found.get("launcher", ""))
        try:
            ledger.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            print(f"scaling-train: error: cannot write the results dir {ledger.parent.parent}: "
                  f"{err.strerror or err}: choose a writable results_dir", file=sys.stderr)
            sys.exit(2)
        report_abandoned(ledger.parent)
        os.environ[LEDGER_ENV] = str(ledger)
        os.environ[SWEEP_PID_ENV] = _this_process()
        signal.signal(signal.SIGTERM, _sweep_signalled)
        signal.signal(signal.SIGINT, _sweep_signalled)
    try:
        hydra_app()
    except KeyboardInterrupt:
        print("scaling-train: interrupted; rerun the same command to resume (completed runs and saved checkpoints "
              "are kept)", file=sys.stderr)
        if ledger is not None:
            sweep_report(ledger)
        sys.exit(130)
    except Exception as err:
        if ledger is None or _sweep_stopped_by() is None:
            raise
        # after the stop: a joblib worker that was still starting up was ended by the signal itself
        why = "a job that had not started training was ended by the signal" if "Terminated" in type(err).__name__ \
            else first_line(str(err))
        print(f"scaling-train: the launcher stopped with the sweep ({type(err).__name__}: {why})", file=sys.stderr)
    finally:
        if ledger is not None:  # the sweep is over: a late signal must not leave a marker behind
            signal.signal(signal.SIGTERM, _stopped_before_training)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            stopped_by = _sweep_stopped_by()
            _stop_marker().unlink(missing_ok=True)
    if ledger is not None:
        code = sweep_report(ledger)
        sys.exit(128 + signal.Signals[stopped_by] if stopped_by in signal.Signals.__members__ else code)


if __name__ == "__main__":
    main()
