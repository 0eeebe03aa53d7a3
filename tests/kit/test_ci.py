"""CI on submission repositories: JUnit XML, `grader ci`, the job summary, `grader init-ci`, LMS export.

Reports here are built by hand (keyword factories) or canned, so that these tests run no student
code; ``test_kit_e2e.py`` runs the real thing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.cli import main
from grader.errors import UsageError
from grader.kit import selfcheck as checking
from grader.kit.workflows import GITHUB_WORKFLOW, GITLAB_CI, init_ci, markdown_summary, render_workflows
from grader.reports.gradebook import canvas_csv, export_grades, moodle_csv, read_grades
from grader.reports.gradescope import to_results_json
from grader.reports.junit import to_junit_xml, xml_text
from grader.reports.text import problem_text
from grader.results import CheckResult, GradeReport, Outcome, ProblemResult

ROOT = Path(__file__).resolve().parents[2]
NASTY_OUTPUT = "debug \x00\x1b[31mred\x1b[0m \x07 <tag> & \"quotes\" | pipe \ud800 é 🙂\n"


# --- factories ------------------------------------------------------------------------------


def make_check(**overrides: Any) -> CheckResult:
    fields: dict[str, Any] = {"name": "values", "kind": "value", "weight": 1.0, "score": 1.0,
                              "outcome": Outcome.PASSED, "message": "passed on 2 cases"}
    return CheckResult(**{**fields, **overrides})


def make_problem(**overrides: Any) -> ProblemResult:
    fields: dict[str, Any] = {"problem": "sigmoid", "points": 10.0, "checks": (make_check(),)}
    return ProblemResult(**{**fields, **overrides})


def failed_check(**overrides: Any) -> CheckResult:
    return make_check(**{"score": 0.0, "outcome": Outcome.FAILED, "message": "3 of 5 values differ", **overrides})


def make_report(**overrides: Any) -> GradeReport:
    fields: dict[str, Any] = {
        "submission": "ben",
        "assignment": "hw1",
        "mode": "check",
        "execution_time": 2.5,
        "notes": ("Sandbox: limits only.",),
        "problems": (
            make_problem(problem="sigmoid"),
            make_problem(problem="softmax", checks=(make_check(), failed_check()), output=NASTY_OUTPUT),
            make_problem(problem="linear", status="import_error", message="hw1.py does not import: SyntaxError",
                         checks=(failed_check(outcome=Outcome.ERROR),)),
            make_problem(problem="hidden_only", checks=(make_check(score=0.0, outcome=Outcome.SKIPPED),)),
            make_problem(problem="slow", checks=(failed_check(outcome=Outcome.TIMEOUT, message="time limit"),)),
        ),
    }
    return GradeReport(**{**fields, **overrides})


@pytest.fixture(scope="module")
def junit_schema():
    xmlschema = pytest.importorskip("xmlschema")
    return xmlschema.XMLSchema(str(ROOT / "tests" / "data" / "junit.xsd"))


# --- JUnit XML ------------------------------------------------------------------------------


def test_junit_validates_against_the_ant_schema_and_counts_outcomes(junit_schema) -> None:
    report = make_report()
    document = to_junit_xml(report, timestamp=datetime(2026, 1, 31, 12, 0, 0), hostname="runner")
    assert document.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    junit_schema.validate(ET.fromstring(document))
    suite = ET.fromstring(document).find("testsuite")
    counts = {key: suite.get(key) for key in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp")}
    assert counts == {"name": "hw1", "tests": "5", "failures": "2", "errors": "1", "skipped": "1", "time": "2.500",
                      "timestamp": "2026-01-31T12:00:00"}
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["sigmoid", "softmax", "linear", "hidden_only", "slow"]
    assert all(case.get("classname") == "hw1" for case in cases.values())
    assert len(cases["sigmoid"]) == 0
    failure = cases["softmax"].find("failure")
    assert failure.get("type") == "grader.failed"
    assert failure.get("message").startswith("5.00 / 10.00: values: 3 of 5 values differ")
    assert failure.text == xml_text(problem_text(report.problems[1]))
    assert cases["linear"].find("error").get("type") == "grader.import_error"
    assert cases["hidden_only"].find("skipped") is not None
    assert cases["slow"].find("failure").get("type") == "grader.timeout"
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["score"] == f"{report.score:.2f}" and properties["submission"] == "ben"


def test_junit_strips_what_xml_cannot_hold_and_keeps_the_rest() -> None:
    document = to_junit_xml(make_report())
    text = ET.fromstring(document).find("testsuite/testcase[@name='softmax']/failure").text
    assert "\x00" not in text and "\x1b" not in text and "\x07" not in text
    assert "[31mred[0m" in text and "<tag> & \"quotes\"" in text and "é 🙂" in text
    assert document.decode("utf-8")  # UTF-8 throughout


def test_junit_of_a_passing_report_has_no_failure(junit_schema) -> None:
    report = make_report(problems=(make_problem(), make_problem(problem="softmax")))
    suite = ET.fromstring(to_junit_xml(report)).find("testsuite")
    junit_schema.validate(ET.fromstring(to_junit_xml(report)))
    assert (suite.get("failures"), suite.get("errors")) == ("0", "0")


# --- grader ci ------------------------------------------------------------------------------


@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch) -> dict[str, GradeReport]:
    """`grader ci` checks nothing real: check_submission returns the report put here."""
    holder = {"report": make_report()}
    monkeypatch.setattr(checking, "check_submission", lambda *args, **kwargs: holder["report"])
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return holder


def test_ci_fails_unless_every_public_check_passes_by_default(canned, tmp_path, capsys) -> None:
    assert main(["ci", "hw1", str(tmp_path), "--junit", str(tmp_path / "out" / "j.xml")]) == 1
    assert ET.parse(tmp_path / "out" / "j.xml").getroot().find("testsuite").get("failures") == "2"
    assert "FAILED" in capsys.readouterr().out
    canned["report"] = make_report(problems=(make_problem(), make_problem(problem="softmax")))
    assert main(["ci", "hw1", str(tmp_path)]) == 0


def test_ci_min_score_is_a_number_of_points(canned, tmp_path) -> None:
    score = canned["report"].score  # 10 + 5 + 0 + 0 + 0
    assert score == pytest.approx(15.0)
    assert main(["ci", "hw1", str(tmp_path), "--min-score", "15"]) == 0
    assert main(["ci", "hw1", str(tmp_path), "--min-score", "15.01"]) == 1
    assert main(["ci", "hw1", str(tmp_path), "--min-score", "0"]) == 0


@pytest.mark.parametrize("argv", [
    ["ci"],
    ["ci", "hw1", "does-not-exist"],
    ["ci", "hw1", ".", "--min-score", "-1"],
    ["ci", "hw1", ".", "--min-score", "lots"],
    ["ci", "hw1", ".", "--junit"],
])
def test_ci_usage_errors_exit_2(canned, argv) -> None:
    assert main(argv) == 2


def test_ci_appends_a_markdown_table_to_the_github_step_summary(canned, tmp_path, monkeypatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    main(["ci", "hw1", str(tmp_path)])
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")
    assert "| Problem | Score | Points | Result | First problem |" in text
    assert "| `softmax` | 5.00 | 10.00 | ❌ failed |" in text
    assert "| `sigmoid` | 10.00 | 10.00 | ✅ passed |" in text
    assert "| `hidden_only` | 0.00 | 0.00 | ⏭️ skipped |" in text


def test_summary_cells_cannot_break_the_table() -> None:
    problem = make_problem(problem="softmax", checks=(failed_check(message="a | b <script>\nnext line"),))
    text = markdown_summary(make_report(problems=(problem,)), passed=False)
    row = next(line for line in text.splitlines() if line.startswith("| `softmax`"))
    assert len(re.split(r"(?<!\\)\|", row)) == 7  # five cells: the escaped pipe is no separator
    assert "a \\| b &lt;script&gt; next line" in row


# --- grader init-ci -------------------------------------------------------------------------


def _kit(tmp_path: Path) -> Path:
    kit = tmp_path / "kit"
    kit.mkdir()
    spec = {"schema_version": 1, "assignment": "hw9", "module": "hw9", "reference": None,
            "problems": [{"id": "f", "points": 1, "cases": [{"name": "a", "visibility": "public", "args": {"x": 1}}],
                          "checks": [{"kind": "stability"}]}]}
    (kit / "spec.yaml").write_text(yaml.safe_dump(spec))
    (kit / "expected.json").write_text(json.dumps({"format": 1}))
    return kit


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    return job["steps"]


def test_github_workflow_installs_torch_then_the_grader_and_runs_grader_ci() -> None:
    files = render_workflows("hw1")
    workflow = yaml.safe_load(files[GITHUB_WORKFLOW])
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    steps = _steps(workflow)
    uses = [step.get("uses", "") for step in steps]
    assert uses[0].startswith("actions/checkout@") and uses[1].startswith("actions/setup-python@")
    assert steps[1]["with"]["python-version"] == "3.11"
    script = "\n".join(step.get("run", "") for step in steps)
    torch_line = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert torch_line in script and script.index(torch_line) < script.index("pip install dl-grader")
    assert "grader ci tests-grader . --junit grader-junit.xml" in script
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    report = next(step for step in steps if step.get("uses", "").startswith("dorny/test-reporter@"))
    assert upload["if"] == report["if"] == "always()"
    assert upload["with"]["path"] == report["with"]["path"] == "grader-junit.xml"
    assert report["with"]["reporter"] == "java-junit"
    assert workflow["permissions"]["checks"] == "write"


def test_github_workflow_can_check_on_windows_and_macos_too(tmp_path) -> None:
    """An instructor's option: a matrix over ubuntu-latest and the runners asked for, in bash."""
    kit, repo = _kit(tmp_path), tmp_path / "repo"
    assert main(["init-ci", str(kit), "--out", str(repo), "--os", "windows-latest", "--os", "macos-latest"]) == 0
    workflow = yaml.safe_load((repo / GITHUB_WORKFLOW).read_text())
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["os"] == ["ubuntu-latest", "windows-latest", "macos-latest"]
    assert job["strategy"]["fail-fast"] is False
    assert job["runs-on"] == "${{ matrix.os }}" and job["defaults"]["run"]["shell"] == "bash"
    script = "\n".join(step.get("run", "") for step in job["steps"])
    # CPU torch on every runner: the CPU index on Linux and Windows, PyPI (CPU wheels) on macOS.
    assert ('if [ "$RUNNER_OS" = macOS ]; then pip install torch==2.13.0; '
            'else pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu; fi') in script
    assert "grader ci tests-grader . --junit grader-junit.xml" in script
    upload = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "grader-junit-${{ matrix.os }}"  # one artifact per runner
    # Windows alone: still a matrix with Linux, and no macOS branch in the install.
    only_windows = yaml.safe_load(render_workflows("hw1", systems=("windows-latest",))[GITHUB_WORKFLOW])
    (job,) = only_windows["jobs"].values()
    assert job["strategy"]["matrix"]["os"] == ["ubuntu-latest", "windows-latest"]
    assert "RUNNER_OS" not in "\n".join(step.get("run", "") for step in job["steps"])
    # By default, Linux only, as before; GitLab stays on Linux either way.
    (job,) = yaml.safe_load(render_workflows("hw1")[GITHUB_WORKFLOW])["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest" and "strategy" not in job
    assert main(["init-ci", str(kit), "--out", str(repo), "--force", "--os", "solaris"]) == 2
    with pytest.raises(UsageError, match="unknown runner"):
        render_workflows("hw1", systems=("solaris",))


def test_gitlab_ci_declares_the_junit_report() -> None:
    pipeline = yaml.safe_load(render_workflows("hw1", min_score=60)[GITLAB_CI])
    job = pipeline["grader"]
    assert job["image"] == "python:3.11"
    assert job["script"][-1] == "grader ci tests-grader . --junit grader-junit.xml --min-score 60"
    assert any("torch==2.13.0" in line and "whl/cpu" in line for line in job["script"])
    assert job["artifacts"]["reports"]["junit"] == "grader-junit.xml"
    assert job["artifacts"]["when"] == "always"


def test_odd_values_stay_quoted_in_yaml_and_shell() -> None:
    spec = "git+https://example.org/course/grader.git@v1#egg=dl-grader: extra"
    files = render_workflows("hw1", kit_dir="my kit", grader_spec=spec)
    github = "\n".join(step.get("run", "") for step in _steps(yaml.safe_load(files[GITHUB_WORKFLOW])))
    gitlab = yaml.safe_load(files[GITLAB_CI])["grader"]["script"]
    assert f"pip install '{spec}'" in github and f"pip install '{spec}'" in gitlab
    assert "grader ci 'my kit' . --junit grader-junit.xml" in github
    with pytest.raises(UsageError, match="single"):
        render_workflows("hw1", grader_spec="dl-grader\nrm -rf /")


def test_init_ci_copies_the_kit_and_writes_both_workflows(tmp_path, capsys) -> None:
    kit, repo = _kit(tmp_path), tmp_path / "repo"
    assert main(["init-ci", str(kit), "--out", str(repo), "--grader-spec", "dl-grader==0.1.0"]) == 0
    assert (repo / "tests-grader" / "spec.yaml").read_bytes() == (kit / "spec.yaml").read_bytes()
    assert checking.is_kit(repo / "tests-grader")
    for path in (GITHUB_WORKFLOW, GITLAB_CI):
        text = (repo / path).read_text()
        assert "pip install dl-grader==0.1.0" in text and "hw9" in text
        yaml.safe_load(text)
    # Existing workflow files are not overwritten by accident.
    assert main(["init-ci", str(kit), "--out", str(repo)]) == 2
    assert main(["init-ci", str(kit), "--out", str(repo), "--force"]) == 0
    assert main(["init-ci", str(tmp_path), "--out", str(repo), "--force"]) == 2  # not a kit
    assert main(["init-ci", str(kit), "--out", str(repo), "--kit-dir", "../outside", "--force"]) == 2


def test_init_ci_with_a_kit_dir_of_its_own(tmp_path) -> None:
    written = init_ci(_kit(tmp_path), tmp_path / "repo", kit_dir="ci/kit")
    assert written.kit == tmp_path / "repo" / "ci" / "kit"
    assert "grader ci ci/kit ." in (tmp_path / "repo" / GITLAB_CI).read_text()


# --- LMS export -----------------------------------------------------------------------------


@pytest.fixture
def graded(tmp_path: Path) -> Path:
    """A `grader grade` output folder: results.json per submission, and the gradebook."""
    out = tmp_path / "out"
    scores = {"ada": (10.0, 5.0), "ben": (7.5, 0.0), "cy,jr": (2.0, 1.0 / 3.0)}
    for sid, (first, second) in scores.items():
        report = make_report(submission=sid, mode="grade", problems=(
            make_problem(problem="p1", checks=(make_check(score=first / 10),)),
            make_problem(problem="p2", points=5.0, checks=(make_check(score=second / 5),)),
        ))
        (out / sid).mkdir(parents=True)
        (out / sid / "results.json").write_text(json.dumps(to_results_json(report)))
    (out / "gradebook.csv").write_text("id,total,max,p1,p2\nada,15.0,15.0,10.0,5.0\nben,7.5,15.0,7.5,0.0\n")
    return out


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_canvas_csv_follows_canvas_gradebook_import(graded) -> None:
    rows = _rows(canvas_csv(read_grades(graded), name="Homework 1", canvas_id="4321"))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Homework 1 (4321)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "15"]
    assert rows[2:] == [["ada", "", "", "ada", "", "15"], ["ben", "", "", "ben", "", "7.5"],
                        ["cy,jr", "", "", "cy,jr", "", "2.33"]]
    keyed = _rows(canvas_csv(read_grades(graded), key="ID"))
    assert keyed[0][-1] == "hw1" and keyed[2][:2] == ["ada", "ada"] and keyed[2][3] == ""


