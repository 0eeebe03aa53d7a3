"""Spec loading: the shipped specs load; every kind of bad spec is refused before grading,
with an error naming the file, the problem and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader.errors import SpecError
from grader.spec import SCHEMA_VERSION, load_spec

from conftest import ASSIGNMENTS, ROOT

VALID = {
    "schema_version": SCHEMA_VERSION,
    "assignment": "tiny",
    "module": "hw1",
    "reference": "ref.py",
    "problems": [
        {
            "id": "sigmoid",
            "points": 5,
            "cases": [{"name": "a", "visibility": "public", "args": {"x": [1.0, 2.0]}}],
            "checks": [{"kind": "value"}],
        }
    ],
}


def write_spec(tmp_path: Path, spec: dict) -> Path:
    (tmp_path / "ref.py").write_text("def sigmoid(x):\n    return x\n")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def with_change(path: str, value: object) -> dict:
    spec = yaml.safe_load(yaml.safe_dump(VALID))
    *parents, last = path.split(".")
    node = spec
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is KeyError:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return spec


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_shipped_specs_load(name: str) -> None:
    spec = load_spec(name)
    assert spec.assignment == name
    assert spec.reference_path is not None and spec.reference_path.is_file()


def test_valid_minimal_spec_loads(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, VALID))
    assert spec.problems[0].function_name == "sigmoid"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("problems.0.checks.0.rtol", -1e-3), "checks.0.rtol", "non-negative"),
        (("problems.0.checks.0.atol", float("nan")), "checks.0.atol", "non-negative"),
        (("problems.0.checks.0.tolerance", 1), "checks.0.tolerance", "unknown key"),
        (("problems.0.colour", "red"), "colour", "unknown key"),
        (("problems.0.points", "ten"), "points", "number"),
        (("problems.0.points", -1), "points", "greater than 0"),
        (("problems.0.checks.0.kind", "vibes"), "checks.0", "unknown check kind"),
        (("problems.0.checks.0.cases", ["nope"]), "checks.0.cases", "unknown case 'nope'"),
        (("problems.0.cases.0.visibility", "secret"), "cases.0.visibility", "public"),
        (("problems.0.checks", []), "checks", "at least 1"),
        (("problems.0.survivors", [{"mutant": "not an id", "reason": "r"}]), "survivors.0.mutant", "pattern"),
        (("problems.0.survivors", [{"mutant": "sigmoid:sign:1", "reason": ""}]), "survivors.0.reason", "at least 1"),
        (("problems.0.survivors", [{"mutant": "sigmoid:sign:1", "reason": "r"}] * 2), "survivors.1.mutant",
         "declared twice"),
    ],
)
def test_bad_problem_fields_are_named(tmp_path: Path, change: tuple, field: str, words: str) -> None:
    path = write_spec(tmp_path, with_change(*change))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    error = info.value
    assert error.file == str(path)
    assert error.problem == "sigmoid"
    assert error.field == field
    assert words in str(error)


def test_gradient_wrt_must_name_an_argument(tmp_path: Path) -> None:
    spec = with_change("problems.0.checks.0", {"kind": "gradient", "function": "sigmoid", "wrt": {"y": ""}})
    with pytest.raises(SpecError, match=r"field 'checks.0.wrt'.*unknown argument"):
        load_spec(write_spec(tmp_path, spec))


def test_missing_reference_file_is_refused(tmp_path: Path) -> None:
    path = write_spec(tmp_path, with_change("reference", "nowhere.py"))
    with pytest.raises(SpecError, match=r"field 'reference'.*nowhere.py.*does not exist"):
        load_spec(path)


def test_mistakes_need_a_mistakes_module(tmp_path: Path) -> None:
    path = write_spec(tmp_path, with_change("problems.0.mistakes", ["sign_flipped"]))
    with pytest.raises(SpecError, match="mistakes_module"):
        load_spec(path)


@pytest.mark.parametrize(("version", "words"), [(0, "too old"), (SCHEMA_VERSION + 1, "too new")])
def test_schema_version_is_checked(tmp_path: Path, version: int, words: str) -> None:
    with pytest.raises(SpecError, match=words):
        load_spec(write_spec(tmp_path, with_change("schema_version", version)))


def test_duplicate_problem_ids_are_refused(tmp_path: Path) -> None:
    spec = yaml.safe_load(yaml.safe_dump(VALID))
    spec["problems"].append(spec["problems"][0])
    with pytest.raises(SpecError, match="duplicate problem id"):
        load_spec(write_spec(tmp_path, spec))


def test_not_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("problems: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


def test_unknown_assignment_name() -> None:
    with pytest.raises(SpecError, match="no assignment named 'hw99'"):
        load_spec("hw99")


def test_random_inputs_are_reproducible() -> None:
    from grader.cases import case_args

    first = load_spec(ROOT / "problems" / "hw1.yaml")
    case = first.problem("sigmoid").case("matrix")
    again = load_spec(ROOT / "problems" / "hw1.yaml").problem("sigmoid").case("matrix")
    assert (case_args(case)[0] == case_args(again)[0]).all()


def test_gradebook_column_names_are_reserved(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="'total' is reserved"):
        load_spec(write_spec(tmp_path, with_change("problems.0.id", "total")))
