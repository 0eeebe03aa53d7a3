"""A broken spec never reaches the students: a scenario naming what does not exist, or a case the
reference cannot run, stops every command before any submission is graded (status 2), naming the
file, the problem, the field and the step; lint reports it once per problem, with no cascade."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from grader.cli import main
from grader.errors import SpecError
from grader.grading.expectations import ReferenceExpectations
from grader.grading.preflight import verify_reference
from grader.kit.bundle import build_kit
from grader.spec import load_spec

REFERENCE = '''
import numpy as np

def embed_forward(x, W):
    return W[x], (x, W)

def embed_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW
'''

MISTAKES = '''
import numpy as np

def embed_backward__assigned(dout, cache):
    """dW[x] = dout keeps one row's gradient where a word appears twice."""
    x, W = cache
    dW = np.zeros_like(W)
    dW[x] = dout
    return dW

def embed_backward__transposed(dout, cache):
    """Accumulated into the wrong rows."""
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x[::-1], dout)
    return dW
'''


def spec(tmp_path: Path, *, step: str = "dW = embed_backward(dout, cache)", high: int = 5, **extra: object) -> Path:
    (tmp_path / "ref.py").write_text(REFERENCE)
    (tmp_path / "mistakes.py").write_text(MISTAKES)
    problem = {
        "id": "embed_backward", "points": 10,
        "scenario": ["out, cache = embed_forward(x, W)", step], "read": ["dW"],
        "cases": [
            {"name": "public", "visibility": "public", "args": {
                "x": {"array": [[0, 1, 1], [3, 4, 0]], "dtype": "int64"},
                "W": {"random": "normal", "shape": [5, 4], "seed": 2},
                "dout": {"random": "normal", "shape": [2, 3, 4], "seed": 3}}},
            {"name": "hidden_words", "args": {
                "x": {"random": "integers", "low": 0, "high": high, "shape": [3, 4], "dtype": "int64", "seed": 1},
                "W": {"random": "normal", "shape": [5, 4], "seed": 4},
                "dout": {"random": "normal", "shape": [3, 4, 4], "seed": 5}}},
        ],
        "checks": [{"kind": "value"}],
        "mistakes": ["assigned", "transposed"],
        **extra,
    }
    document = {"schema_version": 1, "assignment": "hw5", "module": "hw5", "reference": "ref.py",
                "mistakes_module": "mistakes.py", "problems": [problem]}
    path = tmp_path / "hw5.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def verify(path: Path) -> None:
    verify_reference(ReferenceExpectations(load_spec(path)))


def test_a_sound_spec_passes(tmp_path: Path) -> None:
    verify(spec(tmp_path))


def test_a_name_no_step_defines_is_the_spec_s_fault(tmp_path: Path) -> None:
    path = spec(tmp_path, step="dW = embed_backward(dout, cach)")
    with pytest.raises(SpecError) as info:
        verify(path)
    error = info.value
    assert (error.file, error.problem, error.field) == (str(path), "embed_backward", "scenario")
    assert "step 2 `dW = embed_backward(dout, cach)`: `cach` is not defined: not an argument" in str(error)


def test_a_case_the_reference_cannot_run_names_the_case_and_step(tmp_path: Path) -> None:
    path = spec(tmp_path, high=9)  # indices up to 8 into a table of 5 rows
    with pytest.raises(SpecError) as info:
        verify(path)
    error = info.value
    assert (error.problem, error.field) == ("embed_backward", "cases.1")
    assert "case 'hidden_words': step 1 `out, cache = embed_forward(x, W)`: IndexError" in str(error)


def test_a_mistake_of_another_function_is_refused_naming_both_signatures(tmp_path: Path) -> None:
    """A forward's mistake declared on the backward's problem would be swapped in for the backward,
    raise on every case, and be "diagnosed" in every student whose code raises."""
    forward_mistake = 'def embed_backward__forward_copies(x, W):\n    """W[x] copied."""\n    return W[x].copy(), (x, W)\n'
    (tmp_path / "extra.py").write_text(MISTAKES + "\n" + forward_mistake)
    path = spec(tmp_path, mistakes=["assigned", "forward_copies"])
    path.write_text(path.read_text().replace("mistakes_module: mistakes.py", "mistakes_module: extra.py"))
    with pytest.raises(SpecError) as info:
        verify(path)
    assert (info.value.problem, info.value.field) == ("embed_backward", "mistakes.1")
    assert "mistake 'forward_copies' (embed_backward__forward_copies) takes (x, W), but embed_backward takes " \
           "(dout, cache)" in str(info.value)


def test_grade_stops_with_status_2_before_any_student(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = spec(tmp_path, high=9)
    student = tmp_path / "submissions" / "ann"
    student.mkdir(parents=True)
    (student / "hw5.py").write_text(REFERENCE)
    out = tmp_path / "reports"
    assert main(["grade", str(path), str(tmp_path / "submissions"), "--out", str(out)]) == 2
    assert "cannot run case 'hidden_words'" in capsys.readouterr().err
    assert not (out / "ann").exists() and not (out / "gradebook.csv").exists()
    with pytest.raises(SpecError, match="cannot run case 'hidden_words'"):
        build_kit(path, tmp_path / "kit")


def test_lint_reports_it_once_without_a_cascade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(spec(tmp_path, step="dW = embed_backward(dout, cach)"))]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(lines) == 1 and lines[0].startswith("[FAIL] embed_backward: the scenario's names resolve")
    assert main(["lint", str(spec(tmp_path))]) == 0


def test_a_problem_may_say_why_it_has_no_typical_mistake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(spec(tmp_path, mistakes=["assigned"]))]) == 1
    assert "declares at least 2 wrong variants - only 1 declared" in capsys.readouterr().out
    why = "W[x] has one typical mistake: assigning where a word repeats"
    assert main(["lint", str(spec(tmp_path, mistakes=["assigned"], no_typical_mistake=why))]) == 0
    assert f"[ok  ] embed_backward: declares at least 2 wrong variants - waived: {why}" in capsys.readouterr().out


def test_a_case_may_expect_the_exception_the_handout_asks_for(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = spec(tmp_path, high=9)
    document = yaml.safe_load(path.read_text())
    document["problems"][0]["cases"][1]["raises"] = "IndexError"
    document["problems"][0]["checks"] = [{"kind": "value", "name": "dW"}]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    verify(path)  # the reference raises IndexError there, as the case says
    assert main(["lint", str(path), "--no-strength"]) == 0
    students = tmp_path / "submissions"
    for name, source in {
        "right": REFERENCE,
        "clipped": REFERENCE.replace("return W[x], (x, W)", "x = np.clip(x, 0, len(W) - 1)\n    return W[x], (x, W)"),
        "value_error": REFERENCE.replace("return W[x], (x, W)",
                                         "if x.max() >= len(W):\n        raise ValueError('too big')\n    return W[x], (x, W)"),
    }.items():
        (students / name).mkdir(parents=True)
        (students / name / "hw5.py").write_text(source)
    assert main(["grade", str(path), str(students), "--out", str(tmp_path / "out")]) == 0
    scores = {name: json.loads((tmp_path / "out" / name / "results.json").read_text())["score"]
              for name in ("right", "clipped", "value_error")}
    assert scores == {"right": 10, "clipped": 0, "value_error": 0}
    # A case that says it raises where the reference returns is the spec's mistake.
    document["problems"][0]["cases"][0]["raises"] = "IndexError"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(SpecError, match=r"case 'public' expects IndexError to be raised, but the reference returns"):
        verify(path)
