"""Export a student kit: what a student may have to check their work, without the reference.

``grader bundle hw1 --out KIT`` writes::

    KIT/spec.yaml      the spec with public cases only: no hidden case, no check left without a
                       case, ``reference: null`` and no mistakes module, each
                       declared mistake as its id and message (no implementation name), no
                       instructor notes
    KIT/expected.json  the precomputed expectations, value trees as ``grader.wire`` JSON nodes
    KIT/expected.npz   the arrays those nodes point to, ``a0``, ``a1``, ... (numeric, no pickles)
    KIT/handout.md     the spec's handout
    KIT/helpers.py     the spec's helpers module, when it has one (``helpers.name`` in scenarios)
    KIT/checks.py      the spec's checks module, when it has one (the judges of ``kind: custom`` checks)
    KIT/README.md      how to run ``grader check``, ``grader ci``, ``pytest`` and ``Checker`` with the kit
    KIT/conftest.py    loads the grader's pytest plugin (``grader.pytest_plugin``)
    KIT/starter/       the student's module and notebook to start from (``grader.kit.starter``)

``expected.json`` holds, for the kit's public cases only::

    {"format": 1, "assignment": "hw1", "grader": "0.1.0",
     "expected": {problem: {case: node}},                 # reference outputs, for value checks
     "gradient": {problem: {check: {case: node}}},        # numerical gradients; check = index in KIT/spec.yaml
     "mistakes": {problem: {mistake: {case: node | {"raised": message}}}}}   # for the diagnosis

Everything is computed here, in the trusted process, from the instructor's reference and mistakes
modules (``ReferenceExpectations``); the kit holds only their outputs on the public cases, as data.
MNIST problems need nothing precomputed: the kit's accuracy check evaluates the images the spec
names, from the test set shipped inside the grader package.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from grader import __version__, wire
from grader.cases import case_args
from grader.errors import GraderError, UsageError
from grader.grading import environment
from grader.grading.diagnosis import diagnosed_by
from grader.grading.expectations import KitExpectations, MistakeRaised, ReferenceExpectations
from grader.grading.preflight import verify_reference
from grader.kit.selfcheck import KIT_SPEC, STUDENT_KIT_DIR, is_kit
from grader.kit.starter import write_starter
from grader.spec import (AccuracyCheck, Assignment, CustomCheck, GradientCheck, Mistake, Problem, StabilityCheck,
                         ValueCheck, load_spec)

KIT_FORMAT = KitExpectations.FORMAT
"""Version of the expected.json layout; ``KitExpectations`` refuses other versions."""

HELPERS_FILE = "helpers.py"
"""The spec's helpers module, as the kit ships it (``helpers.name`` in scenarios)."""

CHECKS_FILE = "checks.py"
"""The spec's checks module, as the kit ships it (``kind: custom`` judges)."""

STARTER_DIR = "starter"
"""The kit's folder of starter code (``grader.kit.starter``): the student's module and notebook."""

KIT_FILES = ("spec.yaml", "expected.json", "expected.npz", "handout.md", "README.md", "conftest.py", STARTER_DIR)

CONFTEST = '''\
"""Runs this kit's public checks as pytest tests: one test per problem (the grader's pytest plugin).

pytest loads plugins only from top-level conftest files: run `pytest path/to/this/folder` from your
repository, or keep this folder at the top of your repository under a name starting with "test"
(for example tests-grader/) and run plain `pytest`. See README.md.
"""

pytest_plugins = ["grader.pytest_plugin"]
'''


@dataclass(frozen=True, kw_only=True)
class KitProblem:
    """One problem of the kit: its public spec and where each kept check came from."""

    problem: Problem
    """The problem as the kit's spec writes it."""
    original: Problem
    """The problem of the instructor's spec."""
    check_origin: tuple[int, ...]
    """Index in the original problem of each check of the kit's problem."""


