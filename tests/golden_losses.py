"""The golden-loss run: a tiny seeded LLaMA- and GPT-3-style run on CPU in fp32 with one thread, whose first 20
training losses `tests/golden/first_20_losses.json` pins (tests/test_train.py compares to 1e-4).

A change that alters them on purpose (initialisation, data order, the model) regenerates the file, and the
diff shows in review:

    python -m tests.golden_losses          # from the repository root; prints the losses and rewrites the file
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden" / "first_20_losses.json"
CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
STYLES = ("llama", "gpt3")
STEPS = 20


def overrides(style: str, results_dir: Path) -> list[str]:
    """Fixed shape, batch and tokens, a loss logged every step, CPU and fp32 so any machine reproduces it."""
    return ["data=tiny", f"model={style}", "model.d_model=32", "model.n_layers=2", "model.n_heads=2",
            "optim.batch_size=4", "budget.tokens=61440", "log_every_steps=1", "eval.count=1", "threads=1",
            "device=cpu", "precision=fp32", "seed=1234", "progress=false", f"results_dir={results_dir}"]


def first_losses(compose_overrides: list[str], run_dir: Path) -> list[float]:
    from hydra import compose, initialize_config_dir

    from experiments.trainer import train
    from scaling.rundir import read_metrics

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=compose_overrides)
    train(cfg, run_dir)
    return [r["train_loss"] for r in read_metrics(run_dir)][:STEPS]


def main() -> int:
    import torch

    threads = torch.get_num_threads()
    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        for style in STYLES:
            golden[style] = first_losses([f"data.cache_dir={Path(tmp) / 'cache'}", *overrides(style, Path(tmp))],
                                         Path(tmp) / style)
            torch.set_num_threads(threads)
    golden["generated_with"] = f"torch {torch.__version__}, CPU, fp32, 1 thread"
    GOLDEN.write_text(json.dumps(golden, indent=1) + "\n")
    print(json.dumps(golden, indent=1))
    print(f"wrote {GOLDEN}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
