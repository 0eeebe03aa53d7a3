"""Grade a class on a Dask cluster: one task per submission, graded in the worker's own sandbox.

The client (``grader grade --executor dask``) keeps every promise of a local run: it decides what
needs grading (unchanged submissions are never sent), writes each results.json as its task
finishes, renders the reports and builds the gradebook, all through ``run.grade_folder``. A task
carries everything it needs as plain bytes: the spec, reference and mistakes files
(``SpecFiles``) and the submission's files. The worker writes them into a private folder, loads
the spec from there, computes the reference expectations once per worker process and spec, and
grades in one ``Sandbox`` per worker process; it sends back the results.json dict, which the
client validates on arrival. Tasks write nothing the client reads, so a task re-run after its
worker died is harmless.

Dask is an optional extra: importing this module does not import it; ``grade_on_dask`` does.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from grader import __version__
from grader.batch.executor import GradingRun, Pending, Record, grade_in_sandbox, hidden_paths
from grader.batch.submissions import grader_digest, sources, unpacked
from grader.errors import DataError, GraderError, ReferenceImplementationError, SpecError, UsageError
from grader.reports.gradescope import from_results_json, to_results_json
from grader.sandbox.isolation import read_submission, submission_links
from grader.sandbox.launch import platform_without_fork_server
from grader.sandbox.preload import modules_to_preload
from grader.sandbox.server import Isolation, Sandbox
from grader.spec import Assignment, load_spec

RETRIES = 2
"""Times a task that raised is tried again; a worker that died under it costs a reschedule."""

IN_FLIGHT_PER_THREAD = 4
"""Tasks kept submitted per worker thread (at least ``MIN_IN_FLIGHT``): bounds the bytes the
scheduler holds while the cluster never waits for work."""
MIN_IN_FLIGHT = 64

_FATAL = {cls.__name__: cls for cls in (SpecError, ReferenceImplementationError, GraderError)}
"""Errors of the instructor's making: the same on every worker, so the run stops, as a local one does."""


@dataclass(frozen=True)
class SpecFiles:
    """The spec, reference and mistakes files of an assignment, as bytes under their common folder."""

    files: dict[str, bytes]
    """Relative POSIX path -> content."""
    spec: str
    """Which of ``files`` is the spec."""
    origin: str
    """The common folder on the client, to name in error messages."""
    digest: str
    """Content hash of ``files``: the worker's cache key."""

    @classmethod
    def from_assignment(cls, assignment: Assignment) -> "SpecFiles":
        paths = [path for path in (assignment.source, assignment.reference_path, assignment.mistakes_path) if path]
        paths = [path.resolve() for path in paths]
        root = Path(os.path.commonpath([str(path.parent) for path in paths]))
        files = {path.relative_to(root).as_posix(): path.read_bytes() for path in paths}
        digest = hashlib.sha256()
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name] + b"\0")
        return cls(files=files, spec=paths[0].relative_to(root).as_posix(), origin=str(root),
                   digest=digest.hexdigest())


@dataclass(frozen=True)
class TaskSettings:
    """What every task of a run shares besides the spec."""

    isolation: Isolation
    data_dir: str | None
    """MNIST folder, a path valid on every worker (a shared file system); none: each worker searches
    its ``$GRADER_DATA_DIR``, its cache and the shipped test set, as ``datasets.load_mnist`` does."""
    hide: tuple[str, ...]
    """The client's folders a worker must not see, where they exist on the worker's machine too."""
    grader: str
    """The client's ``grader_digest()``: a worker with other grader code would grade differently."""
    preload: tuple[str, ...] = ()
    """What the workers' fork servers import before forking (``preload.modules_to_preload``)."""


# --- worker side ------------------------------------------------------------------------------


def _write_files(folder: Path, files: dict[str, bytes], links: tuple[str, ...] = ()) -> None:
    """The submission's files, and its links as links to nothing (the sandbox refuses them by name)."""
    for relative, data in [*files.items(), *((link, None) for link in links)]:
        path = PurePosixPath(relative)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise GraderError(f"refusing to write {relative!r} outside the task's folder")
        target = folder.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            target.symlink_to("a link in the submission")
        else:
            target.write_bytes(data)