def _public_problem(original: Problem, expectations: ReferenceExpectations) -> KitProblem | None:
    """The problem as a student may see it, or None when nothing of it runs on public cases."""
    public = [case.model_copy(update={"note": ""}) for case in original.cases if case.visibility == "public"]
    public_names = {case.name for case in public}
    checks, origin = [], []
    for index, check in enumerate(original.checks):
        update: dict[str, Any] = {"name": original.check_name(index)}
        if not isinstance(check, AccuracyCheck):
            names = [case.name for case in original.check_cases(check) if case.name in public_names]
            if not names:
                continue  # runs on hidden cases only: the instructor's grading alone runs it
            update["cases"] = None if check.cases is None else names
        checks.append(check.model_copy(update=update))
        origin.append(index)
    if not checks:
        return None
    # The diagnosis compares the student's values with the mistakes' outputs on the cases of the value
    # and gradient checks; without one there is nothing to diagnose and nothing to ship.
    has_value_check = any(diagnosed_by(check) for check in checks)
    mistakes = [
        Mistake(id=mistake.id, implementation=None, message=expectations.mistake_message(original, mistake))
        for mistake in original.mistakes
    ] if has_value_check else []
    # Declared survivors name the mistakes the cases cannot see: the instructor's notes, not the students'.
    problem = original.model_copy(update={"cases": public, "checks": checks, "mistakes": mistakes, "survivors": []})
    return KitProblem(problem=problem, original=original, check_origin=tuple(origin))


