"""The Gradescope autograder package of hw1, run as Gradescope runs it, in a temporary root.

The package is built with ``grader gradescope``, unzipped into ``ROOT/source`` with
``run_autograder`` copied to ``ROOT``, as Gradescope's image build does; ``setup.sh`` runs with a
stand-in Python that records what it would install (the real install downloads torch), and
``run_autograder`` then grades an example submission in ``ROOT/submission`` with the ``grader``
on PATH (setup.sh made no real venv), ``AUTOGRADER_ROOT=ROOT``. Its results.json is compared with
``grader grade``'s on the same submission, and validated against a JSON Schema written from
Gradescope's documented format (tests/data/gradescope/results.schema.json).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from grader.reports.gradescope import to_autograder_results
from grader.results import CaseResult, CheckResult, GradeReport, Outcome, ProblemResult
from grader.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests" / "data" / "gradescope" / "results.schema.json").read_text())
STUDENT = "ben"
"""An example submission with declared mistakes, a stability failure and a partly-right MNIST model."""

STAND_IN_PYTHON = """\
#!/usr/bin/env bash
# Records every call; `-m venv DIR` makes DIR/bin/python this same script (so pip calls are recorded too).
echo "$0 $*" >> "$CALLS"
if [ "${1:-}" = "-m" ] && [ "${2:-}" = "venv" ] && [ "${3:-}" != "--help" ]; then
    mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
fi
exit 0
"""


@dataclass(frozen=True)
class Run:
    root: Path
    package: Path
    calls: list[str]
    results: dict
    graded: dict
    """``grader grade``'s results.json of the same submission."""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("gradescope")
    grader = Path(sys.executable).parent / "grader"
    package = tmp / "autograder.zip"
    subprocess.run([grader, "gradescope", "hw1", "--out", package], check=True, cwd=ROOT)

    root = tmp / "autograder"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):  # zipfile drops the mode bits: restore them as unzip does
        mode = archive.getinfo(name).external_attr >> 16
        (root / "source" / name).chmod(mode & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    shutil.copytree(ROOT / "submissions" / "hw1" / STUDENT, root / "submission")

    stand_in = tmp / "python3"
    stand_in.write_text(STAND_IN_PYTHON)
    stand_in.chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "CALLS": str(tmp / "calls.txt")}
    subprocess.run(["bash", root / "source" / "setup.sh"], check=True, cwd=root, env={**env, "PYTHON": str(stand_in)})
    env["PATH"] = f"{grader.parent}{os.pathsep}{env['PATH']}"
    subprocess.run([root / "run_autograder"], check=True, cwd=root, env=env)

    submissions = tmp / "class"
    shutil.copytree(ROOT / "submissions" / "hw1" / STUDENT, submissions / STUDENT)
    subprocess.run([grader, "grade", "hw1", submissions, "--out", tmp / "reports", "--no-html"], check=True, cwd=ROOT)
    return Run(root=root, package=package, calls=(tmp / "calls.txt").read_text().splitlines(),
               results=json.loads((root / "results" / "results.json").read_text()),
               graded=json.loads((tmp / "reports" / STUDENT / "results.json").read_text()))


def test_package_has_gradescope_files_at_its_root(run: Run) -> None:
    names = zipfile.ZipFile(run.package).namelist()
    assert {"setup.sh", "run_autograder", "grader/pyproject.toml", "grader/grader/cli.py",
            "course/problems/hw1.yaml", "course/reference/hw1.py", "course/reference/hw1_mistakes.py"} <= set(names)
    assert "grader/grader/data/mnist/t10k-images-idx3-ubyte.gz" in names
    assert not any("__pycache__" in name for name in names)


