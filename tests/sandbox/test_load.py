"""The same scores on a saturated machine: the examples and the hostile corpus graded while every
core is kept busy by other processes give the gradebooks of an idle run.

Call limits count the worker's CPU time (wall-clock time is only a generous safety net), so a
machine that is busy elsewhere slows the grading down but changes no verdict. The busy processes
are bounded loops started by this test and killed after it. Kept lean for CI: the examples of the
function assignments (hw2, hw3; hw1's MNIST model and hw4's scenarios go through the same call
limits) and the attacks that run without the sandbox test's set-up, except import_sleep, whose
sleep only the wall-clock net ends (3x its limit + 10 s), once each.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.batch.executor import GradingRun
from grader.batch.run import grade_folder
from grader.spec import load_spec

from conftest import ROOT

HOSTILE = ROOT / "tests" / "hostile"
SANDBOX_SPEC = ROOT / "tests" / "data" / "sandbox" / "sandbox.yaml"
LEFT_OUT = {"connect_socket", "env_dump", "forged_reply", "git_history", "pickle_payload",
            "read_reference", "write_project", "fake_results", "import_sleep"}
"""Attacks that need what tests/sandbox/test_sandbox.py sets up (probe.json, a server) or cleans
up, and import_sleep (20 s of waiting that proves nothing about CPU time)."""
EXAMPLES = ("hw2", "hw3")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

BUSY_LOOP = "import time\nend = time.monotonic() + 900\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def saturated() -> Iterator[None]:
    """Every core kept busy by bounded loops in other processes."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def gradebook(folder: Path) -> list[dict[str, str]]:
    with (folder / "gradebook.csv").open() as stream:
        return list(csv.DictReader(stream))


def grade(spec: str | Path, submissions: Path, out: Path) -> list[dict[str, str]]:
    run = GradingRun(assignment=load_spec(spec), out=out, workers=2, progress=False, html=False)
    grade_folder(run, submissions)
    return gradebook(out)


def hostile_corpus(root: Path) -> Path:
    """The attacks that run without the sandbox test's set-up, copied (links kept as links)."""
    folder = root / "hostile"
    for attack in sorted(HOSTILE.iterdir()):
        if attack.is_dir() and not attack.name.startswith(("_", ".")) and attack.name not in LEFT_OUT:
            shutil.copytree(attack, folder / attack.name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


def test_gradebooks_are_the_same_on_a_saturated_machine(
    graded_examples: dict[str, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    hostile = hostile_corpus(tmp_path)
    idle_hostile = grade(SANDBOX_SPEC, hostile, tmp_path / "idle-hostile")
    request.getfixturevalue("saturated")
    for assignment in EXAMPLES:
        loaded = grade(assignment, ROOT / "submissions" / assignment, tmp_path / "loaded" / assignment)
        assert loaded == gradebook(graded_examples[assignment]), assignment
    assert grade(SANDBOX_SPEC, hostile, tmp_path / "loaded-hostile") == idle_hostile
