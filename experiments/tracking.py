"""Mirroring a run's metrics to an experiment tracker: the Hydra group `logger=jsonl|tensorboard|wandb|mlflow`.

The harness always writes `metrics.jsonl` in the run directory, and that file stays the source of truth: it is cut
back to the checkpoint on resume, the report reads it, and it needs no service, account or extra package. A tracker
is a convenience view of the same records (live curves, run comparison), so:

- `logger=jsonl` (the default) mirrors nothing; the other trackers are optional packages
  (`pip install 'chinchilla-scaling[tracking]'`), imported only when chosen.
- Every tracker works offline by default: TensorBoard event files in `<run_dir>/tensorboard`, W&B in offline mode
  (`wandb sync` uploads later), MLflow in a local file store `<results_dir>/mlruns`.
- A tracker never loses the run: if it fails to open or raises mid-run, one warning says so, mirroring stops, and
  training goes on writing `metrics.jsonl`. Only configuration mistakes (an unknown tracker, a missing package, a
  bad W&B mode) are refused, with one line, before anything trains.
- On resume the tracker run continues: TensorBoard hides the events after the checkpoint's step (as
  `metrics.jsonl` drops its lines), MLflow reopens the run tagged with this run directory, and W&B resumes the
  run whose id is derived from the run directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import numbers
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from scaling.errors import ScalingError, first_line

__all__ = ["TRACKERS", "LoggerConfig", "Tracker", "check_logger", "open_tracker"]

TRACKERS = ("jsonl", "tensorboard", "wandb", "mlflow")
WANDB_MODES = ("offline", "online", "disabled")
INSTALL = "pip install 'chinchilla-scaling[tracking]'"
_MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}  # tracker -> module it imports
RUN_KEY_TAG = "run_key"  # MLflow tag that finds a run directory's run again on resume


@dataclass
class LoggerConfig:
    name: str = "jsonl"  # jsonl | tensorboard | wandb | mlflow
    project: str = "chinchilla-scaling"  # the W&B project and the MLflow experiment
    wandb_mode: str = "offline"  # offline (upload later with `wandb sync`) | online | disabled
    mlflow_tracking_uri: str | None = None  # null: $MLFLOW_TRACKING_URI, else a file store <results_dir>/mlruns
    tensorboard_dir: str | None = None  # null: <run_dir>/tensorboard; else runs go to <dir>/<experiment>/<run>


class Tracker:
    """Mirrors log records to one tracker. This base class mirrors nothing (`logger=jsonl`); subclasses implement
    `_log` and `_close`. A failure in either warns once and turns the tracker into a no-op."""

    name = "jsonl"

    def __init__(self) -> None:
        self.failed = False

    def log(self, record: dict) -> None:
        """Log every finite number in `record` other than "step" as a scalar at `record["step"]`."""
        if self.failed:
            return
        try:
            self._log(int(record["step"]), scalars(record))
        except Exception as err:  # any tracker error: the run goes on without it
            self._fail("log", err)

    def close(self, status: str) -> None:
        """End the tracker run with the harness's status (completed, diverged, ...)."""
        if self.failed:
            return
        try:
            self._close(status)
        except Exception as err:
            self._fail("close", err)

    def _log(self, step: int, values: dict[str, float]) -> None:
        pass

    def _close(self, status: str) -> None:
        pass

    def _fail(self, what: str, err: Exception) -> None:
        self.failed = True
        warnings.warn(f"logger={self.name}: {what} failed ({type(err).__name__}: {first_line(err)}); mirroring "
                      f"stopped, metrics.jsonl still gets every record", RuntimeWarning, stacklevel=3)


def scalars(record: dict) -> dict[str, float]:
    """The fields of a log record a tracker plots: finite numbers (not bools), "step" excepted."""
    out = {}
    for key, value in record.items():
        if key == "step" or isinstance(value, bool) or not isinstance(value, numbers.Real):
            continue
        value = float(value)
        if math.isfinite(value):
            out[key] = value
    return out


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """Nested config -> {"model.d_model": 256, ...}; lists become their string form."""
    out: dict[str, object] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = str(value) if isinstance(value, (list, tuple)) else value
    return out


def check_logger(cfg: LoggerConfig) -> None:
    """Refuse, with one line, a tracker that cannot run: unknown name, bad W&B mode, package not installed.
    Cheap (imports nothing), so it can run with the other checks before training."""
    if cfg.name not in TRACKERS:
        raise ScalingError(f"unknown logger {cfg.name!r}: choose one of {', '.join(TRACKERS)}")
    if cfg.name == "wandb" and cfg.wandb_mode not in WANDB_MODES:
        raise ScalingError(f"logger.wandb_mode must be one of {', '.join(WANDB_MODES)}, got {cfg.wandb_mode!r}")
    module = _MODULES.get(cfg.name)
    if module is not None and _find_spec(module) is None:
        raise _missing(cfg.name)
    if cfg.name == "mlflow":
        _check_reachable(cfg.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))


def _check_reachable(uri: str | None, timeout: float = 3.0) -> None:
    """An MLflow server that does not answer is refused up front: mlflow's own client retries for minutes, inside
    the training loop, where it also holds off SIGTERM."""
    import socket

    parsed = urlparse(uri or "")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return  # a file store (the default) or another scheme: nothing to reach
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as err:
        raise ScalingError(f"logger=mlflow: the tracking server {uri} cannot be reached ({err.strerror or err}): "
                           f"start it, or set logger.mlflow_tracking_uri (or use logger=jsonl)") from None


