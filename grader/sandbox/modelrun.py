"""Worker-side loading, evaluation and retraining of a student's MNIST model.

Runs inside the sandboxed worker only. It returns predicted labels and load problems (the
parameter count is measured by the grader, from the weights file); the true labels never reach it, and accuracy is computed by the
grader in the trusted process.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from grader import wire

ErrorReporter = Callable[[BaseException, float], dict[str, Any]]
Reply = tuple[dict[str, Any], list[bytes]]


def warm_up() -> None:
    """Run once where torch is preloaded (the fork server, a portable worker), before any student
    code: torch imports some of its own modules (sympy, about half a second of CPU) only at the
    first backward pass given a gradient. Done here, no worker pays that inside a student's time
    limit, and every worker starts as warm as the last. Ones only: no random generator is drawn."""
    x = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.conv2d(x[None, None], torch.ones(1, 1, 1, 1, dtype=torch.float64)).sum().backward()
    (x @ x).backward(torch.ones(2, 2, dtype=torch.float64))


def _to_batch(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], the handout's input convention."""
    return torch.from_numpy(images).to(torch.float32).div_(255.0).unsqueeze(1)


def describe_mismatch(expected: Mapping[str, torch.Size], loaded: Mapping[str, Any]) -> list[str]:
    """A readable diff between the model's state-dict keys/shapes and the loaded file's."""
    lines = []
    for key in expected:
        if key not in loaded:
            lines.append(f"missing from the file: {key} {tuple(expected[key])}")
        elif not isinstance(loaded[key], torch.Tensor):
            lines.append(f"{key} is a {type(loaded[key]).__name__}, not a tensor")
        elif tuple(loaded[key].shape) != tuple(expected[key]):
            lines.append(f"{key}: model expects {tuple(expected[key])}, file has {tuple(loaded[key].shape)}")
    lines += [f"not in the model: {key}" for key in loaded if key not in expected]
    return lines


def _prepare(build_model: Callable[[], Any], state: Any) -> torch.nn.Module | dict[str, Any]:
    model = build_model()
    if not isinstance(model, torch.nn.Module):
        return {"status": "error", "message": f"build_model() returned a {type(model).__name__}, not a torch.nn.Module"}
    if not isinstance(state, Mapping):
        return {"status": "bad_weights", "message": f"the weights are a {type(state).__name__}, not a state_dict"}
    expected = {key: value.shape for key, value in model.state_dict().items()}
    diff = describe_mismatch(expected, state)
    if diff:
        return {
            "status": "bad_weights",
            "message": "the weights do not match build_model():\n" + "\n".join(diff[:20]),
        }
    model.load_state_dict(state, strict=True)
    return model


def predict(model: torch.nn.Module, images: np.ndarray, batch_size: int) -> np.ndarray | dict[str, Any]:
    """Predicted labels in batches under no_grad, or an error reply for bad logits."""
    model.eval()
    predictions = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = _to_batch(images[start:start + batch_size])
            logits = model(batch)
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(batch), 10):
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                return {"status": "error", "message": f"the model returned {shape} for a batch of {len(batch)}; expected logits of shape ({len(batch)}, 10)"}
            if not torch.isfinite(logits).all():
                return {"status": "error", "message": "the model returned NaN or infinite logits"}
            predictions.append(logits.argmax(dim=1).to(torch.int64).numpy())
    return np.concatenate(predictions) if predictions else np.zeros(0, dtype=np.int64)


def _answer(model: torch.nn.Module, images: np.ndarray, batch_size: int, start: float) -> Reply:
    # No parameter count: the grader measures the weights file itself (grader.sandbox.weights).
    labels = predict(model, images, batch_size)
    if isinstance(labels, dict):
        return labels, []
    blobs: list[bytes] = []
    node = wire.encode(labels, blobs)
    return {"status": "ok", "value": node, "seconds": time.perf_counter() - start}, blobs


def evaluate_submitted(
    build_model: Callable[[], Any],
    weights: Path,
    images: np.ndarray,
    *,
    batch_size: int,
    report_error: ErrorReporter,
) -> Reply:
    """Build the model, load the submitted state dict safely, predict every image."""
    start = time.perf_counter()
    if not weights.is_file():
        return {"status": "missing_module", "message": f"{weights.name} is missing from the submission"}, []
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return {
            "status": "bad_weights",
            "message": f"{weights.name} was refused by torch.load(weights_only=True): it holds pickled code "
            f"or objects other than tensors. Save it with torch.save(model.state_dict(), path). ({first[:300]})",
        }, []
    except Exception as error:  # noqa: BLE001 - a corrupt file is the student's
        return {"status": "bad_weights", "message": f"{weights.name} could not be read: {str(error)[:300]}"}, []
    try:
        torch.manual_seed(0)
        model = _prepare(build_model, state)
        if isinstance(model, dict):
            return model, []
        return _answer(model, images, batch_size, start)
    except BaseException as error:  # noqa: BLE001 - student code
        return report_error(error, time.perf_counter() - start), []


def train_and_evaluate(
    build_model: Callable[[], Any],
    train: Callable[..., Any],
    train_images: np.ndarray,
    train_labels: np.ndarray,
    eval_images: np.ndarray,
    *,
    seed: int,
    batch_size: int,
    report_error: ErrorReporter,
) -> Reply:
    """Run the student's train() from scratch, then predict the evaluation images."""
    start = time.perf_counter()
    try:
        torch.manual_seed(seed)
        np.random.seed(seed)
        state = train(train_images.copy(), train_labels.copy(), seed)
        model = _prepare(build_model, state)
        if isinstance(model, dict):
            model["message"] = "train() " + model["message"]
            return model, []
        return _answer(model, eval_images, batch_size, start)
    except BaseException as error:  # noqa: BLE001 - student code
        return report_error(error, time.perf_counter() - start), []