def test_setup_installs_cpu_torch_pinned_and_the_grader_from_the_package(run: Run) -> None:
    installs = [call.split() for call in run.calls if " -m pip install " in call]
    assert len(installs) == 2, run.calls
    torch, grader = installs
    # torch first, pinned, from the CPU-only wheel index (PyPI's Linux wheels are CUDA builds) ...
    assert "torch==2.13.0" in torch and torch[torch.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert not [word for word in torch if "torch" in word and word not in ("torch==2.13.0",) and "whl/cpu" not in word]
    # ... then the grader from the package, which finds its torch pin satisfied
    assert f"{run.root}/source/grader" in grader and not [word for word in grader if "torch" in word]
    # hw1's spec pins NumPy: the grader's install takes exactly that release.
    assert "numpy==2.4.6" in grader
    assert "--extra-index-url" not in torch + grader and not any("cu1" in word for word in torch + grader)


def test_results_json_is_valid_gradescope_format(run: Run) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(run.results)
    jsonschema.Draft202012Validator(SCHEMA).validate(run.graded)  # grader grade's own results.json too


def test_schema_rejects_what_gradescope_does_not_document(run: Run) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for broken in ({**run.results, "stdout_visibility": "students"},
                   {**run.results, "tests": [{**run.results["tests"][0], "status": "partial"}]},
                   {**run.results, "leaderboard": [{"name": "MNIST accuracy"}]},
                   {"output": "no score anywhere"}):
        assert not validator.is_valid(broken)


def test_scores_equal_those_of_grader_grade(run: Run) -> None:
    assert run.results["score"] == pytest.approx(run.graded["score"], abs=1e-5)
    assert 0 < run.results["score"] < 100
    per_problem: dict[str, float] = {}
    for test in run.results["tests"]:
        per_problem[test["extra_data"]["problem"]] = per_problem.get(test["extra_data"]["problem"], 0) + test["score"]
    assert per_problem == pytest.approx({test["name"]: test["score"] for test in run.graded["tests"]}, abs=1e-5)
    assert sum(test["max_score"] for test in run.results["tests"]) == pytest.approx(100)


def test_checks_on_hidden_cases_are_shown_after_publishing(run: Run) -> None:
    spec = load_spec("hw1")
    seen = set()
    for test in run.results["tests"]:
        problem = spec.problem(test["extra_data"]["problem"])
        index = int(test["number"].split(".")[1]) - 1
        check = problem.checks[index]
        hidden = check.kind != "accuracy" and any(case.visibility == "hidden" for case in problem.check_cases(check))
        assert test["visibility"] == ("after_published" if hidden else "visible"), test["name"]
        seen.add(test["visibility"])
        assert test["output_format"] == "md"
    assert seen == {"visible", "after_published"}
    # A hidden case's inputs never reach a test the student sees at once.
    for test in run.results["tests"]:
        if test["visibility"] == "visible":
            assert "(hidden)" not in test["output"], test["name"]


def test_mnist_accuracy_is_on_the_leaderboard(run: Run) -> None:
    accuracy = next(test for test in run.graded["tests"] if test["name"] == "mnist_accuracy")["extra_data"]["accuracy"]
    assert run.results["leaderboard"] == [{"name": "MNIST accuracy", "value": pytest.approx(accuracy), "order": "desc"}]
    assert 0.85 < accuracy < 0.95


def test_results_say_which_isolation_applied(run: Run) -> None:
    assert run.results["output"].startswith("Sandbox:")
    assert "Graded with NumPy 2.4.6 and torch 2.13.0" in run.results["output"]  # and which versions
    assert run.results["stdout_visibility"] == "hidden"
    assert run.results["execution_time"] > 0


def test_student_text_cannot_break_out_of_its_code_block() -> None:
    check = CheckResult(name="value", kind="value", weight=1, score=0, outcome=Outcome.FAILED, message="wrong",
                        cases=(CaseResult(case="a", public=True, outcome=Outcome.FAILED, message="```\n# shouting"),))
    problem = ProblemResult(problem="f", points=1, checks=(check,), output="````` and *bold*")
    report = GradeReport(submission="s", assignment="a", problems=(problem,))
    spec = load_spec("hw1")
    (test,) = to_autograder_results(report, spec)["tests"]
    assert "\n```\n# shouting" not in test["output"]  # the fence is longer than any backtick run inside
    assert "``````\n````` and *bold*\n``````" in test["output"]


# --- as Gradescope runs it: a Docker container, whose default seccomp profile refuses namespaces ---

DOCKER_SECCOMP = ROOT / "tests" / "sandbox" / "docker_seccomp.py"
"""Runs a program as in a default Docker container: the namespace calls refused."""
SYSTEM_PYTHON = Path("/usr/bin/python3")
READ_PACKAGE = ROOT / "tests" / "hostile" / "_read_package"


def _others_can_reach(path: Path) -> bool:
    return all(os.stat(folder).st_mode & 0o005 == 0o005 for folder in [path, *path.parents])


def _gradescope_venv(root: Path) -> None:
    """``ROOT/venv`` laid out as setup.sh makes it: ``python3 -m venv`` of the system Python, the
    grader installed from ``source/grader`` (its package copied into site-packages and its
    ``grader`` console script, as ``pip install`` of a source tree does). Its dependencies (numpy,
    torch...), which setup.sh downloads with pip, are this test's venv's, through a .pth file."""
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", root / "venv"], check=True)
    (site,) = (root / "venv" / "lib").glob("python3*/site-packages")
    shutil.copytree(root / "source" / "grader" / "grader", site / "grader")
    (site / "test-dependencies.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")
    script = root / "venv" / "bin" / "grader"
    script.write_text(f"#!{root / 'venv' / 'bin' / 'python'}\nimport sys\nfrom grader.cli import main\n"
                      "sys.exit(main())\n")
    script.chmod(0o755)


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0, reason="Gradescope runs as root on Linux")
def test_without_namespaces_the_package_is_kept_from_student_code(run: Run, tmp_path: Path,
                                                                  request: pytest.FixtureRequest) -> None:
    pytest.importorskip("pyseccomp")
    dependencies = Path(next(p for p in sys.path if p.endswith("site-packages")))
    if not SYSTEM_PYTHON.exists() or not _others_can_reach(dependencies):
        pytest.skip("needs /usr/bin/python3 and a test venv other users can read (as a worker user must)")
    package = run.package  # hw1's package, as built by `grader gradescope` for the tests above
    # pytest's tmp_path is private to root (0700): Gradescope's /autograder is not.
    root = Path(tempfile.mkdtemp(prefix="autograder-"))
    root.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    with zipfile.ZipFile(package) as archive:  # as Gradescope lays it out, modes included
        archive.extractall(root / "source")
        for name in ("setup.sh", "run_autograder"):
            (root / "source" / name).chmod((archive.getinfo(name).external_attr >> 16) & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    shutil.copytree(READ_PACKAGE, root / "submission")
    _gradescope_venv(root)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "AUTOGRADER_ROOT": str(root), "LANG": "C.UTF-8"}
    completed = subprocess.run([sys.executable, DOCKER_SECCOMP, "/bin/bash", root / "run_autograder"], cwd=root, env=env,
                               capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    texts = [test["output"] for test in results["tests"]]
    reports = [json.loads(found.group(1)) for text in texts if (found := re.search(r"PROBE (\{.*\})", text))]
    assert reports, texts
    report = reports[0]
    assert str(root / "source" / "course" / "problems" / "hw1.yaml") in report["found_spec"]  # it knew where
    # The student's code reached nothing of the package.
    assert report["read"] == [] and report["wrote"] == [] and report["refused"] >= 6, report
    # It graded, and said what applied.
    assert "score" in results and results.get("score") != 100
    assert "namespaces not allowed on this machine" in results["output"]
    assert "instructor files are unreadable to workers" in results["output"]
    assert "dedicated unprivileged user" in results["output"]


def test_the_package_holds_every_file_the_spec_names(tmp_path: Path) -> None:
    """A spec with a helpers module and a checks module: both are in the zip, beside the spec,
    reference, mistakes and handout, so the unzipped spec loads (it did not: every submission's
    run stopped on "field 'helpers': file ... does not exist")."""
    from grader.kit.autograder import build_autograder

    course = tmp_path / "course"
    (course / "problems").mkdir(parents=True)
    (course / "reference").mkdir()
    for name in ("hw9.py", "hw9_mistakes.py", "hw9_helpers.py", "hw9_checks.py"):
        (course / "reference" / name).write_text("def f(x):\n    return x\n")
    (course / "problems" / "handout-hw9.md").write_text("# hw9\n")
    spec = {"schema_version": 1, "assignment": "hw9", "module": "hw9", "reference": "../reference/hw9.py",
            "mistakes_module": "../reference/hw9_mistakes.py", "helpers": "../reference/hw9_helpers.py",
            "checks_module": "../reference/hw9_checks.py", "handout": "handout-hw9.md", "problems": [{
                "id": "f", "points": 1, "no_typical_mistake": "a test",
                "cases": [{"name": "a", "visibility": "public", "args": {"x": 1.0}}], "checks": [{"kind": "value"}]}]}
    (course / "problems" / "hw9.yaml").write_text(json.dumps(spec))
    package = build_autograder(load_spec(course / "problems" / "hw9.yaml"), tmp_path / "hw9.zip")
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "unzipped")
    assert {f"course/reference/{name}" for name in ("hw9.py", "hw9_mistakes.py", "hw9_helpers.py",
                                                    "hw9_checks.py")} <= names
    assert load_spec(tmp_path / "unzipped" / "course" / "problems" / "hw9.yaml").helpers
