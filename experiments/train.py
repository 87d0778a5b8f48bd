"""`scaling-train` (also `python -m experiments.train`): the command line of the harness. It composes the Hydra
config, refuses bad input with one line before anything is made, gives each sweep job its share of the machine,
and hands the run to `experiments.trainer`.

    scaling-train model=llama allocation=chinchilla budget.flops=3e11 data=tiny
    scaling-train -m experiment=isoflop_cpu                      # a sweep (Hydra multirun)

Results go to results/<experiment_name>/<run_name>/ (the files are `scaling.rundir`'s). Exit codes: 0 done,
1 a run that did not complete (diverged), 2 bad input.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from experiments.config import CONF_DIR, register
from experiments.trainer import check, train
from scaling.errors import ScalingError
from scaling.rundir import write_summary

register()


def share_resources(cfg: DictConfig) -> None:
    """Give each sweep job its share of the machine: under joblib, cpu_count / n_jobs torch threads (two
    processes with torch's default threads each on 2 cores run up to 20x slower) and, with several GPUs,
    GPU (job number mod GPU count); under SLURM, the task's CPUs. Explicit settings are kept."""
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return
    target = str(hc.launcher.get("_target_", ""))
    with open_dict(cfg):
        if "Joblib" in target:
            n_jobs = hc.launcher.n_jobs if hc.launcher.n_jobs > 0 else os.cpu_count()
            if cfg.threads is None:
                cfg.threads = max(1, (os.cpu_count() or 1) // n_jobs)
            if cfg.device == "auto" and torch.cuda.device_count() > 1:
                cfg.device = f"cuda:{hc.job.num % torch.cuda.device_count()}"
        elif cfg.threads is None and os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
            cfg.threads = int(os.environ["SLURM_CPUS_PER_TASK"])


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def hydra_app(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    share_resources(cfg)
    warnings.showwarning = _show_warning
    try:
        summary = train(cfg, run_dir)
    except ScalingError as err:
        print(f"scaling-train: error: {err}", file=sys.stderr)
        with contextlib.suppress(OSError):
            run_dir.rmdir()  # only if Hydra made it and nothing was written
        if multirun:  # one bad job must not stop the sweep: record it and go on
            write_summary(run_dir, {"status": "failed", "error": str(err), "run_name": run_dir.name})
            return
        sys.exit(2)
    if summary.get("status") != "completed" and not multirun:
        sys.exit(1)


def _show_warning(message, *args, **kwargs) -> None:
    print(f"scaling-train: warning: {message}", file=sys.stderr)


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def config_error(err: Exception) -> str:
    """One line for a Hydra/OmegaConf composition error."""
    from hydra.errors import MissingConfigException

    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        choices = f": choose one of {', '.join(err.options)}" if err.options else ""
        return f"unknown {group or 'config'} {option!r}{choices}"
    cause = err.__cause__ or err
    key = getattr(cause, "full_key", None)
    message = _first_line(cause)
    return f"{key}: {message}" if key and key not in message else message or _first_line(err)


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
    return None


def main() -> None:
    """Console script: refuse bad single-run input with one line (exit 2), then hand over to Hydra."""
    args = sys.argv[1:]
    if not any(a.startswith("-") for a in args):
        error = validate_args(args)
        if error:
            print(f"scaling-train: error: {error}", file=sys.stderr)
            sys.exit(2)
    hydra_app()


if __name__ == "__main__":
    main()
