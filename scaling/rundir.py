"""The run directory: the one place that knows its files, how they are written and how they are read.

`scaling-train` writes one directory per run, RESULTS/<experiment_name>/<run_name>/:

- `config.yaml`: the composed configuration plus the planner's resolution (`resolved:`), written when the run
  starts;
- `metrics.jsonl`: one JSON object per log point (step, tokens, flops, lr, train_loss, tokens_per_second,
  elapsed_s and, at evaluations, val_loss), appended as the run goes; cut back to the checkpoint's step on
  resume, so the curve and the weights always agree;
- `checkpoint.pt`: the state to resume from (torch; written by `experiments.checkpoint`);
- `summary.json`: written once, atomically, when the run ends; its `status` is one of STATUSES;
- `.lock`: held by the one process writing the directory (`RunLock`), naming it for anyone else who tries.

A damaged file is never deleted and never silently reused: `move_aside` renames it to `<name>.damaged-<time>`
and the caller says so in one line.

JSON follows `scaling.atomic.json_ready`: NaN and infinity are written as null. The readers tolerate a run that
is still writing: a partial last line of metrics.jsonl is skipped, and a run without a readable summary.json is
"running". Torch-free, so the planner and the analysis read results without the harness installed.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
import warnings
from pathlib import Path

from scaling.atomic import atomic_write_json, atomic_write_text, json_ready
from scaling.errors import ScalingError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CHECKPOINT = "checkpoint.pt"
LOCK = ".lock"
# completed: trained its whole budget; diverged: stopped by the divergence check; failed: refused by a sweep
# job (its `error` says why); running: no summary yet (training, or killed before the end).
STATUSES = ("completed", "diverged", "failed", "running")
# Without working flock (some network filesystems), a lock file whose holder has not touched it for this long
# is taken to belong to a dead process: writers touch it at every log point.
STALE_LOCK_SECONDS = 600



def run_dirs(path: str | Path) -> list[Path]:
    """Every directory under `path` (itself included) that holds metrics.jsonl or summary.json, sorted."""
    root = Path(path)
    if not root.is_dir():
        raise ScalingError(f"results dir {str(root)!r} is not a directory")
    found = {p.parent for name in (METRICS, SUMMARY) for p in root.rglob(name)}
    return sorted(found)


def read_summary(run: Path, warn: bool = True) -> dict | None:
    """summary.json as a dict; None where it is missing, partial or not an object (the run has not ended)."""
    try:
        data = json.loads((Path(run) / SUMMARY).read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):  # unreadable, or JSON that is not an object (a list, a number)
        if warn:
            warnings.warn(f"{Path(run) / SUMMARY}: unreadable summary.json, run treated as still running",
                          stacklevel=3)
        return None
    return data


def read_metrics(run: Path) -> list[dict]:
    """The complete lines of metrics.jsonl; a partial last line (being written) is skipped quietly, a garbled
    line elsewhere (not JSON, or not UTF-8) with a warning; a file that cannot be read at all (a directory, no
    permission) gives no rows and a warning, so a reader goes on and the trainer sets it aside."""
    path = Path(run) / METRICS
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    except OSError as err:
        warnings.warn(f"{path}: unreadable ({err.strerror or type(err).__name__}); no log points read from it",
                      stacklevel=3)
        return []
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if i < len(lines) - 1:
                warnings.warn(f"{path}: line {i + 1} is not JSON; skipped", stacklevel=3)
            continue
        if isinstance(record, dict):
            rows.append(record)
    return rows


class MetricsLog:
    """Append-only metrics.jsonl. Opened at `resume_step` (0 for a fresh run), it first cuts the file back to
    the rows at or before that step, atomically: the log never holds steps the weights have not seen."""

    def __init__(self, run_dir: Path, resume_step: int = 0):
        self.path = Path(run_dir) / METRICS
        kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= resume_step] if resume_step else []
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self.file = self.path.open("a")

    def append(self, record: dict) -> None:
        try:
            self.file.write(json.dumps(json_ready(record)) + "\n")
            self.file.flush()
        except OSError as err:  # a full disk: one line; the rows written so far stay (a torn last one is dropped
            # when the run resumes)
            raise ScalingError(f"cannot write {self.path}: {err.strerror or err}") from None

    def close(self) -> None:
        try:
            self.file.close()
        except OSError as err:
            raise ScalingError(f"cannot write {self.path}: {err.strerror or err}") from None


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write_json(Path(run_dir) / SUMMARY, summary)


def move_aside(path: Path, tag: str = "damaged") -> Path:
    """Rename a file the run cannot use (damaged, or an earlier start's) to `<name>.<tag>-<UTC time>` beside it
    (never deleted); returns the new path."""
    path = Path(path)
    target = path.with_name(f"{path.name}.{tag}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")
    n = 1
    while target.exists():
        target = target.with_name(f"{path.name}.{tag}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{n}")
        n += 1
    os.replace(path, target)
    return target


class RunLocked(ScalingError):
    """Another process is writing this run directory."""


class RunLock:
    """One writer per run directory, for as long as the run lives.

    The lock is an exclusive `flock` on `<run>/.lock`: the kernel drops it when its process exits, kill -9
    included, so a crashed run never leaves it behind. The file names the holder (host, pid, start time) for the
    refusal message. On Linux, flock over NFS is mapped onto NFS byte-range locks (lockd, or NFSv4's own), which
    hold across clients; where the filesystem refuses flock altogether (ENOLCK, EOPNOTSUPP, ENOSYS: some
    Lustre and FUSE mounts), the lock falls back to creating the file exclusively (O_EXCL, atomic on NFSv3+) and
    the holder touches it at every log point; a file untouched for STALE_LOCK_SECONDS, or left by a dead pid on
    this host, is taken over with a warning.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.fd: int | None = None
        self.exclusive_file = False

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text())
            since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info["since"]))
            return f"pid {info['pid']} on {info['host']} (since {since})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def _record(self) -> bytes:
        return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode()

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # not POSIX (Windows): the exclusive lock file alone
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._acquire_exclusive_file()

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(f"{self.path.parent} is being written by {self._holder()}: wait for it to finish, or "
                            f"stop it (a second writer would corrupt the run)") from None
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL):
                raise
            return self._acquire_exclusive_file()
        os.ftruncate(fd, 0)
        os.write(fd, self._record())
        os.fsync(fd)
        self.fd = fd
        return self

    def _acquire_exclusive_file(self) -> RunLock:
        if self.path.exists() and self.path.stat().st_size and self._stale():
            warnings.warn(f"{self.path}: taking over a lock left by {self._holder()}, which is gone", stacklevel=3)
            self.path.unlink(missing_ok=True)
        elif self.path.exists() and not self.path.stat().st_size:
            self.path.unlink(missing_ok=True)  # the empty file an earlier flock attempt created just now
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise RunLocked(f"{self.path.parent} is being written by {self._holder()}: wait for it to finish, or "
                            f"stop it (a second writer would corrupt the run)") from None
        os.write(fd, self._record())
        os.close(fd)
        self.exclusive_file = True
        return self

    def _stale(self) -> bool:
        try:
            info = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return time.time() - self.path.stat().st_mtime > STALE_LOCK_SECONDS
        if info.get("host") == socket.gethostname() and os.name == "posix":  # signal 0 probes a pid on POSIX only
            try:
                os.kill(int(info["pid"]), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, KeyError, ValueError, TypeError):
                pass
        return time.time() - self.path.stat().st_mtime > STALE_LOCK_SECONDS

    def heartbeat(self) -> None:
        """Touch the lock file (what the exclusive-file fallback counts as alive)."""
        if self.exclusive_file:
            os.utime(self.path)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock; the file stays, naming the last holder
            self.fd = None
        if self.exclusive_file:
            self.path.unlink(missing_ok=True)
            self.exclusive_file = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
