"""The `logger=` trackers, offline: what is logged is read back from TensorBoard's event files, MLflow's file store
and W&B's offline run file; resume continues the same tracker run; misconfiguration is refused with one line; a
tracker that fails mid-run only warns."""

import glob
import json
import math
import struct
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from experiments import tracking
from experiments.tracking import TRACKERS, LoggerConfig, Tracker, check_logger, open_tracker, run_key
from scaling.errors import ScalingError
from tests.conftest import BRIEF

LOGGER_DIR = Path(__file__).resolve().parent.parent / "conf" / "logger"
INSTALL = "pip install 'chinchilla-scaling[tracking]'"
RECORDS = [
    {"step": 1, "tokens": 512, "lr": 1e-4, "train_loss": 7.5, "elapsed_s": 0.5, "note": "text", "val_loss": None},
    {"step": 2, "tokens": 1024, "lr": 2e-4, "train_loss": 6.25, "elapsed_s": 1.0, "grad": math.nan},
    {"step": 4, "tokens": 2048, "lr": 3e-4, "train_loss": 5.0, "elapsed_s": 2.0, "val_loss": 5.5},
]
RESUMED = [  # after a checkpoint at step 2: step 4 is logged again, with another value
    {"step": 4, "tokens": 2048, "lr": 3e-4, "train_loss": 4.75, "elapsed_s": 2.5, "val_loss": 5.25},
    {"step": 6, "tokens": 3072, "lr": 1e-4, "train_loss": 4.5, "elapsed_s": 3.5},
]


def run_config(tmp_path: Path) -> dict:
    return {"experiment_name": "exp", "results_dir": str(tmp_path / "results"), "seed": 3,
            "model": {"style": "llama", "d_model": 32, "n_layers": 2}, "data": {"paths": ["a", "b"], "archive": None}}


