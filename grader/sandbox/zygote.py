"""The fork server: a clean process that pays for Python, numpy (and torch, when asked) once, then forks workers.

Started by ``server.Sandbox`` as ``python -m grader.sandbox.zygote FD`` with a scrubbed environment. It
never loads a spec, a reference or a hidden case, so a worker forked from it holds none in memory.
Over a SOCK_SEQPACKET socket it receives spawn requests carrying the worker's pipe ends, forks a
child that isolates itself (``isolation.enter``) and serves (``worker.serve``), and reports each
child's exit status on the status pipe the grader passed for it. It also kills everything a
released worker's user started, which only a process that can become that user can do.
"""

from __future__ import annotations

import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
from typing import Any

# Preloaded once, so that every worker starts warm: numpy (worker); torch and modelrun on request.
from grader.sandbox import isolation, leftovers, worker

PRELOADABLE = {"torch": ("torch", "grader.sandbox.modelrun")}
"""What a ``preload`` request may name, and the modules it imports (never anything else); a
module among them with a ``warm_up()`` has it run once, before any worker is forked."""

UID_BASE = 200_000
"""Workers run as UID_BASE + a slot number: users that own nothing on the machine."""


class ForkServer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.status_fds: dict[int, int] = {}
        self.uids: dict[int, int] = {}
        self.root = os.geteuid() == 0
        # A per-server offset keeps two grader runs on one machine from sharing worker users.
        self.uid_base = UID_BASE + (os.getpid() % 4096) * 256
        self.free_slots = list(range(256))
        self.namespaces = isolation.namespaces_available()
        # A worker user must be able to read the interpreter (not so when Python lives under
        # /root); without isolation namespaces, a mount namespace of its own can arrange that.
        self.interpreter_readable = all(isolation.traversable_by_others(p) for p in isolation.python_paths())
        self.fds_to_close: list[int] = []
        self.buffer = bytearray(65536)
        """Where requests are received (``_receive``)."""
        self.namespaced: set[int] = set()
        """Workers in a PID namespace of their own: killing its init kills all they started."""
        self.writable_folders: list[str] | None = None
        """Where a worker without namespaces could leave files for the next (``leftovers``)."""
        self.init_status: dict[int, int] = {}
        """Children started as the init of a PID namespace -> the pipe of their worker's status."""
        # As root, the fork server starts each worker's PID namespace itself (``_start_pid_namespace``).
        self.own_pid_namespace: int | None = (
            os.open("/proc/self/ns/pid", os.O_RDONLY) if self.root and self.namespaces else None
        )

    def capabilities(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "namespaces": self.namespaces,
            "pid": os.getpid(),
        }

    def spawn(self, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        control_in, control_out, output, status = fds
        settings = dict(request["config"])
        uid = None
        if self.root:
            # Student code never runs as root.
            if not self.free_slots:
                refusal = "no free worker user"
            elif not (settings["namespaces"] or self.interpreter_readable or self.namespaces):
                refusal = ("no worker user can read the Python installation and this machine allows no "
                           "mount namespace to arrange it; install Python where other users can read it")
            else:
                refusal = ""
            if refusal:
                for fd in fds:
                    os.close(fd)
                return {"error": refusal}
            uid = self.uid_base + self.free_slots.pop(0)
            settings["expose_only"] = not settings["namespaces"] and not self.interpreter_readable
        init_pipe = self._start_pid_namespace() if settings["namespaces"] else None
        config = isolation.WorkerConfig(**{**settings, "uid": uid, "init": init_pipe is not None})
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; its behaviour is tested through the sandbox
            if init_pipe is not None:
                os.close(init_pipe[0])  # the fork server's end
            self._child(config, control_in, control_out, output, status, init_pipe[1] if init_pipe else None)
        for fd in (control_in, control_out, output):
            os.close(fd)
        if init_pipe is not None:
            assert self.own_pid_namespace is not None
            isolation.setns(self.own_pid_namespace, isolation.CLONE_NEWPID)  # later children: ours again
            os.close(init_pipe[1])
            self.init_status[pid] = init_pipe[0]
        self.status_fds[pid] = status
        if uid is not None:
            self.uids[pid] = uid
            if config.namespaces:
                self.namespaced.add(pid)
        return {"pid": pid, "uid": uid}

    def _start_pid_namespace(self) -> tuple[int, int] | None:
        """Make the next child the init of a new PID namespace, where this process may (as root):
        one fork fewer per worker than having the child start the namespace. Returns the pipe on
        which that init reports its worker's wait status, or None to let the child do it."""
        if self.own_pid_namespace is None:
            return None
        try:
            isolation.unshare(isolation.CLONE_NEWPID)
        except OSError:
            os.close(self.own_pid_namespace)
            self.own_pid_namespace = None
            return None
        return os.pipe()

    def _child(self, config: isolation.WorkerConfig, control_in: int, control_out: int, output: int, status: int,
               init_pipe: int | None) -> None:
        code = 0
        try:
            os.setsid()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            self.sock.close()
            # Nothing of the fork server's stays open in the worker: its event loop, other
            # workers' status pipes, this worker's own status pipe.
            for fd in (status, *self.status_fds.values(), *self.init_status.values(), *self.fds_to_close):
                os.close(fd)
            if self.own_pid_namespace is not None:
                os.close(self.own_pid_namespace)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.close(output)
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            workdir, links = isolation.enter(config, init_pipe)
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(1)
            worker.serve(control_in, control_out, workdir, max_return_bytes=config.max_return_bytes, links=links)
        except BaseException as error:  # noqa: BLE001 - report set-up failures, then exit
            try:
                os.write(2, f"worker set-up failed: {type(error).__name__}: {error}\n".encode())
            except OSError:
                pass
            code = 70
        finally:
            os._exit(code)

    def release(self, request: dict[str, Any]) -> dict[str, Any]:
        """Kill whatever the worker's process group and user still run."""
        pid = int(request["pid"])
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        reaped = pid not in self.status_fds
        namespaced = pid in self.namespaced
        self.namespaced.discard(pid)
        uid = self.uids.pop(pid, None)
        if uid is not None:
            # A worker in a PID namespace of its own that has been reaped ended after its
            # namespace's init, which the kernel ends only once everything in the namespace has
            # ended: nothing of that user is left to kill, and a fork to kill as that user is saved.
            if not (namespaced and reaped):
                self._kill_user(uid)
            if not namespaced:
                # Nothing of its own namespaces to vanish with it: what it left goes now, before
                # its uid serves another submission.
                self._remove_leftovers(uid)
            self.free_slots.append(uid - self.uid_base)
        return {"released": pid}

    def _remove_leftovers(self, uid: int) -> None:
        if self.writable_folders is None:  # looked for once, when first needed
            self.writable_folders = leftovers.world_writable_folders()
        leftovers.remove_ipc_of(uid)
        leftovers.remove_files_of(uid, self.writable_folders)

    @staticmethod
    def _kill_user(uid: int) -> None:
        # kill(-1) as the worker's own user reaches every process of that user and nothing else:
        # daemons that left the process group included.
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                for _ in range(3):
                    os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            os._exit(0)
        os.waitpid(pid, 0)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            status = self._worker_status(pid, status)
            fd = self.status_fds.pop(pid, None)
            if fd is not None:
                try:
                    os.write(fd, json.dumps({"status": status}).encode())
                except OSError:
                    pass
                os.close(fd)

    def _worker_status(self, pid: int, status: int) -> int:
        """The wait status to report for a child: the worker's, sent by a child that was its PID
        namespace's init (and so could not end the way the worker did), else the child's own."""
        pipe = self.init_status.pop(pid, None)
        if pipe is None:
            return status
        try:
            os.set_blocking(pipe, False)
            data = os.read(pipe, 4)
        except OSError:
            data = b""
        os.close(pipe)
        # Nothing written: the init itself was killed (SIGKILL from the grader), and that is the news.
        return struct.unpack("=i", data)[0] if len(data) == 4 else status

    def serve(self) -> None:
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        selector.register(wake_read, selectors.EVENT_READ)
        self.fds_to_close = [wake_read, wake_write, selector.fileno()]
        self.sock.send(json.dumps(self.capabilities()).encode())
        while True:
            for key, _ in selector.select():
                if key.fileobj == wake_read:
                    os.read(wake_read, 4096)
                    self.reap()
                    continue
                request, fds = self._receive()
                if request is None:
                    return
                if request["op"] == "spawn":
                    reply = self.spawn(request, fds)
                    # Its paths (a student's id, the instructor's folders) are overwritten: the next
                    # worker, forked from this memory, finds nothing of this one's request.
                    isolation.forget(*_strings(request))
                elif request["op"] == "release":
                    reply = self.release(request)
                elif request["op"] == "preload":
                    # Answered first, imported after: the grader goes on with its own work
                    # meanwhile, and its next spawn request waits in the socket until this is done.
                    self.sock.send(json.dumps({"preloading": request["name"]}).encode())
                    self.preload(str(request["name"]))
                    continue
                else:
                    reply = {"error": f"unknown op {request['op']!r}"}
                self.sock.send(json.dumps(reply).encode())
            self.reap()

    def _receive(self) -> tuple[dict[str, Any] | None, list[int]]:
        """The next request and the descriptors it carries, read into a buffer that is zeroed after
        parsing, so that no copy of a request stays behind but the parsed object (see ``serve``)."""
        size, ancillary, _, _ = self.sock.recvmsg_into([self.buffer], socket.CMSG_LEN(8 * 4))
        fds: list[int] = []
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += struct.unpack(f"{len(data) // 4}i", data[: len(data) - len(data) % 4])
        if not size:
            return None, fds
        text = str(memoryview(self.buffer)[:size], "utf-8")
        self.buffer[:size] = bytes(size)
        try:
            return json.loads(text), fds
        finally:
            isolation.forget(text)

    @staticmethod
    def preload(name: str) -> None:
        try:
            for module in [importlib.import_module(module) for module in PRELOADABLE.get(name, ())]:
                getattr(module, "warm_up", lambda: None)()
        except Exception as error:  # noqa: BLE001 - a worker that needs it will say why
            print(f"fork server: could not preload {name}: {error}", file=sys.stderr)


def _strings(value: Any) -> list[str]:
    """Every string value in a parsed request (not its keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    os.chdir("/")
    try:
        ForkServer(sock).serve()
    except (ConnectionResetError, BrokenPipeError):
        pass  # the grader is gone (a usage error ended it while this booted): nobody is left to serve
    # No interpreter shutdown: tearing down torch takes most of a second, and nothing is left to flush.
    os._exit(0)


if __name__ == "__main__":
    main()
