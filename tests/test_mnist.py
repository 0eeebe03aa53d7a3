"""The MNIST accuracy target: honest accuracy, safe loading, hostile model files contained."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.datasets import load_mnist
from grader.kit.selfcheck import check_submission
from grader.reference import load_module

from conftest import ROOT

SMALL = ROOT / "tests" / "data" / "mnist" / "mnist.yaml"
CNN = ROOT / "submissions" / "hw1" / "ada"


def accuracy_check(report):  # noqa: ANN001, ANN201
    (problem,) = report.problems
    (check,) = problem.checks
    return problem, check


def test_examples_meet_or_miss_the_target(graded_examples: dict[str, Path]) -> None:
    results = {sid: json.loads((graded_examples["hw1"] / sid / "results.json").read_text()) for sid in ("ada", "ben", "cy", "dee")}
    tests = {sid: next(t for t in data["tests"] if t["name"] == "mnist_accuracy") for sid, data in results.items()}
    assert tests["ada"]["score"] == tests["ada"]["max_score"]  # the trained CNN meets the target
    assert 0 < tests["ben"]["score"] < tests["ben"]["max_score"]  # the linear model: partial credit
    assert tests["cy"]["score"] == 0  # untrained
    assert "mnist_model.py is missing" in tests["dee"]["output"]
    extra = tests["ada"]["extra_data"]
    assert extra["images"] == 5000 and 0 < extra["parameters"] <= 1_000_000


def test_grader_accuracy_equals_an_independent_computation(graded_examples: dict[str, Path]) -> None:
    data = json.loads((graded_examples["hw1"] / "ada" / "results.json").read_text())
    reported = next(t for t in data["tests"] if t["name"] == "mnist_accuracy")["extra_data"]["accuracy"]
    images, labels = load_mnist("test")
    module = load_module(CNN / "mnist_model.py")
    model = module.build_model()
    model.load_state_dict(torch.load(CNN / "mnist_model.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(images[5000:10000].astype(np.float32) / 255.0).unsqueeze(1)
        predicted = torch.cat([model(batch).argmax(1) for batch in x.split(500)]).numpy()
    assert reported == float((predicted == labels[5000:10000]).mean())


def submission(tmp_path: Path, code: str, state: object | None = "build") -> Path:
    """A model submission: mnist_model.py from ``code`` and weights saved from its build_model()."""
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "mnist_model.py").write_text(textwrap.dedent(code))
    if state == "build":
        module = load_module(folder / "mnist_model.py")
        torch.manual_seed(0)
        torch.save(module.build_model().state_dict(), folder / "mnist_model.pt")
    elif state is not None:
        torch.save(state, folder / "mnist_model.pt")
    return folder


LINEAR = """
    import torch
    from torch import nn

    def build_model():
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
"""


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    problem, check = accuracy_check(check_submission(SMALL, submission(tmp_path, LINEAR, state=None)))
    assert problem.score == 0 and "mnist_model.pt is missing" in check.message


def test_pickled_code_in_the_weights_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = submission(tmp_path, LINEAR, state=None)

    class Payload:
        def __reduce__(self):  # noqa: ANN204
            return (open, (str(marker), "w"))

    torch.save({"0.weight": Payload()}, folder / "mnist_model.pt")
    problem, check = accuracy_check(check_submission(SMALL, folder))
    assert problem.score == 0
    assert "weights_only" in check.message and "pickled code" in check.message
    assert not marker.exists()


def test_wrong_shapes_get_a_readable_diff(tmp_path: Path) -> None:
    state = {"1.weight": torch.zeros(10, 100), "1.bias": torch.zeros(10), "extra": torch.zeros(1)}
    problem, check = accuracy_check(check_submission(SMALL, submission(tmp_path, LINEAR, state=state)))
    assert problem.score == 0
    assert "1.weight: model expects (10, 784), file has (10, 100)" in check.message
    assert "not in the model: extra" in check.message


@pytest.mark.parametrize(
    ("forward", "words"),
    [
        ("import time; time.sleep(60); return self.lin(x.flatten(1))", "time limit of 2 s"),
        ("return self.lin(x.flatten(1)) * float('nan')", "NaN"),
        ("return self.lin(x.flatten(1))[:, :9]", "expected logits of shape"),
        ("raise RuntimeError('my forward is broken')", "my forward is broken"),
    ],
)
def test_hostile_models_are_contained(tmp_path: Path, forward: str, words: str) -> None:
    code = f"""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(784, 10)

        def forward(self, x):
            {forward}

    def build_model():
        return Net()
    """
    problem, check = accuracy_check(check_submission(SMALL, submission(tmp_path, code)))
    assert problem.score == 0 and words in check.message, check.message


def test_parameter_budget(tmp_path: Path) -> None:
    code = """
    from torch import nn

    def build_model():
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 1300), nn.Linear(1300, 10))
    """
    problem, check = accuracy_check(check_submission(SMALL, submission(tmp_path, code)))
    assert problem.score == 0 and "more than the budget of 1,000,000" in check.message


def test_retraining_reports_both_accuracies(tmp_path: Path) -> None:
    folder = tmp_path / "ada"
    shutil.copytree(ROOT / "submissions" / "hw1" / "cy", folder)  # cy's train() is the quickest
    report = check_submission(ROOT / "tests" / "data" / "mnist" / "retrain.yaml", folder, mode="grade")
    _, check = accuracy_check(report)
    assert check.data["accuracy"] < 0.3  # cy's submitted weights are untrained
    assert check.data["retrained_accuracy"] > 0.6  # but its train() does learn
    assert "retrained with train()" in check.message


def test_data_fetch_without_network_says_so_clearly(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a port on loopback that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "grader", "data", "fetch", "mnist", "--data-dir", str(tmp_path),
         "--mirror", f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode != 0
    assert "could not download" in result.stderr and "no network or host unreachable" in result.stderr
    assert not list(tmp_path.iterdir())
