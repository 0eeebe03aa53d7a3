"""End to end: the example submissions graded by the real pipeline lose exactly the problems
submissions/expected.yaml says, with feedback that names the failing check, case or mistake."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.spec import load_spec

from conftest import ASSIGNMENTS, ROOT


def results(folder: Path, sid: str) -> dict[str, dict]:
    data = json.loads((folder / sid / "results.json").read_text())
    return {test["name"]: test for test in data["tests"]}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_examples_lose_exactly_the_expected_problems(assignment: str, graded_examples: dict, expected_examples: dict) -> None:
    folder = graded_examples[assignment]
    for sid, wrong in expected_examples[assignment].items():
        tests = results(folder, sid)
        lost = {name for name, test in tests.items() if test["score"] < test["max_score"] and name != "mnist_accuracy"}
        assert lost == set(wrong), f"{assignment}/{sid}"
        for problem, label in wrong.items():
            test = tests[problem]
            diagnosed = [d["mistake"] for d in test["extra_data"]["result"]["diagnoses"]]
            if label == "missing":
                assert f"`{problem}` is not defined in {assignment}.py" in test["output"]
            elif label == "import_error":
                assert test["extra_data"]["status"] == "import_error" and "SyntaxError" in test["output"]
                assert test["score"] == 0
            elif label == "hang":
                assert "time limit" in test["output"]
            elif label in ("crash", "shape", "unstable", "other"):
                assert "FAIL" in test["output"] or "ERROR" in test["output"]
                assert "case " in test["output"]
            else:
                assert label in diagnosed, f"{assignment}/{sid}/{problem}: {diagnosed}"
        # A correct answer is never told it made a mistake.
        for name, test in tests.items():
            if name not in wrong and name != "mnist_accuracy":
                assert test["extra_data"]["result"]["diagnoses"] == [], f"{assignment}/{sid}/{name}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_results_json_follows_the_gradescope_format(assignment: str, graded_examples: dict) -> None:
    spec = load_spec(assignment)
    data = json.loads((graded_examples[assignment] / "ada" / "results.json").read_text())
    assert {"score", "execution_time", "output", "tests"} <= set(data)
    assert [test["name"] for test in data["tests"]] == [problem.id for problem in spec.problems]
    for test in data["tests"]:
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(test)
        assert test["status"] in ("passed", "failed")
    assert data["score"] == pytest.approx(spec.max_score)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_gradebook_has_one_row_per_submission(assignment: str, graded_examples: dict, expected_examples: dict) -> None:
    spec = load_spec(assignment)
    with (graded_examples[assignment] / "gradebook.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["id"] for row in rows] == sorted(expected_examples[assignment])
    assert list(rows[0]) == ["id", "total", "max", *(p.id for p in spec.problems)]
    for row in rows:
        assert float(row["total"]) == pytest.approx(sum(float(row[p.id]) for p in spec.problems), abs=1e-3)


def test_failing_check_names_the_case(graded_examples: dict) -> None:
    output = results(graded_examples["hw1"], "ben")["softmax_jacobian"]["output"]
    assert "values on the public cases" in output and "case 'vector'" in output
    assert "diagonal has the wrong sign" in output


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_lint_passes_on_the_shipped_specs(assignment: str) -> None:
    result = run_cli("lint", assignment, "--no-strength")  # the strength report is tested on a small spec
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    # Every problem but a model's is proven to give degenerate answers nothing.
    spec = load_spec(assignment)
    for problem in spec.problems:
        if not any(check.kind == "accuracy" for check in problem.checks):
            assert f"[ok  ] {problem.id}: degenerate answers" in result.stdout, problem.id


def test_lint_fails_loudly_on_a_broken_spec(tmp_path: Path) -> None:
    """A spec whose wrong variant is the reference itself, and whose reference is wrong."""
    (tmp_path / "ref.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "wrong.py").write_text(
        "def double__same(x):\n    '''Not a mistake at all.'''\n    return 2 * x\n"
        "def double__twice(x):\n    '''Doubled twice.'''\n    return 4 * x\n"
    )
    (tmp_path / "broken.yaml").write_text(
        "schema_version: 1\nassignment: broken\nmodule: m\nreference: ref.py\nmistakes_module: wrong.py\n"
        "problems:\n  - id: double\n    points: 1\n    cases: [{name: a, visibility: public, args: {x: [1.0]}}]\n"
        "    checks: [{kind: value}]\n    mistakes: [same, twice]\n"
        "  - id: lonely\n    function: double\n    points: 1\n    cases: [{name: a, visibility: public, args: {x: [1.0]}}]\n"
        "    checks: [{kind: property, property: in_range, low: 5}]\n"
    )
    result = run_cli("lint", str(tmp_path / "broken.yaml"))
    assert result.returncode == 1
    assert "[FAIL] double: mistake 'same' is rejected and diagnosed - passes every check" in result.stdout
    assert "[FAIL] lonely: reference passes its own checks" in result.stdout
    assert "[FAIL] lonely: declares at least 2 wrong variants" in result.stdout
    # Mutants of a reference that fails its own checks would all lose points: no strength is claimed.
    assert "lonely: the cases kill every realistic mutant" not in result.stdout


def test_bad_spec_is_a_usage_error_before_grading(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("schema_version: 1\nassignment: bad\nmodule: m\nproblems: []\n")
    result = run_cli("grade", str(tmp_path / "bad.yaml"), str(ROOT / "submissions" / "hw1"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "bad.yaml" in result.stderr and "problems" in result.stderr
    assert not (tmp_path / "out").exists()


def test_grade_exits_zero_whatever_the_scores(graded_examples: dict, tmp_path: Path) -> None:
    result = run_cli("grade", "hw2", str(ROOT / "submissions" / "hw2"), "--out", str(tmp_path), "--no-html")
    assert result.returncode == 0, result.stderr


def test_check_exit_codes(tmp_path: Path) -> None:
    assert run_cli("check", "hw2", str(ROOT / "submissions" / "hw2" / "ada")).returncode == 0
    failing = run_cli("check", "hw2", str(ROOT / "submissions" / "hw2" / "ben"))
    assert failing.returncode == 1 and "kl_divergence" in failing.stdout
    assert run_cli("check", "hw2", str(tmp_path / "nowhere")).returncode == 2


def test_zip_submissions_are_graded(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.make_archive(str(folder / "zed"), "zip", ROOT / "submissions" / "hw2" / "ada")
    result = run_cli("grade", "hw2", str(folder), "--out", str(tmp_path / "out"), "--no-html")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "zed" / "results.json").read_text())["score"] == pytest.approx(110)