class _Arrays:
    """Value trees to JSON nodes, collecting every array for expected.npz."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []

    def node(self, value: Any) -> Any:
        if isinstance(value, MistakeRaised):
            return {"raised": value.message}
        return wire.encode(value, self.blobs)

    def arrays(self) -> dict[str, Any]:
        """``a0``, ``a1``, ... as the nodes number them."""
        return {f"a{i}": wire.load_array(blob, max_bytes=len(blob)) for i, blob in enumerate(self.blobs)}


def _expectations_index(kit: list[KitProblem], expectations: ReferenceExpectations, arrays: _Arrays) -> dict[str, Any]:
    expected: dict[str, Any] = {}
    gradient: dict[str, Any] = {}
    mistakes: dict[str, Any] = {}
    for entry in kit:
        problem, original = entry.problem, entry.original
        value_cases: dict[str, Any] = {}
        compared: dict[str, Any] = {}  # cases whose reference output a value or stability check needs
        for index, check in enumerate(problem.checks):
            cases = problem.check_cases(check) if not isinstance(check, AccuracyCheck) else []
            if isinstance(check, (ValueCheck, StabilityCheck, CustomCheck)):
                for case in cases:
                    compared[case.name] = original.case(case.name)
            if diagnosed_by(check):  # a gradient check's reads are diagnosed as a value check's are
                for case in cases:
                    value_cases[case.name] = compared[case.name] = original.case(case.name)
            if isinstance(check, GradientCheck):
                origin = entry.check_origin[index]
                gradient.setdefault(problem.id, {})[str(index)] = {
                    case.name: arrays.node(expectations.gradient(original, origin, original.case(case.name)))
                    for case in cases
                }
        # A case that expects an exception has no expected value (its case says which exception).
        compared = {name: case for name, case in compared.items() if not case.raises}
        value_cases = {name: case for name, case in value_cases.items() if not case.raises}
        if compared:
            expected[problem.id] = {name: arrays.node(expectations.expected(original, case))
                                    for name, case in compared.items()}
        if problem.mistakes:
            mistakes[problem.id] = {
                mistake.id: {name: arrays.node(expectations.mistake_output(original, declared, case))
                             for name, case in value_cases.items()}
                for mistake, declared in zip(problem.mistakes, original.mistakes)
            }
    return {"expected": expected, "gradient": gradient, "mistakes": mistakes}


def kit_spec(assignment: Assignment, kit: list[KitProblem]) -> dict[str, Any]:
    """The kit's spec as plain data, in the spec file's own vocabulary (defaults left out)."""
    data = assignment.model_copy(update={"problems": [entry.problem for entry in kit]}).model_dump(
        mode="json", exclude_defaults=True
    )
    for problem in data["problems"]:
        # `kind` first, as the spec files write it.
        problem["checks"] = [{"kind": check.pop("kind"), **check} for check in problem["checks"]]
    spec: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("reference", "mistakes_module", "checks_module", "helpers", "handout"):
            continue
        spec[key] = value
        if key == "module":
            # No reference and no mistakes module: their outputs are data in expected.json.
            spec["reference"] = None
            if assignment.handout:
                spec["handout"] = "handout.md"
            if assignment.checks_module:
                spec["checks_module"] = CHECKS_FILE
            if assignment.helpers:
                spec["helpers"] = HELPERS_FILE
    return spec


class _SpecDumper(yaml.SafeDumper):
    """Writes lists of numbers on one line ([1, 2, 3]), as people write specs."""


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flat = all(isinstance(item, (int, float, str, bool)) or item is None for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


_SpecDumper.add_representer(list, _represent_list)


@dataclass(frozen=True, kw_only=True)
class Kit:
    """What ``build_kit`` wrote."""

    folder: Path
    assignment: str
    problems: tuple[str, ...]
    left_out: tuple[str, ...]
    """Problems with no public check: graded only by the instructor, absent from the kit."""


def build_kit(name_or_path: str | Path, out: Path) -> Kit:
    """Write the student kit of an assignment into ``out`` (created, or replaced if it is a kit).

    Raises:
        UsageError: ``out`` exists and is neither empty nor a kit.
        GraderError: the kit written does not read back exactly (a bug, never a student's doing).
    """
    assignment = load_spec(name_or_path)
    expectations = ReferenceExpectations(assignment)
    verify_reference(expectations)
    kit, left_out = [], []
    for problem in assignment.problems:
        entry = _public_problem(problem, expectations)
        if entry is None:
            left_out.append(problem.id)
        else:
            kit.append(entry)
    if not kit:
        raise UsageError(f"{assignment.assignment} has no public case or accuracy check: nothing to put in a kit")
    arrays = _Arrays()
    index = {"format": KIT_FORMAT, "assignment": assignment.assignment, "grader": __version__,
             **_expectations_index(kit, expectations, arrays)}

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not (out.is_dir() and (is_kit(out) or not any(out.iterdir()))):
        raise UsageError(f"{out} exists and is not a student kit; choose another --out folder")
    staging = Path(tempfile.mkdtemp(prefix=".kit-", dir=out.resolve().parent))
    staging.chmod(0o755)  # a kit is handed out: readable like any folder, not mkdtemp's 0700
    try:
        header = (f"# Student kit of {assignment.assignment}, written by `grader bundle` (grader {__version__}).\n"
                  "# Public cases only; the expected outputs are in expected.json and expected.npz.\n")
        spec_text = yaml.dump(kit_spec(assignment, kit), Dumper=_SpecDumper, sort_keys=False, allow_unicode=True,
                              width=100)
        (staging / KIT_SPEC).write_text(header + spec_text, encoding="utf-8")
        (staging / "expected.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
        np.savez_compressed(staging / "expected.npz", **arrays.arrays())
        if assignment.handout:
            shutil.copyfile(assignment.resolve(assignment.handout), staging / "handout.md")
        if assignment.checks_path:  # the judges of custom checks: public custom checks run in the kit too
            shutil.copyfile(assignment.checks_path, staging / CHECKS_FILE)
        if assignment.helpers:  # the scenarios' helpers run beside the student's code, in the kit too
            shutil.copyfile(assignment.resolve(assignment.helpers), staging / HELPERS_FILE)
        (staging / "README.md").write_text(kit_readme(assignment, left_out), encoding="utf-8")
        (staging / "conftest.py").write_text(CONFTEST, encoding="utf-8")
        write_starter(assignment, staging / STARTER_DIR)
        validate_kit(staging, assignment)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Kit(folder=out, assignment=assignment.assignment, problems=tuple(entry.problem.id for entry in kit),
               left_out=tuple(left_out))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))
    if type(a) is not type(b):
        return False
    if isinstance(a, wire.TensorArg):
        return a.requires_grad == b.requires_grad and _same(a.array, b.array)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return bool(a == b)


def validate_kit(folder: Path, original: Assignment) -> None:
    """Read a freshly written kit back: its spec loads and its cases draw the very same inputs."""
    spec = load_spec(folder / KIT_SPEC, check_files=False)
    expectations = KitExpectations(folder)
    for problem in spec.problems:
        source = original.problem(problem.id)
        for case in problem.cases:
            mine, theirs = case_args(case), case_args(source.case(case.name))
            if len(mine) != len(theirs) or not all(_same(a, b) for a, b in zip(mine, theirs)):
                raise GraderError(f"kit of {original.assignment}: case {problem.id}/{case.name} does not draw the "
                                  "spec's inputs")
        for check in problem.checks:
            if isinstance(check, ValueCheck):
                for case in problem.check_cases(check):
                    if not case.raises:
                        expectations.expected(problem, case)



README = """\
# {title}: student kit

This folder lets you check your `{module}.py` yourself, on the **public** cases of the assignment,
exactly as the course's grader will. It contains the public cases (`spec.yaml`), the outputs a
correct solution gives on them (`expected.json`, `expected.npz`) and the handout (`handout.md`).
It contains no solution. Your final grade also counts hidden cases of the same kind, so passing
everything here is necessary, not sufficient.

{install}

Copy this folder into your repository (the folder holding `{module}.py`) as `{folder}/`, and run
the commands below from your repository. Another name works too: use it in place of `{folder}`.

`starter/` holds `{module}.py` and `{module}.ipynb` to start from: every function and class with
its signature and docstring, each raising `NotImplementedError` until you write it. Copy one of
them next to `{folder}/` (a module or a notebook: the grader takes either).

## Check your work

    grader check {folder} .

prints every check with what went wrong; exit code 0 when all public checks pass.

## In continuous integration

    grader ci {folder} . --junit report.xml

also writes a JUnit XML report (one test per problem) that GitHub Actions, GitLab CI or Jenkins
display, and a summary table to `$GITHUB_STEP_SUMMARY` on GitHub. Add `--min-score POINTS` to pass
with fewer than all public checks. Your instructor may have set this up already
(`.github/workflows/grader.yml`, `.gitlab-ci.yml`).

## With pytest

    pytest

runs one pytest test per problem ({problems}) besides your own tests; a failing test shows the
grader's feedback. pytest loads plugins only from top-level `conftest.py` files: plain `pytest`
finds the kit in a top-level folder whose name starts with `test`, like `{folder}/`; from anywhere
else run `pytest path/to/the/kit`. Check another folder than the current one with
`--grader-submission PATH`.

## In a notebook (Jupyter, Colab)

    from grader import Checker
    Checker("{folder}").check("{module}.ipynb")

grades the notebook **as saved** (save it first: unsaved cells are not graded) and shows the same
feedback as `grader check`, inline. `check()` alone finds `{module}.ipynb` or `{module}.py` in the
current folder; in Colab it checks the running notebook.

On Windows and macOS the grader runs your code in a separate process per check (time limits and
crash containment) instead of its Linux sandbox; every command above works the same, and its
output says which applied.
{left_out}"""


INSTALL = """\
You need Python 3.11, PyTorch and the grader:

    pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    pip install dl-grader          # or the git URL your instructor gives you

Where PyTorch 2.3 or newer is already installed (Colab, a conda environment), skip the first
line: the grader works with the torch you have and does not replace it."""

PINNED_INSTALL = """\
The course grades with {versions}. You need Python 3.11 and these exact versions
(torch as its CPU build), and the grader:

{commands}

With other versions the grader still runs, and says on every check that they differ from the
course's: your code may then behave differently than in grading (an API that NumPy removed, say)."""


def install_text(assignment: Assignment) -> str:
    """The kit README's install instructions: the spec's pinned versions when it names them."""
    pins = environment.pinned(assignment)
    if not pins:
        return INSTALL
    commands = []
    if "torch" in pins:
        commands.append(f"    pip install torch=={pins['torch']} --index-url https://download.pytorch.org/whl/cpu")
    commands.append(f"    pip install numpy=={pins['numpy']} dl-grader     # or the git URL your instructor gives you")
    versions = environment.describe(tuple((name, version) for name, version in pins.items()))
    return PINNED_INSTALL.format(versions=versions, commands="\n".join(commands))


def kit_readme(assignment: Assignment, left_out: list[str], *, folder: str = STUDENT_KIT_DIR) -> str:
    problems = ", ".join(f"`{problem.id}`" for problem in assignment.problems if problem.id not in left_out)
    note = ""
    if left_out:
        note = ("\nChecked only by the instructor's grading (no public case): "
                + ", ".join(f"`{name}`" for name in left_out) + ".\n")
    return README.format(title=assignment.title or assignment.assignment, module=assignment.module,
                         folder=folder, problems=problems, left_out=note, install=install_text(assignment))
