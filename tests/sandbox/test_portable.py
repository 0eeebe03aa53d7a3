"""The portable worker (``grader.sandbox.portable``): the self-check where the fork server cannot run.

Linux stands in for Windows: ``os.fork`` and ``resource`` are taken away in this process (so that
``open_sandbox`` must choose the portable worker by itself) and in every worker it starts (through
``no_fork.py``, so that a worker that forked or set a limit would fail). Every example submission
of hw1-hw4 is then checked once through the portable worker and once through the fork server,
both at once, and the verdicts must be the same check by check; wrong answers among them
(ben, cy, dee) must lose exactly the same points. Hostile submissions show that a hang, a crash
and an output flood cost only their own problem.
"""

from __future__ import annotations

import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from grader.batch.executor import hidden_paths
from grader.errors import GraderError
from grader.grading.expectations import ReferenceExpectations
from grader.batch.submissions import Submission, sources
from grader.kit.selfcheck import check_in, load_target
from grader.results import GradeReport
from grader.sandbox import portable
from grader.sandbox.choice import open_sandbox
from grader.sandbox.portable import PortableSandbox
from grader.sandbox.preload import modules_to_preload
from grader.sandbox.server import Sandbox
from grader.spec import Assignment, load_spec

ROOT = Path(__file__).resolve().parents[2]
NO_FORK = Path(__file__).with_name("no_fork.py")
HOSTILE = ROOT / "tests" / "hostile"
SANDBOX_SPEC = ROOT / "tests" / "data" / "sandbox" / "sandbox.yaml"
ASSIGNMENTS = ("hw1", "hw2", "hw3", "hw4")
EXAMPLES = [(hw, folder.name) for hw in ASSIGNMENTS
            for folder in sorted((ROOT / "submissions" / hw).iterdir()) if folder.is_dir()]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="compares with the fork server, which runs on Linux")