def test_moodle_csv_has_an_identifier_and_a_grade_item_column(graded) -> None:
    rows = _rows(moodle_csv(read_grades(graded), name="Homework 1", identifier="Email address"))
    assert rows == [["Email address", "Homework 1"], ["ada", "15"], ["ben", "7.5"], ["cy,jr", "2.33"]]


def test_export_falls_back_to_the_gradebook_and_refuses_empty_folders(graded, tmp_path) -> None:
    for sid in ("ada", "ben", "cy,jr"):
        (graded / sid / "results.json").unlink()
    grades = read_grades(graded)
    assert [(g.submission, g.score) for g in grades.grades] == [("ada", 15.0), ("ben", 7.5)]
    (tmp_path / "empty").mkdir()
    assert main(["export", str(tmp_path / "empty"), "--format", "canvas"]) == 2


def test_grader_export_command_writes_the_file(graded, capsys) -> None:
    assert main(["export", str(graded), "--format", "moodle"]) == 0
    assert (graded / "moodle.csv").read_text().startswith("Username,hw1\n")
    target = graded / "lms" / "canvas.csv"
    assert main(["export", str(graded), "--format", "canvas", "--out", str(target), "--canvas-id", "7"]) == 0
    assert _rows(target.read_text())[0][-1] == "hw1 (7)"
    assert export_grades(graded, "canvas") == graded / "canvas.csv"
    assert main(["export", str(graded), "--format", "blackboard"]) == 2
