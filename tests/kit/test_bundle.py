"""`grader bundle`: a student kit holds the public part of an assignment and nothing else.

What a kit must not hold is checked against the instructor's files directly: no reference file or
code, no hidden case (by name or by input values, materialized with ``grader.cases.case_args``), no
output of the reference (or its gradients, or its mistakes) on a hidden case, compared numerically
with every number the kit stores. What it must hold is checked too: the public expectations,
bit for bit, and a spec that loads on its own.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import yaml

from grader.cases import case_args
from grader.cli import main
from grader.errors import GraderError, UsageError
from grader.grading.expectations import KitExpectations, MistakeRaised, ReferenceExpectations, Unavailable
from grader.kit.bundle import KIT_FILES, build_kit
from grader.kit.selfcheck import is_kit
from grader.spec import GradientCheck, ValueCheck, load_spec

from conftest import ASSIGNMENTS, ROOT

TEXT_FILES = ("spec.yaml", "expected.json", "README.md", "conftest.py", "handout.md")


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("kits")
    return {hw: build_kit(hw, out / hw).folder for hw in ASSIGNMENTS}


@pytest.fixture(scope="module")
def references() -> dict[str, ReferenceExpectations]:
    return {hw: ReferenceExpectations(load_spec(hw)) for hw in ASSIGNMENTS}


def kit_text(kit: Path) -> str:
    return "\n".join((kit / name).read_text(encoding="utf-8") for name in TEXT_FILES)


def kit_arrays(kit: Path) -> list[np.ndarray]:
    with np.load(kit / "expected.npz", allow_pickle=False) as data:
        return [data[key] for key in data.files]


def json_numbers(node: Any) -> Iterator[float]:
    if isinstance(node, dict):
        for value in node.values():
            yield from json_numbers(value)
    elif isinstance(node, list):
        for value in node:
            yield from json_numbers(value)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield float(node)


def json_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from json_keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from json_keys(value)


def leaves(value: Any) -> Iterator[np.ndarray]:
    """Every number of a value tree, as float64 arrays."""
    if isinstance(value, (tuple, list)) and not all(isinstance(item, (int, float)) for item in value):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, MistakeRaised) or isinstance(value, str) or value is None:
        return
    else:
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            yield array.astype(np.float64)


def distinctive(array: np.ndarray) -> np.ndarray:
    """The values no other data would hold by chance: finite, not (nearly) round to 6 decimals and
    not a simple fraction (k / n for n up to 12).

    0.3, 1.0, 1/6 (a saturated softmax's gradient over a batch of 6) or a sigmoid saturated to
    1 - 1e-12 may well be in a kit for public reasons; a value like 0.7364112... from a hidden
    case's random input may not.
    """
    flat = array[np.isfinite(array)].ravel()
    keep = np.abs(flat - np.round(flat, 6)) > 1e-8 * np.maximum(1.0, np.abs(flat))
    for n in range(3, 13):
        keep &= np.abs(flat * n - np.round(flat * n)) > 1e-8 * np.maximum(1.0, np.abs(flat * n))
    return flat[keep]


class NumberIndex:
    """A set of numbers, searchable within a tolerance; ``from_kit`` holds every number a kit stores."""

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays
        values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays] or [np.zeros(0)])
        self.values = np.unique(values[np.isfinite(values)])

    def found(self, wanted: np.ndarray, *, rtol: float = 1e-9) -> np.ndarray:
        """The values of ``wanted`` equal, within rtol, to one of the set."""
        if not wanted.size or not self.values.size:
            return wanted[:0]
        last = len(self.values) - 1
        index = np.searchsorted(self.values, wanted)
        below, above = self.values[np.clip(index - 1, 0, last)], self.values[np.clip(index, 0, last)]
        nearest = np.minimum(np.abs(below - wanted), np.abs(above - wanted))
        return wanted[nearest <= rtol * np.abs(wanted)]

    def holds_array(self, wanted: np.ndarray) -> bool:
        return any(a.shape == wanted.shape and np.allclose(a.astype(np.float64), wanted, rtol=1e-9, atol=0)
                   for a in self.arrays if a.size > 1)


def reference_outputs(reference: ReferenceExpectations, problem: Any, case: Any) -> list[np.ndarray]:
    """Every number the instructor's modules produce on a case: outputs, gradients, mistakes' outputs."""
    outputs = [reference.expected(problem, case)]
    outputs += [reference.gradient(problem, i, case) for i, check in enumerate(problem.checks)
                if isinstance(check, GradientCheck) and case in problem.check_cases(check)]
    outputs += [reference.mistake_output(problem, m, case) for m in problem.mistakes]
    return [leaf for output in outputs for leaf in leaves(output)]


# --- layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_kit_holds_exactly_the_documented_files_and_loads_on_its_own(kits, hw) -> None:
    kit = kits[hw]
    assert sorted(path.name for path in kit.iterdir()) == sorted(KIT_FILES)
    assert is_kit(kit)
    spec = load_spec(kit / "spec.yaml", check_files=False)
    assert spec.reference is None and spec.mistakes_path is None
    assert load_spec(kit / "spec.yaml").assignment == hw  # the handout it names is in the kit
    raw = yaml.safe_load((kit / "spec.yaml").read_text())
    assert raw["reference"] is None
    assert "implementation" not in (kit / "spec.yaml").read_text()
    assert 'pytest_plugins = ["grader.pytest_plugin"]' in (kit / "conftest.py").read_text()
    readme = (kit / "README.md").read_text()
    assert "grader check" in readme and "grader ci" in readme and "--junit" in readme and "pytest" in readme
    with np.load(kit / "expected.npz", allow_pickle=False) as data:
        assert all(data[key].dtype.kind in "biuf" for key in data.files)


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_kit_keeps_public_checks_under_their_names_and_drops_hidden_only_ones(kits, hw) -> None:
    original, kit = load_spec(hw), load_spec(kits[hw] / "spec.yaml", check_files=False)
    assert [p.id for p in kit.problems] == [p.id for p in original.problems]
    for mine, theirs in zip(kit.problems, original.problems):
        public = {case.name for case in theirs.cases if case.visibility == "public"}
        expected_names = [theirs.check_name(i) for i, check in enumerate(theirs.checks)
                          if check.kind == "accuracy" or {c.name for c in theirs.check_cases(check)} & public]
        assert [mine.check_name(i) for i in range(len(mine.checks))] == expected_names
        assert [m.id for m in mine.mistakes] == [m.id for m in theirs.mistakes]
        assert all(m.message and m.implementation is None for m in mine.mistakes)


# --- nothing the student may not have -------------------------------------------------------


def _code_fragments(path: Path) -> Iterator[str]:
    """Each function's source and each statement of its body (docstrings aside)."""
    lines = path.read_text().splitlines()

    def segment(node: ast.AST) -> str:
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        if first == last:
            return lines[first][node.col_offset:node.end_col_offset]
        return "\n".join([lines[first][node.col_offset:], *lines[first + 1:last], lines[last][:node.end_col_offset]])

    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield segment(node)
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            for statement in body:
                yield segment(statement)


def _squash(text: str) -> str:
    return " ".join(text.split())


def reference_code_leaks(kit: Path, reference: ReferenceExpectations) -> list[str]:
    """Files of reference/ in the kit, and code of theirs (functions, statements) in its text."""
    files = [path for path in kit.rglob("*") if path.is_file()]
    kit_bytes = {path.read_bytes() for path in files}
    kit_names = {path.name for path in files if path.parent == kit}  # starter/hw1.py is the student's file
    # The starter module and notebook are made from the reference: they must hold none of its code.
    starters = [path.read_text(encoding="utf-8") for path in (kit / "starter").glob("*")]
    text = _squash("\n".join([kit_text(kit), *starters]))
    # What the instructor publishes anyway may quote a formula of the reference: the handout, the
    # problems' descriptions, the mistakes' messages (shown as diagnoses).
    assignment = reference.assignment
    published = _squash(" ".join([
        assignment.resolve(assignment.handout).read_text(), *(p.description for p in assignment.problems),
        *(reference.mistake_message(p, m) for p in assignment.problems for m in p.mistakes),
    ]))
    leaks = []
    for path in sorted((ROOT / "reference").iterdir()):
        if not path.is_file():
            continue
        if path.name in kit_names or path.read_bytes() in kit_bytes:
            leaks.append(f"the file {path.name}")
        if path.suffix == ".py":
            fragments = [_squash(f) for f in _code_fragments(path)]
            leaks += [f"{path.name}: {f[:60]}" for f in fragments if len(f) >= 20 and f in text and f not in published]
    return leaks


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_kit_holds_no_reference_file_and_no_reference_code(kits, references, hw) -> None:
    assert reference_code_leaks(kits[hw], references[hw]) == []


def test_the_reference_code_detector_finds_planted_code(kits, references, tmp_path) -> None:
    kit = tmp_path / "kit"
    shutil.copytree(kits["hw1"], kit)
    body = next(f for f in _code_fragments(ROOT / "reference" / "hw1.py") if f.startswith("def linear_backward"))
    with (kit / "README.md").open("a") as stream:
        stream.write("\n" + body + "\n")
    assert any(leak.startswith("hw1.py: def linear_backward") for leak in reference_code_leaks(kit, references["hw1"]))
    (kit / "README.md").write_text((kits["hw1"] / "README.md").read_text())
    with (kit / "starter" / "hw1.py").open("a") as stream:
        stream.write("\n" + body + "\n")
    assert any(leak.startswith("hw1.py: def linear_backward") for leak in reference_code_leaks(kit, references["hw1"]))
    shutil.copyfile(ROOT / "reference" / "hw1.py", kit / "handout.md")
    assert "the file hw1.py" in reference_code_leaks(kit, references["hw1"])


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_kit_holds_no_hidden_case_by_name(kits, hw) -> None:
    original = load_spec(hw)
    kit = load_spec(kits[hw] / "spec.yaml", check_files=False)
    public_names = {c.name for p in original.problems for c in p.cases if c.visibility == "public"}
    hidden = {(p.id, c.name) for p in original.problems for c in p.cases if c.visibility == "hidden"}
    assert hidden, "the example assignments all have hidden cases"
    assert all(case.visibility == "public" for problem in kit.problems for case in problem.cases)
    assert not {(p.id, c.name) for p in kit.problems for c in p.cases} & hidden
    index = json.loads((kits[hw] / "expected.json").read_text())
    keys = set(json_keys(index))
    text = kit_text(kits[hw])
    for _, name in hidden:
        assert name not in keys
        if name not in public_names:
            assert not re.search(rf"\b{re.escape(name)}\b", text), name


def kit_numbers(kit: Path) -> NumberIndex:
    """Every number a kit holds: npz arrays, JSON numbers, and the inputs its spec draws."""
    spec = load_spec(kit / "spec.yaml", check_files=False)
    stored = json.loads((kit / "expected.json").read_text())
    return NumberIndex([*kit_arrays(kit), np.array(list(json_numbers(stored)), dtype=np.float64),
                        *(a for p in spec.problems for c in p.cases for a in leaves(case_args(c)))])


def hidden_input_leaks(kit: Path, assignment: Any) -> tuple[list[str], int]:
    """Hidden cases whose input arrays or values the kit holds, and how many values were looked for."""
    numbers = kit_numbers(kit)
    leaks, checked = [], 0
    public = NumberIndex([a for p in assignment.problems for c in p.cases if c.visibility == "public"
                          for a in leaves(case_args(c))])
    for problem in assignment.problems:
        for case in (c for c in problem.cases if c.visibility == "hidden"):
            for value in leaves(case_args(case)):
                if value.size > 1 and not public.holds_array(value) and numbers.holds_array(value):
                    leaks.append(f"an input array of {problem.id}/{case.name}")
                own = distinctive(value)
                own = np.setdiff1d(own, public.found(own, rtol=0))
                if numbers.found(own, rtol=0).size:
                    leaks.append(f"input values of {problem.id}/{case.name}")
                checked += own.size
    return leaks, checked


def hidden_output_leaks(kit: Path, reference: ReferenceExpectations) -> tuple[list[str], int]:
    """Hidden cases whose reference outputs (or gradients, or mistakes' outputs) the kit holds."""
    numbers = kit_numbers(kit)
    leaks, checked = [], 0
    for problem in reference.assignment.problems:
        # A hidden case may share a value with a public one (1/3, a saturated sigmoid): those may be
        # in the kit for the public case's sake.
        public = NumberIndex([a for case in problem.cases if case.visibility == "public"
                              for a in [*reference_outputs(reference, problem, case), *leaves(case_args(case))]])
        for case in (c for c in problem.cases if c.visibility == "hidden"):
            for value in reference_outputs(reference, problem, case):
                if value.size > 1 and not public.holds_array(value) and numbers.holds_array(value):
                    leaks.append(f"an output array on {problem.id}/{case.name}")
                own = distinctive(value)
                own = np.setdiff1d(own, public.found(own))
                if numbers.found(own).size:
                    leaks.append(f"output values on {problem.id}/{case.name}")
                checked += own.size
    return leaks, checked


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_kit_holds_no_hidden_case_input(kits, hw) -> None:
    leaks, checked = hidden_input_leaks(kits[hw], load_spec(hw))
    assert leaks == []
    assert checked > 100  # the random hidden inputs were really looked for


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_kit_holds_no_output_on_a_hidden_case(kits, references, hw) -> None:
    """Neither the reference's outputs, nor its numerical gradients, nor its mistakes' outputs."""
    leaks, checked = hidden_output_leaks(kits[hw], references[hw])
    assert leaks == []
    assert checked > 100


def test_the_leak_detectors_find_a_planted_hidden_case(kits, references, tmp_path) -> None:
    """A kit that stored one hidden case's inputs and expected output is caught."""
    kit = tmp_path / "kit"
    shutil.copytree(kits["hw2"], kit)
    problem = references["hw2"].assignment.problem("softmax_loss_grad")
    hidden = problem.case("hidden_batch")
    planted = {f"a{i}": a for i, a in enumerate(kit_arrays(kit))}
    extra = [*case_args(hidden), *references["hw2"].expected(problem, hidden)]
    planted.update({f"a{len(planted) + i}": np.asarray(a) for i, a in enumerate(extra)})
    np.savez_compressed(kit / "expected.npz", **planted)
    inputs, _ = hidden_input_leaks(kit, references["hw2"].assignment)
    outputs, _ = hidden_output_leaks(kit, references["hw2"])
    assert "an input array of softmax_loss_grad/hidden_batch" in inputs
    assert "output values on softmax_loss_grad/hidden_batch" in outputs


# --- everything the student needs -----------------------------------------------------------


def _assert_same(got: Any, want: Any) -> None:
    if isinstance(want, MistakeRaised):
        assert isinstance(got, MistakeRaised) and got.message == want.message
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want)
        for a, b in zip(got, want):
            _assert_same(a, b)
    elif isinstance(want, dict):
        assert list(got) == list(want)
        for key in want:
            _assert_same(got[key], want[key])
    elif isinstance(want, (np.ndarray, np.generic)):
        got = np.asarray(got)
        assert got.dtype == want.dtype and got.shape == np.shape(want)
        assert np.array_equal(got, want, equal_nan=True)
    else:
        assert got == want and type(got) is type(want)


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_kit_expectations_equal_the_references_on_every_public_case(kits, references, hw) -> None:
    kit_spec = load_spec(kits[hw] / "spec.yaml", check_files=False)
    stored = KitExpectations(kits[hw])
    reference = references[hw]
    for problem in kit_spec.problems:
        original = reference.assignment.problem(problem.id)
        for index, check in enumerate(problem.checks):
            if isinstance(check, ValueCheck):
                for case in problem.check_cases(check):
                    _assert_same(stored.expected(problem, case), reference.expected(original, original.case(case.name)))
                    for mine, theirs in zip(problem.mistakes, original.mistakes):
                        assert stored.mistake_message(problem, mine) == reference.mistake_message(original, theirs)
                        _assert_same(stored.mistake_output(problem, mine, case),
                                     reference.mistake_output(original, theirs, original.case(case.name)))
            if isinstance(check, GradientCheck):
                name = problem.check_name(index)
                origin = next(i for i in range(len(original.checks)) if original.check_name(i) == name)
                for case in problem.check_cases(check):
                    _assert_same(stored.gradient(problem, index, case),
                                 reference.gradient(original, origin, original.case(case.name)))
        hidden = next((case for case in original.cases if case.visibility == "hidden"), None)
        if hidden is not None:
            with pytest.raises(Unavailable):
                stored.expected(problem, hidden)


