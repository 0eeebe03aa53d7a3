"""A student kit works on its own: `grader check`, `grader ci` and `pytest` in a folder outside the project.

For each assignment the kit is built, copied into a copy of an example submission (``ada``, right
everywhere; ``ben``, with declared mistakes) as ``tests-grader/``, the way a student keeps it in
their repository, and the three commands run there in subprocesses of the project's Python with
nothing else importable but the grader. Their results must agree, problem by problem, with the
instructor's ``check_submission`` of the same submission from the spec and its reference.

All subprocesses start at once (a few in parallel) when the module's fixture runs; each test then
reads the results it needs.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from grader.kit import selfcheck as checking
from grader.kit.bundle import CONFTEST, STUDENT_KIT_DIR, build_kit
from grader.kit.selfcheck import check_submission
from grader.reports.gradescope import from_results_json
from grader.results import CheckResult, GradeReport, Outcome, ProblemResult

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = ("hw1", "hw2", "hw3")
STUDENTS = {"ada": 0, "ben": 1}
"""Example submission -> exit code of every command: ada passes every public check, ben does not."""
KIT_DIR = STUDENT_KIT_DIR
"""Where the kit goes in the repository, as its README says: plain `pytest` finds it there."""
PARALLEL = 3


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"


def _grader_environment(tmp: Path) -> dict[str, str]:
    """The subprocesses' environment: the grader importable, nothing of the project besides it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "GITHUB_"))}
    env.pop("PYTHONPATH", None)
    try:
        importlib.metadata.distribution("dl-grader")
    except importlib.metadata.PackageNotFoundError:
        # Not installed in this environment (CI runs `pip install -e .`): expose the package alone.
        (tmp / "grader").symlink_to(ROOT / "grader", target_is_directory=True)
        env["PYTHONPATH"] = str(tmp)
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> Run:
    done = subprocess.run([sys.executable, *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return Run(done.returncode, done.stdout, done.stderr)


@dataclass
class Workspace:
    hw: str
    student: str
    folder: Path
    instructor: Future[GradeReport]
    check: Future[Run]
    ci: Future[Run]
    pytest: Future[Run]
    summary: Path

    @property
    def kit(self) -> Path:
        return self.folder / KIT_DIR


@pytest.fixture(scope="module")
def grader_environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _grader_environment(tmp_path_factory.mktemp("grader-site"))


@pytest.fixture(scope="module")
def junit_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(ROOT / "tests" / "data" / "junit.xsd"))


@pytest.fixture(scope="module")
def pool():
    with ThreadPoolExecutor(max_workers=PARALLEL) as executor:
        yield executor


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory, grader_environment: dict[str, str],
               pool: ThreadPoolExecutor) -> dict[tuple[str, str], Workspace]:
    """Every run queued at once, assignment by assignment, so that they overlap."""
    tmp = tmp_path_factory.mktemp("kit-e2e")
    env = grader_environment
    found = {}
    for hw in ASSIGNMENTS:
        kit = build_kit(hw, tmp / "kits" / hw)
        for student in STUDENTS:
            folder = tmp / hw / student
            shutil.copytree(ROOT / "submissions" / hw / student, folder)
            shutil.copytree(kit.folder, folder / KIT_DIR)
            summary = folder.parent / f"{student}-summary.md"
            ci_env = {**env, "GITHUB_STEP_SUMMARY": str(summary)}
            found[hw, student] = Workspace(
                hw=hw, student=student, folder=folder, summary=summary,
                # The instructor's self-check of the example, from the spec and the reference.
                instructor=pool.submit(check_submission, hw, ROOT / "submissions" / hw / student),
                check=pool.submit(_run, ["-m", "grader", "check", KIT_DIR, ".", "--json", f"../{student}.json"],
                                  folder, env),
                ci=pool.submit(_run, ["-m", "grader", "ci", KIT_DIR, ".", "--junit", f"../{student}-junit.xml"],
                               folder, ci_env),
                pytest=pool.submit(_run, ["-m", "pytest", "-p", "no:cacheprovider",
                                          f"--junitxml=../{student}-pytest.xml"], folder, env),
            )
    return found


def _scores(report: GradeReport) -> dict[str, tuple[float, float]]:
    return {problem.problem: (round(problem.score, 6), round(problem.max_score, 6)) for problem in report.problems}


def _measured(problem: ProblemResult) -> bool:
    """An MNIST problem: the kit's images carry other noise than the instructor's (a secret of the
    instructor's, grader.datasets.perturb), so its score agrees to within a point, not exactly."""
    return any(check.kind == "accuracy" for check in problem.checks)


def _agree(kit: GradeReport, instructor: GradeReport) -> None:
    measured = {problem.problem for problem in instructor.problems if _measured(problem)}
    assert {k: v for k, v in _scores(kit).items() if k not in measured} == {
        k: v for k, v in _scores(instructor).items() if k not in measured}
    for name in measured:
        assert _scores(kit)[name] == pytest.approx(_scores(instructor)[name], abs=1.0)


CASES = [pytest.param(hw, student, id=f"{hw}-{student}") for hw in ASSIGNMENTS for student in STUDENTS]


@pytest.mark.parametrize(("hw", "student"), CASES)
def test_grader_check_from_the_kit_agrees_with_the_instructor(workspaces, hw, student) -> None:
    space = workspaces[hw, student]
    run = space.check.result()
    assert run.returncode == STUDENTS[student], run.explain()
    kit_report = from_results_json(json.loads((space.folder.parent / f"{student}.json").read_text()))
    instructor = space.instructor.result()
    assert kit_report.mode == "check"
    _agree(kit_report, instructor)
    assert kit_report.passed == instructor.passed == (student == "ada")
    # The kit ships the declared mistakes' public outputs: the diagnosis is the instructor's.
    assert {p.problem: [d.mistake for d in p.diagnoses] for p in kit_report.problems} == {
        p.problem: [d.mistake for d in p.diagnoses] for p in instructor.problems}