class WorkerState:
    """What one Dask worker process keeps between tasks: its folder, specs, expectations, sandboxes.

    Everything lives under one private folder (``root``), which the sandboxes hide; ``close``
    stops the sandboxes and removes the folder (at interpreter exit, see ``worker_state``).
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="grader-dask-"))
        self._lock = threading.Lock()
        self._assignments: dict[tuple[str, str | None], tuple[Assignment, Any]] = {}
        self._sandboxes: dict[str, Sandbox] = {}

    def spec_folder(self, spec: SpecFiles) -> Path:
        return self.root / "specs" / spec.digest[:32]

    def assignment(self, spec: SpecFiles, data_dir: str | None) -> tuple[Assignment, Any]:
        """The spec loaded from its files here, and its reference expectations."""
        from grader.grading.expectations import ReferenceExpectations

        if data_dir and not Path(data_dir).is_dir():
            # Falling back to this machine's own copy could grade on other data than asked for.
            raise DataError(f"--data-dir {data_dir} does not exist on the Dask worker on {socket.gethostname()}; "
                            "give a folder every worker sees (a shared file system)")
        with self._lock:
            key = (spec.digest, data_dir)
            if key not in self._assignments:
                folder = self.spec_folder(spec)
                if not folder.exists():
                    staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".spec-"))
                    _write_files(staging, spec.files)
                    folder.parent.mkdir(exist_ok=True)
                    staging.rename(folder)
                assignment = load_spec(folder / spec.spec, check_files=False)
                expectations = ReferenceExpectations(assignment, data_dir=Path(data_dir) if data_dir else None)
                self._assignments[key] = (assignment, expectations)
            return self._assignments[key]

    def sandbox(self, settings: TaskSettings) -> Sandbox:
        """This process's sandbox, started (and probed) on first use, hiding what ``settings`` asks.

        One per isolation mode: a fork server costs a second and a few hundred MB. A later run with
        other folders to hide widens what it hides (hiding more is always safe).
        """
        from grader import datasets

        wanted: list[str | Path] = [*settings.hide, self.root, Path(__file__).resolve().parents[1],
                                    datasets.default_cache_dir(), *([settings.data_dir] if settings.data_dir else [])]
        hide = {str(Path(path).resolve()) for path in wanted}
        try:
            from distributed import get_worker

            hide.add(str(Path(get_worker().local_directory).resolve()))  # spilled task data: other submissions
        except (ImportError, ValueError):
            pass
        missing = platform_without_fork_server()
        if missing:
            # The portable worker is a student's self-check; a class is graded with the fork server.
            raise GraderError(f"the Dask worker on {socket.gethostname()} cannot run the sandbox's fork server "
                              f"({missing}); grade on Linux workers")
        with self._lock:
            sandbox = self._sandboxes.get(settings.isolation)
            if sandbox is None:
                sandbox = Sandbox(isolation=settings.isolation, hide=[Path(path) for path in sorted(hide)],
                                  preload=settings.preload)
                try:
                    sandbox.probe()
                except BaseException:
                    sandbox.close()
                    raise
                self._sandboxes[settings.isolation] = sandbox
            else:
                sandbox.preload(*settings.preload)
            if not hide <= set(sandbox.hide):
                sandbox.hide = sorted(hide | set(sandbox.hide))  # a new list: spawn reads it unlocked
            return sandbox

    @contextmanager
    def staged(self, files: dict[str, bytes], links: tuple[str, ...] = ()) -> Iterator[Path]:
        """A submission's files in a folder of their own, removed afterwards."""
        folder = self.root / "submissions" / uuid.uuid4().hex / "submission"
        folder.mkdir(parents=True)
        try:
            _write_files(folder, files, links)
            yield folder
        finally:
            shutil.rmtree(folder.parent, ignore_errors=True)

    def close(self) -> None:
        # The instructor's files first: a worker being shut down may be killed before the end.
        shutil.rmtree(self.root, ignore_errors=True)
        with self._lock:
            for sandbox in self._sandboxes.values():
                sandbox.close()
            self._sandboxes.clear()
            self._assignments.clear()


_state: WorkerState | None = None
_state_lock = threading.Lock()


def worker_state() -> WorkerState:
    """This process's ``WorkerState``, created on the first task and closed at interpreter exit."""
    global _state
    with _state_lock:
        if _state is None:
            _state = WorkerState()
            atexit.register(_state.close)
        return _state


def grade_task(spec: SpecFiles, submission_id: str, files: dict[str, bytes], settings: TaskSettings,
               links: tuple[str, ...] = ()) -> dict[str, Any]:
    """Grade one submission on a Dask worker.

    Returns ``{"results": <results.json dict>}``, or ``{"error": {"type", "message"}}`` for an
    error of the instructor's making (it would be the same on any worker, so it is not retried).
    Anything else raised is the machine's problem: Dask retries the task.
    """
    if settings.grader != grader_digest():
        return {"error": {"type": "GraderError", "message": (
            f"the Dask worker on {socket.gethostname()} runs other grader code than the client "
            f"(grader {__version__} there): install the same grader version on every worker")}}
    state = worker_state()
    try:
        assignment, expectations = state.assignment(spec, settings.data_dir)
        sandbox = state.sandbox(settings)
        with state.staged(files, links) as submission:
            report = grade_in_sandbox(assignment, submission, submission_id, expectations=expectations, sandbox=sandbox)
    except (SpecError, ReferenceImplementationError) as error:
        message = str(error).replace(str(state.spec_folder(spec)), spec.origin)  # paths as the instructor knows them
        return {"error": {"type": type(error).__name__, "message": message}}
    return {"results": to_results_json(report)}


