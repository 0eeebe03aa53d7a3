"""Grading on Dask: the same results, gradebook and resumability as a local run, a lost worker
costing only a retry, and a submission that cannot be graded reported, not lost."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.batch.executor import GradingRun
from grader.batch.run import grade_folder
from grader.cli import main
from grader.errors import ReferenceImplementationError, SpecError, UsageError
from grader.spec import load_spec

from conftest import ROOT

distributed = pytest.importorskip("distributed", reason="Dask is an optional extra: pip install 'dl-grader[dask]'")
psutil = pytest.importorskip("psutil", reason="psutil (a dependency of distributed) finds a worker's processes")

SPEC = ROOT / "tests" / "data" / "batch" / "batch.yaml"
CORRECT = "import numpy as np\n\ndef total(x):\n    return float(np.sum(x))\n\ndef scaled(x):\n    return x * 3.0\n"
SECONDS = re.compile(r"\b\d+\.\d+ s\b")


def without_timing(value: Any) -> Any:
    """A results.json tree without what depends on the clock: ``execution_time``, every
    ``seconds`` field (accuracy checks) and the seconds quoted in messages ("2.0 s")."""
    if isinstance(value, dict):
        return {key: without_timing(item) for key, item in value.items() if key not in ("execution_time", "seconds")}
    if isinstance(value, list):
        return [without_timing(item) for item in value]
    if isinstance(value, str):
        return SECONDS.sub("<seconds> s", value)
    return value


def normalized(out: Path) -> dict[str, Any]:
    """Every results.json of a run, by submission, without timing (NaNs compare equal as text)."""
    return {path.parent.name: json.dumps(without_timing(json.loads(path.read_text())), sort_keys=True)
            for path in sorted(out.glob("*/results.json"))}


@pytest.fixture(scope="module")
def cluster() -> Any:
    """Two worker processes with nannies (a killed worker is restarted), one thread each."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as local:
        yield local


@pytest.fixture
def client(cluster: Any) -> Any:
    with distributed.Client(cluster) as connected:
        yield connected


def on_dask(spec: str | Path, out: Path, cluster: Any, **options: Any) -> GradingRun:
    return GradingRun(assignment=load_spec(spec), out=out, progress=False, html=False, executor="dask",
                      scheduler=cluster.scheduler_address, **options)


def make_class(folder: Path, count: int) -> Path:
    for index in range(count):
        (folder / f"s{index}").mkdir(parents=True)
        (folder / f"s{index}" / "work.py").write_text(CORRECT + f"# {index}\n")
    return folder


def test_dask_run_writes_the_same_results_and_gradebook_as_a_local_run(
    cluster: Any, graded_examples: dict[str, Path], tmp_path: Path
) -> None:
    # hw1 (functions and an MNIST model) and hw4 (scenarios, notebooks): hw2 and hw3 take hw1's path.
    for name in ("hw1", "hw4"):
        rows = grade_folder(on_dask(name, tmp_path / name, cluster), ROOT / "submissions" / name)
        assert [row["id"] for row in rows] == sorted(path.name for path in (ROOT / "submissions" / name).iterdir())
        local = normalized(graded_examples[name])
        assert local and normalized(tmp_path / name) == local, name
        assert (tmp_path / name / "gradebook.csv").read_text() == (graded_examples[name] / "gradebook.csv").read_text()


