"""The MNIST accuracy target: honest accuracy, safe loading, hostile model files contained."""

from __future__ import annotations

import hashlib
import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from grader.datasets import load_mnist, perturb
from grader.grading.checks.accuracy import PROCESS_SECRET
from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_problem
from grader.kit.selfcheck import check_submission
from grader.reference import load_module
from grader.results import CheckResult, ProblemResult
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

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
    # What the grader sent: the images with the noise seeded by the instructor's files.
    sent = perturb(images[5000:10000], ReferenceExpectations(load_spec("hw1")).image_secret)
    module = load_module(CNN / "mnist_model.py")
    model = module.build_model()
    model.load_state_dict(torch.load(CNN / "mnist_model.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(sent.astype(np.float32) / 255.0).unsqueeze(1)
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


def graded_in_process(folder: Path) -> tuple[ProblemResult, CheckResult]:
    """SMALL's accuracy check on the model in ``folder``, run in this process (trusted test code:
    what is tested here is the grader's side, not the sandbox), through the same session code."""
    assignment = load_spec(SMALL)
    (problem,) = assignment.problems
    session = InProcessSession({"mnist_model": load_module(folder / "mnist_model.py")}, folder)
    result = grade_problem(assignment, problem, session, ReferenceExpectations(assignment), "check")
    return result, result.checks[0]


def test_a_model_hiding_parameters_is_counted_from_its_weights(tmp_path: Path) -> None:
    """A model whose parameters() hides a 2M-element parameter (issue 21, 3): the grader counts the
    weights file's tensors itself, so the budget still sees it."""
    code = """
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(784, 10)
            self.hidden = nn.Parameter(torch.zeros(2_000_000))

        def parameters(self, recurse=True):
            return self.lin.parameters()

        def forward(self, x):
            return self.lin(x.flatten(1)) + self.hidden[:10]

    def build_model():
        return Net()
    """
    folder = submission(tmp_path, code)
    model = load_module(folder / "mnist_model.py").build_model()
    assert sum(p.numel() for p in model.parameters()) == 7850  # what the model says of itself
    problem, check = graded_in_process(folder)
    assert problem.score == 0 and "2,007,850 parameters, more than the budget" in check.message, check.message


def test_looking_images_up_by_hash_fails(tmp_path: Path) -> None:
    """A one-parameter model that knows each public test image's label by the SHA-1 of its bytes
    (issue 21, 4): right on every image as published, at chance on the images the grader sends."""
    images, labels = load_mnist("test")
    batch = torch.from_numpy(images[5000:5500].copy()).to(torch.float32).div_(255.0).unsqueeze(1)
    table = {hashlib.sha1(image.numpy().tobytes()).hexdigest(): int(label)
             for image, label in zip(batch, labels[5000:5500])}
    code = f"""
    import hashlib
    import torch
    from torch import nn

    TABLE = {table!r}

    class LookUp(nn.Module):
        def __init__(self):
            super().__init__()
            self.one = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            found = [TABLE.get(hashlib.sha1(image.numpy().tobytes()).hexdigest(), 0) for image in x]
            return torch.nn.functional.one_hot(torch.tensor(found), 10).float() + self.one

    def build_model():
        return LookUp()
    """
    folder = submission(tmp_path, code)
    model = load_module(folder / "mnist_model.py").build_model()
    assert (model(batch).argmax(1).numpy() == labels[5000:5500]).all()  # on the published bytes: 100%
    problem, check = graded_in_process(folder)
    assert check.data["accuracy"] < 0.3 and problem.score == 0, check.message


def test_the_noise_costs_a_real_model_nothing() -> None:
    """ben's linear model (the most sensitive of the examples: the CNNs move by 0.04 points at most),
    on the held-out images as published and as the grader sends them: within 0.3 points."""
    images, labels = load_mnist("test")
    clean, noisy = images[5000:10000], perturb(images[5000:10000], PROCESS_SECRET)
    for folder in (ROOT / "submissions" / "hw1" / "ben",):
        model = load_module(folder / "mnist_model.py").build_model()
        model.load_state_dict(torch.load(folder / "mnist_model.pt", weights_only=True))
        model.eval()
        accuracy = []
        for shown in (clean, noisy):
            with torch.no_grad():
                x = torch.from_numpy(shown.astype(np.float32) / 255.0).unsqueeze(1)
                accuracy.append(float((torch.cat([model(b).argmax(1) for b in x.split(1000)]).numpy()
                                       == labels[5000:10000]).mean()))
        assert abs(accuracy[0] - accuracy[1]) <= 0.003, (folder.name, accuracy)


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
