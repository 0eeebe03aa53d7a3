"""The grader's side of isolation: start workers, talk to them under time limits, kill them.

``Sandbox`` owns one fork server (``zygote``) and hands out ``WorkerProcess`` objects, one per
submission (and a new one after a worker had to be killed). A ``WorkerProcess`` sends requests and
returns a ``Reply`` that is always a value: a message from the worker, or the reason there is none
(timeout, the process died and how, a malformed message). Output the student prints is drained
concurrently and kept up to a bound. Nothing received is trusted: messages are size-capped and
arrays are read with ``allow_pickle=False`` (see ``wire``).
"""

from __future__ import annotations

import json
import os
import select
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from grader import wire
from grader.errors import GraderError
from grader.sandbox import launch
from grader.sandbox.interface import Reply
from grader.sandbox.monitor import OutputCapture, await_reply, describe_exit, process_tree_cpu, stop_for
from grader.spec import Limits

Isolation = Literal["auto", "full", "none"]

TERM_GRACE = 0.2
"""Seconds between SIGTERM and SIGKILL when a worker is stopped."""



@dataclass(frozen=True, kw_only=True)
class SandboxInfo:
    """What isolation this machine gives; said in every run's output."""

    root: bool
    namespaces: bool
    isolation: Isolation
    locked: bool = False
    """Without namespaces: the hidden folders' permissions were taken from other users
    (``Sandbox.lock_hidden``), so a worker's user can neither read nor write them."""

    @property
    def full(self) -> bool:
        return self.isolation != "none" and self.namespaces

    def describe(self) -> str:
        if not self.full:
            why = "disabled by request" if self.isolation == "none" else "not allowed on this machine"
            user = ("each worker runs as a dedicated unprivileged user, and what it leaves (System V IPC "
                    "objects, files in world-writable folders) is removed when it ends" if self.root else
                    "workers run as the grader's own user and can write where it can")
            files = ("instructor files are unreadable to workers (permissions)" if self.locked and self.root
                     else "instructor files are not hidden")
            return (f"Sandbox: network isolation is OFF, {files} and workers can see other processes "
                    f"(namespaces {why}); process isolation and resource limits apply; {user}.")
        user = "a dedicated unprivileged user per worker" if self.root else "the grader's own user"
        return (f"Sandbox: no network, instructor files hidden, private /tmp and IPC, everything else read-only, "
                f"own processes only, limits, "
                f"running as {user}.")


def lock_away(folders: list[Path]) -> None:
    """Remove every permission of "other" users from ``folders``; raise ValueError, changing
    nothing, if one of them holds the Python installation workers run (they could not start)."""
    from grader.sandbox.isolation import python_paths

    existing = [folder for folder in folders if folder.exists()]
    for python in python_paths():
        for folder in existing:
            if Path(python).is_relative_to(folder.resolve()):
                raise ValueError(f"{folder} holds {python}")
    for folder in existing:
        folder.chmod(folder.stat().st_mode & ~0o007)


