"""What a session keeps of a worker that has seen a hidden case: nothing it prints, and no public call.

A worker is the student's process: it may print a hidden case's inputs, keep them in a global, or
print them later from a thread. The session drops what a worker prints once a hidden call has been
sent to it, and starts a fresh worker for the next public call (or import). Fake workers stand in
for the sandbox here (the sandboxed run of tests/hostile/hidden_printed shows the same for real).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.calls import Call
from grader.sandbox.interface import Reply
from grader.sandbox.session import HIDDEN_OUTPUT_NOTE, SandboxSession
from grader.spec import Limits

SECRET = "27182.818"


class KeepingWorker:
    """Prints what each call sends and everything earlier calls of this worker sent."""

    def __init__(self) -> None:
        self.alive = True
        self.exit_detail = ""
        self.kept: list[str] = []
        self._printed = ""
        self.calls = 0

    @property
    def output(self) -> str:
        return self._printed

    def take_output(self) -> str:
        text, self._printed = self._printed, ""
        return text

    def wait_ready(self, timeout: float) -> Reply:
        return Reply(kind="message", header={"status": "ok"})

    def request(self, header: dict[str, Any], blobs: list[bytes], timeout: float, *,
                wall_timeout: float | None = None) -> Reply:
        if header["op"] == "import":
            return Reply(kind="message", header={"status": "ok"})
        self.calls += 1
        self.kept.append(header["function"])
        self._printed += f"call {header['function']}; kept so far: {self.kept}\n"
        return Reply(kind="message", header={"status": "error", "message": f"kept {self.kept}"})

    def close(self) -> None:
        self.alive = False


class Backend:
    hide: list[str] = []

    def __init__(self) -> None:
        self.workers: list[KeepingWorker] = []

    def preload(self, *names: str) -> None:
        pass

    @property
    def info(self) -> Any:
        return None

    def spawn(self, submission: Path, limits: Limits) -> KeepingWorker:
        self.workers.append(KeepingWorker())
        return self.workers[-1]


def call(key: str, function: str, hidden: bool) -> Call:
    return Call(key=key, module="m", function=function, hidden=hidden)


def test_a_worker_that_saw_a_hidden_case_answers_no_public_call(tmp_path: Path) -> None:
    backend = Backend()
    session = SandboxSession(backend, tmp_path, deadline=float("inf"))  # type: ignore[arg-type]
    first, printed_first = session.run([call("a/pub", "public_one", False), call("a/kept", SECRET, True)], Limits())
    second, printed_second = session.run([call("b/pub", "public_two", False)], Limits())
    session.close()
    assert [worker.calls for worker in backend.workers] == [2, 1]  # a fresh worker for problem b
    assert SECRET not in printed_first + printed_second
    assert SECRET not in second["b/pub"].message
    assert "public_one" in printed_first and HIDDEN_OUTPUT_NOTE in printed_first
    assert "public_two" in printed_second and HIDDEN_OUTPUT_NOTE not in printed_second


def test_public_calls_alone_share_one_worker(tmp_path: Path) -> None:
    backend = Backend()
    session = SandboxSession(backend, tmp_path, deadline=float("inf"))  # type: ignore[arg-type]
    session.run([call("a/pub", "one", False)], Limits())
    session.run([call("b/pub", "two", False)], Limits())
    session.close()
    assert [worker.calls for worker in backend.workers] == [2]
