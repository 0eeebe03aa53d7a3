"""The spec format as JSON Schema (``grader schema``): shipped, current, and in agreement with the loader.

Validation is by a real JSON Schema validator (``jsonschema``, draft 2020-12), on the YAML documents
as editors see them.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from grader.cli import main
from grader.errors import SpecError
from grader.spec import SCHEMA_FILE, json_schema, load_spec

from conftest import ROOT
from test_spec import VALID, with_change, write_spec

EXAMPLE_SPECS = sorted((ROOT / "problems").glob("*.yaml"))
TEST_SPECS = sorted((ROOT / "tests" / "data").rglob("*.yaml"))
MODELINE = "# yaml-language-server: $schema=../grader/data/spec.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_accepts(validator: jsonschema.Draft202012Validator, document: object) -> bool:
    """JSON Schema validates JSON: a YAML value that JSON cannot hold (.nan, .inf) is not valid."""
    try:
        document = json.loads(json.dumps(document, allow_nan=False))
    except ValueError:
        return False
    return validator.is_valid(document)


def test_shipped_schema_is_the_generated_one() -> None:
    """Regenerate with: grader schema --out grader/data/spec.schema.json"""
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema()


def test_grader_schema_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


@pytest.mark.parametrize("path", EXAMPLE_SPECS + TEST_SPECS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_spec_validates(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(
        yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert errors == []


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda path: path.name)
def test_example_specs_point_editors_to_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == MODELINE
    assert (path.parent / first.split("$schema=")[1]).resolve() == SCHEMA_FILE


def test_a_broken_spec_is_rejected(validator: jsonschema.Draft202012Validator) -> None:
    spec = yaml.safe_load((ROOT / "problems" / "hw4.yaml").read_text(encoding="utf-8"))
    assert validator.is_valid(spec)
    spec["problems"][0]["checks"][0]["tolerance"] = 1e-6
    spec["problems"][1]["cases"][0]["args"]["x"] = {"linspace": [0, 1], "shap": [2]}
    errors = list(validator.iter_errors(spec))
    assert errors
    assert any("tolerance" in error.message for error in errors)


def _value(value: object) -> dict:
    return with_change("problems.0.cases.0.args.x", value)


def _scenario(steps: object, **case: object) -> dict:
    spec = with_change("problems.0.scenario", steps)
    spec["problems"][0]["read"] = ["out"]
    spec["problems"][0]["cases"][0]["args"] = {"x": [1.0, 2.0], **case}
    return spec


def _mistakes(mistakes: object) -> dict:
    spec = with_change("problems.0.mistakes", mistakes)
    spec["mistakes_module"] = "ref.py"
    return spec


AGREEMENT = {
    # accepted by both
    "minimal": VALID,
    "explicit int array": _value({"array": [[1, 2]], "dtype": "int64"}),
    "float32 tensor with grad": _value({"array": [1.0], "dtype": "float32", "tensor": True, "requires_grad": True}),
    "linspace": _value({"linspace": [-1, 1], "shape": [2, 3]}),
    "random": _value({"random": "normal", "shape": [3], "seed": 1}),
    "dict of values": _value({"eps": 1e-5, "mode": "train", "w": {"linspace": [0, 1], "shape": [2]},
                              "nested": {"m": [1.0]}}),
    "plain number": _value(3),
    "scenario with a repeated step": _scenario(["out = sigmoid(x)", {"do": "out = sigmoid(out)", "repeat": "n"}], n=2),
    "mistake shorthand": _mistakes(["sign_flipped"]),
    "mistake mapping": _mistakes([{"id": "sign_flipped", "message": "the sign"}]),
    "pinned environment": with_change("environment", {"numpy": "2.4.6", "torch": "2.13.0"}),
    # refused by both: the malformed specs of test_spec.py whose errors are structural...
    "negative rtol": with_change("problems.0.checks.0.rtol", -1e-3),
    "NaN atol": with_change("problems.0.checks.0.atol", float("nan")),
    "unknown check key": with_change("problems.0.checks.0.tolerance", 1),
    "unknown problem key": with_change("problems.0.colour", "red"),
    "points not a number": with_change("problems.0.points", "ten"),
    "negative points": with_change("problems.0.points", -1),
    "unknown check kind": with_change("problems.0.checks.0.kind", "vibes"),
    "bad visibility": with_change("problems.0.cases.0.visibility", "secret"),
    "no check": with_change("problems.0.checks", []),
    # ...and more of the same kind
    "no module": with_change("module", KeyError),
    "schema_version too new": with_change("schema_version", 2),
    "no problems": with_change("problems", []),
    "bad problem id": with_change("problems.0.id", "not an id"),
    "bad case name": with_change("problems.0.cases.0.name", "a b"),
    "args not a mapping": with_change("problems.0.cases.0.args", [1, 2]),
    "unknown limit": with_change("limits", {"call_timeout": 1, "gpu": True}),
    "zero timeout": with_change("limits", {"call_timeout": 0}),
    "bad dtype": _value({"array": [1], "dtype": "float16"}),
    "typo in an explicit array": _value({"array": [1], "dtyp": "int64"}),
    "grad without tensor": _value({"array": [1.0], "requires_grad": True}),
    "linspace of three": _value({"linspace": [0, 1, 2], "shape": [3]}),
    "negative shape": _value({"linspace": [0, 1], "shape": [-1]}),
    "random without seed": _value({"random": "normal", "shape": [3]}),
    "unknown distribution": _value({"random": "cauchy", "shape": [3], "seed": 0}),
    "repeat zero": _scenario([{"do": "out = sigmoid(x)", "repeat": 0}]),
    "step not a string": _scenario([42]),
    "step with unknown key": _scenario([{"do": "out = sigmoid(x)", "times": 2}]),
    "bad mistake id": _mistakes(["sign flipped"]),
    "bad property": with_change("problems.0.checks.0", {"kind": "property", "property": "is_pretty"}),
    "gradient method": with_change("problems.0.checks.0", {"kind": "gradient", "function": "sigmoid",
                                                           "wrt": {"x": ""}, "method": "symbolic"}),
    "environment version not X.Y.Z": with_change("environment", {"numpy": "2.4"}),
    "accuracy without target": with_change("problems.0.checks.0", {"kind": "accuracy", "floor": 0.5}),
}


@pytest.mark.parametrize("name", AGREEMENT)
def test_schema_and_loader_agree(name: str, tmp_path: Path, validator: jsonschema.Draft202012Validator) -> None:
    """The schema and the loader accept and refuse the same specs.

    The malformed specs here have structural errors (unknown keys, wrong types, bad enums, missing
    required fields, out-of-range numbers), which JSON Schema can express. Cross-references that the
    loader checks in Python (unknown case names, unused scenario arguments, floor below target,
    duplicate ids...) cannot all be said in JSON Schema; editors leave those to ``grader lint``.
    """
    spec = AGREEMENT[name]
    try:
        load_spec(write_spec(tmp_path, spec))
        loaded = True
    except SpecError:
        loaded = False
    assert schema_accepts(validator, spec) == loaded
    assert loaded == (list(AGREEMENT).index(name) < list(AGREEMENT).index("negative rtol"))

