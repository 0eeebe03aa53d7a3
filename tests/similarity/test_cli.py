"""End to end: ``grader grade --similarity`` grades the class in the sandbox, and its report shows the
copied pair with both its code and the wrong answers it shares on hidden cases; ``grader similarity``
then writes the same report from the results in the folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from grader.cli import main

from conftest import ROOT

DATA = ROOT / "tests" / "data" / "similarity"


def test_grade_with_similarity_then_the_similarity_command(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    shutil.copytree(DATA / "class", folder)
    out = tmp_path / "out"
    assert main(["grade", str(DATA / "similarity.yaml"), str(folder), "--out", str(out), "--workers", "2",
                 "--no-html", "--similarity"]) == 0
    report = json.loads((out / "similarity.json").read_text())
    assert report["behaviour_compared"] == 8 and "not a verdict" in report["notice"]
    ranked = [(pair["a"], pair["b"]) for pair in report["pairs"]]
    assert set(ranked[:2]) == {("fay", "gus"), ("ray", "reference")}  # the two copies, first
    top = report["pairs"][ranked.index(("fay", "gus"))]
    assert top["behaviour"]["score"] > 0.5
    # fay's softmax sums over the wrong axis, and gus's copy gives the same wrong values: no one else does.
    shared = {(answer["problem"], answer["case"], answer["given_by"])
              for answer in top["behaviour"]["shared_wrong_answers"]}
    assert shared == {("softmax", "rows", 2), ("softmax", "large", 2)}
    assert top["code"]["score"] >= 0.8
    assert all(pair["behaviour"] is None for pair in report["pairs"] if pair is not top)  # everyone else is right

    again = tmp_path / "again"
    shutil.copytree(out, again)
    (again / "similarity.json").unlink()
    assert main(["similarity", str(DATA / "similarity.yaml"), str(folder), "--out", str(again)]) == 0
    assert json.loads((again / "similarity.json").read_text()) == report
    assert "fay" in (again / "similarity.html").read_text()


def test_bad_similarity_options_are_usage_errors(tmp_path: Path) -> None:
    spec = str(DATA / "similarity.yaml")
    assert main(["similarity", spec, str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert main(["similarity", spec, str(DATA / "class"), "--out", str(tmp_path / "o"),
                 "--boilerplate", str(tmp_path / "nothing")]) == 2
    assert main(["similarity", spec, str(DATA / "class"), "--out", str(tmp_path / "o"), "--common", "0"]) == 2
