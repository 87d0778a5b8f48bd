"""One run on several processes: DDP under torchrun with the gloo backend on the CPU, against one process with
the same global batch (the oracle: a second, independent computation of the same run), and the SLURM launcher
that makes the tasks of one job a DDP run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import trainer
from scaling.errors import ScalingError
from scaling.rundir import CHECKPOINT, SUMMARY, read_metrics

ROOT = Path(__file__).resolve().parent.parent
# 8 sequences per step in 2 micro-batches of 4: each of 2 ranks takes 2 rows of each, and accumulates 2 micro-steps
RUN = ["data=tiny", "model.d_model=32", "model.n_layers=2", "model.n_heads=2", "model.seq_len=64",
       "optim.batch_size=8", "optim.micro_batch_size=4", "budget.tokens=15360", "optim.min_steps=10",
       "log_every_steps=1", "eval.count=2", "data.val_windows=16", "device=cpu", "precision=fp32"]


def torchrun(*args, cwd, nproc=2):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                           "-m", "experiments.train", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def one_process(compose, run_dir: Path) -> list[dict]:
    trainer.train(compose(*RUN, "threads=1"), run_dir)
    return read_metrics(run_dir)


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(compose, data_cache, tmp_path):
    whole = one_process(compose, tmp_path / "one")
    proc = torchrun(*RUN, f"data.cache_dir={data_cache}", f"results_dir={tmp_path / 'ddp'}", "progress=false",
                    cwd=tmp_path)
    runs = [p.parent for p in (tmp_path / "ddp").glob("*/*/config.yaml")]
    assert len(runs) == 1  # one run directory, written by rank 0 alone
    rows = read_metrics(runs[0])
    summary = json.loads((runs[0] / SUMMARY).read_text())
    assert [r["step"] for r in rows] == [r["step"] for r in whole] == list(range(1, 31))
    assert [r["train_loss"] for r in rows] == pytest.approx([r["train_loss"] for r in whole], abs=1e-4)
    assert summary["final_val_loss"] == pytest.approx(whole[-1]["val_loss"], abs=1e-4)
    # global accounting: the tokens of 8 sequences per step, not of one rank's 4
    assert summary["world_size"] == 2 and summary["tokens"] == 30 * 8 * 64 == rows[-1]["tokens"]
    assert proc.stderr.count("completed, val loss") == 1  # rank 0 speaks for the run


@pytest.mark.slow
def test_a_ddp_run_resumes_a_checkpoint_and_continues_the_same_curve(compose, data_cache, tmp_path, monkeypatch):
    """A checkpoint written by one process at step 12 resumes on two (the world size is not part of a run's
    identity: the global batch is the same); the curve continues as the uninterrupted run's."""
    whole = one_process(compose, tmp_path / "one")
    cfg = compose(*RUN, "threads=1", f"results_dir={tmp_path / 'ddp'}")
    original = trainer.train_step

    def stop_at_12(run, fwd, lr):
        loss = original(run, fwd, lr)
        if run.step == 12:
            run.stop.signum = 15
        return loss

    monkeypatch.setattr(trainer, "train_step", stop_at_12)
    from experiments.config import run_name

    run_dir = tmp_path / "ddp" / "default" / run_name(",".join(sorted(a for a in RUN if not a.startswith("device="))))
    with pytest.raises(trainer.RunInterrupted):
        trainer.train(cfg, run_dir)
    monkeypatch.setattr(trainer, "train_step", original)
    assert (run_dir / CHECKPOINT).exists()
    proc = torchrun(*RUN, f"data.cache_dir={data_cache}", f"results_dir={tmp_path / 'ddp'}", "progress=false",
                    cwd=tmp_path)
    assert "resuming at step 12" in proc.stderr
    rows = read_metrics(run_dir)
    assert [r["step"] for r in rows] == list(range(1, 31))
    assert [r["train_loss"] for r in rows] == pytest.approx([r["train_loss"] for r in whole], abs=1e-4)


def test_micro_batches_that_do_not_split_over_the_processes_are_refused(compose, monkeypatch):
    monkeypatch.setattr(trainer, "_CHECKED", {})
    for key, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ScalingError, match="cannot split micro-batches of 3 sequences"):
        trainer.check(compose(*RUN, "optim.batch_size=6", "optim.micro_batch_size=3"))


def test_the_slurm_ddp_launcher_composes_and_its_tasks_become_one_ddp_run(monkeypatch):
    """hydra/launcher=slurm_ddp composes to submitit's SLURM launcher with one task per GPU; the environment
    SLURM gives task 5 of 8 on 2 nodes becomes torch.distributed's rank 5 of 8, local rank 1."""
    from hydra import compose, initialize_config_dir

    from experiments.distributed import from_env
    from experiments.train import slurm_world

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=slurm_ddp", "hydra.launcher.nodes=2",
                                                       "hydra.launcher.gpus_per_node=4",
                                                       "hydra.launcher.tasks_per_node=4"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.nodes == 2
    assert launcher.tasks_per_node == launcher.gpus_per_node == 4 and launcher.max_num_timeout == 3
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                "CUDA_VISIBLE_DEVICES"):
        monkeypatch.setenv(key, "")  # recorded, so that whatever export sets is undone after the test
        monkeypatch.delenv(key)
    slurm = {"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "42", "SLURM_NTASKS": "8", "SLURM_PROCID": "5",
             "SLURM_LOCALID": "1", "SLURM_JOB_NUM_NODES": "2", "SLURM_NODEID": "1", "SLURM_JOB_NODELIST": "gpu[01-02]"}
    for key, value in slurm.items():
        monkeypatch.setenv(key, value)
    slurm_world()
    world = from_env()
    assert (world.rank, world.local_rank, world.size) == (5, 1, 8)
    assert os.environ["MASTER_ADDR"] == "gpu01" and os.environ["CUDA_VISIBLE_DEVICES"] == "1"
