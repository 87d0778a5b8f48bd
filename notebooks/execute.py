"""Run every notebook top to bottom and save it with its outputs, so the figures show where the repository is
browsed. `make notebooks` runs it after a change to the notebooks or to the reference sweep; the test suite
executes the notebooks too, without saving them."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def main(paths: list[str]) -> int:
    for path in [Path(p) for p in paths] or sorted(HERE.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        nbformat.write(notebook, path)
        print(f"executed and saved {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
