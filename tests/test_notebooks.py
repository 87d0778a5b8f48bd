"""The notebooks run top to bottom on the committed reference sweep, and draw their figures."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} == {"loss_curves.ipynb", "isoflop_analysis.ipynb", "planner.ipynb",
                                           "architecture.ipynb"}


# ~20 s each: in `make test-slow` (and `make notebooks`, which executes them all), the other two in `make test`
SLOW_NOTEBOOKS = ("architecture", "isoflop_analysis")


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_NOTEBOOKS else p
                                  for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if path.stem != "planner":
        assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook drew no figure"