# --- client side ------------------------------------------------------------------------------


def import_distributed() -> Any:
    """The ``distributed`` package, or a UsageError saying how to install it."""
    try:
        import distributed
    except ImportError as error:
        raise UsageError(
            f"--executor dask needs Dask ({error}); install it with: pip install 'dl-grader[dask]'"
        ) from None
    return distributed


@contextmanager
def connect(run: GradingRun) -> Iterator[Any]:
    """A Dask client: of the scheduler at ``run.scheduler``, or of a local cluster of ``run.workers``
    worker processes (one thread each, no dashboard) started for this run."""
    distributed = import_distributed()
    if run.scheduler:
        try:
            client = distributed.Client(run.scheduler, timeout="30s")
        except (OSError, TimeoutError) as error:
            raise UsageError(f"cannot reach the Dask scheduler at {run.scheduler}: {error}") from None
        with client:
            yield client
        return
    with distributed.LocalCluster(n_workers=max(1, run.workers), processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        yield client


def describe_failure(error: BaseException) -> str:
    """Why a task finally failed, in one line."""
    if type(error).__name__ == "KilledWorker":
        return "the Dask workers grading it kept dying (KilledWorker); see the workers' logs"
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def grade_on_dask(run: GradingRun, submissions: Path, pending: list[Pending], record: Record) -> dict[str, str]:
    """Grade ``pending`` as Dask tasks; ``record`` each report as its task finishes.

    Returns the submissions that could not be graded (id -> reason): tasks that kept failing or
    whose workers kept dying. An error of the instructor's making stops the run and is raised.
    """
    distributed = import_distributed()
    from grader.grading.expectations import ReferenceExpectations
    from grader.grading.preflight import verify_reference

    # Here, before any task: a broken spec stops the run as a local one does, not once per worker.
    verify_reference(ReferenceExpectations(run.assignment, data_dir=run.data_dir))
    spec = SpecFiles.from_assignment(run.assignment)
    settings = TaskSettings(
        isolation=run.isolation,
        # A folder missing here is skipped here: the workers then search where a local run would.
        data_dir=str(Path(run.data_dir).resolve()) if run.data_dir and Path(run.data_dir).is_dir() else None,
        hide=tuple(str(path) for path in hidden_paths(run.assignment, submissions, run.out, run.data_dir)),
        grader=grader_digest(),
        preload=modules_to_preload(run.assignment, (sources(item.submission) for item in pending)),
    )
    failures: dict[str, str] = {}
    with connect(run) as client:
        if run.scheduler and not client.scheduler_info().get("workers"):
            print(f"grader: waiting for Dask workers to join {run.scheduler}", file=sys.stderr)
        limit = max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * sum(client.nthreads().values()))
        queue = iter(pending)
        submitted: dict[Any, Pending] = {}
        completed = distributed.as_completed()

        def submit_next() -> None:
            item = next(queue, None)
            if item is None:
                return
            # Packed here, one at a time: what the sandbox would read from the folder, links never followed.
            with unpacked(item.submission) as folder:
                files = read_submission(folder)
                links = submission_links(folder)
            future = client.submit(grade_task, spec, item.submission.id, files, settings, links, retries=RETRIES,
                                   key=f"grade-{item.submission.id}-{uuid.uuid4().hex[:8]}")
            submitted[future] = item
            completed.add(future)

        for _ in range(limit):
            submit_next()
        try:
            for future in completed:
                item = submitted.pop(future)
                try:
                    outcome = future.result()
                except Exception as error:  # noqa: BLE001 - one submission's infrastructure failure
                    failures[item.submission.id] = describe_failure(error)
                    print(f"grader: could not grade {item.submission.id}: {failures[item.submission.id]}",
                          file=sys.stderr)
                else:
                    if "error" in outcome:
                        fatal = outcome["error"]
                        raise _FATAL.get(str(fatal.get("type")), GraderError)(str(fatal.get("message")))
                    record(item, from_results_json(outcome["results"]))
                finally:
                    future.release()
                submit_next()
        finally:
            if submitted:
                client.cancel(list(submitted))
    return failures
