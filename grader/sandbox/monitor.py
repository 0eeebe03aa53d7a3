"""Watching a worker from the grader's side: its CPU time, what it printed, how it ended.

Shared by both kinds of worker, the fork server's (``server.WorkerProcess``) and the portable
one (``portable.PortableWorker``), so that a limit, a crash or a flood of output is worded the same
whichever ran the student's code. Standard library only, and nothing here needs ``os.fork``,
``resource`` or ``/proc`` to import: it runs on Windows and macOS too.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable, Literal, Protocol

from grader import wire
from grader.sandbox.interface import Reply
from grader.spec import Limits

CPU_POLL = 0.05
"""Seconds between two readings of a worker's CPU time while it computes an answer."""

Failure = Callable[[Literal["timeout", "died", "protocol"], str, float], Reply]
"""Stops the worker and says why there is no answer: (kind, detail, start of the wait)."""

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
"""Units of /proc's CPU times (Windows has no sysconf, and no /proc to read them from)."""


def process_tree_cpu(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and its living descendants (and of the children they
    reaped), read from /proc; None when ``pid`` cannot be read (or there is no /proc). Read twice
    or more per request, so with bare system calls rather than ``pathlib``."""
    total = 0.0
    pending = [pid]
    seen = 0
    while pending and seen < 4096:
        current = pending.pop()
        seen += 1
        try:
            fields = _read_proc(f"/proc/{current}/stat").rsplit(b")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS  # utime stime cutime cstime
            for task in os.listdir(f"/proc/{current}/task"):
                pending += [int(child) for child in _read_proc(f"/proc/{current}/task/{task}/children").split()]
        except (OSError, ValueError, IndexError):
            if current == pid:
                return None
    return total


def _read_proc(path: str) -> bytes:
    handle = os.open(path, os.O_RDONLY)
    try:
        return os.read(handle, 65536)
    finally:
        os.close(handle)


class _Killable(Protocol):
    exit_detail: str

    def kill(self) -> None: ...


def stop_for(worker: _Killable, kind: Literal["timeout", "died", "protocol"], detail: str, start: float) -> Reply:
    """Stop ``worker`` and say why there is no answer; a death is told by how the worker ended."""
    worker.kill()
    return Reply(kind=kind, detail=worker.exit_detail if kind == "died" else detail, seconds=time.monotonic() - start)


def await_reply(reader: wire.FrameReader, wait: Callable[[float], bool], *, timeout: float, start: float,
                limit: float | None, cpu_limit: tuple[float, float | None] | None,
                cpu_seconds: Callable[[], float | None], fail: Failure) -> Reply:
    """The worker's next message, or why there is none, for both kinds of worker.

    ``wait(seconds)`` feeds ``reader`` with what arrives within ``seconds`` and returns False once
    the worker's channel has closed. With ``cpu_limit`` (seconds, CPU time at the request's start)
    the worker is stopped once its processes have used that much CPU time, ``timeout`` being then
    only the wall-clock safety net; without it, ``timeout`` is the limit.
    """
    deadline = time.monotonic() + max(timeout, 0)
    while True:
        try:
            message = reader.next_message()
        except wire.WireError as error:
            return fail("protocol", str(error), start)
        if message is not None:
            header, blobs = message
            try:
                arrays = [wire.load_array(blob, max_bytes=len(blob)) for blob in blobs]
            except wire.WireError as error:
                return fail("protocol", str(error), start)
            return Reply(kind="message", header=header, arrays=arrays, seconds=time.monotonic() - start)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if cpu_limit is not None:
                return fail("timeout", f"time limit of {limit:g} s exceeded (no answer after "
                            f"{time.monotonic() - start:.0f} s of waiting)", start)
            return fail("timeout", f"time limit of {limit or timeout:g} s exceeded", start)
        if cpu_limit is not None:
            seconds, cpu_start = cpu_limit
            # Most answers come within the first poll interval: read the CPU time only after it.
            used = cpu_seconds() if time.monotonic() - start >= CPU_POLL else None
            if cpu_start is not None and used is not None and used - cpu_start > seconds:
                return fail("timeout", f"time limit of {seconds:g} s exceeded ({used - cpu_start:.1f} s of CPU time)",
                            start)
            remaining = min(remaining, CPU_POLL)
        if not wait(remaining):
            return fail("died", "", start)


class OutputCapture:
    """What a worker printed, kept up to ``limits.output_kb`` KiB; the rest is counted, not kept.

    Thread-safe: the portable worker appends from a reader thread while the session takes text.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._kept = bytearray()
        self.dropped = 0
        """Bytes printed beyond the limit."""
        self._taken = 0
        self._dropped_taken = 0
        self._lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self._lock:
            keep = max(0, self.limits.output_kb * 1024 - len(self._kept))
            self._kept += chunk[:keep]
            self.dropped += len(chunk) - min(keep, len(chunk))

    @property
    def text(self) -> str:
        """Everything kept, with a note if some was dropped."""
        with self._lock:
            return self._text(0, 0)

    def take(self) -> str:
        """What was printed since the last call, with a note if some of it was dropped."""
        with self._lock:
            text = self._text(self._taken, self._dropped_taken)
            self._taken, self._dropped_taken = len(self._kept), self.dropped
            return text

    def _text(self, start: int, dropped_before: int) -> str:
        text = bytes(self._kept[start:]).decode("utf-8", errors="replace")
        dropped = self.dropped - dropped_before
        if dropped:
            text += (f"\n[output truncated: {dropped} more bytes were not kept; the limit is "
                     f"{self.limits.output_kb} KiB per worker]")
        return text


def describe_signal(number: int, limits: Limits) -> str:
    """Say in plain words that a worker was killed by signal ``number``, naming the limit it hit."""
    name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
    # Windows has neither SIGXCPU nor SIGXFSZ (nor SIGKILL): compare by name.
    if name == "SIGXCPU":
        return f"CPU time limit of {limits.cpu_seconds} s exceeded (killed by {name})"
    if name == "SIGXFSZ":
        return f"file size limit of {limits.file_size_mb} MiB exceeded (killed by {name})"
    if name == "SIGSEGV":
        return "the process crashed with a segmentation fault (SIGSEGV)"
    if name in ("SIGKILL", "SIGTERM"):
        return f"the worker was stopped ({name})"
    return f"the process was killed by {name}"


def describe_exit_code(code: int) -> str:
    """Say in plain words that a worker exited with status ``code``."""
    if code == 70:
        return "the sandbox could not be set up for this worker (exit status 70)"
    return f"the process exited with status {code} (os._exit or a crash)"


def describe_exit(status: int | None, limits: Limits) -> str:
    """How a worker ended, from its wait status (``os.waitpid``); None: it was stopped."""
    if status is None:
        return "the worker was stopped"
    if os.WIFSIGNALED(status):
        return describe_signal(os.WTERMSIG(status), limits)
    return describe_exit_code(os.WEXITSTATUS(status))


def describe_returncode(returncode: int | None, limits: Limits) -> str:
    """How a worker ended, from ``subprocess.Popen.returncode`` (negative: killed by a signal on
    POSIX); None: it was stopped."""
    if returncode is None:
        return "the worker was stopped"
    if returncode < 0:
        return describe_signal(-returncode, limits)
    if os.name == "nt" and returncode == 0xC0000005:
        return "the process crashed with an access violation (0xC0000005)"
    return describe_exit_code(returncode)