def series(records: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) of the records whose `key` is a finite number: what a tracker should hold."""
    return [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]


def log_all(tracker: Tracker, records: list[dict], status: str = "completed") -> None:
    for record in records:
        tracker.log(record)
    tracker.close(status)


def test_config_group_matches_trackers_and_schema():
    files = sorted(LOGGER_DIR.glob("*.yaml"))
    assert sorted(f.stem for f in files) == sorted(TRACKERS)
    defaults = {f.name: f.default for f in fields(LoggerConfig)}
    for f in files:
        assert f.read_text().startswith("# ") and f"logger={f.stem}" in f.read_text().splitlines()[0]
        merged = OmegaConf.merge(OmegaConf.structured(LoggerConfig), OmegaConf.load(f))  # unknown keys raise
        assert merged.name == f.stem
        overrides = OmegaConf.to_container(OmegaConf.load(f))
        assert all(overrides[k] != defaults[k] for k in overrides if k != "name"), f"{f.name} repeats a default"


def test_jsonl_is_a_no_op(tmp_path):
    tracker = open_tracker(LoggerConfig(), tmp_path, "run", run_config(tmp_path))
    assert type(tracker) is Tracker
    log_all(tracker, RECORDS)
    assert list(tmp_path.iterdir()) == []


def test_unknown_logger_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ScalingError) as err:
        open_tracker(LoggerConfig(name="neptune"), tmp_path, "run", {})
    assert "\n" not in str(err.value) and all(name in str(err.value) for name in TRACKERS)
    with pytest.raises(ScalingError, match="wandb_mode"):
        check_logger(LoggerConfig(name="wandb", wandb_mode="offfline"))


@pytest.mark.parametrize("name, module", [("tensorboard", "tensorboard"), ("wandb", "wandb"), ("mlflow", "mlflow")])
@pytest.mark.parametrize("found", [False, True], ids=["not-found", "import-fails"])
def test_missing_package_names_the_pip_command(monkeypatch, tmp_path, name, module, found):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now raises ImportError
    if found:  # installed but broken: the import itself fails
        monkeypatch.setattr(tracking, "_find_spec", lambda module: object())
    with pytest.raises(ScalingError) as err:
        open_tracker(LoggerConfig(name=name), tmp_path, "run", {})
    assert str(err.value) == f"logger={name} needs the {module} package" + \
        (" (mlflow-skinny is enough)" if name == "mlflow" else "") + f": {INSTALL}"
    assert list(tmp_path.iterdir()) == []


def test_a_failing_tracker_warns_once_and_the_run_goes_on(tmp_path):
    class Flaky(Tracker):
        name = "flaky"
        calls = 0

        def _log(self, step, values):
            self.calls += 1
            if step == 2:
                raise OSError("disk full\nsecond line")

    tracker = Flaky()
    with pytest.warns(RuntimeWarning) as caught:
        log_all(tracker, RECORDS)
    assert [str(w.message) for w in caught] == [
        "logger=flaky: log failed (OSError: disk full); mirroring stopped, metrics.jsonl still gets every record"]
    assert tracker.calls == 2 and tracker.failed


def test_a_tracker_that_cannot_open_warns_and_mirrors_nothing(tmp_path):
    pytest.importorskip("mlflow", reason="the tracking extra is not installed: pip install -e '.[tracking]'")
    cfg = LoggerConfig(name="mlflow", mlflow_tracking_uri="nosuchscheme://nowhere")
    with pytest.warns(RuntimeWarning, match="logger=mlflow: could not open"):
        tracker = open_tracker(cfg, tmp_path / "run", "run", run_config(tmp_path))
    assert type(tracker) is Tracker
    log_all(tracker, RECORDS)


def test_tensorboard_scalars_read_back_and_resume_purges_later_steps(tmp_path):
    pytest.importorskip("tensorboard", reason="the tracking extra is not installed: pip install -e '.[tracking]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "results" / "exp" / "run"
    cfg = LoggerConfig(name="tensorboard")

    def read(key):
        acc = EventAccumulator(str(run_dir / "tensorboard"))
        acc.Reload()
        return acc, [(e.step, pytest.approx(e.value, rel=1e-6)) for e in acc.Scalars(key)]

    log_all(open_tracker(cfg, run_dir, "run", run_config(tmp_path)), RECORDS)
    acc, train = read("train_loss")
    assert train == series(RECORDS, "train_loss")
    assert set(acc.Tags()["scalars"]) == {"tokens", "lr", "train_loss", "elapsed_s", "val_loss"}
    assert read("val_loss")[1] == series(RECORDS, "val_loss") and read("tokens")[1] == series(RECORDS, "tokens")
    assert "model.d_model" in acc.summary_metadata["_hparams_/session_start_info"].plugin_data.content.decode(
        errors="replace")

    log_all(open_tracker(cfg, run_dir, "run", run_config(tmp_path), resume_step=2), RESUMED)
    assert read("train_loss")[1] == series(RECORDS[:2] + RESUMED, "train_loss")
    assert read("val_loss")[1] == series(RECORDS[:2] + RESUMED, "val_loss")

    log_all(open_tracker(cfg, run_dir, "run", run_config(tmp_path)), RECORDS[:1])  # a fresh start hides the rest
    assert read("train_loss")[1] == series(RECORDS[:1], "train_loss")


def test_mlflow_metrics_params_and_resume_in_a_local_file_store(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="the tracking extra is not installed: pip install -e '.[tracking]'")
    from mlflow.tracking import MlflowClient

    for var in ("MLFLOW_ALLOW_FILE_STORE", "MLFLOW_TRACKING_URI"):  # unset, and restored after the test
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    run_dir = tmp_path / "results" / "exp" / "run"
    cfg = LoggerConfig(name="mlflow")

    tracker = open_tracker(cfg, run_dir, "run", run_config(tmp_path))
    log_all(tracker, RECORDS)
    client = MlflowClient(tracking_uri=(tmp_path / "results" / "mlruns").as_uri())  # the default store

    def history(key):
        return sorted((m.step, m.value) for m in client.get_metric_history(tracker.run_id, key))

    run = client.get_run(tracker.run_id)
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "chinchilla-scaling"
    assert run.data.params["model.d_model"] == "32" and run.data.params["data.paths"] == "['a', 'b']"
    assert history("train_loss") == series(RECORDS, "train_loss")
    assert history("val_loss") == series(RECORDS, "val_loss")
    assert "note" not in run.data.metrics and "grad" not in run.data.metrics

    resumed = open_tracker(cfg, run_dir, "run", run_config(tmp_path), resume_step=2)
    assert resumed.run_id == tracker.run_id
    log_all(resumed, RESUMED, status="diverged")
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FAILED" and run.data.tags["status"] == "diverged"
    assert history("train_loss") == sorted(series(RECORDS, "train_loss") + series(RESUMED, "train_loss"))

    fresh = open_tracker(cfg, run_dir, "run", run_config(tmp_path))  # starting over makes a new run
    assert fresh.run_id != tracker.run_id
    fresh.close("completed")


def wandb_records(path: Path):
    """The records of an offline W&B run file (a LevelDB-style log: 32 KiB blocks of CRC, length, type, data)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, buf, block = 7, b"", 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk  # 1 full, 2 first, 3 middle, 4 last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(buf)
            yield record


def read_wandb_run(path: Path) -> tuple[dict, dict[int, dict], dict, int]:
    """(run record fields, history by step, final summary, exit code) of an offline run file."""
    run, history, summary, exit_code = {}, {}, {}, None
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            config = {u.key: json.loads(u.value_json) for u in record.run.config.update}
            run = {"id": record.run.run_id, "project": record.run.project, "group": record.run.run_group,
                   "name": record.run.display_name, "config": config}
        elif kind == "history":
            row = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in record.history.item}
            history[record.history.step.num] = {k: v for k, v in row.items() if not k.startswith("_")}
        elif kind == "summary":
            summary.update({(u.key or "/".join(u.nested_key)): json.loads(u.value_json) for u in record.summary.update})
        elif kind == "exit":
            exit_code = record.exit.exit_code
    return run, history, summary, exit_code