def open_tracker(cfg: LoggerConfig, run_dir: Path, run_name: str, config: dict, resume_step: int = 0) -> Tracker:
    """Open the tracker `cfg.name` for the run in `run_dir`, logging `config` (the resolved run config) as its
    hyperparameters; `resume_step` > 0 continues the tracker run from that checkpoint step. Raises ScalingError
    as `check_logger` does; any other failure to open warns and returns a no-op tracker."""
    check_logger(cfg)
    if cfg.name == "jsonl":
        return Tracker()
    opener = {"tensorboard": TensorBoardTracker, "wandb": WandbTracker, "mlflow": MlflowTracker}[cfg.name]
    try:
        return opener(cfg, Path(run_dir), run_name, config, resume_step)
    except ImportError as err:
        raise _missing(cfg.name) from err
    except Exception as err:
        warnings.warn(f"logger={cfg.name}: could not open ({type(err).__name__}: {first_line(err)}); going on "
                      f"with metrics.jsonl only", RuntimeWarning, stacklevel=2)
        return Tracker()


class TensorBoardTracker(Tracker):
    """Event files via torch's SummaryWriter. Every start writes a purge marker: a fresh start hides all earlier
    events in the directory, a resume those after `resume_step`, so the curves match metrics.jsonl."""

    name = "tensorboard"

    def __init__(self, cfg: LoggerConfig, run_dir: Path, run_name: str, config: dict, resume_step: int):
        super().__init__()
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it; fail with ImportError if absent)
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        log_dir = run_dir / "tensorboard" if cfg.tensorboard_dir is None else \
            Path(cfg.tensorboard_dir) / run_dir.parent.name / run_dir.name
        self.log_dir = log_dir
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=resume_step + 1 if resume_step > 0 else 0)
        if resume_step <= 0:
            values = {k: v for k, v in flatten(config).items() if isinstance(v, (bool, int, float, str))}
            for summary in hparams(values, {"train_loss": None, "val_loss": None}):
                self.writer.file_writer.add_summary(summary)

    def _log(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, global_step=step)

    def _close(self, status: str) -> None:
        self.writer.add_text("status", status)
        self.writer.close()


class WandbTracker(Tracker):
    """A W&B run (offline by default) whose id is derived from the run directory, opened with resume="allow"
    so a resumed run continues it. Files go to `<run_dir>/wandb` unless WANDB_DIR is set. Console capture is off:
    the harness's output stays where it was. A run directory started over from scratch maps to the same id."""

    name = "wandb"

    def __init__(self, cfg: LoggerConfig, run_dir: Path, run_name: str, config: dict, resume_step: int):
        super().__init__()
        import wandb

        self.run = wandb.init(project=cfg.project, name=run_name, id=run_key(run_dir), resume="allow",
                              group=config.get("experiment_name"), config=config, mode=cfg.wandb_mode,
                              dir=None if os.environ.get("WANDB_DIR") else str(run_dir),
                              settings=wandb.Settings(console="off"))

    def _log(self, step: int, values: dict[str, float]) -> None:
        self.run.log(values, step=step)

    def _close(self, status: str) -> None:
        self.run.summary["status"] = status
        self.run.finish(exit_code=0 if status == "completed" else 1)


class MlflowTracker(Tracker):
    """An MLflow run in experiment `cfg.project`, tagged with a key of the run directory so that a resume finds
    it again (a fresh start makes a new run). The default store is the local file store `<results_dir>/mlruns`
    (results_dir from `config`, else the run directory's parent); MLflow 3 refuses file stores unless
    MLFLOW_ALLOW_FILE_STORE=true, which is set for file URIs (unless already set). Browse it with
    `mlflow ui --backend-store-uri <results_dir>/mlruns`. Steps logged after the checkpoint by an interrupted attempt
    stay in the history (MLflow cannot delete metric points)."""

    name = "mlflow"

    def __init__(self, cfg: LoggerConfig, run_dir: Path, run_name: str, config: dict, resume_step: int):
        super().__init__()
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        uri = cfg.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or \
            (Path(config.get("results_dir") or run_dir.parent) / "mlruns").resolve().as_uri()
        if urlparse(uri).scheme in ("", "file") or Path(uri).is_absolute():
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(cfg.project)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            try:
                experiment_id = client.create_experiment(cfg.project)
            except MlflowException:  # a parallel sweep job created it first
                experiment_id = client.get_experiment_by_name(cfg.project).experiment_id
        key = run_key(run_dir)
        previous = client.search_runs([experiment_id], filter_string=f"tags.{RUN_KEY_TAG} = '{key}'",
                                      order_by=["attributes.start_time DESC"], max_results=1) if resume_step > 0 else []
        if previous:
            self.run_id = previous[0].info.run_id
            client.update_run(self.run_id, status="RUNNING")
        else:
            run = client.create_run(experiment_id, run_name=run_name,
                                    tags={RUN_KEY_TAG: key, "run_dir": str(run_dir.resolve())})
            self.run_id = run.info.run_id
            params = [Param(k, str(v)[:500]) for k, v in flatten(config).items()]
            for i in range(0, len(params), 100):  # MLflow's limit per batch
                client.log_batch(self.run_id, params=params[i:i + 100])

    def _log(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def _close(self, status: str) -> None:
        self.client.set_tag(self.run_id, "status", status)
        end = {"completed": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED")  # diverged: FAILED
        self.client.set_terminated(self.run_id, end)


def run_key(run_dir: Path) -> str:
    """A stable id of a run directory (its absolute path): the W&B run id and the MLflow tag that find it again."""
    return hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]


def _find_spec(module: str):
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _missing(name: str) -> ScalingError:
    extra = " (mlflow-skinny is enough)" if name == "mlflow" else ""
    return ScalingError(f"logger={name} needs the {_MODULES[name]} package{extra}: {INSTALL}")
