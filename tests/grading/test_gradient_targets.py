"""Gradient checks with respect to where a value lives: an object's attribute, a dict entry, a
torch module's parameter (``wrt: {layer.W: layer.dW}``), not only a case argument.

Students are in-process modules (trusted test code), as in ``test_scenario_checks``; the worker's
side of ``through: student`` runs the same ``interpreter.plan_gradient``.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.errors import SpecError
from grader.grading.expectations import ReferenceExpectations, ReferenceRaised
from grader.grading.runner import grade_problem
from grader.results import Outcome, ProblemResult
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec

LAYER = '''
import numpy as np

class Layer:
    def __init__(self, n_in, n_out):
        self.W = np.random.randn(n_out, n_in)   # the grader never sets W: the constructor draws it
        self.b = np.zeros(n_out)

    def forward(self, A):
        self.A = A
        return np.tanh(A @ self.W.T + self.b)

    def backward(self, dZ):
        self.Z = np.tanh(self.A @ self.W.T + self.b)
        dS = dZ * (1 - self.Z ** 2)
        self.dW = dS.T @ self.A
        self.db = dS.sum(axis=0)
        return dS @ self.W

def net_loss(params, X):
    scores = X @ params["W"]
    loss = 0.5 * np.sum(scores ** 2)
    return loss, {"W": X.T @ scores}
'''

LAYER_PROBLEM = {
    "id": "Layer",
    "points": 4,
    "scenario": ["layer = Layer(3, 2)", "Z = layer.forward(A)", "dA = layer.backward(dZ)"],
    "read": ["Z", "dA", "layer.dW", "layer.db"],
    "cases": [{"name": "pub", "visibility": "public", "args": {
        "A": {"random": "normal", "shape": [4, 3], "seed": 2},
        "dZ": {"random": "normal", "shape": [4, 2], "seed": 3}}}],
    "checks": [{"kind": "gradient", "of": "Z", "upstream": "dZ",
                "wrt": {"A": "dA", "layer.W": "layer.dW", "layer.b": "layer.db"}}],
}

LOSS_PROBLEM = {
    "id": "net_loss",
    "points": 2,
    "scenario": ["loss, grads = net_loss(params, X)"],
    "read": ["loss", 'grads["W"]'],
    "cases": [{"name": "pub", "visibility": "public", "args": {
        "params": {"W": {"random": "normal", "shape": [3, 2], "seed": 4}},
        "X": {"random": "normal", "shape": [5, 3], "seed": 5}}}],
    "checks": [{"kind": "gradient", "of": "loss", "wrt": {'params["W"]': 'grads["W"]'}}],
}


def assignment_of(tmp_path: Path, reference: str, problem: dict[str, Any]) -> Any:
    (tmp_path / "ref.py").write_text(reference)
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(tmp_path / "t.yaml")


def grade(tmp_path: Path, reference: str, problem: dict[str, Any], student: str) -> ProblemResult:
    assignment = assignment_of(tmp_path, reference, problem)
    module = types.ModuleType("student")
    exec(student, module.__dict__)  # noqa: S102 - trusted test code
    return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": module}),
                         ReferenceExpectations(assignment), "grade")


def through_student(problem: dict[str, Any]) -> dict[str, Any]:
    return {**problem, "checks": [{**problem["checks"][0], "through": "student"}]}


@pytest.mark.parametrize("through", ["reference", "student"])
def test_an_attribute_the_constructor_drew_is_differentiated(tmp_path: Path, through: str) -> None:
    problem = LAYER_PROBLEM if through == "reference" else through_student(LAYER_PROBLEM)
    result = grade(tmp_path, LAYER, problem, LAYER)
    assert result.passed, result.failure
    # dW averaged over the batch: only that part fails.
    wrong = LAYER.replace("self.dW = dS.T @ self.A", "self.dW = dS.T @ self.A / len(dZ)")
    result = grade(tmp_path, LAYER, problem, wrong)
    (check,) = result.checks
    assert check.outcome is Outcome.FAILED and "d/d(layer.W): 6 of 6 values differ" in check.message, check.message
    (case,) = check.cases  # expected and obtained show the wrong derivative only, not the first ones
    assert case.expected.startswith("{'layer.dW': ") and case.obtained.startswith("{'layer.dW': "), case.expected
    assert result.score == pytest.approx(4 * 2 / 3)
    # The tanh derivative forgotten: dA, dW and db are all wrong, and nothing is earned.
    assert grade(tmp_path, LAYER, problem, LAYER.replace("dZ * (1 - self.Z ** 2)", "dZ")).score == 0


def test_through_the_students_forward_a_missing_attribute_is_named(tmp_path: Path) -> None:
    renamed = LAYER.replace("self.W =", "self.weights =").replace("self.W.T", "self.weights.T") \
        .replace("dS @ self.W", "dS @ self.weights")
    # Its derivatives are the reference's: right, whatever its forward calls the weights.
    assert grade(tmp_path, LAYER, through_student(LAYER_PROBLEM), renamed).passed
    averaged = renamed.replace("self.dW = dS.T @ self.A", "self.dW = dS.T @ self.A / len(dZ)")
    result = grade(tmp_path, LAYER, through_student(LAYER_PROBLEM), averaged)
    assert result.score == 0
    assert "moving `layer.W` before step 2 `Z = layer.forward(A)`" in result.checks[0].message, \
        result.checks[0].message


def test_an_entry_of_a_dict_argument(tmp_path: Path) -> None:
    assert grade(tmp_path, LAYER, LOSS_PROBLEM, LAYER).passed
    wrong = LAYER.replace('{"W": X.T @ scores}', '{"W": 2 * X.T @ scores}')
    assert grade(tmp_path, LAYER, LOSS_PROBLEM, wrong).score == 0


@pytest.mark.parametrize(("key", "said"), [
    ("layer.forward(A)", "a name followed by attributes and constant keys"),
    ("net.W", "`net` is not an argument of the cases, nor made before step 2 `Z = layer.forward(A)`"),
])
def test_a_key_that_is_not_a_location_is_refused_naming_the_field(tmp_path: Path, key: str, said: str) -> None:
    problem = {**LAYER_PROBLEM, "checks": [{**LAYER_PROBLEM["checks"][0], "wrt": {key: "layer.dW"}}]}
    with pytest.raises(SpecError) as raised:
        assignment_of(tmp_path, LAYER, problem)
    assert "checks.0.wrt" in str(raised.value) and said in str(raised.value), str(raised.value)


def test_a_value_copied_before_of_is_computed_is_the_specs_mistake(tmp_path: Path) -> None:
    # `layer.dW` is the backward's output, not an input of the forward: moving it changes nothing.
    problem = {**LAYER_PROBLEM, "scenario": ["layer = Layer(3, 2)", "Z0 = layer.forward(A)", "dA = layer.backward(dZ)",
                                             "Z = layer.forward(A)"],
               "checks": [{**LAYER_PROBLEM["checks"][0], "wrt": {"layer.dW": "layer.dW"}}]}
    assignment = assignment_of(tmp_path, LAYER, problem)
    with pytest.raises(ReferenceRaised, match="does not change when `layer.dW` moves"):
        ReferenceExpectations(assignment).gradient(assignment.problems[0], 0, assignment.problems[0].cases[0])


TORCH_MODULE = '''
import torch

class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return torch.tanh(self.fc(x))
'''

TORCH_PROBLEM = {
    "id": "Tiny",
    "points": 2,
    "scenario": ["net = Tiny()", "load_state_dict(net, state)", "out = net(x)", "out.backward(dout)"],
    "read": ["out", "net.fc.weight.grad", "net.fc.bias.grad"],
    "cases": [{"name": "pub", "visibility": "public", "args": {
        "state": {"fc.weight": {"random": "normal", "shape": [2, 3], "seed": 6, "dtype": "float32", "tensor": True},
                  "fc.bias": {"random": "normal", "shape": [2], "seed": 7, "dtype": "float32", "tensor": True}},
        "x": {"random": "normal", "shape": [4, 3], "seed": 8, "dtype": "float32", "tensor": True},
        "dout": {"random": "normal", "shape": [4, 2], "seed": 9, "dtype": "float32", "tensor": True}}}],
    "checks": [{"kind": "gradient", "method": "autograd", "of": "out", "upstream": "dout",
                "wrt": {"net.fc.weight": "net.fc.weight.grad", "net.fc.bias": "net.fc.bias.grad"}}],
}


def test_a_torch_modules_parameters_by_autograd(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    assert grade(tmp_path, TORCH_MODULE, TORCH_PROBLEM, TORCH_MODULE).passed
    # The weight read through .detach(): the output is right, its gradient never reaches fc.weight.
    detached = TORCH_MODULE.replace("return torch.tanh(self.fc(x))",
                                    "return torch.tanh(x @ self.fc.weight.detach().T + self.fc.bias)")
    result = grade(tmp_path, TORCH_MODULE, TORCH_PROBLEM, detached)
    assert result.checks[0].outcome is Outcome.FAILED and 0 < result.score < 2
    assert "d/d(net.fc.weight): expected an array, got None: no gradient reached it" in result.checks[0].message


def test_a_state_dict_entry_has_no_graph_to_the_output_and_the_error_says_what_to_name(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    problem = {**TORCH_PROBLEM, "scenario": [step.replace("net", "tiny") for step in TORCH_PROBLEM["scenario"]],
               "read": [read.replace("net", "tiny") for read in TORCH_PROBLEM["read"]],
               "checks": [{**TORCH_PROBLEM["checks"][0], "wrt": {'state["fc.weight"]': "tiny.fc.weight.grad"}}]}
    assignment = assignment_of(tmp_path, TORCH_MODULE, problem)
    with pytest.raises(ReferenceRaised, match=r"load_state_dict and copy_ keep no graph; name the parameter the "
                                              r"value is copied into \(`tiny.fc.weight`\)"):
        ReferenceExpectations(assignment).gradient(assignment.problems[0], 0, assignment.problems[0].cases[0])


def test_finite_differences_refuse_a_torch_parameter(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    problem = {**TORCH_PROBLEM, "checks": [{**TORCH_PROBLEM["checks"][0], "method": "finite_difference"}]}
    assignment = assignment_of(tmp_path, TORCH_MODULE, problem)
    with pytest.raises(ReferenceRaised, match="use method: autograd"):
        ReferenceExpectations(assignment).gradient(assignment.problems[0], 0, assignment.problems[0].cases[0])


def test_a_mistake_only_the_gradient_check_sees_is_named(tmp_path: Path) -> None:
    """The output is right and only the parameter's gradient is wrong: the gradient check's parts
    are compared with the declared variant's as values, so the mistake is still named."""
    pytest.importorskip("torch")
    (tmp_path / "mistakes.py").write_text(
        "import torch\n"
        "class Tiny__detached(torch.nn.Module):\n"
        "    '''Your forward reads fc.weight through .detach(): no gradient reaches it.'''\n"
        + TORCH_MODULE.split("class Tiny(torch.nn.Module):\n", 1)[1]
        .replace("return torch.tanh(self.fc(x))", "return torch.tanh(x @ self.fc.weight.detach().T + self.fc.bias)")
        + "class Tiny__doubled(torch.nn.Module):\n"
        "    '''Your output is twice the layer's.'''\n"
        + TORCH_MODULE.split("class Tiny(torch.nn.Module):\n", 1)[1].replace("torch.tanh(self.fc(x))",
                                                                            "2 * torch.tanh(self.fc(x))"))
    (tmp_path / "ref.py").write_text(TORCH_MODULE)
    problem = {**TORCH_PROBLEM, "checks": [{"kind": "value", "parts": ["out"]}, *TORCH_PROBLEM["checks"]],
               "mistakes": ["detached", "doubled"]}
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py",
            "mistakes_module": "mistakes.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assignment = load_spec(tmp_path / "t.yaml")
    module = types.ModuleType("student")
    # A student's own way of cutting the graph: .data instead of .detach().
    exec(TORCH_MODULE.replace("return torch.tanh(self.fc(x))",  # noqa: S102 - trusted test code
                              "return torch.tanh(x @ self.fc.weight.data.T + self.fc.bias)"), module.__dict__)
    result = grade_problem(assignment, assignment.problems[0], InProcessSession({"student": module}),
                           ReferenceExpectations(assignment), "grade")
    assert result.checks[0].outcome is Outcome.PASSED and result.checks[1].outcome is Outcome.FAILED
    assert [d.mistake for d in result.diagnoses] == ["detached"]
