"""Scenarios through the real checks: a right answer passes, and every way of being wrong loses.

Students here are in-process modules (trusted test code): these tests exercise the scenario plan,
the interpreter on both sides, the checks and the scoring; the sandbox has its own tests.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_problem
from grader.results import Outcome, ProblemResult
from grader.sandbox.session import InProcessSession
from grader.spec import Assignment, load_spec

REFERENCE = '''
import numpy as np

def forward(x, w):
    return x @ w, (x, w)

def backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout

def momentum(w, dw, config=None):
    config = {} if config is None else config
    v = 0.9 * config.get("velocity", np.zeros_like(w)) - 0.1 * dw
    config["velocity"] = v
    return w + v, config

class Layer:
    def __init__(self, n_in, n_out):
        self.W = np.random.randn(n_out, n_in)

    def forward(self, A):
        self.A = A
        return A @ self.W.T

    def backward(self, dZ):
        self.dW = dZ.T @ self.A
        return dZ @ self.W
'''

LAYER = {
    "id": "Layer",
    "points": 3,
    "scenario": ["layer = Layer(3, 2)", "layer.W = W", "Z = layer.forward(A)", "dA = layer.backward(dZ)"],
    "read": ["Z", "dA", "layer.dW"],
    "cases": [{"name": "pub", "visibility": "public", "args": {
        "W": {"random": "normal", "shape": [2, 3], "seed": 1},
        "A": {"random": "normal", "shape": [4, 3], "seed": 2},
        "dZ": {"random": "normal", "shape": [4, 2], "seed": 3},
    }}],
    "checks": [
        {"kind": "value"},
        {"kind": "gradient", "of": "Z", "upstream": "dZ", "wrt": {"A": "dA", "W": "layer.dW"}},
    ],
}

BACKWARD = {
    "id": "backward",
    "points": 2,
    "scenario": ["out, cache = forward(x, w)", "dx, dw = backward(dout, cache)"],
    "read": ["dx", "dw"],
    "cases": [{"name": "pub", "visibility": "public", "args": {
        "x": {"random": "normal", "shape": [3, 4], "seed": 4},
        "w": {"random": "normal", "shape": [4, 2], "seed": 5},
        "dout": {"random": "normal", "shape": [3, 2], "seed": 6},
    }}],
    "checks": [{"kind": "gradient", "of": "out", "upstream": "dout", "wrt": {"x": "dx", "w": "dw"}}],
}

MOMENTUM = {
    "id": "momentum",
    "points": 2,
    "scenario": [{"do": "w, config = momentum(w, dw, config)", "repeat": "steps"}],
    "read": ["w", 'config["velocity"]'],
    "cases": [
        {"name": "one", "visibility": "public", "args": {
            "w": {"random": "normal", "shape": [3, 4], "seed": 7}, "dw": {"random": "normal", "shape": [3, 4], "seed": 8},
            "config": {"velocity": {"random": "normal", "shape": [3, 4], "seed": 9}}, "steps": 1}},
        {"name": "three", "args": {
            "w": {"random": "normal", "shape": [3, 4], "seed": 7}, "dw": {"random": "normal", "shape": [3, 4], "seed": 8},
            "config": None, "steps": 3}},
    ],
    "checks": [{"kind": "value"}],
}


def write_spec(tmp_path: Path, problem: dict[str, Any], reference: str = REFERENCE, **spec: Any) -> Assignment:
    """A one-problem spec beside its reference in tmp_path (``spec``: more top-level fields, such as
    ``mistakes_module``), loaded."""
    (tmp_path / "ref.py").write_text(reference)
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", **spec,
            "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(tmp_path / "t.yaml")


def grade(tmp_path: Path, problem: dict[str, Any], student: types.ModuleType | str, reference: str = REFERENCE,
          **spec: Any) -> ProblemResult:
    assignment = write_spec(tmp_path, problem, reference, **spec)
    if isinstance(student, str):
        module = types.ModuleType("student")
        exec(student, module.__dict__)  # noqa: S102 - trusted test code
        student = module
    return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": student}),
                         ReferenceExpectations(assignment), "grade")


def test_the_reference_itself_gets_full_marks(tmp_path: Path) -> None:
    for problem in (LAYER, BACKWARD, MOMENTUM):
        result = grade(tmp_path, problem, REFERENCE)
        assert result.passed, result.failure


def test_a_class_constructed_with_seeded_random_weights_matches_the_reference(tmp_path: Path) -> None:
    """The constructor draws np.random.randn; each step is seeded, so both sides draw the same."""
    unset = {**LAYER, "scenario": ["layer = Layer(3, 2)", "Z = layer.forward(A)", "dA = layer.backward(dZ)"],
             "read": ["Z", "layer.W"], "checks": [{"kind": "value"}],
             "cases": [{**LAYER["cases"][0], "args": {k: v for k, v in LAYER["cases"][0]["args"].items() if k != "W"}}]}
    assert grade(tmp_path, unset, REFERENCE).passed


def test_a_wrong_attribute_fails_and_is_named(tmp_path: Path) -> None:
    wrong = REFERENCE.replace("self.dW = dZ.T @ self.A", "self.dW = dZ.T @ self.A / len(dZ)")
    result = grade(tmp_path, LAYER, wrong)
    value, gradient = result.checks
    # Part by part: Z and dA earn their share, the wrong dW nothing, in both checks.
    assert (value.score, gradient.score) == (pytest.approx(2 / 3), pytest.approx(1 / 2))
    assert result.score == pytest.approx(3 * (2 / 3 + 1 / 2) / 2)
    assert value.outcome is Outcome.FAILED and "layer.dW: " in value.cases[0].message
    assert "Z" not in [c.path for c in value.cases[0].comparisons if not c.equal]
    assert gradient.outcome is Outcome.FAILED and "d/dW" in gradient.message and "relative error" in gradient.message


def test_a_missing_attribute_costs_its_part_and_is_named(tmp_path: Path) -> None:
    """An attribute never set is that part wrong, not the whole case: Z and dA keep their credit,
    as they do beside a dW that is set but wrong."""
    result = grade(tmp_path, LAYER, REFERENCE.replace("self.dW =", "self.grad_W ="))
    value, gradient = result.checks
    assert (value.score, gradient.score) == (pytest.approx(2 / 3), pytest.approx(1 / 2))
    assert "layer.dW: does not exist after the steps: your code never set it (AttributeError: " in value.message
    assert "d/dW: `layer.dW` does not exist after the steps" in gradient.message
    raising = REFERENCE.replace("class Layer:", "class Layer:\n    @property\n    def dW(self):\n"
                                "        raise RuntimeError('not yet')\n").replace("self.dW =", "self.grad_W =")
    assert "layer.dW: reading it raised RuntimeError: not yet" in grade(tmp_path, LAYER, raising).checks[0].message


def test_the_backward_is_graded_on_the_students_own_cache(tmp_path: Path) -> None:
    """An opaque cache of any shape works; a backward wrong in one output loses the gradient check."""
    other_cache = REFERENCE.replace("return x @ w, (x, w)", "return x @ w, {'inputs': [x, w]}").replace(
        "x, w = cache", "x, w = cache['inputs']")
    assert grade(tmp_path, BACKWARD, other_cache).passed
    wrong = REFERENCE.replace("return dout @ w.T, x.T @ dout", "return dout @ w.T, x.T @ dout * 2")
    result = grade(tmp_path, BACKWARD, wrong)
    assert result.score == pytest.approx(1.0)  # dx earns its half of the 2 points, the wrong dw nothing
    assert "d/dw" in result.checks[0].message and "d/dx:" not in result.checks[0].message


def test_a_forward_without_a_cache_fails_with_the_step_named(tmp_path: Path) -> None:
    result = grade(tmp_path, BACKWARD, REFERENCE.replace("return x @ w, (x, w)", "return x @ w"))
    assert result.score == 0
    message = result.checks[0].message
    assert "step 1 `out, cache = forward(x, w)`" in message and "unpacks 2" in message


def test_state_in_a_dict_over_several_steps(tmp_path: Path) -> None:
    assert grade(tmp_path, MOMENTUM, REFERENCE).passed
    # Loses the velocity between steps: right after one step, wrong after three.
    forgetful = REFERENCE.replace('config["velocity"] = v', 'config["velocity"] = v if "velocity" in config else 0 * v')
    result = grade(tmp_path, MOMENTUM, forgetful)
    cases = {case.case: case for case in result.checks[0].cases}
    assert cases["one"].passed and not cases["three"].passed and result.score == 0


def test_a_dict_entry_that_differs_is_named_with_its_position(tmp_path: Path) -> None:
    wrong = REFERENCE.replace('config["velocity"] = v', 'v2 = v.copy(); v2[1, 2] += 1; config["velocity"] = v2')
    result = grade(tmp_path, MOMENTUM, wrong)
    case = result.checks[0].cases[0]
    wrong_parts = [c for c in case.comparisons if not c.equal]
    assert [c.path for c in wrong_parts] == ['config["velocity"]']
    assert wrong_parts[0].first[0][0] == "(1, 2)"


def test_a_missing_class_is_reported_as_not_defined(tmp_path: Path) -> None:
    result = grade(tmp_path, LAYER, "import numpy as np\n")
    assert result.status == "missing" and "`Layer` is not defined" in result.message and result.score == 0


@pytest.mark.parametrize("degenerate", [
    "def forward(x, w):\n    return np.zeros((len(x), w.shape[1])), None\n"
    "def backward(dout, cache):\n    return np.zeros((3, 4)), np.zeros((4, 2))\n",
    "def forward(x, w):\n    return x, x\ndef backward(dout, cache):\n    return cache, dout\n",
])
def test_degenerate_answers_score_zero(tmp_path: Path, degenerate: str) -> None:
    assert grade(tmp_path, BACKWARD, "import numpy as np\n" + degenerate).score == 0


def test_parts_limit_a_value_check_to_the_reads_named(tmp_path: Path) -> None:
    problem = {**BACKWARD, "checks": [{"kind": "value", "parts": ["dx"]}]}
    wrong_dw = REFERENCE.replace("return dout @ w.T, x.T @ dout", "return dout @ w.T, 0 * x.T @ dout")
    assert grade(tmp_path, problem, wrong_dw).passed
    wrong_dx = REFERENCE.replace("return dout @ w.T, x.T @ dout", "return 0 * dout @ w.T, x.T @ dout")
    assert grade(tmp_path, problem, wrong_dx).score == 0


def test_torch_autograd_gradients_of_a_tensor_function(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    reference = "import torch\n\ndef attend(q, k):\n    return torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, -1)\n"
    tensor = {"random": "normal", "tensor": True, "requires_grad": True}
    problem = {
        "id": "attend", "points": 2,
        "scenario": ["out = attend(q, k)", "dq, dk = grad(out, [q, k], dout)"],
        "read": ["out", "dq", "dk"],
        "cases": [{"name": "pub", "visibility": "public", "args": {
            "q": {**tensor, "shape": [2, 3, 4], "seed": 1}, "k": {**tensor, "shape": [2, 5, 4], "seed": 2},
            "dout": {"random": "normal", "tensor": True, "shape": [2, 3, 5], "seed": 3}}}],
        "checks": [{"kind": "value", "parts": ["out"]},
                   {"kind": "gradient", "method": "autograd", "of": "out", "upstream": "dout", "wrt": {"q": "dq", "k": "dk"}}],
    }
    (tmp_path / "ref.py").write_text(reference)
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assignment = load_spec(tmp_path / "t.yaml")

    def run(source: str) -> ProblemResult:
        module = types.ModuleType("student")
        exec(source, module.__dict__)  # noqa: S102 - trusted test code
        return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": module}),
                             ReferenceExpectations(assignment), "grade")

    assert run(reference).passed
    # Detaching k inside the function: the output is right, the gradient w.r.t. k is not (zero).
    detached = reference.replace("k.transpose(-2, -1)", "k.detach().transpose(-2, -1)")
    result = run(detached)
    assert result.checks[0].outcome is Outcome.PASSED
    assert result.checks[1].outcome is not Outcome.PASSED and result.score < result.points


FORWARD_PROPERTIES = {
    "id": "forward",
    "points": 3,
    "scenario": ["out, cache = forward(x, w)"],
    "read": ["out"],
    "cases": [{"name": "pub", "visibility": "public", "args": {
        "x": {"random": "normal", "shape": [3, 4], "seed": 4}, "w": {"random": "normal", "shape": [4, 2], "seed": 5}}}],
    "checks": [{"kind": "value", "name": "values"},
               {"kind": "property", "name": "inputs kept", "property": "does_not_modify_inputs"},
               {"kind": "property", "name": "finite", "property": "finite", "part": "out"}],
}


@pytest.mark.parametrize(("body", "failing"), [
    ("return x @ w, (x, w)", set()),
    # Right values, but the input x zeroed on the way out: the property sees what the value cannot.
    ("out = x @ w\n    x[:] = 0\n    return out, (x, w)", {"inputs kept"}),
    ("return (x @ w) * float('nan'), (x, w)", {"values", "finite"}),
])
def test_properties_of_a_scenario(tmp_path: Path, body: str, failing: set[str]) -> None:
    student = REFERENCE.replace("return x @ w, (x, w)", body)
    result = grade(tmp_path, FORWARD_PROPERTIES, student)
    assert {check.name for check in result.checks if check.outcome is not Outcome.PASSED} == failing
    assert (result.score == 3.0) == (not failing)


DROPOUT = '''
import numpy as np

def dropout_forward(x, p):
    mask = (np.random.rand(*x.shape) < p) / p
    return x * mask, mask

def dropout_backward(dout, cache):
    return dout * cache
'''

DROPOUT_BACKWARD = {
    "id": "dropout_backward",
    "points": 2,
    "scenario": ["out, cache = dropout_forward(x, p)", "dx = dropout_backward(dout, cache)"],
    "read": ["dx"],
    "cases": [{"name": "pub", "visibility": "public", "args": {
        "x": {"random": "normal", "shape": [4, 5], "seed": 1}, "p": 0.6,
        "dout": {"random": "normal", "shape": [4, 5], "seed": 2}}}],
    "checks": [{"kind": "gradient", "of": "out", "upstream": "dout", "wrt": {"x": "dx"}, "through": "student"}],
}


def dropout_grade(tmp_path: Path, student: str, through: str = "student") -> ProblemResult:
    (tmp_path / "ref.py").write_text(DROPOUT)
    problem = {**DROPOUT_BACKWARD, "checks": [{**DROPOUT_BACKWARD["checks"][0], "through": through}]}
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assignment = load_spec(tmp_path / "t.yaml")
    module = types.ModuleType("student")
    exec(student, module.__dict__)  # noqa: S102 - trusted test code
    return grade_problem(assignment, assignment.problems[0], InProcessSession({"student": module}),
                         ReferenceExpectations(assignment), "grade")


SHARED_MASK = DROPOUT.replace("np.random.rand(*x.shape)", "np.random.rand(*x.shape[1:])")


@pytest.mark.parametrize(("student", "points"), [
    (DROPOUT, 2.0),
    (SHARED_MASK, 2.0),                                                   # the forward's mistake is the forward's
    (DROPOUT.replace("return dout * cache", "return dout"), 0.0),          # the mask ignored
    (DROPOUT.replace("return dout * cache", "return dout * cache * 0.6"), 0.0),
    (DROPOUT.replace("return x * mask, mask", "return x, mask").replace("return dout * cache", "return dout"), 0.0),
    (DROPOUT.replace("return x * mask, mask", "return 0 * x, mask").replace("return dout * cache", "return 0 * dout"),
     0.0),                                                                 # consistent, but knows nothing
])
def test_a_backward_graded_through_its_own_forward(tmp_path: Path, student: str, points: float) -> None:
    result = dropout_grade(tmp_path, student)
    assert result.score == points, result.checks[0].message


def test_through_the_reference_a_forward_mistake_costs_the_backward_too(tmp_path: Path) -> None:
    assert dropout_grade(tmp_path, SHARED_MASK, through="reference").score == 0


def test_a_backward_graded_through_its_own_forward_is_diagnosed(tmp_path: Path) -> None:
    (tmp_path / "mistakes.py").write_text(
        "def dropout_backward__unscaled(dout, cache):\n"
        "    '''Your dx drops the mask's 1 / p scale.'''\n"
        "    return dout * (cache > 0)\n"
        "def dropout_backward__ignores_mask(dout, cache):\n"
        "    '''Your dx is dout unchanged.'''\n"
        "    return dout.copy()\n")
    (tmp_path / "ref.py").write_text(DROPOUT)
    problem = {**DROPOUT_BACKWARD, "mistakes": ["unscaled", "ignores_mask"]}
    spec = {"schema_version": 1, "assignment": "t", "module": "student", "reference": "ref.py",
            "mistakes_module": "mistakes.py", "problems": [problem]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assignment = load_spec(tmp_path / "t.yaml")

    def diagnoses(source: str) -> list[str]:
        module = types.ModuleType("student")
        exec(source, module.__dict__)  # noqa: S102 - trusted test code
        result = grade_problem(assignment, assignment.problems[0], InProcessSession({"student": module}),
                               ReferenceExpectations(assignment), "grade")
        return [d.mistake for d in result.diagnoses]

    assert diagnoses(DROPOUT.replace("return dout * cache", "return dout * (cache != 0)")) == ["unscaled"]
    assert diagnoses(SHARED_MASK) == [] and diagnoses(DROPOUT) == []
    assert diagnoses(DROPOUT.replace("return dout * cache", "return dout")) == ["ignores_mask"]
    # A forward that keeps every unit (its numerical gradient is dout itself) and a right backward:
    # the backward cannot be judged through that forward, and is not blamed for it.
    identity = DROPOUT.replace("mask = (np.random.rand(*x.shape) < p) / p", "mask = np.ones_like(x)")
    assert diagnoses(identity) == []


MODED_DROPOUT = '''
import numpy as np

def dropout_forward(x, param):
    if param["mode"] == "test":
        return x, None
    mask = (np.random.rand(*x.shape) < param["p"]) / param["p"]
    return x * mask, mask

def dropout_backward(dout, cache):
    return dout if cache is None else dout * cache
'''


@pytest.mark.parametrize(("student", "points"), [
    (MODED_DROPOUT, 2.0),
    # Classic (non-inverted) dropout forward: mask unscaled in train, x * p in test. Its backward is
    # the handout's (dout * mask, and dout in test mode): the gradient of its own forward in train
    # mode, the reference's in test mode. Both are right; the forward's mistake is the forward's.
    (MODED_DROPOUT.replace('< param["p"]) / param["p"]', '< param["p"])').replace("return x, None",
                                                                                  'return x * param["p"], None'), 2.0),
    (MODED_DROPOUT.replace("return dout if cache is None else dout * cache", "return dout"), 0.0),  # mask ignored
])
def test_a_backward_right_by_its_own_forward_or_by_the_handout_keeps_its_points(tmp_path: Path, student: str,
                                                                               points: float) -> None:
    def case(name: str, mode: str, seed: int) -> dict[str, Any]:
        return {"name": name, "visibility": "public" if mode == "train" else "hidden", "args": {
            "x": {"random": "normal", "shape": [4, 5], "seed": seed}, "param": {"p": 0.6, "mode": mode},
            "dout": {"random": "normal", "shape": [4, 5], "seed": seed + 1}}}

    problem = {**DROPOUT_BACKWARD, "scenario": ["out, cache = dropout_forward(x, param)",
                                                "dx = dropout_backward(dout, cache)"],
               "cases": [case("train", "train", 1), case("test", "test", 3)]}
    result = grade(tmp_path, problem, student, MODED_DROPOUT)
    assert result.score == points, result.checks[0].message


def test_a_part_never_set_is_diagnosed_as_the_variant_that_never_sets_it(tmp_path: Path) -> None:
    (tmp_path / "mistakes.py").write_text(
        "import importlib.util, pathlib\n"
        "spec = importlib.util.spec_from_file_location('ref', pathlib.Path(__file__).with_name('ref.py'))\n"
        "ref = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(ref)\n\n"
        "class Layer__no_dW(ref.Layer):\n"
        "    '''Your backward never stores dW.'''\n"
        "    def backward(self, dZ):\n"
        "        return dZ @ self.W\n\n"
        "class Layer__dW_scaled(ref.Layer):\n"
        "    '''Your dW is averaged over the batch.'''\n"
        "    def backward(self, dZ):\n"
        "        dA = super().backward(dZ)\n"
        "        self.dW = self.dW / len(dZ)\n"
        "        return dA\n")
    result = grade(tmp_path, {**LAYER, "mistakes": ["no_dW", "dW_scaled"]},
                   REFERENCE.replace("self.dW = dZ.T @ self.A", "grad_W = dZ.T @ self.A"), mistakes_module="mistakes.py")
    assert [d.mistake for d in result.diagnoses] == ["no_dW"]
    assert result.score == pytest.approx(3 * (2 / 3 + 1 / 2) / 2)


def test_checks_of_a_whole_answer_fail_on_a_part_never_set_with_its_reason(tmp_path: Path) -> None:
    """A property of a part never read holds of nothing, and an instructor's judge is promised plain
    values: both fail with the read's reason, where `finite` passed and the judge raised."""
    (tmp_path / "checks.py").write_text("def anything(value, expected, args):\n    return True\n")
    problem = {**LAYER, "checks": [{"kind": "value"},
                                   {"kind": "property", "name": "finite", "property": "finite", "part": "layer.dW"},
                                   {"kind": "custom", "name": "judged", "judge": "anything"}]}
    result = grade(tmp_path, problem, REFERENCE.replace("self.dW =", "self.grad_W ="), checks_module="checks.py")
    checks = {check.name: check for check in result.checks}
    assert checks["finite"].outcome is Outcome.FAILED
    assert "layer.dW: does not exist after the steps" in checks["finite"].message
    assert checks["judged"].outcome is Outcome.FAILED
    assert "a part of the answer: does not exist after the steps" in checks["judged"].message