@contextmanager
def _no_fork() -> Iterator[None]:
    """This process and every worker it starts, as on a platform with neither os.fork nor resource."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delattr(os, "fork")
        patch.setitem(sys.modules, "resource", None)
        patch.setattr(portable, "child_command", lambda config: [
            sys.executable, str(NO_FORK), "-m", "grader.sandbox.spawned", json.dumps(config)])
        yield


@pytest.fixture
def without_fork() -> Iterator[None]:
    with _no_fork():
        yield


def _verdicts(report: GradeReport) -> list[tuple[Any, ...]]:
    """Per check: problem, its status, the check, its outcome and score, and the kind of message."""
    rows = []
    for problem in report.problems:
        for check in problem.checks:
            rows.append((problem.problem, problem.status, check.name, check.outcome, round(check.score, 6),
                         _message_kind(check.message)))
        rows.append((problem.problem, problem.status, "diagnoses", tuple(d.mistake for d in problem.diagnoses)))
    return rows


def _message_kind(message: str) -> str:
    """A message with what may differ between two sandboxes left out: where the copy of the
    submission lives, and how long a limit took to hit."""
    message = re.sub(r"(/[^\s'\"]*)?/submission/", "<submission>/", message)
    message = re.sub(r"\([0-9.]+ s of CPU time\)|\(no answer after [0-9]+ s of waiting\)", "(time)", message)
    return re.sub(r"parameters, [0-9.]+ s$", "parameters, (time)", message)


def _with_short_calls(assignment: Assignment, expectations: Any) -> tuple[Assignment, Any]:
    """The spec with its call limit cut to 3 s of CPU time, for both ways alike: hw3's hanging
    student then costs 3 s a way, not 10 (a hang is a hang at any limit; correct calls take
    milliseconds)."""
    limits = assignment.limits.model_copy(update={"call_timeout": min(assignment.limits.call_timeout, 3)})
    return assignment.model_copy(update={"limits": limits}), expectations


@pytest.fixture(scope="module")
def both_ways() -> dict[tuple[str, str], tuple[GradeReport, GradeReport, str]]:
    """Each example checked through the fork server and through the portable worker, in parallel;
    -> (fork server's report, portable worker's report, the portable sandbox's class)."""
    targets = {hw: _with_short_calls(*load_target(hw)) for hw in ASSIGNMENTS}
    hide = sorted({path for assignment, _ in targets.values() for path in hidden_paths(assignment)})

    def forked() -> dict[tuple[str, str], GradeReport]:
        with Sandbox(isolation="auto", hide=hide, preload=("torch",)) as sandbox:  # hw1's models, hw4's tensors
            return {(hw, student): check_in(sandbox, targets[hw][0], ROOT / "submissions" / hw / student,
                                             expectations=targets[hw][1]) for hw, student in EXAMPLES}

    def portably() -> dict[tuple[str, str], tuple[GradeReport, str]]:
        reports = {}
        for hw in ASSIGNMENTS:
            assignment, expectations = targets[hw]
            # What check_submission opens: the choice is made here, with os.fork and resource gone.
            students = [sources(Submission(student, ROOT / "submissions" / hw / student))
                        for name, student in EXAMPLES if name == hw]
            with open_sandbox("auto", hide=hidden_paths(assignment), purpose="check",
                              preload=modules_to_preload(assignment, students)) as sandbox:
                for name, student in EXAMPLES:
                    if name == hw:
                        report = check_in(sandbox, assignment, ROOT / "submissions" / hw / student,
                                          expectations=expectations)
                        reports[hw, student] = (report, type(sandbox).__name__)
        return reports

    with _no_fork(), ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.submit(forked), pool.submit(portably)
        fork_reports, portable_reports = first.result(), second.result()
    return {key: (fork_reports[key], *portable_reports[key]) for key in fork_reports}


@pytest.mark.parametrize(("hw", "student"), EXAMPLES, ids=[f"{hw}-{student}" for hw, student in EXAMPLES])
def test_portable_worker_gives_the_fork_servers_verdicts(both_ways, hw: str, student: str) -> None:
    forked, portable_report, kind = both_ways[hw, student]
    assert kind == "PortableSandbox", "without os.fork and resource, the self-check must choose the portable worker"
    assert _verdicts(portable_report) == _verdicts(forked)
    assert portable_report.score == pytest.approx(forked.score)
    # What the report says of the submission itself (a notebook's cells, what its import printed) too.
    assert _submission_notes(portable_report) == _submission_notes(forked)
    assert any(note.startswith("Sandbox: portable worker (this platform has no os.fork and no resource)")
               for note in portable_report.notes)


def _submission_notes(report: GradeReport) -> list[str]:
    return [note for note in report.notes if not note.startswith("Sandbox:")]


def test_wrong_answers_lose_points_through_the_portable_worker(both_ways, expected_examples: dict) -> None:
    """Not only right answers pass: every example the ground truth says is wrong somewhere loses points."""
    for (hw, student), (_, report, _) in both_ways.items():
        lost = {problem.problem for problem in report.problems if problem.max_score and not problem.passed}
        if student == "ada":
            assert not lost, f"{hw}/{student} lost {lost}"
        else:
            assert lost, f"{hw}/{student} passed every public check through the portable worker"
    assert both_ways["hw2", "dee"][1].score == 0


def _check_hostile(sandbox: PortableSandbox, attack: str) -> dict[str, Any]:
    assignment = load_spec(SANDBOX_SPEC)
    report = check_in(sandbox, assignment, HOSTILE / attack, expectations=ReferenceExpectations(assignment))
    return {problem.problem: problem for problem in report.problems}


@pytest.fixture
def hostile_sandbox(without_fork: None) -> Iterator[PortableSandbox]:
    with PortableSandbox(preload_torch=False) as sandbox:
        yield sandbox


@pytest.mark.parametrize(("attack", "words"), [
    ("infinite_loop", "`double` stopped: time limit of 2 s exceeded"),
    ("os_exit_call", "`double` crashed: the process exited with status 9"),
    ("segfault", "`double` crashed: the process crashed with a segmentation fault (SIGSEGV)"),
])
def test_a_hang_or_a_crash_costs_only_its_problem(hostile_sandbox: PortableSandbox, attack: str, words: str) -> None:
    problems = _check_hostile(hostile_sandbox, attack)
    assert problems["double"].score == 0
    assert words in problems["double"].failure
    assert problems["honest_double"].passed and problems["other_module"].passed


def test_an_output_flood_is_truncated_and_the_answer_still_counts(hostile_sandbox: PortableSandbox) -> None:
    problems = _check_hostile(hostile_sandbox, "stdout_flood")
    assert problems["double"].passed
    assert "[output truncated:" in problems["double"].output
    assert len(problems["double"].output) < 20_000


def test_the_student_works_on_a_copy(hostile_sandbox: PortableSandbox, tmp_path: Path) -> None:
    (tmp_path / "attack.py").write_text("open('written.txt', 'w').write('x')\ndef double(x):\n    return 2 * x\n")
    (tmp_path / "honest.py").write_text("def double(x):\n    return 2 * x\n")
    problems = _check_hostile(hostile_sandbox, str(tmp_path))
    assert problems["double"].passed
    assert not (tmp_path / "written.txt").exists()


def test_the_memory_limit_applies_on_linux(tmp_path: Path) -> None:
    """With ``resource`` (the real child, not no_fork.py), an allocation loop hits the limit."""
    with PortableSandbox(preload_torch=False) as sandbox:
        assert sandbox.info.memory_limit
        problems = _check_hostile(sandbox, "memory_bomb")
    assert problems["double"].score == 0 and "MemoryError" in problems["double"].failure
    assert problems["honest_double"].passed


def test_grading_a_class_refuses_the_portable_worker_unless_asked(without_fork: None) -> None:
    with pytest.raises(GraderError, match="grading needs the sandbox's fork server.*--isolation none"):
        open_sandbox("auto", hide=[], purpose="grade")
    with pytest.raises(GraderError, match="--isolation full was asked for"):
        open_sandbox("full", hide=[], purpose="check")
    sandbox = open_sandbox("none", hide=[], purpose="grade")
    assert isinstance(sandbox, PortableSandbox)
    sandbox.close()


def test_with_the_fork_server_available_auto_keeps_it() -> None:
    sandbox = open_sandbox("auto", hide=[], purpose="check")
    assert isinstance(sandbox, Sandbox)
    sandbox.close()
    with pytest.raises(GraderError, match="--isolation portable is for a student's self-check"):
        open_sandbox("portable", hide=[], purpose="grade")
