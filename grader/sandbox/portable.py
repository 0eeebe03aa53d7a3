"""The portable sandbox: one spawned Python per submission, for machines without the fork server.

The fork server (``server.Sandbox``) needs ``os.fork`` and ``resource``, and its isolation needs
Linux namespaces. A student's self-check on Windows or macOS runs the student's own code on the
student's own machine: it needs crash and hang containment, not a jail. ``PortableSandbox`` gives
that with nothing but ``subprocess``: each worker is ``python -m grader.sandbox.spawned`` in a
fresh temporary copy of the submission, speaking the same ``wire`` format over its stdin/stdout,
its stderr captured as the student's output.

What it contains: a call that hangs or computes too long (stopped from this side: CPU time read
from /proc where there is one, wall-clock time otherwise), a crash of the interpreter (segfault,
``os._exit``, ``sys.exit``), output floods (kept up to the limit), oversize or malformed replies
(refused by ``wire``), writes to the submission (the worker has a copy), and where ``resource``
exists, the address space (Linux; macOS does not enforce it), CPU time and file size limits. The
worker runs in a session (POSIX) or process group (Windows) of its own, and the whole group is
killed when it is stopped; on Windows the tree of processes it started is killed too.

What it does not: no network isolation, no hidden files, no user of its own; a process the student
detaches from the group (``setsid``, a Windows process started with its own job) can outlive the
worker. The verdict is still computed only here, from plain data.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from grader import wire
from grader.errors import GraderError
from grader.sandbox.launch import has_module, platform_without_fork_server, worker_environment
from grader.sandbox.files import read_submission, submission_links, write_submission
from grader.sandbox.interface import Reply
from grader.sandbox.monitor import OutputCapture, await_reply, describe_returncode, process_tree_cpu, stop_for
from grader.spec import Limits

TERM_GRACE = 0.2
"""Seconds between asking a worker to stop and killing it."""
READY_TIMEOUT = 60.0
"""A fresh interpreter imports numpy (and torch) before it is ready: slower than a fork."""
KEPT_ENVIRONMENT = ("PATH", "SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "NUMBER_OF_PROCESSORS",
                    "PROCESSOR_ARCHITECTURE")
"""Variables a portable worker inherits besides the fork server's: what Python needs to start on
Windows, and the student's ``PATH`` (the student's own machine, the student's own tools)."""


def child_command(config: dict[str, Any]) -> list[str]:
    """The command line of one worker (the tests wrap it to take ``os.fork`` and ``resource`` away)."""
    return [sys.executable, "-m", "grader.sandbox.spawned", json.dumps(config)]


@dataclass(frozen=True, kw_only=True)
class PortableInfo:
    """What the portable sandbox gives; said in every run's output."""

    reason: str
    """Why the fork server is not used (``platform_without_fork_server``, or a request)."""
    memory_limit: bool
    cpu_clock: bool

    @property
    def full(self) -> bool:
        return False

    def describe(self) -> str:
        memory = ("memory limit applies" if self.memory_limit else
                  "no memory limit (not enforced on this platform)")
        clock = "CPU time" if self.cpu_clock else "wall-clock time"
        return (f"Sandbox: portable worker ({self.reason}): each submission runs in a separate Python "
                f"process, with time limits ({clock}) and crash containment; {memory}; no network "
                f"isolation and your files are not hidden from your code.")


