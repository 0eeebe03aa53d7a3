"""Launching the fork server, first: before the grader's own imports, spec and reference outputs.

A fork server takes about a third of a second to start Python, numpy and the worker's code (two
seconds more when torch is preloaded), and the grader's own start-up takes as long: done one after
the other they are most of a one-submission check. ``launch_early`` starts a fork server as soon
as a command is known to need one and keeps it for the first ``Sandbox`` that starts, which adopts
it instead of launching its own; one never adopted is closed at exit. The fork server knows
nothing of the run when it starts (no spec, no reference, nothing to hide yet: ``Sandbox`` tells
each worker that), so adopting it changes nothing but the time. This module also says whether a
fork server can run here at all (``platform_without_fork_server``) and holds the scrubbed
environment both kinds of worker start in. It imports only the standard library, so that
launching costs no more than the call.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

KEPT_ENVIRONMENT = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL")
"""Variables a worker inherits: only what numerics need (OpenBLAS kernel choice on some CPUs)."""


def worker_environment(*, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """The scrubbed environment of the fork server and so of every worker: no variable of the
    grader's shell but ``KEPT_ENVIRONMENT`` and ``keep`` (the portable worker keeps what Python
    needs to start on Windows, and the student's own ``PATH``)."""
    env = {key: os.environ[key] for key in (*KEPT_ENVIRONMENT, *keep) if key in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONIOENCODING="utf-8",
        PYTHONHASHSEED="0",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MALLOC_ARENA_MAX="2",
        # The grader package must stay importable for the fork server itself.
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    return env


def platform_without_fork_server() -> str:
    """Why the fork server cannot run here ('' when it can)."""
    missing = [name for name, present in (("os.fork", hasattr(os, "fork")),
                                          ("resource", has_module("resource"))) if not present]
    if missing:
        return f"this platform has no {' and no '.join(missing)}"
    if sys.platform == "darwin":
        # Forking a process that has imported torch is fragile on macOS (Objective-C runtime,
        # Accelerate): a spawned interpreter is the safe way there.
        return "forking after importing torch is not safe on macOS"
    return ""


def has_module(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Launched:
    """A fork server process and the grader's end of its socket."""

    process: subprocess.Popen[bytes]
    sock: socket.socket
    preloads: tuple[str, ...] = ()
    """Preload requests already sent, whose replies follow the fork server's first message."""

    def discard(self) -> None:
        stop(self.process, self.sock)


STOP_GRACE = 2.0
"""Seconds a fork server has to exit once its socket is closed, before it is killed."""


def stop(process: subprocess.Popen[bytes], sock: socket.socket) -> None:
    """Close a fork server's socket, its cue to exit, and wait for it; kill it if it is still busy
    (importing torch for a run that ended early) after ``STOP_GRACE``."""
    sock.close()
    if not _exited_within(process, STOP_GRACE):
        process.kill()
    process.wait()


def _exited_within(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``process`` to end, woken by the kernel (a pidfd) rather than by polling."""
    try:
        handle = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux, or the process is gone already
        try:
            process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        ready, _, _ = select.select([handle], [], [], timeout)
        return bool(ready)
    finally:
        os.close(handle)


def launch(preload: tuple[str, ...] = ()) -> Launched:
    """Start a fork server (``python -m grader.sandbox.zygote FD``) and queue its ``preload``
    requests; returns without waiting for it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    process = subprocess.Popen(
        [sys.executable, "-m", "grader.sandbox.zygote", str(theirs.fileno())],
        pass_fds=[theirs.fileno()],
        env=worker_environment(),
        cwd="/",
        stdin=subprocess.DEVNULL,
    )
    theirs.close()
    for name in preload:  # read by the fork server once it has started
        ours.send(json.dumps({"op": "preload", "name": name}).encode())
    return Launched(process, ours, preload)


_lock = threading.Lock()
_waiting: Launched | None = None


def launch_early(preload: tuple[str, ...] = ()) -> None:
    """Start a fork server for the first ``Sandbox`` of this process to adopt (see ``take``),
    importing ``preload`` (``"torch"``) as soon as it runs when the caller already knows."""
    global _waiting
    with _lock:
        if _waiting is None and not platform_without_fork_server():
            _waiting = launch(preload)
            atexit.register(_discard_waiting)


def take() -> Launched:
    """The fork server launched early, if one is waiting; else a new one."""
    global _waiting
    with _lock:
        launched, _waiting = _waiting, None
    if launched is not None and launched.process.poll() is None:
        return launched
    if launched is not None:
        launched.sock.close()
    return launch()


def _discard_waiting() -> None:
    global _waiting
    with _lock:
        launched, _waiting = _waiting, None
    if launched is not None:
        launched.discard()