def read_finished_wandb_run(path: Path, wait: float = 30.0) -> tuple[dict, dict[int, dict], dict, int]:
    """`read_wandb_run` once the file holds the run record and the exit record: W&B's service process writes
    the offline file on its own schedule, and may still be writing it when `finish` has returned."""
    deadline = time.monotonic() + wait
    while True:
        read = read_wandb_run(path) if path.exists() else ({}, {}, {}, None)
        if ("id" in read[0] and read[3] is not None) or time.monotonic() > deadline:
            return read
        time.sleep(0.1)


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    """W&B with no network and no account: offline mode, every directory under tmp_path."""
    pytest.importorskip("wandb", reason="the tracking extra is not installed: pip install -e '.[tracking]'")
    import wandb

    for var, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": tmp_path / "wandb-dir",
                       "WANDB_CONFIG_DIR": tmp_path / "wandb-config", "WANDB_CACHE_DIR": tmp_path / "wandb-cache",
                       "WANDB_DATA_DIR": tmp_path / "wandb-data", "WANDB_ERROR_REPORTING": "false",
                       "WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true", "WANDB_API_KEY": "",
                       "WANDB_BASE_URL": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(var, str(value))
    (tmp_path / "wandb-dir").mkdir()
    yield tmp_path / "wandb-dir" / "wandb"
    wandb.teardown()  # stop the service process: no state leaks into other tests


def test_wandb_offline_run_reads_back_and_resume_keeps_the_id(tmp_path, wandb_offline):
    run_dir = tmp_path / "results" / "exp" / "run"
    cfg = LoggerConfig(name="wandb")
    log_all(open_tracker(cfg, run_dir, "run", run_config(tmp_path)), RECORDS)

    (first,) = (Path(p) for p in glob.glob(str(wandb_offline / f"offline-run-*-{run_key(run_dir)}")))
    run, history, summary, exit_code = read_finished_wandb_run(first / f"run-{run_key(run_dir)}.wandb")
    assert run["id"] == run_key(run_dir) and run["project"] == "chinchilla-scaling" and run["group"] == "exp"
    assert run["name"] == "run" and run["config"]["model"]["d_model"] == 32
    assert history == {r["step"]: {k: v for k, v in r.items() if k in ("tokens", "lr", "train_loss", "elapsed_s",
                                                                      "val_loss") and v is not None}
                       for r in RECORDS}
    assert {k: summary[k] for k in ("train_loss", "val_loss", "lr", "status")} == \
        {"train_loss": 5.0, "val_loss": 5.5, "lr": 3e-4, "status": "completed"}
    assert exit_code == 0

    time.sleep(1.1)  # offline run folders are named by their start second: the resumed one must sort after
    log_all(open_tracker(cfg, run_dir, "run", run_config(tmp_path), resume_step=2), RESUMED, status="diverged")
    latest = Path(sorted(glob.glob(str(wandb_offline / f"offline-run-*-{run_key(run_dir)}")))[-1])  # by start time
    run, history, summary, exit_code = read_finished_wandb_run(latest / f"run-{run_key(run_dir)}.wandb")
    assert run["id"] == run_key(run_dir)
    assert summary["train_loss"] == 4.5 and summary["status"] == "diverged" and exit_code == 1


def test_a_training_run_with_logger_tensorboard_mirrors_metrics_jsonl(compose, tmp_path):
    """End to end through the trainer: the TensorBoard scalars equal metrics.jsonl's, and the run's identity
    (its fingerprint) does not depend on the tracker."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from experiments.trainer import fingerprint, train
    from scaling.rundir import read_metrics

    overrides = ("data=tiny", "budget.flops=1e11", "log_every_steps=10", "threads=1", *BRIEF)
    cfg = compose(*overrides, "logger=tensorboard")
    assert fingerprint(cfg) == fingerprint(compose(*overrides))
    run_dir = tmp_path / "tb-run"
    assert train(cfg, run_dir)["status"] == "completed"
    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    logged = [(e.step, e.value) for e in acc.Scalars("train_loss")]
    expected = series(read_metrics(run_dir), "train_loss")
    assert [s for s, _ in logged] == [s for s, _ in expected]
    assert [v for _, v in logged] == pytest.approx([v for _, v in expected], rel=1e-6)


def test_an_mlflow_server_that_does_not_answer_is_refused_before_training():
    """mlflow's client retries an unreachable server for minutes inside the training loop: it is refused up front
    in one line (a closed local port refuses at once); file stores and unset URIs are not probed."""
    from experiments.tracking import _check_reachable

    with pytest.raises(ScalingError, match=r"logger=mlflow: the tracking server http://127\.0\.0\.1:9 cannot be "
                                           r"reached"):
        _check_reachable("http://127.0.0.1:9")
    _check_reachable(None)
    _check_reachable("file:///tmp/mlruns")