class Sandbox:
    """A fork server plus the policy for the workers it starts.

    Args:
        isolation: ``auto`` uses namespaces where the machine allows them; ``none`` disables
            them (limits and a separate process remain); ``full`` refuses to run without them.
        hide: folders the worker must not see (reference, specs, other submissions, outputs).
    """

    def __init__(self, *, isolation: Isolation = "auto", hide: list[Path] | None = None,
                 preload: tuple[str, ...] = ()) -> None:
        self.isolation = isolation
        self.hide = [str(Path(path).resolve()) for path in hide or []]
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._info: SandboxInfo | None = None
        self._boot: threading.Thread | None = None
        self._boot_error: BaseException | None = None
        self._probed = False
        self._wanted_lock = threading.Lock()
        """Guards ``_wanted`` and ``_probed``: a preload asked for while the fork server boots must
        not wait for it (``_lock`` is held through the boot)."""
        self._wanted = set(preload)
        """What the fork server should import before forking (``zygote.PRELOADABLE``)."""
        self._preloaded: set[str] = set()
        self._scratch = Path(tempfile.mkdtemp(prefix="grader-"))
        # Workers without a private /tmp work in here under users of their own: let them through.
        self._scratch.chmod(0o711)
        self._counter = 0

    # --- fork server ------------------------------------------------------------------------

    def _start(self) -> None:
        launched = launch.take()
        self._process, self._sock = launched.process, launched.sock
        caps = json.loads(self._sock.recv(65536) or b"{}")
        if not caps:
            raise GraderError("the sandbox's fork server failed to start")
        for _ in launched.preloads:  # requests sent at launch: their replies come next
            if not self._sock.recv(65536):
                raise GraderError("the sandbox's fork server stopped unexpectedly")
        self._info = SandboxInfo(root=caps["root"], namespaces=caps["namespaces"], isolation=self.isolation)
        if self.isolation == "full" and not caps["namespaces"]:
            raise GraderError("--isolation full was asked for, but this machine allows no namespaces")
        self._preloaded = set(launched.preloads)
        if self._probed:  # a restarted fork server: warm it as the first one was
            self._send_preloads()

    def _send_preloads(self) -> None:
        """Ask the fork server to import what the run needs (under ``_lock``); it answers at once
        and imports after, while the grader goes on."""
        assert self._sock is not None
        with self._wanted_lock:
            wanted = sorted(self._wanted - self._preloaded)
        for name in wanted:
            self._sock.send(json.dumps({"op": "preload", "name": name}).encode())
            if not self._sock.recv(65536):
                raise GraderError("the sandbox's fork server stopped unexpectedly")
            self._preloaded.add(name)

    def start(self) -> "Sandbox":
        """Start the fork server and probe a worker in a background thread, and return at once:
        the caller does its own work (the spec, reference outputs, discovery) meanwhile. What went
        wrong is raised by ``wait_ready`` (``info``, ``spawn`` and ``probe`` call it)."""
        with self._lock:
            if self._boot is None:
                self._boot = threading.Thread(target=self._boot_and_probe, name="sandbox-boot", daemon=True)
                self._boot.start()
        return self

    def _boot_and_probe(self) -> None:
        try:
            with self._lock:
                if self._sock is None:
                    self._start()
            self._probe()
            with self._lock:
                with self._wanted_lock:
                    self._probed = True
                self._send_preloads()
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for the sandbox
            self._boot_error = error

    def wait_ready(self) -> SandboxInfo:
        """The machine's isolation, once the fork server runs and a probe worker has started."""
        self.start()
        assert self._boot is not None
        self._boot.join()
        if self._boot_error is not None:
            raise self._boot_error
        assert self._info is not None
        return self._info

    def lock_hidden(self) -> SandboxInfo:
        """Where workers get no namespaces but users of their own (a root grader in a container
        that refuses ``unshare``, such as Gradescope's): take every permission of other users from
        the hidden folders, so that no worker can read or write them. For a grader that owns those
        folders (an autograder package); a folder holding the Python installation is left as it
        is, and then the run says instructor files are not hidden. Returns the isolation in force."""
        info = self.wait_ready()
        if info.full or not info.root:
            return info
        try:
            lock_away([Path(path) for path in self.hide])
        except OSError as error:
            raise GraderError(f"could not make the instructor's files unreadable to student code: {error}") from error
        except ValueError:
            return info
        self._info = replace(info, locked=True)
        return self._info

    def preload(self, *names: str) -> None:
        """Have the fork server import these (``"torch"``) before it forks the next workers."""
        with self._wanted_lock:
            self._wanted |= set(names)
            probed = self._probed
        if probed:  # else the boot thread sends it once the probe is done
            with self._lock:
                if self._sock is not None:
                    self._send_preloads()

    def probe(self) -> None:
        """Wait until the sandbox is up: a machine where workers cannot be set up fails the run
        with the reason, instead of scoring every student zero."""
        self.wait_ready()

    def _probe(self) -> None:
        """Start one worker on an empty submission (see ``probe``)."""
        empty = self._scratch / "probe"
        empty.mkdir(exist_ok=True)
        worker = self._spawn(empty, Limits())
        ready = worker.wait_ready(30.0)
        worker.close()
        if not ready.ok:
            raise GraderError(
                f"the sandbox cannot start a worker on this machine ({worker.exit_detail}): "
                f"{worker.output.strip()[-800:] or 'no output'}"
            )

    @property
    def info(self) -> SandboxInfo:
        return self.wait_ready()

    def _exchange(self, request: dict[str, Any], fds: list[int] = []) -> dict[str, Any]:  # noqa: B006
        with self._lock:
            for attempt in (1, 2):
                if self._sock is None:
                    self._start()
                assert self._sock is not None
                try:
                    socket.send_fds(self._sock, [json.dumps(request).encode()], fds)
                    reply = self._sock.recv(65536)
                except OSError:
                    reply = b""
                if reply:
                    return json.loads(reply)
                # The fork server died (a student can kill it where workers run as the grader's
                # own user, i.e. a grader not running as root): start a new one, once.
                self._stop_server()
                if request["op"] != "spawn" or attempt == 2:
                    break
        raise GraderError("the sandbox's fork server stopped unexpectedly")

    def _stop_server(self) -> None:
        if self._process is not None and self._sock is not None:
            launch.stop(self._process, self._sock)
        self._process, self._sock = None, None

    def close(self) -> None:
        if self._boot is not None:
            self._boot.join()
        with self._lock:
            self._stop_server()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- workers ----------------------------------------------------------------------------

    def spawn(self, submission: Path, limits: Limits, *, extra_hide: tuple[Path, ...] = ()) -> "WorkerProcess":
        """Start an isolated worker for one submission folder."""
        self.wait_ready()
        return self._spawn(submission, limits, extra_hide=extra_hide)

    def _spawn(self, submission: Path, limits: Limits, *, extra_hide: tuple[Path, ...] = ()) -> "WorkerProcess":
        info = self._info
        assert info is not None
        with self._lock:
            self._counter += 1
            workdir = (
                Path("/tmp/submission")
                if info.full
                else self._scratch / f"w{self._counter}" / "submission"
            )
        control_in_r, control_in_w = os.pipe()
        control_out_r, control_out_w = os.pipe()
        output_r, output_w = os.pipe()
        status_r, status_w = os.pipe()
        config = {
            "submission_dir": str(Path(submission).resolve()),
            "workdir": str(workdir),
            "namespaces": info.full,
            "hide": self.hide + [str(Path(path).resolve()) for path in extra_hide],
            "memory_mb": limits.memory_mb,
            "cpu_seconds": limits.cpu_seconds,
            "processes": limits.processes,
            "file_size_mb": limits.file_size_mb,
            "max_return_bytes": limits.return_mb * 1024 * 1024,
        }
        try:
            reply = self._exchange(
                {"op": "spawn", "config": config},
                [control_in_r, control_out_w, output_w, status_w],
            )
        finally:
            for fd in (control_in_r, control_out_w, output_w, status_w):
                os.close(fd)
        if "error" in reply:
            for fd in (control_in_w, control_out_r, output_r, status_r):
                os.close(fd)
            raise GraderError(f"the sandbox refused to start a worker: {reply['error']}")
        return WorkerProcess(
            self,
            pid=int(reply["pid"]),
            control_in=control_in_w,
            control_out=control_out_r,
            output=output_r,
            status=status_r,
            limits=limits,
            workdir=None if info.full else workdir.parent,
        )

    def release(self, pid: int) -> None:
        try:
            self._exchange({"op": "release", "pid": pid})
        except (GraderError, OSError):
            pass


