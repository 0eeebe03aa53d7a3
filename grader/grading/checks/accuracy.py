"""The MNIST accuracy target: a submitted model's predictions scored against the true labels.

The worker loads and runs the student's model and returns predicted labels only; the labels,
the accuracy, the confusion matrix and the credit are computed here, in the trusted process. The
images the worker sees carry faint noise drawn from a secret of the instructor's (``image_secret``,
see ``grader.datasets.perturb``), so the public test set cannot be looked up byte for byte; the
model's size is measured by the grader from the weights file (``grader.sandbox.weights``).
"""

from __future__ import annotations

import secrets

import numpy as np

from grader import datasets
from grader.calls import Call, CallOutcome
from grader.grading.checks.registry import Context, register
from grader.results import CheckResult, Outcome
from grader.spec import AccuracyCheck

MISCLASSIFIED_SHOWN = 8
RETRAIN_GAP_WARNING = 0.02
"""A retrained model this much less accurate than the submitted weights is pointed out."""
PROCESS_SECRET = secrets.randbits(63)
"""The noise's seed where the expectations hold none (no reference: a student's self-check)."""


def image_secret(ctx: Context) -> int:
    """The seed of the evaluation images' noise: the instructor's (see
    ``ReferenceExpectations.image_secret``), never sent to a worker."""
    secret = getattr(ctx.expectations, "image_secret", None)
    return PROCESS_SECRET if secret is None else int(secret)


def _key(ctx: Context, what: str) -> str:
    return f"{ctx.problem.id}/{what}#{ctx.check_index}"


def _plan(ctx: Context, check: AccuracyCheck) -> list[Call]:
    images, _ = ctx.expectations.mnist(check.split, *check.images)
    images = datasets.perturb(images, image_secret(ctx))
    calls = [Call(key=_key(ctx, "evaluate"), module=ctx.module, function="build_model", op="evaluate_model",
                  options={"weights": check.weights, "batch_size": check.batch_size}, arrays=(images,),
                  timeout=check.time_limit)]
    if check.retrain is not None and ctx.mode == "grade":
        train_images, train_labels = ctx.expectations.mnist(check.retrain.split, *check.retrain.images)
        calls.append(Call(key=_key(ctx, "retrain"), module=ctx.module, function="train", op="train_model",
                          options={"seed": check.retrain.seed, "batch_size": check.batch_size},
                          arrays=(train_images, train_labels, images),
                          timeout=check.retrain.time_limit + check.time_limit))
    return calls


def credit(accuracy: float, check: AccuracyCheck) -> float:
    """The share of the points for an accuracy: zero at the floor, full at the target."""
    if check.curve == "step":
        return 1.0 if accuracy >= check.target else 0.0
    return float(np.clip((accuracy - check.floor) / (check.target - check.floor), 0.0, 1.0))


def _predictions(outcome: CallOutcome, count: int) -> np.ndarray | str:
    if not outcome.ok:
        return outcome.message
    predictions = outcome.value
    if not isinstance(predictions, np.ndarray) or predictions.shape != (count,) or predictions.dtype.kind not in "iu":
        return "the worker returned malformed predictions"
    if predictions.size and (predictions.min() < 0 or predictions.max() > 9):
        return "the worker returned labels outside 0-9"
    return predictions


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    matrix = np.zeros((10, 10), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), predictions.astype(np.int64)), 1)
    return matrix


@register("accuracy", plan=_plan)
def check_accuracy(ctx: Context, check: AccuracyCheck) -> CheckResult:
    """Accuracy of the submitted weights; partial credit between floor and target."""
    _, labels = ctx.expectations.mnist(check.split, *check.images)
    outcome = ctx.outcomes[_key(ctx, "evaluate")]
    predictions = _predictions(outcome, len(labels))

    def result(score: float, outcome_kind: Outcome, message: str, data: dict[str, object]) -> CheckResult:
        return CheckResult(name=ctx.check_name, kind="accuracy", weight=check.weight, score=score,
                           outcome=outcome_kind, message=message, data=data)

    base = {"target": check.target, "floor": check.floor, "images": len(labels), "split": check.split,
            "range": list(check.images), "max_parameters": check.max_parameters}
    if isinstance(predictions, str):
        kind = Outcome.TIMEOUT if outcome.status == "timeout" else Outcome.ERROR
        return result(0.0, kind, predictions, {**base, "accuracy": None, "traceback": outcome.traceback})
    if "parameters" not in outcome.extra:  # measured by the session from the weights file; never assumed
        return result(0.0, Outcome.ERROR, "the grader could not measure the model's size", {**base, "accuracy": None})
    parameters = int(outcome.extra["parameters"])
    correct = predictions == labels
    accuracy = float(correct.mean()) if len(labels) else 0.0
    matrix = confusion_matrix(labels, predictions)
    per_class = [float(matrix[d, d] / matrix[d].sum()) if matrix[d].sum() else None for d in range(10)]
    wrong = np.flatnonzero(~correct)[:MISCLASSIFIED_SHOWN]
    data = {
        **base,
        "accuracy": accuracy,
        "parameters": parameters,
        "seconds": outcome.seconds,
        "confusion": matrix.tolist(),
        "per_class": per_class,
        "misclassified": [
            {"index": int(check.images[0] + i), "label": int(labels[i]), "predicted": int(predictions[i])} for i in wrong
        ],
    }
    message = (f"accuracy {accuracy:.2%} on {len(labels)} images (target {check.target:.2%}, "
               f"floor {check.floor:.2%}), {parameters:,} parameters, {outcome.seconds:.1f} s")
    retrained = ctx.outcomes.get(_key(ctx, "retrain"))
    if retrained is not None:
        retrained_predictions = _predictions(retrained, len(labels))
        if isinstance(retrained_predictions, str):
            data["retrained_accuracy"] = None
            message += f"; retraining with train() failed: {retrained_predictions}"
        else:
            data["retrained_accuracy"] = float((retrained_predictions == labels).mean())
            message += f"; retrained with train(): {data['retrained_accuracy']:.2%}"
            if accuracy - data["retrained_accuracy"] > RETRAIN_GAP_WARNING:
                message += " (much lower than the submitted weights: are they reproducible?)"
    if parameters > check.max_parameters:
        return result(0.0, Outcome.FAILED, f"the model has {parameters:,} parameters, more than the budget of "
                      f"{check.max_parameters:,}; {message}", data)
    score = credit(accuracy, check)
    kind = Outcome.PASSED if score >= 1.0 else Outcome.FAILED
    return result(score, kind, message, data)