def test_unchanged_submissions_are_not_sent_to_the_cluster(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import grader.batch.dask

    folder = make_class(tmp_path / "subs", 3)
    run = on_dask(SPEC, tmp_path / "out", cluster)
    grade_folder(run, folder)
    sent: list[str] = []
    real = grader.batch.dask.grade_on_dask

    def spy(run: GradingRun, submissions: Path, pending: list, record: Any) -> dict[str, str]:
        sent.extend(item.submission.id for item in pending)
        return real(run, submissions, pending, record)

    monkeypatch.setattr(grader.batch.dask, "grade_on_dask", spy)
    (folder / "s1" / "work.py").write_text(CORRECT.replace("3.0", "2.0"))
    rows = grade_folder(run, folder)
    assert sent == ["s1"]
    assert [row["total"] for row in rows] == [2, 1, 2]
    grade_folder(run, folder)
    assert sent == ["s1"]  # nothing changed: no cluster work at all


def test_a_submission_that_cannot_be_graded_is_reported_and_graded_by_the_next_run(
    cluster: Any, client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_class(tmp_path / "subs", 3)
    local = tmp_path / "local"
    grade_folder(GradingRun(assignment=load_spec(SPEC), out=local, progress=False, html=False), folder)

    def break_sandboxes() -> None:  # on every worker: a machine whose sandbox cannot start
        from grader.batch.dask import WorkerState
        from grader.errors import GraderError

        def broken(self: Any, settings: Any) -> Any:
            raise GraderError("the sandbox cannot start a worker on this machine")

        WorkerState.original_sandbox = WorkerState.sandbox  # type: ignore[attr-defined]
        WorkerState.sandbox = broken  # type: ignore[method-assign]

    def repair_sandboxes() -> None:
        from grader.batch.dask import WorkerState

        WorkerState.sandbox = WorkerState.original_sandbox  # type: ignore[attr-defined,method-assign]

    command = ["grade", str(SPEC), str(folder), "--out", str(tmp_path / "out"), "--no-html",
               "--executor", "dask", "--scheduler", cluster.scheduler_address]
    client.run(break_sandboxes)
    try:
        status = main(command)
    finally:
        client.run(repair_sandboxes)
    printed = capsys.readouterr().out
    assert status == 1
    assert "NOT graded, for a reason of the machines (3;" in printed
    assert re.search(r"s0 +GraderError: the sandbox cannot start a worker on this machine", printed)
    assert not list((tmp_path / "out").glob("*/results.json"))
    assert (tmp_path / "out" / "gradebook.csv").read_text().count("\n") == 1  # the header alone

    assert main(command) == 0  # the machines are fixed: the same command finishes the job
    assert (tmp_path / "out" / "gradebook.csv").read_text() == (local / "gradebook.csv").read_text()
    assert normalized(tmp_path / "out") == normalized(local)


@pytest.mark.parametrize("breakage", ["\n\ndef total(x):\n    raise RuntimeError('oops')\n", "\nraise RuntimeError('oops')\n"],
                         ids=["raises on a case", "fails to import"])
def test_a_broken_reference_stops_the_run_with_the_local_message(cluster: Any, tmp_path: Path, breakage: str) -> None:
    spec_folder = tmp_path / "spec"
    shutil.copytree(SPEC.parent, spec_folder)
    reference = spec_folder / "reference.py"
    reference.write_text(reference.read_text() + breakage)
    folder = make_class(tmp_path / "subs", 1)
    spec = spec_folder / "batch.yaml"
    # A reference that raises on a case is found before grading (a SpecError naming the case), one
    # that does not import when it is loaded: both stop the run, locally and on Dask alike.
    with pytest.raises((ReferenceImplementationError, SpecError), match="RuntimeError: oops") as locally:
        grade_folder(GradingRun(assignment=load_spec(spec), out=tmp_path / "local", progress=False, html=False), folder)
    with pytest.raises((ReferenceImplementationError, SpecError)) as on_dask_:
        grade_folder(on_dask(spec, tmp_path / "out", cluster), folder)
    assert str(on_dask_.value) == str(locally.value)  # paths as the instructor knows them
    assert not list((tmp_path / "out").glob("*/results.json"))


def test_cli_grades_on_a_scheduler_and_explains_the_options(cluster: Any, tmp_path: Path) -> None:
    folder = make_class(tmp_path / "subs", 2)
    common = ["grade", str(SPEC), str(folder), "--no-html"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "dask"), "--executor", "dask",
                 "--scheduler", cluster.scheduler_address]) == 0
    assert (tmp_path / "dask" / "gradebook.csv").read_text() == (tmp_path / "local" / "gradebook.csv").read_text()
    assert main([*common, "--out", str(tmp_path / "x"), "--scheduler", cluster.scheduler_address]) == 2


def test_without_dask_the_executor_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import grader.batch.dask

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UsageError, match=r"pip install 'dl-grader\[dask\]'"):
        grader.batch.dask.import_distributed()


def test_a_worker_killed_mid_run_costs_a_retry_not_the_run(
    cluster: Any, client: Any, graded_examples: dict[str, Path], tmp_path: Path
) -> None:
    """hw3's dee hangs for 10 s: when the first result is in, some worker is still grading; it is
    killed with everything it started (as when its machine is lost), and the nanny restarts it."""
    killed: list[int] = []

    def kill_a_busy_worker(submission: Any, report: Any, cached: bool) -> None:
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        assert busy, "no worker was grading when the first result came in"
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        victim = psutil.Process(pid)
        for process in [victim, *victim.children(recursive=True)]:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        killed.append(pid)

    out = tmp_path / "hw3"
    rows = grade_folder(on_dask("hw3", out, cluster), ROOT / "submissions" / "hw3", on_report=kill_a_busy_worker)
    assert killed
    assert len(rows) == 4
    assert (out / "gradebook.csv").read_text() == (graded_examples["hw3"] / "gradebook.csv").read_text()
    assert normalized(out) == normalized(graded_examples["hw3"])


def test_a_task_carries_the_submissions_links_as_links(tmp_path: Path) -> None:
    """A linked module travels as a link to nothing, so the worker machine refuses it by name too."""
    from grader.batch.dask import _write_files
    from grader.sandbox.isolation import read_submission, submission_links

    source = tmp_path / "source"
    source.mkdir()
    (source / "honest.py").write_text(CORRECT)
    (source / "work.py").symlink_to(source / "honest.py")
    staged = tmp_path / "staged"
    _write_files(staged, read_submission(source), submission_links(source))
    assert (staged / "honest.py").read_text() == CORRECT
    assert (staged / "work.py").is_symlink() and not (staged / "work.py").exists()
