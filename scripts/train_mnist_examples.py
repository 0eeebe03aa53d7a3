"""Produce every example ``mnist_model.pt`` of hw1: the reference's and the example students'.

The 60,000-image MNIST training set is not available offline, so the course splits the shipped
10,000-image test set: models are trained on images [0, 5000) and evaluated on the held-out images
[5000, 10000). For each model this script imports its ``mnist_model.py`` by file path, calls that
module's own ``train(images, labels, seed=0)`` and saves the returned ``state_dict`` with
``torch.save`` next to it. Cy's submission is the exception by design: its weights are a fresh,
untrained ``build_model()`` after ``torch.manual_seed(0)``.

Afterwards every saved file is reloaded (``weights_only=True``, as the grader does) and its
parameter count, file size and held-out accuracy (one thread) are printed.

Usage: ``python scripts/train_mnist_examples.py [--only NAME ...]`` from anywhere; it takes about a
minute on one core.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from grader.datasets import load_mnist  # noqa: E402

TRAIN_RANGE = (0, 5000)
HELD_OUT_RANGE = (5000, 10000)
SEED = 0
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_PARAMETERS = 1_000_000


@dataclass(frozen=True)
class Example:
    """One model to produce: ``folder`` holds ``mnist_model.py`` and receives ``mnist_model.pt``."""

    name: str
    folder: Path
    trained: bool = True

    @property
    def source(self) -> Path:
        return self.folder / "mnist_model.py"

    @property
    def weights(self) -> Path:
        return self.folder / "mnist_model.pt"


EXAMPLES: tuple[Example, ...] = (
    Example("reference", ROOT / "reference"),
    Example("ada", ROOT / "submissions" / "hw1" / "ada"),
    Example("ben", ROOT / "submissions" / "hw1" / "ben"),
    Example("cy", ROOT / "submissions" / "hw1" / "cy", trained=False),
)


def load_module(name: str, path: Path) -> ModuleType:
    """Import ``path`` as a fresh module named ``name`` (never through ``sys.path``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def produce(example: Example, images: np.ndarray, labels: np.ndarray) -> float | None:
    """Write ``example.weights``; return the seconds ``train()`` took (``None`` if not trained)."""
    module = load_module(f"mnist_example_{example.name}", example.source)
    seconds: float | None = None
    if example.trained:
        start = time.perf_counter()
        # Each model gets its own writable copy, so none can disturb another's data.
        state = module.train(images.copy(), labels.copy(), seed=SEED)
        seconds = time.perf_counter() - start
    else:
        torch.manual_seed(SEED)
        state = module.build_model().state_dict()
    state = {key: value.detach().cpu().contiguous() for key, value in state.items()}
    torch.save(state, example.weights)
    return seconds


def evaluate(example: Example, images: np.ndarray, labels: np.ndarray) -> tuple[int, float, float]:
    """Reload the saved weights as the grader does; return (parameters, accuracy, seconds)."""
    module = load_module(f"mnist_example_{example.name}_eval", example.source)
    model: torch.nn.Module = module.build_model()
    model.load_state_dict(torch.load(example.weights, map_location="cpu", weights_only=True))
    model.eval()
    parameters = sum(p.numel() for p in model.parameters())
    start = time.perf_counter()
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    correct = 0
    with torch.no_grad():
        for begin in range(0, len(x), 1000):
            logits = model(x[begin : begin + 1000])
            if logits.shape != (len(x[begin : begin + 1000]), 10):
                raise ValueError(f"{example.name}: logits of shape {tuple(logits.shape)}")
            correct += int((logits.argmax(dim=1).numpy() == labels[begin : begin + 1000]).sum())
    seconds = time.perf_counter() - start
    return parameters, correct / len(labels), seconds


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[example.name for example in EXAMPLES],
        help="produce only these models (default: all)",
    )
    args = parser.parse_args(argv)
    chosen = [e for e in EXAMPLES if args.only is None or e.name in args.only]

    torch.set_num_threads(1)  # the handout's budget is one CPU core
    images, labels = load_mnist("test")
    train_x, train_y = images[slice(*TRAIN_RANGE)], labels[slice(*TRAIN_RANGE)]
    test_x, test_y = images[slice(*HELD_OUT_RANGE)], labels[slice(*HELD_OUT_RANGE)]
    out(
        f"train on test images [{TRAIN_RANGE[0]}, {TRAIN_RANGE[1]}), evaluate on "
        f"[{HELD_OUT_RANGE[0]}, {HELD_OUT_RANGE[1]}), seed {SEED}, torch {torch.__version__}"
    )

    problems: list[str] = []
    for example in chosen:
        seconds = produce(example, train_x, train_y)
        parameters, accuracy, eval_seconds = evaluate(example, test_x, test_y)
        size = example.weights.stat().st_size
        trained = f"train() {seconds:5.1f} s" if seconds is not None else "untrained (seed 0)"
        out(
            f"{example.name:10s} {parameters:>9,d} parameters  {size / 1024:7.1f} KiB  "
            f"{trained:18s}  held-out accuracy {accuracy:.2%}  (eval {eval_seconds:.2f} s)  "
            f"-> {example.weights.relative_to(ROOT)}"
        )
        if size > MAX_FILE_BYTES:
            problems.append(f"{example.weights}: {size} bytes, over {MAX_FILE_BYTES}")
        if parameters > MAX_PARAMETERS:
            problems.append(f"{example.name}: {parameters} parameters, over {MAX_PARAMETERS}")
    for problem in problems:
        out(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
