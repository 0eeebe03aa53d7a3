"""Scenarios in the spec: steps parse into a plan of plain data, the interpreter runs it, and a
bad scenario is refused before grading with the file, the problem and the field named."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from grader import interpreter
from grader.errors import SpecError
from grader.scenarios import ScenarioSyntaxError, locate, parse
from grader.spec import load_spec



def plan_of(steps: list[tuple[str, Any]], reads: list[str], arguments: set[str]) -> dict[str, Any]:
    return parse(tuple(steps), tuple(reads), frozenset(arguments)).plan(seed=0)


def test_a_scenario_is_plain_json_with_names_resolved() -> None:
    scenario = parse((("out, cache = forward(x, w)", 1), ("dx = backward(dout, cache)", 1)), ("dx",),
                     frozenset({"x", "w", "dout"}))
    assert scenario.arguments == {"x", "w", "dout"}
    plan = scenario.plan(seed=3)
    assert json.loads(json.dumps(plan)) == plan
    first = plan["steps"][0]
    assert first["do"] == ["call", ["global", "forward"], [["name", "x"], ["name", "w"]], []]
    assert first["to"] == ["unpack", [["name", "out"], ["name", "cache"]]]
    assert plan["steps"][1]["do"][2][1] == ["name", "cache"]  # bound by step 1, not a module name


@pytest.mark.parametrize(("step", "words"), [
    ("import os", "a step is an expression (a call) or one assignment"),
    ("x = lambda: 1", "Lambda is not supported"),
    ("obj.__class__ = None", "dunder attribute"),
    ("f(*args)", "*args"),
    ("a = b = f()", "one assignment"),
    ("x = (", "not valid Python"),
    ("x = [i for i in y]", "ListComp is not supported"),
    ("grad = f()", "builtin"),
])
def test_unsupported_steps_are_refused(step: str, words: str) -> None:
    with pytest.raises(ScenarioSyntaxError, match=re.escape(words)):
        parse(((step, 1),), ("x",), frozenset({"y"}))


def test_locate_finds_reads_and_entries_of_them() -> None:
    reads = ("scores", "loss", "grads", "layer.dLdW")
    assert locate("loss", reads) == (1,)
    assert locate('grads["W1"]', reads) == (2, "W1")
    assert locate("layer . dLdW", reads) == (3,)
    with pytest.raises(ScenarioSyntaxError, match="not one of the reads"):
        locate("dx", reads)


class Box:
    def __init__(self, scale: float) -> None:
        self.W = np.random.rand(2) * scale

    def step(self) -> None:
        self.W = self.W + 1


def lookup(name: str) -> Any:
    if name == "Box":
        return Box
    raise interpreter.NameNotDefined(name)


def test_the_interpreter_runs_steps_repeats_and_reads() -> None:
    plan = plan_of([("box = Box(s)", 1), ("box.step()", "n"), ('d = {"W": box.W}', 1)], ['d["W"]', "box.W"], {"s", "n"})
    first = interpreter.run(plan, lookup, {"s": 1.0, "n": 3})
    again = interpreter.run(plan, lookup, {"s": 1.0, "n": 3})
    np.random.seed(99)  # whatever the state before, each step is seeded from the plan
    third = interpreter.run(plan, lookup, {"s": 1.0, "n": 3})
    np.random.seed(0)
    assert np.array_equal(first[0], np.random.rand(2) + 3)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], third[1])


def test_the_interpreter_names_the_failing_step_and_read() -> None:
    plan = plan_of([("box = Box(s)", 1), ("box.nothing()", 1)], ["box.W"], {"s"})
    with pytest.raises(interpreter.StepFailed) as info:
        interpreter.run(plan, lookup, {"s": 1.0})
    assert info.value.where == "step 2" and isinstance(info.value.__cause__, AttributeError)
    plan = plan_of([("box = Box(s)", 1)], ["box.V"], {"s"})
    with pytest.raises(interpreter.StepFailed, match="reading `box.V`"):
        interpreter.run(plan, lookup, {"s": 1.0})
    with pytest.raises(interpreter.NameNotDefined):
        interpreter.run(plan_of([("y = Missing()", 1)], ["y"], set()), lookup, {})


def test_unpacking_never_exhausts_an_endless_iterator() -> None:
    import itertools

    def endless(name: str) -> Any:
        return lambda: itertools.count()

    with pytest.raises(interpreter.StepFailed) as info:
        interpreter.run(plan_of([("a, b = f()", 1)], ["a"], set()), endless, {})
    assert "more than 2" in str(info.value.__cause__)


def test_load_state_dict_explains_a_mismatch_by_name() -> None:
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = torch.nn.Conv2d(3, 6, 3)

    state = {"conv1.weight": torch.zeros(6, 3, 5, 5), "conv1.bias": torch.zeros(6), "fc.weight": torch.zeros(2, 2)}
    with pytest.raises(ValueError) as info:
        interpreter.load_state_dict(Net(), state)
    assert "`conv1.weight` has shape (6, 3, 3, 3), expected (6, 3, 5, 5)" in str(info.value)
    assert "your module has no submodule `fc`" in str(info.value)
    with pytest.raises(ValueError) as info:
        interpreter.load_state_dict(Net(), {**state, "h0": torch.zeros(2)})
    assert "your module has no parameter `h0`" in str(info.value) and "submodule `h0`" not in str(info.value)


# --- spec errors ----------------------------------------------------------------------------------

REFERENCE = "def forward(x, w):\n    return x @ w, (x, w)\n"
PROBLEM = {
    "id": "forward",
    "points": 1,
    "scenario": ["out, cache = forward(x, w)"],
    "read": ["out"],
    "cases": [{"name": "a", "visibility": "public", "args": {"x": [[1.0, 2.0]], "w": [[1.0], [2.0]]}}],
    "checks": [{"kind": "value"}],
}


def load(tmp_path: Path, **changes: Any) -> Any:
    (tmp_path / "ref.py").write_text(REFERENCE)
    problem = {**PROBLEM, **changes}
    spec = {"schema_version": 1, "assignment": "s", "module": "m", "reference": "ref.py", "problems": [problem]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(path)


def test_a_valid_scenario_loads(tmp_path: Path) -> None:
    assert load(tmp_path).problems[0].steps.read_texts == ("out",)


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"scenario": ["out, cache = forward(x, w"]}, "scenario", "not valid Python"),
    ({"read": ["out."]}, "read", "not valid Python"),
    ({"read": None}, "read", "needs both"),
    ({"scenario": []}, "scenario", "at least one step"),
    ({"scenario": ["out, cache = forward(x, x)"]}, "cases", "['w'] are not used"),
    ({"scenario": [{"do": "out, cache = forward(x, w)", "repeat": "times"}]}, "scenario", "'times' is not an argument"),
    ({"scenario": [{"do": "out, cache = forward(x, w)", "repeat": 0}]}, "scenario.0.repeat", "at least 1"),
    ({"returns": ["out"]}, "returns", "drop `returns`"),
    ({"checks": [{"kind": "value", "parts": ["dx"]}]}, "checks.0.parts", "not one of the reads"),
    ({"checks": [{"kind": "gradient", "of": "out", "wrt": {"x": "out"}, "upstream": "dout"}]}, "checks.0.upstream",
     "unknown argument 'dout'"),
    ({"checks": [{"kind": "gradient", "function": "forward", "wrt": {"x": "out"}}]}, "checks.0.function", "differentiates `of`"),
    ({"checks": [{"kind": "gradient", "wrt": {"x": "out"}}]}, "checks.0.of", "either `function`"),
    ({"checks": [{"kind": "property", "property": "symmetric"}]}, "checks.0.kind", "plain function"),
    ({"cases": [{"name": "a", "args": {"x": {"random": "normal", "shape": [2], "seed": 1, "requires_grad": True},
                                       "w": [1.0]}}]}, "cases.0.args.x", "requires_grad needs tensor"),
    ({"cases": [{"name": "a", "args": {"x": {"random": "normal", "shap": [2], "seed": 1}, "w": [1.0]}}]},
     "cases.0.args.x.shap", "unknown key 'shap' (did you mean 'shape'?)"),
    ({"cases": [{"name": "a", "args": {"x": {"random": "normal", "shape": [2], "sed": 1}, "w": [1.0]}}]},
     "cases.0.args.x.sed", "unknown key 'sed' (did you mean 'seed'?)"),
    # What YAML makes of the unquoted step `- out, cache = forward(x, {"a": w})`.
    ({"scenario": [{'out, cache = forward(x, {"a"': "w})"}]}, "scenario",
     """step 1 was read by YAML as a mapping, because it holds ': '; quote it: - 'out, cache = forward(x, {"a": w})'"""),
])
def test_a_bad_scenario_is_refused_with_its_field(tmp_path: Path, changes: dict, field: str, words: str) -> None:
    with pytest.raises(SpecError) as info:
        load(tmp_path, **changes)
    error = info.value
    assert (error.file, error.problem) == (str(tmp_path / "s.yaml"), "forward")
    assert error.field == field, str(error)
    assert words in str(error)


def test_every_case_of_a_scenario_gives_the_same_arguments(tmp_path: Path) -> None:
    cases = [PROBLEM["cases"][0], {"name": "b", "args": {"x": [[1.0]], "W": [[1.0]]}}]
    with pytest.raises(SpecError, match=r"field 'cases.1.args'.*same arguments"):
        load(tmp_path, cases=cases)


def test_dicts_linspace_and_tensors_as_case_values(tmp_path: Path) -> None:
    from grader.cases import case_args
    from grader.values import live

    case = {"name": "a", "args": {
        "x": {"linspace": [0, 1], "shape": [2, 3]},
        "w": {"p": 0.5, "mode": "train", "velocity": [1, 2], "nested": {"t": {"array": [1, 2], "dtype": "int64"}}},
    }}
    spec = load(tmp_path, cases=[case], scenario=["out, cache = forward(x, w)"])
    x, w = case_args(spec.problems[0].cases[0])
    assert np.array_equal(x, np.linspace(0, 1, 6).reshape(2, 3))
    assert w["mode"] == "train" and w["velocity"].dtype == np.float64 and w["nested"]["t"].dtype == np.int64
    torch = pytest.importorskip("torch")
    case["args"]["x"] = {"random": "normal", "shape": [2], "seed": 1, "dtype": "float32", "tensor": True,
                         "requires_grad": True}
    (tensor, _) = live(case_args(load(tmp_path, cases=[case]).problems[0].cases[0]))
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32 and tensor.requires_grad