@pytest.mark.parametrize(("hw", "student"), CASES)
def test_grader_ci_writes_valid_junit_and_exits_by_score(workspaces, junit_schema, hw, student) -> None:
    space = workspaces[hw, student]
    run = space.ci.result()
    assert run.returncode == STUDENTS[student], run.explain()
    junit = space.folder.parent / f"{student}-junit.xml"
    junit_schema.validate(str(junit))
    suite = ET.parse(junit).getroot().find("testsuite")
    instructor = space.instructor.result()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == [problem.problem for problem in instructor.problems]
    assert {case.get("classname") for case in cases.values()} == {hw}
    failing = {name for name, case in cases.items()
               if case.find("failure") is not None or case.find("error") is not None}
    assert failing == {problem.problem for problem in instructor.problems if not problem.passed}
    assert int(suite.get("failures")) + int(suite.get("errors")) == len(failing)
    summary = space.summary.read_text(encoding="utf-8")
    assert "| Problem | Score |" in summary and all(f"`{name}`" in summary for name in cases)


@pytest.mark.parametrize(("hw", "student"), CASES)
def test_plain_pytest_in_the_repository_runs_one_test_per_problem(workspaces, hw, student) -> None:
    space = workspaces[hw, student]
    run = space.pytest.result()
    assert run.returncode == STUDENTS[student], run.explain()
    root = ET.parse(space.folder.parent / f"{student}-pytest.xml").getroot()
    outcomes = {case.get("name"): "failed" if case.find("failure") is not None else "passed"
                for case in root.iter("testcase")}
    instructor = space.instructor.result()
    assert outcomes == {p.problem: "passed" if p.passed else "failed" for p in instructor.problems}
    for problem in instructor.problems:
        if not problem.passed:
            # The failure message is the grader's feedback, headed by the problem's score line.
            score = f": {problem.score:.2f}" if not _measured(problem) else ""
            assert f"{problem.problem}{score}" in run.stdout and f" / {problem.max_score:.2f}" in run.stdout


def test_the_subprocesses_import_the_grader_and_nothing_else_of_the_project(workspaces, grader_environment) -> None:
    space = workspaces["hw1", "ada"]
    probe = _run(["-c", "import grader; print(grader.__version__)\n"
                        "for name in ('reference', 'problems', 'tests', 'submissions'):\n"
                        "    try:\n        __import__(name)\n    except ImportError:\n        continue\n"
                        "    raise SystemExit(name + ' is importable')"], space.folder, grader_environment)
    assert probe.returncode == 0, probe.explain()


# --- the pytest plugin in-process, with a canned report -------------------------------------


@pytest.fixture
def canned_check(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Path]]:
    """check_submission answers a fixed report and records what it was asked to check."""
    def check(kit: Path, submission: Path, **kwargs: object) -> GradeReport:
        calls.append((Path(kit), Path(submission)))
        good = CheckResult(name="values", kind="value", weight=1.0, score=1.0, outcome=Outcome.PASSED)
        bad = CheckResult(name="values", kind="value", weight=1.0, score=0.0, outcome=Outcome.FAILED,
                          message="3 of 5 values differ")
        skipped = CheckResult(name="hidden", kind="value", weight=1.0, score=0.0, outcome=Outcome.SKIPPED)
        return GradeReport(submission="sub", assignment="t", mode="check", problems=(
            ProblemResult(problem="good", points=1.0, checks=(good,)),
            ProblemResult(problem="bad", points=2.0, checks=(bad,)),
            ProblemResult(problem="hidden", points=3.0, checks=(skipped,)),
        ))

    calls: list[tuple[Path, Path]] = []
    monkeypatch.setattr(checking, "check_submission", check)
    return calls


def _fake_kit(folder: Path) -> Path:
    folder.mkdir(parents=True)
    problems = [{"id": name, "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": 1}}],
                 "checks": [{"kind": "stability"}]} for name in ("good", "bad", "hidden")]
    (folder / "spec.yaml").write_text(yaml.safe_dump({"schema_version": 1, "assignment": "t", "module": "t",
                                                      "problems": problems}))
    (folder / "expected.json").write_text(json.dumps({"format": 1}))
    (folder / "conftest.py").write_text(CONFTEST)
    return folder


def test_plugin_makes_one_item_per_problem_and_checks_once(pytester: pytest.Pytester, canned_check) -> None:
    kit = _fake_kit(pytester.path / "tests-grader")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    assert canned_check == [(kit.resolve(), pytester.path.resolve())]
    result.stdout.fnmatch_lines(["*_ t::bad _*", "bad: 0.00 / 2.00", "  [[]FAIL[]] values: 3 of 5 values differ",
                                 "FAILED tests-grader/spec.yaml::bad - bad: 0.00 / 2.00"])
    assert "Traceback" not in result.stdout.str()


def test_plugin_checks_the_submission_option_or_the_kit_parent(pytester: pytest.Pytester, canned_check,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    kit = _fake_kit(pytester.path / "repo" / "kit")
    (pytester.path / "elsewhere").mkdir()
    pytester.runpytest_inprocess("repo/kit", "--grader-submission", "elsewhere", "-p", "no:cacheprovider")
    assert canned_check[-1] == (kit.resolve(), (pytester.path / "elsewhere").resolve())
    monkeypatch.chdir(kit)  # pytest started inside the kit checks the folder around it
    pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert canned_check[-1] == (kit.resolve(), (pytester.path / "repo").resolve())
