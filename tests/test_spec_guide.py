"""The authoring guide's field reference is what the grader reads: generated from the spec's JSON
Schema, and checked against it so that it cannot drift."""

from __future__ import annotations

from grader.spec import json_schema
from grader.spec_guide import BEGIN, END, field_reference, replace_reference

from conftest import ROOT

GUIDE = ROOT / "docs" / "authoring.md"


def test_the_guide_holds_the_current_field_reference() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    generated = field_reference(json_schema())
    assert generated in text, "docs/authoring.md is out of date: run `grader schema --markdown --out docs/authoring.md`"


def test_every_field_of_every_definition_is_in_it() -> None:
    schema = json_schema()
    reference = field_reference(schema)
    for name, definition in [("", schema), *schema["$defs"].items()]:
        for field in definition.get("properties", {}):
            assert f"| `{field}` |" in reference, (name, field)


def test_a_new_field_changes_the_reference() -> None:
    schema = json_schema()
    schema["$defs"]["Case"]["properties"]["weight"] = {"type": "number", "description": "A new field."}
    changed = field_reference(schema)
    assert "| `weight` | number |  | A new field. |" in changed
    assert changed not in GUIDE.read_text(encoding="utf-8")
    assert replace_reference(f"intro\n{BEGIN}\nold\n{END}\nrest", changed) == f"intro\n{changed}\nrest"