def test_a_mistake_may_replace_another_function_the_scenario_calls(tmp_path: Path) -> None:
    """On a problem graded on its backward, a forward's typical mistake is declared with `replaces:`:
    the variant stands in for the forward, the lint self-test proves it, and a student making it is
    told so."""
    from grader.errors import SpecError
    from grader.grading.selftest import check_problem

    (tmp_path / "mistakes.py").write_text(
        "def forward__cache_swapped(x, w):\n    '''Your forward caches (w, x): the backward reads them swapped.'''\n"
        "    return x @ w, (w.T, x.T)\n\n"
        "def backward__dw_transposed(dout, cache):\n    '''Your dw is transposed.'''\n"
        "    x, w = cache\n    return dout @ w.T, (x.T @ dout).T\n")
    problem = {**BACKWARD, "mistakes": [{"id": "cache_swapped", "replaces": "forward"}, "dw_transposed"]}
    assignment = write_spec(tmp_path, problem, mistakes_module="mistakes.py")
    findings = check_problem(assignment, assignment.problems[0], ReferenceExpectations(assignment), InProcessSession)
    assert all(finding.ok for finding in findings), [finding.line() for finding in findings if not finding.ok]
    result = grade(tmp_path, problem, REFERENCE.replace("return x @ w, (x, w)", "return x @ w, (w.T, x.T)"),
                   mistakes_module="mistakes.py")
    assert [d.mistake for d in result.diagnoses] == ["cache_swapped"]

    problem["mistakes"][0]["replaces"] = "momentum"
    with pytest.raises(SpecError, match=r"mistakes.0.replaces.*'momentum' is not called by the problem"):
        write_spec(tmp_path, problem, mistakes_module="mistakes.py")