# --- a small spec of our own: edge cases ----------------------------------------------------

REFERENCE = '''
import numpy as np

def double(x):
    return 2 * x

def secret(x):
    return x + 1
'''

MISTAKES = '''
def double__raises(x):
    """You raise instead of doubling."""
    raise ValueError("no")

def double__triple(x):
    """You tripled x."""
    return 3 * x
'''


@pytest.fixture
def small_spec(tmp_path: Path) -> Path:
    (tmp_path / "ref.py").write_text(REFERENCE)
    (tmp_path / "wrong.py").write_text(MISTAKES)
    (tmp_path / "handout.md").write_text("# Handout\n")
    spec = {
        "schema_version": 1, "assignment": "small", "module": "student", "reference": "ref.py",
        "mistakes_module": "wrong.py", "handout": "handout.md",
        "problems": [
            {"id": "double", "points": 2,
             "cases": [{"name": "one", "visibility": "public", "note": "instructor only", "args": {"x": [1.0, 2.0]}},
                       {"name": "two", "args": {"x": [3.0]}}],
             "checks": [{"kind": "value"}, {"kind": "value", "name": "hidden only", "cases": ["two"]}],
             "mistakes": ["raises", "triple"]},
            {"id": "secret", "points": 1, "cases": [{"name": "only", "args": {"x": [5.0]}}],
             "checks": [{"kind": "value"}]},
        ],
    }
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_problem_without_public_case_is_left_out_and_named_in_the_readme(small_spec, tmp_path) -> None:
    kit = build_kit(small_spec, tmp_path / "kit")
    assert kit.problems == ("double",) and kit.left_out == ("secret",)
    spec = load_spec(kit.folder / "spec.yaml", check_files=False)
    (problem,) = spec.problems
    assert [c.name for c in problem.cases] == ["one"] and problem.cases[0].note == ""
    assert [problem.check_name(i) for i in range(len(problem.checks))] == ["value #1"]
    assert "`secret`" in (kit.folder / "README.md").read_text()
    index = json.loads((kit.folder / "expected.json").read_text())
    assert index["mistakes"]["double"]["raises"]["one"] == {"raised": "ValueError: no"}
    stored = KitExpectations(kit.folder)
    assert isinstance(stored.mistake_output(problem, problem.mistakes[0], problem.cases[0]), MistakeRaised)
    assert problem.mistakes[1].message == "You tripled x."