class WorkerProcess:
    """One running worker: request/reply with deadlines, captured output, certain death."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        pid: int,
        control_in: int,
        control_out: int,
        output: int,
        status: int,
        limits: Limits,
        workdir: Path | None,
    ) -> None:
        self.sandbox = sandbox
        self.pid = pid
        self.limits = limits
        self._control_in = control_in
        self._control_out = control_out
        self._output_fd = output
        self._status_fd = status
        self._workdir = workdir
        self._reader = wire.FrameReader(max_bytes=limits.return_mb * 1024 * 1024 + (8 << 20))
        self._capture = OutputCapture(limits)
        self.exit_detail = ""
        self.alive = True
        self._selector = selectors.DefaultSelector()
        self._selector.register(control_out, selectors.EVENT_READ, "control")
        self._selector.register(output, selectors.EVENT_READ, "output")
        os.set_blocking(control_in, False)

    @property
    def output(self) -> str:
        """Everything kept of what the worker printed, with a note if some was dropped."""
        return self._capture.text

    def take_output(self) -> str:
        """What the worker printed since the last call, with a note if some of it was dropped."""
        return self._capture.take()

    def wait_ready(self, timeout: float) -> Reply:
        """Wait until the worker has isolated itself and is ready for requests."""
        return self._await(timeout, time.monotonic())

    def request(self, header: dict[str, Any], blobs: list[bytes], timeout: float, *,
                wall_timeout: float | None = None) -> Reply:
        """Send one request and wait for its reply until the worker has used ``timeout`` seconds of
        CPU time, or ``wall_timeout`` seconds have passed (default: ``timeout``, as wall-clock)."""
        start = time.monotonic()
        if not self.alive:
            return Reply(kind="died", detail=self.exit_detail or "the worker is not running")
        data = memoryview(wire.pack(header, blobs))
        wall = timeout if wall_timeout is None else wall_timeout
        deadline = start + wall
        cpu_start = self.cpu_seconds() if wall_timeout is not None else None
        # Write without blocking forever: a student who stops reading must not hang the grader.
        while data:
            try:
                written = os.write(self._control_in, data)
                data = data[written:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return self._fail("timeout", f"the worker did not accept input within {wall:g} s", start)
                self._drain(0.01)
            except BrokenPipeError:
                return self._fail("died", "", start)
        cpu_limit = (timeout, cpu_start) if cpu_start is not None else None
        return self._await(deadline - time.monotonic(), start, limit=timeout, cpu_limit=cpu_limit)

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by the worker's processes, from /proc; None where
        /proc cannot tell (then limits fall back to wall-clock time)."""
        return process_tree_cpu(self.pid)

    def _await(self, timeout: float, start: float, *, limit: float | None = None,
               cpu_limit: tuple[float, float | None] | None = None) -> Reply:
        return await_reply(self._reader, self._drain, timeout=timeout, start=start, limit=limit, cpu_limit=cpu_limit,
                           cpu_seconds=self.cpu_seconds, fail=self._fail)

    def _drain(self, timeout: float) -> bool:
        """Read whatever is available; False once the control channel has closed."""
        for key, _ in self._selector.select(timeout):
            try:
                chunk = os.read(key.fd, 1 << 20)
            except OSError:
                chunk = b""
            if key.data == "output":
                if not chunk:
                    self._selector.unregister(key.fd)
                    continue
                self._capture.add(chunk)
            else:
                if not chunk:
                    return False
                try:
                    self._reader.feed(chunk)
                except wire.WireError:
                    # Keep the error for next_message to report; stop reading more.
                    return True
        return True

    def _fail(self, kind: Literal["timeout", "died", "protocol"], detail: str, start: float) -> Reply:
        return stop_for(self, kind, detail, start)

    def kill(self) -> None:
        """SIGTERM the worker's process group, then SIGKILL it and everything its user runs."""
        if not self.alive:
            return
        self.alive = False
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except OSError:
            pass
        status = self._read_status(TERM_GRACE)
        self.sandbox.release(self.pid)
        if status is None:
            status = self._read_status(5.0)
        self.exit_detail = describe_exit(status, self.limits)
        for fd in (self._control_in, self._control_out, self._status_fd):
            os.close(fd)
        self._drain_output_rest()
        self._selector.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _drain_output_rest(self) -> None:
        try:
            self._selector.unregister(self._control_out)
        except (KeyError, ValueError):
            pass
        os.set_blocking(self._output_fd, False)
        try:
            while True:
                chunk = os.read(self._output_fd, 1 << 20)
                if not chunk:
                    break
                self._capture.add(chunk)
        except (BlockingIOError, OSError):
            pass
        os.close(self._output_fd)

    def _read_status(self, timeout: float) -> int | None:
        ready, _, _ = select.select([self._status_fd], [], [], timeout)
        if not ready:
            return None
        try:
            data = os.read(self._status_fd, 4096)
            return int(json.loads(data)["status"]) if data else None
        except (OSError, ValueError, KeyError):
            return None

    def close(self) -> None:
        self.kill()
