"""Shared fixtures: Hydra composition of the harness's config, and a token cache shared by the session."""

import os
from pathlib import Path

import pytest
import torch

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
# ~200 steps of larger batches (the batch rule's, over the same tokens), for tests about files, signals, loggers and
# evaluation rather than the recipe: a tiny run at 1e11 takes ~2,200 steps of 2 sequences without it
BRIEF = ("optim.target_steps=150", "optim.max_steps=200")
# ~400 steps instead of BRIEF's ~200 (experiment=debug's): for the tests that must catch a run mid-way (a kill, a
# cancellation) at any machine's speed
KILLABLE = ("optim.target_steps=300", "optim.max_steps=400")

# Under pytest-xdist (`make test` runs TEST_WORKERS processes) each worker gets its share of the cores, as a sweep
# gives each job its share (experiments.train): with torch's default of one thread per core in every worker, and in
# every run a test starts, the machine is oversubscribed and the training tests slow down many times.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _SHARE = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    torch.set_num_threads(_SHARE)
    os.environ.setdefault("OMP_NUM_THREADS", str(_SHARE))  # the runs the tests start as processes


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture
def compose(data_cache, tmp_path):
    """compose(*overrides) -> the run config as `scaling-train` would build it, writing under tmp_path."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import experiments.config  # noqa: F401  (registers the schema)

    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=[f"data.cache_dir={data_cache}",
                                                                   f"results_dir={tmp_path / 'results'}",
                                                                   "progress=false", *overrides])
    return _compose


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
