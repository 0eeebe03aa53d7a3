"""Grading a class: isolation between submissions, parallel = serial, cache, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.batch.executor import GradingRun
from grader.batch.run import grade_folder
from grader.batch.submissions import discover
from grader.spec import load_spec

from conftest import ROOT

SPEC = ROOT / "tests" / "data" / "batch" / "batch.yaml"
CORRECT = "import numpy as np\n\ndef total(x):\n    return float(np.sum(x))\n\ndef scaled(x):\n    return x * 3.0\n"
LEAKER = """
import builtins
import numpy as np
import torch

# Everything a submission could leave behind for the next one, if workers were reused.
np.sum = lambda *args, **kwargs: 42.0
np.ndarray.__module__ = "hacked"
builtins.total = lambda x: 42.0
torch.Tensor.numpy = lambda self: None
open("/tmp/leaked_state", "w").write("leak")

def total(x):
    return float(np.sum(x))

def scaled(x):
    return x * 3.0
"""


def make_class(folder: Path, count: int, leaker_at: int | None = None) -> Path:
    for index in range(count):
        sub = folder / f"s{index:03d}"
        sub.mkdir(parents=True)
        (sub / "work.py").write_text(LEAKER if index == leaker_at else CORRECT + f"# {index}\n")
    return folder


def grade(folder: Path, out: Path, **options: object) -> list[dict]:
    run = GradingRun(assignment=load_spec(SPEC), out=out, progress=False, html=False, **options)  # type: ignore[arg-type]
    return grade_folder(run, folder)


def test_no_state_leaks_from_one_submission_to_the_next(tmp_path: Path) -> None:
    folder = make_class(tmp_path / "subs", 3, leaker_at=0)
    rows = {row["id"]: row for row in grade(folder, tmp_path / "out", workers=1)}
    assert rows["s000"]["total"] == 0  # the leaker's own np.sum is wrong
    assert rows["s001"]["total"] == rows["s002"]["total"] == 2  # the next ones are untouched
    assert not Path("/tmp/leaked_state").exists()


def normalized(out: Path) -> dict[str, object]:
    """Every results.json of a run, without the timing fields."""
    found = {}
    for path in sorted(out.glob("*/results.json")):
        data = json.loads(path.read_text())
        data.pop("execution_time")
        found[path.parent.name] = data
    return found


def test_parallel_run_equals_serial_run(tmp_path: Path) -> None:
    folder = ROOT / "submissions" / "hw2"
    serial = GradingRun(assignment=load_spec("hw2"), out=tmp_path / "serial", workers=1, progress=False, html=False)
    parallel = GradingRun(assignment=load_spec("hw2"), out=tmp_path / "parallel", workers=2, progress=False, html=False)
    assert grade_folder(serial, folder) == grade_folder(parallel, folder)
    assert normalized(tmp_path / "serial") == normalized(tmp_path / "parallel")
    assert (tmp_path / "serial" / "gradebook.csv").read_text() == (tmp_path / "parallel" / "gradebook.csv").read_text()


def test_rerun_skips_unchanged_submissions_and_force_regrades(tmp_path: Path) -> None:
    folder = make_class(tmp_path / "subs", 3)
    seen: list[tuple[str, bool]] = []

    def record(submission, report, cached) -> None:  # noqa: ANN001
        seen.append((submission.id, cached))

    run = GradingRun(assignment=load_spec(SPEC), out=tmp_path / "out", progress=False, html=False)
    grade_folder(run, folder, on_report=record)
    assert not any(cached for _, cached in seen)
    seen.clear()
    (folder / "s001" / "work.py").write_text(CORRECT.replace("3.0", "2.0"))
    grade_folder(run, folder, on_report=record)
    assert sorted(seen) == [("s000", True), ("s001", False), ("s002", True)]
    seen.clear()
    forced = GradingRun(assignment=load_spec(SPEC), out=tmp_path / "out", progress=False, html=False, force=True)
    grade_folder(forced, folder, on_report=record)
    assert not any(cached for _, cached in seen)


def test_a_run_killed_half_way_resumes_to_the_same_gradebook(tmp_path: Path) -> None:
    folder = make_class(tmp_path / "subs", 12)
    command = [sys.executable, "-m", "grader", "grade", str(SPEC), str(folder), "--no-html", "--workers", "1"]
    grade(folder, tmp_path / "reference_run", workers=1)
    killed = tmp_path / "killed"
    process = subprocess.Popen([*command, "--out", str(killed)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(list(killed.glob("*/results.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = len(list(killed.glob("*/results.json")))
    assert 3 <= done < 12, "the run was not killed half-way"
    # Results are written atomically: nothing half-written is left behind.
    for path in killed.glob("*/results.json"):
        json.loads(path.read_text())
    resumed = subprocess.run([*command, "--out", str(killed)], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert (killed / "gradebook.csv").read_text() == (tmp_path / "reference_run" / "gradebook.csv").read_text()


def test_discover_accepts_folders_and_zips_and_rejects_clashes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b.zip").write_bytes(b"")
    (tmp_path / ".hidden").mkdir()
    assert [s.id for s in discover(tmp_path)] == ["a", "b"]
    (tmp_path / "a.zip").write_bytes(b"")
    from grader.errors import UsageError

    with pytest.raises(UsageError, match="two submissions are called 'a'"):
        discover(tmp_path)


def test_a_linked_module_is_refused_by_name_in_a_folder_and_a_zip(tmp_path: Path) -> None:
    import stat
    import zipfile

    folder = tmp_path / "subs"
    (tmp_path / "real.py").write_text(CORRECT)
    (folder / "linked").mkdir(parents=True)
    (folder / "linked" / "work.py").symlink_to(tmp_path / "real.py")
    with zipfile.ZipFile(folder / "zipped.zip", "w") as archive:
        link = zipfile.ZipInfo("zipped/work.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, str(tmp_path / "real.py"))
    rows = {row["id"]: row for row in grade(folder, tmp_path / "out", workers=1)}
    for sid in ("linked", "zipped"):
        assert rows[sid]["total"] == 0
        tests = json.loads((tmp_path / "out" / sid / "results.json").read_text())["tests"]
        for test in tests:
            assert "work.py is a symbolic link; submissions may not contain links" in test["output"], sid
            assert "missing" not in test["output"]


@pytest.mark.parametrize("field", ["reference", "mistakes_module", "helpers", "checks_module"])
def test_a_change_to_any_instructor_file_regrades_everyone(tmp_path: Path, field: str) -> None:
    """A re-run skips a submission only when nothing its grade depends on changed: a helpers
    module's weight initialiser, or a custom judge, changes verdicts as much as the reference does."""
    from grader.batch.submissions import assignment_hash

    files = {"reference": "ref.py", "mistakes_module": "mistakes.py", "helpers": "helpers.py",
             "checks_module": "checks.py"}
    for name in files.values():
        (tmp_path / name).write_text("def f(x):\n    return x\n")
    spec = {"schema_version": 1, "assignment": "t", "module": "m", **files, "problems": [{
        "id": "f", "points": 1, "no_typical_mistake": "a test",
        "cases": [{"name": "a", "visibility": "public", "args": {"x": 1.0}}], "checks": [{"kind": "value"}]}]}
    (tmp_path / "t.yaml").write_text(json.dumps(spec))
    before = assignment_hash(load_spec(tmp_path / "t.yaml"))
    (tmp_path / files[field]).write_text("def f(x):\n    return 2 * x\n")
    assert assignment_hash(load_spec(tmp_path / "t.yaml")) != before
