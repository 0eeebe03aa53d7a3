"""Code similarity on a small class: a disguised copy ranks first, independent solutions stay low,
the reference copier is flagged, boilerplate and common passages are not evidence, notebooks count,
and the report escapes student code."""

from __future__ import annotations

import json
import shutil
from itertools import combinations
from pathlib import Path

import pytest

from grader.similarity.run import SimilaritySettings, find_similarity
from grader.spec import load_spec

from conftest import ROOT

DATA = ROOT / "tests" / "data" / "similarity"
SPEC = DATA / "similarity.yaml"
CLASS = DATA / "class"
INDEPENDENT = ("ana", "bo", "cal", "dev", "eli", "fay")
"""Written independently of each other (gus copied fay, ray copied the reference)."""


def similarity(folder: Path, out: Path, **settings: object) -> dict:
    find_similarity(load_spec(SPEC), folder, out, SimilaritySettings(**settings), reports={})  # type: ignore[arg-type]
    return json.loads((out / "similarity.json").read_text())


def scores(report: dict) -> dict[tuple[str, str], float]:
    return {(pair["a"], pair["b"]): pair["score"] for pair in report["pairs"]}


@pytest.fixture(scope="module")
def class_report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return similarity(CLASS, tmp_path_factory.mktemp("out"))


def test_a_disguised_copy_ranks_first_and_independent_solutions_stay_below(class_report: dict) -> None:
    """gus renamed every name of fay's code, reordered its functions, rewrote its comments and
    reformatted it; the six independent solutions of the same four short functions share idioms."""
    found = scores(class_report)
    top = next(pair for pair in class_report["pairs"] if pair["b"] != "reference")
    assert (top["a"], top["b"]) == ("fay", "gus")
    assert top["score"] >= 0.8 and top["code"]["share_a"] >= 0.8 and top["code"]["share_b"] >= 0.8
    independent = [found.get(pair, 0.0) for pair in combinations(INDEPENDENT, 2)]
    assert max(independent) < 0.5 and max(independent) < top["score"] / 2
    assert top["behaviour"] is None  # no grading results were given


def test_the_reference_copier_is_flagged_against_the_reference(class_report: dict) -> None:
    found = scores(class_report)
    assert found[("ray", "reference")] >= 0.8
    assert all(found.get((sid, "reference"), 0.0) < 0.5 for sid in INDEPENDENT)
    ranked = [(pair["a"], pair["b"]) for pair in class_report["pairs"]]
    assert set(ranked[:2]) == {("fay", "gus"), ("ray", "reference")}


def test_matched_regions_point_at_the_copied_lines(class_report: dict) -> None:
    top = next(pair for pair in class_report["pairs"] if (pair["a"], pair["b"]) == ("fay", "gus"))
    regions = top["code"]["regions_b"]
    assert regions and all(region["file"] == "work.py" for region in regions)
    covered = {line for region in regions for line in range(region["lines"][0], region["lines"][1] + 1)}
    assert {9, 21, 22, 29} <= covered  # gus's accuracy, softmax and mse bodies


STARTER = '''
def load_batches(data, batch_size, shuffle_seed=None):
    """Split the data into batches; handed out with the assignment."""
    indices = list(range(len(data)))
    if shuffle_seed is not None:
        import random
        random.Random(shuffle_seed).shuffle(indices)
    batches = []
    for start in range(0, len(indices), batch_size):
        batches.append([data[i] for i in indices[start:start + batch_size]])
    return batches


def check_shapes(expected, obtained, name="output"):
    if tuple(expected) != tuple(obtained):
        raise ValueError(f"{name} has shape {obtained}, expected {expected}")
'''


def test_starter_code_everyone_hands_back_is_boilerplate(tmp_path: Path) -> None:
    """Every independent student keeps the handed-out helpers: without the kit they look alike."""
    folder = tmp_path / "class"
    for sid in INDEPENDENT[:4]:
        (folder / sid).mkdir(parents=True)
        (folder / sid / "work.py").write_text(STARTER + (CLASS / sid / "work.py").read_text())
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "starter.py").write_text(STARTER)
    # --common above the class's size: the helpers are in every submission, and only the kit says why.
    without = scores(similarity(folder, tmp_path / "without", common=10))
    assert max(without.get(pair, 0.0) for pair in combinations(INDEPENDENT[:4], 2)) > 0.4
    with_kit = scores(similarity(folder, tmp_path / "with", boilerplate=(kit,), common=10))
    assert max(with_kit.get(pair, 0.0) for pair in combinations(INDEPENDENT[:4], 2)) < 0.35


def test_a_passage_in_more_than_common_submissions_is_not_evidence(tmp_path: Path) -> None:
    """Five students share one helper nobody handed out; with --common 3 (the default for a class of
    seven) it stops counting between them, and a passage two students alone share still counts."""
    folder = tmp_path / "class"
    for sid in INDEPENDENT[:5]:
        (folder / sid).mkdir(parents=True)
        (folder / sid / "work.py").write_text(STARTER + (CLASS / sid / "work.py").read_text())
    shutil.copytree(CLASS / "gus", folder / "gus")
    shutil.copytree(CLASS / "fay", folder / "fay")
    loose = scores(similarity(folder, tmp_path / "loose", common=10))
    strict = scores(similarity(folder, tmp_path / "strict"))
    assert loose[("ana", "bo")] > 0.4
    assert strict.get(("ana", "bo"), 0.0) < 0.35
    assert strict[("fay", "gus")] >= 0.8


def test_a_copy_handed_in_as_a_notebook_is_flagged(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    for sid in ("ana", "bo", "fay"):
        shutil.copytree(CLASS / sid, folder / sid)
    code = (CLASS / "gus" / "work.py").read_text().split("\n\n\n")
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# My homework"]},
             {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": 1,
              "source": ["%matplotlib inline\n", "!pip install numpy\n"]}]
    cells += [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": part}
              for part in code]
    (folder / "nia").mkdir()
    (folder / "nia" / "work.ipynb").write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                                                           "cells": cells}))
    report = similarity(folder, tmp_path / "out")
    assert (report["pairs"][0]["a"], report["pairs"][0]["b"]) == ("fay", "nia")
    assert report["pairs"][0]["score"] >= 0.8


def test_the_html_report_escapes_student_code_and_says_it_is_no_verdict(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    for sid in ("ana", "bo"):
        shutil.copytree(CLASS / sid, folder / sid)
    hostile = (CLASS / "fay" / "work.py").read_text().replace(
        "# Homework: four small functions.", "# </pre><script>alert('x')</script><img src=x onerror=alert(1)>")
    for sid in ("fay", "<b>gus"):
        (folder / sid).mkdir()
        (folder / sid / "work.py").write_text(hostile)
    (folder / "<b>gus" / "<img src=x onerror=alert(2)>.py").write_text(hostile)  # a file name too
    similarity(folder, tmp_path / "out", top=5)
    html = (tmp_path / "out" / "similarity.html").read_text()
    assert "<script" not in html and "<img" not in html and "<b>gus" not in html
    assert "&lt;script&gt;alert(" in html and "&lt;b&gt;gus" in html and "&lt;img src=x onerror=alert(2)&gt;.py" in html
    assert "not a verdict" in html
    assert html.count("<mark>") >= 4  # the copied regions, marked on both sides