def test_bundle_replaces_a_kit_but_never_another_folder(small_spec, tmp_path) -> None:
    out = tmp_path / "kit"
    build_kit(small_spec, out)
    (out / "stale.txt").write_text("old")
    build_kit(small_spec, out)
    assert not (out / "stale.txt").exists()
    other = tmp_path / "work"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UsageError):
        build_kit(small_spec, other)
    assert (other / "notes.txt").read_text() == "mine"


def test_kit_of_another_format_is_refused(small_spec, tmp_path) -> None:
    kit = build_kit(small_spec, tmp_path / "kit").folder
    index = json.loads((kit / "expected.json").read_text())
    (kit / "expected.json").write_text(json.dumps({**index, "format": 99}))
    with pytest.raises(GraderError, match="format"):
        KitExpectations(kit)


def test_grader_bundle_command(small_spec, tmp_path, capsys) -> None:
    assert main(["bundle", str(small_spec), "--out", str(tmp_path / "kit")]) == 0
    assert "left out (no public case): secret" in capsys.readouterr().out
    assert is_kit(tmp_path / "kit")
    assert main(["bundle", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "k2")]) == 2


def test_kit_leaves_out_declared_survivors() -> None:
    """A declared survivor names a mistake the cases cannot see: not for the students' spec."""
    from grader.kit.bundle import _public_problem
    from grader.spec import Problem

    problem = Problem.model_validate({
        "id": "f", "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0]}}],
        "checks": [{"kind": "value"}], "survivors": [{"mutant": "f:sign:1", "reason": "the handout allows it"}]})
    kit_problem = _public_problem(problem, expectations=None)  # type: ignore[arg-type]
    assert kit_problem is not None and kit_problem.problem.survivors == [] and problem.survivors