class PortableSandbox:
    """Spawns a fresh worker process per submission; the same surface as ``server.Sandbox``.

    Args:
        isolation: accepted for symmetry with ``Sandbox``; this sandbox has a single mode.
        hide: ignored (nothing can be hidden without namespaces), said in ``info``.
        preload_torch: import torch (with the worker's MNIST support) before the student's code,
            as the fork server does; without it, a worker that needs torch imports it itself.
        reason: why the portable sandbox is used, for ``info`` (default: what this platform lacks).
    """

    def __init__(self, *, isolation: str = "none", hide: list[Path] | None = None, preload_torch: bool = False,
                 reason: str = "") -> None:
        self.isolation = isolation
        self.hide = [str(path) for path in hide or []]
        self.preload_torch = preload_torch
        self._info = PortableInfo(
            reason=reason or platform_without_fork_server() or "asked for",
            memory_limit=sys.platform.startswith("linux") and has_module("resource"),
            cpu_clock=os.path.isdir(f"/proc/{os.getpid()}/task"),
        )
        self._scratch = Path(tempfile.mkdtemp(prefix="grader-"))
        self._lock = threading.Lock()
        self._counter = 0

    @property
    def info(self) -> PortableInfo:
        return self._info

    def preload(self, *names: str) -> None:
        """As ``Sandbox.preload``: workers spawned from now on import torch first."""
        self.preload_torch = self.preload_torch or "torch" in names

    def probe(self) -> None:
        """Start one worker on an empty submission, so that a broken installation fails the run
        with the reason, instead of scoring every student zero."""
        empty = self._scratch / "probe"
        empty.mkdir(exist_ok=True)
        worker = self.spawn(empty, Limits())
        ready = worker.wait_ready(READY_TIMEOUT)
        worker.close()
        if not ready.ok:
            raise GraderError(f"the portable sandbox cannot start a worker ({worker.exit_detail}): "
                              f"{worker.output.strip()[-800:] or 'no output'}")

    def spawn(self, submission: Path, limits: Limits, *, extra_hide: tuple[Path, ...] = ()) -> "PortableWorker":
        """Copy the submission into a fresh folder and start a worker serving it."""
        with self._lock:
            self._counter += 1
            home = self._scratch / f"w{self._counter}"
        workdir = home / "submission"
        source = Path(submission).resolve()
        write_submission(read_submission(source), workdir)
        config = {
            "workdir": str(workdir),
            "links": list(submission_links(source)),
            "memory_mb": limits.memory_mb,
            "cpu_seconds": limits.cpu_seconds,
            "file_size_mb": limits.file_size_mb,
            "max_return_bytes": limits.return_mb * 1024 * 1024,
            "preload_torch": self.preload_torch,
        }
        return PortableWorker(child_command(config), cwd=home, limits=limits)

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "PortableSandbox":
        self.probe()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PortableWorker:
    """One spawned worker: request/reply with deadlines, captured output, a killed process group.

    Windows cannot wait on pipes with ``select``: a thread reads each pipe (control replies into a
    queue, output into the capture) and this side waits on the queue with timeouts.
    """

    def __init__(self, command: list[str], *, cwd: Path, limits: Limits) -> None:
        self.limits = limits
        self._home = cwd
        self.exit_detail = ""
        self.alive = True
        self._capture = OutputCapture(limits)
        self._reader = wire.FrameReader(max_bytes=limits.return_mb * 1024 * 1024 + (8 << 20))
        self._replies: queue.Queue[bytes] = queue.Queue()
        self._writer: threading.Thread | None = None
        # Its own session (POSIX) or process group (Windows), so that stopping it reaches what it started.
        if sys.platform == "win32":
            flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
        else:
            flags = 0
        self._process = subprocess.Popen(
            command, cwd=cwd, env=worker_environment(keep=KEPT_ENVIRONMENT), bufsize=0,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=os.name == "posix", creationflags=flags,
        )
        self.pid = self._process.pid
        assert self._process.stdout is not None and self._process.stderr is not None
        self._threads = [
            threading.Thread(target=self._read, args=(self._process.stdout, self._replies.put), daemon=True),
            threading.Thread(target=self._read, args=(self._process.stderr, self._capture.add), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(pipe: IO[bytes], sink: Any) -> None:
        """Copy a pipe into ``sink`` until it closes; b'' marks the end. The thread owns the pipe."""
        try:
            while True:
                try:
                    chunk = pipe.read(1 << 20)
                except (OSError, ValueError):
                    chunk = b""
                if not chunk:
                    break
                sink(chunk)
        finally:
            sink(b"")
            pipe.close()

    @property
    def output(self) -> str:
        """Everything kept of what the worker printed, with a note if some was dropped."""
        return self._capture.text

    def take_output(self) -> str:
        """What the worker printed since the last call, with a note if some of it was dropped."""
        return self._capture.take()

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by the worker's processes, from /proc; None where there is none
        (then the limits are wall-clock time)."""
        return process_tree_cpu(self.pid)

    def wait_ready(self, timeout: float) -> Reply:
        """Wait until the worker has started and is ready for requests."""
        return self._await(timeout, time.monotonic())

    def request(self, header: dict[str, Any], blobs: list[bytes], timeout: float, *,
                wall_timeout: float | None = None) -> Reply:
        """Send one request and wait for its reply until the worker has used ``timeout`` seconds of
        CPU time, or ``wall_timeout`` seconds have passed (default: ``timeout``, as wall-clock)."""
        start = time.monotonic()
        if not self.alive:
            return Reply(kind="died", detail=self.exit_detail or "the worker is not running")
        wall = timeout if wall_timeout is None else wall_timeout
        deadline = start + wall
        cpu_start = self.cpu_seconds() if wall_timeout is not None else None
        # Written by a thread: a student who stops reading must not hang the grader.
        failed: list[BaseException] = []
        writer = threading.Thread(target=self._write, args=(wire.pack(header, blobs), failed), daemon=True)
        self._writer = writer
        writer.start()
        writer.join(max(0.0, deadline - time.monotonic()))
        if writer.is_alive():
            return self._fail("timeout", f"the worker did not accept input within {wall:g} s", start)
        if failed:
            return self._fail("died", "", start)
        cpu_limit = (timeout, cpu_start) if cpu_start is not None else None
        return self._await(deadline - time.monotonic(), start, limit=timeout, cpu_limit=cpu_limit)

    def _write(self, data: bytes, failed: list[BaseException]) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.write(data)
            stdin.flush()
        except (OSError, ValueError) as error:
            failed.append(error)

    def _await(self, timeout: float, start: float, *, limit: float | None = None,
               cpu_limit: tuple[float, float | None] | None = None) -> Reply:
        # The same account of a limit as server.WorkerProcess: the verdicts must not depend on the sandbox.
        return await_reply(self._reader, self._wait, timeout=timeout, start=start, limit=limit, cpu_limit=cpu_limit,
                           cpu_seconds=self.cpu_seconds, fail=self._fail)

    def _wait(self, seconds: float) -> bool:
        """Feed the reader what the reply thread got within ``seconds``; False once the channel closed."""
        try:
            chunk = self._replies.get(timeout=seconds)
        except queue.Empty:
            return True
        if not chunk:
            return False
        try:
            self._reader.feed(chunk)
        except wire.WireError:
            pass  # next_message reports it
        return True

    def _fail(self, kind: Literal["timeout", "died", "protocol"], detail: str, start: float) -> Reply:
        return stop_for(self, kind, detail, start)

    def kill(self) -> None:
        """Stop the worker: its whole process group (and on Windows its process tree)."""
        if not self.alive:
            return
        self.alive = False
        process = self._process
        if process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                process.wait(TERM_GRACE)
            except subprocess.TimeoutExpired:
                pass
        # Whatever it left in its group dies with it, even when the worker itself has ended.
        self._signal_group(getattr(signal, "SIGKILL", signal.SIGTERM))
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # An exit by a signal we sent is "stopped"; otherwise the worker's own end is reported.
        self.exit_detail = describe_returncode(process.returncode, self.limits)
        if self._writer is not None:
            self._writer.join(1.0)  # a write blocked on the dead worker has failed by now
        if process.stdin is not None and (self._writer is None or not self._writer.is_alive()):
            try:
                process.stdin.close()
            except OSError:
                pass
        for thread in self._threads:
            # The output pipe ends when the last process holding it does; one that left the group
            # keeps it open, and is not waited for.
            thread.join(1.0)
        shutil.rmtree(self._home, ignore_errors=True)

    def _signal_group(self, number: int) -> None:
        if os.name == "posix":
            try:
                os.killpg(self.pid, number)
            except OSError:
                pass
            return
        # Windows: taskkill /T reaches the worker's descendants, /F terminates them.
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(self.pid)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)

    def close(self) -> None:
        self.kill()
