"""Put a freshly forked worker process into its cage before any student code runs.

Runs in the child of the fork server, in this order: its own session (so the whole process group
can be killed), output redirected to the grader's capture pipe, the submission read into memory,
then, where the machine allows it, private network, mount, PID, IPC and UTS namespaces (no
network; the instructor's folders hidden under empty read-only mounts; everything read-only but
private temporaries such as ``/tmp``; IPC objects of its own; ``/dev`` and
``/sys`` reduced to what Python, numpy and torch read; a ``/proc`` of its own that shows only the
worker's processes), resource limits, and last the drop to an unprivileged user of its own. What
could not be applied is reported back by the fork server at start-up, so the grader can say so in
its output.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import resource
import signal
import stat
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grader.sandbox.files import read_submission, submission_links, write_submission

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUTS = 0x04000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_REMOUNT = 32
MS_NOEXEC = 8
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """Everything the fork server needs to set up one worker; crosses as JSON."""

    submission_dir: str
    workdir: str
    namespaces: bool
    uid: int | None
    expose_only: bool = False
    """No isolation asked for, but a mount namespace to let the worker user read the interpreter."""
    hide: list[str] = field(default_factory=list)
    init: bool = False
    """The fork server started this process as the init of a new PID namespace (``become_init``)."""
    memory_mb: int = 2048
    cpu_seconds: int = 300
    processes: int = 16
    file_size_mb: int = 16
    max_return_bytes: int = 64 * 1024 * 1024


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, flags: int) -> None:
    _check(_libc.setns(fd, flags), "setns")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


NAMESPACES = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
"""A worker's own mount table, network (abstract unix sockets included), processes, System V and
POSIX IPC objects (message queues included) and host name: nothing another worker made is there."""


def namespaces_available() -> bool:
    """Whether a child of this process can get private mount, network, PID, IPC and UTS namespaces,
    and mount a /proc of its own in them."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            unshare(NAMESPACES | (0 if os.geteuid() == 0 else CLONE_NEWUSER))
            mount("none", "/", None, MS_REC | MS_PRIVATE)
            init = os.fork()
            if init == 0:
                try:
                    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
                    os._exit(0)
                except BaseException:  # noqa: BLE001
                    os._exit(1)
            _, status = os.waitpid(init, 0)
            os._exit(os.waitstatus_to_exitcode(status))
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _write_submission(files: dict[str, bytes], workdir: Path, uid: int | None) -> None:
    write_submission(files, workdir)
    if uid is not None:
        for root, dirs, names in os.walk(workdir):
            for name in [*dirs, *names]:
                os.chown(Path(root) / name, uid, uid)
        os.chown(workdir, uid, uid)
    workdir.chmod(0o700)


def traversable_by_others(path: str) -> bool:
    """Whether a user with no rights of its own can reach ``path`` (every ancestor has o+x)."""
    current = "/"
    for part in Path(path).parts[1:]:
        current = os.path.join(current, part)
        try:
            if not os.stat(current).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _blocked_ancestor(path: str) -> str:
    """The top-most ancestor of ``path`` that others may not traverse (e.g. /root)."""
    current = "/"
    for part in Path(path).parts[1:]:
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & stat.S_IXOTH:
            return current
    return path


def _is_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def python_paths() -> list[str]:
    """Folders the worker's interpreter reads: its installation and import roots (not the grader's)."""
    grader_root = os.path.realpath(Path(__file__).resolve().parents[2])
    candidates = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    candidates |= {os.path.realpath(entry) for entry in sys.path if entry and os.path.isdir(entry)}
    candidates -= {"/", grader_root}
    kept: list[str] = []
    for path in sorted(candidates, key=len):
        if not any(_is_under(path, k) for k in kept):
            kept.append(path)
    return kept


PRIVATE_FOLDERS = ("/tmp", "/dev/shm", "/var/tmp", "/run/lock")
"""Folders replaced by a private, size-capped tmpfs in every worker: the only places it may write
(everything else is remounted read-only, see ``_remount_read_only``)."""


def _arrange_mounts(config: WorkerConfig) -> None:
    """Give the worker its view of the file system, in a private mount namespace.

    With ``config.namespaces``: no network; private /tmp, /dev/shm, /var/tmp, /run/lock and
    every other mount read-only; the instructor's
    folders hidden under empty read-only mounts. With ``config.expose_only`` (no isolation asked
    for, but a worker user that could not read the interpreter): only the interpreter made readable.

    Covering a folder would also hide an interpreter or virtual environment living in it (a venv
    under /tmp or inside the hidden course folder, Python under /root, which is mode 700). Such
    folders are opened before anything is covered and bind-mounted back, read-only, at the same
    path afterwards: mount(2) follows /proc/self/fd/N to the original folder even when its path is
    covered. Hidden folders that lie inside one of them are hidden again after.
    """
    root = os.geteuid() == 0
    real_uid, real_gid = os.getuid(), os.getgid()
    flags = NAMESPACES if config.namespaces else CLONE_NEWNS
    if config.init:
        flags &= ~CLONE_NEWPID  # this process is already the init of a PID namespace of its own
    # The PID namespace last: its first child would be its init, and the helper below is not.
    unshare((flags & ~CLONE_NEWPID) | (0 if root else CLONE_NEWUSER))
    if not root:
        # Map ourselves to root inside the new user namespace so that we may mount.
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"0 {real_uid} 1")
        Path("/proc/self/gid_map").write_text(f"0 {real_gid} 1")
    # The instructor's paths are handled in a short-lived helper sharing this mount namespace, so
    # that none of the copies working with them makes (encoded, joined, split) stays in the
    # worker's memory; the worker overwrites the request's own.
    _in_helper(lambda: _mount_view(config))
    forget(*config.hide)
    if flags & CLONE_NEWPID:
        unshare(CLONE_NEWPID)


def _in_helper(work: Callable[[], None]) -> None:
    """Run ``work`` in a forked child and wait for it; raise what it raised, as an OSError."""
    report_read, report_write = os.pipe()
    helper = os.fork()
    if helper == 0:  # pragma: no cover - the helper
        code = 0
        try:
            os.close(report_read)
            work()
        except BaseException as error:  # noqa: BLE001 - told to the worker, which fails its set-up
            os.write(report_write, f"{type(error).__name__}: {error}".encode()[:4000])
            code = 70
        finally:
            os._exit(code)
    os.close(report_write)
    with open(report_read, "rb") as report:
        failure = report.read()
    _, status = os.waitpid(helper, 0)
    if failure or status != 0:
        raise OSError(f"arranging the worker's file system failed: {failure.decode(errors='replace')}")


def forget(*texts: str) -> None:
    """Overwrite the characters of ``texts`` with NULs in place, so that a request's paths do not
    stay in memory (in this object, or in the freed memory it leaves) once used. For strings no one
    uses afterwards; CPython's compact strings only: the characters are checked to be where the
    object's size says before anything is written, and other strings are left as they are."""
    for text in texts:
        if not isinstance(text, str) or len(text) < 2 or sys.implementation.name != "cpython":
            continue  # one character: a string CPython shares
        widest = ord(max(text))
        kind = 1 if widest < 0x100 else 2 if widest < 0x10000 else 4
        cell = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32}[kind]
        start = id(text) + sys.getsizeof(text) - (len(text) + 1) * kind
        at = [cell.from_address(start + index * kind).value for index in (0, len(text) - 1, len(text))]
        if at == [ord(text[0]), ord(text[-1]), 0]:
            ctypes.memset(start, 0, len(text) * kind)


def _mount_view(config: WorkerConfig) -> None:
    """In the helper (``_arrange_mounts``): the worker's view of the file system."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    covers = [folder for folder in PRIVATE_FOLDERS if os.path.isdir(folder)] if config.namespaces else []
    workdir_parent = str(Path(config.workdir).parent)
    hides = [
        path for path in (config.hide if config.namespaces else [])
        if os.path.exists(path) and not _is_under(workdir_parent, path)
        and not any(_is_under(path, folder) for folder in covers)
    ]
    reopen = [
        path for path in python_paths()
        if any(_is_under(path, folder) for folder in covers + hides) or not traversable_by_others(path)
    ]
    handles = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in reopen}
    size = f"size={max(config.file_size_mb * 4, 16)}m,mode=1777"
    for folder in covers:
        mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, size)
    hidden_dirs = []
    for path in hides:
        if any(_is_under(path, other) and path != other for other in hides):
            continue  # inside another hidden folder already
        if os.path.isdir(path):
            # Writable until the interpreter's folders inside it have their mount points.
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
            hidden_dirs.append(path)
        else:
            mount("/dev/null", path, None, MS_BIND)
    exposed = [path for path in reopen if not any(_is_under(path, f) for f in covers + hides)]
    for ancestor in sorted({_blocked_ancestor(path) for path in exposed}):
        mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    for path, handle in handles.items():
        os.makedirs(path, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{handle}", path, None, MS_BIND | MS_REC)
        mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(handle)
    for path in hides:  # a hidden folder inside an interpreter folder (the grader in site-packages)
        if os.path.isdir(path) and any(_is_under(path, p) and path != p for p in reopen):
            mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
    for path in hidden_dirs:
        mount("none", path, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if config.namespaces:
        _reduce_devices()
        _remount_read_only(keep=covers)


_MOUNT_OPTIONS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
                  "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
"""Per-mount flags a read-only remount must keep (in a user namespace the kernel refuses to drop them)."""


def _mount_points() -> list[tuple[str, int, bool]]:
    """Every mount point of this mount namespace: its path, its flags, whether it is read-only."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        # Octal escapes (\040 for a space) in the path, as mountinfo writes them.
        path = re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), fields[4])
        options = fields[5].split(",")
        flags = sum(_MOUNT_OPTIONS.get(option, 0) for option in options)
        found.append((path, flags, "ro" in options))
    return found


def _remount_read_only(*, keep: list[str]) -> None:
    """Make every mount of the worker's namespace read-only but ``keep`` (its private temporaries):
    an allow list of the places it may write, so no folder of the machine (a world-writable one
    nobody thought of included) can carry anything to another worker. A mount that cannot be made
    read-only fails the worker's set-up rather than stay writable."""
    for path, flags, read_only in _mount_points():
        if read_only or any(_is_under(path, folder) for folder in keep) or _is_under(path, "/proc"):
            continue  # /proc: the worker gets a /proc of its own, mounted over this one
        try:
            mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError as error:
            if os.path.exists(path):
                raise OSError(error.errno, f"could not make {path} read-only for the worker: {error.strerror}") \
                    from error
            # Not reachable any more (beneath a folder covered above): nothing to protect.


DEVICES = ("null", "zero", "full", "random", "urandom")
"""What stays of /dev (besides a private /dev/shm): what Python, numpy and torch open."""
SYSTEM_FOLDERS = ("/sys/devices/system/cpu", "/sys/devices/system/node")
"""What stays of /sys, read-only: the CPU and NUMA topology that torch and OpenMP read."""


def _reduce_devices() -> None:
    """/dev and /sys replaced by read-only folders that hold only what the libraries need."""
    kept = {f"/dev/{name}": f"/dev/{name}" for name in DEVICES if os.path.exists(f"/dev/{name}")}
    kept |= {path: path for path in SYSTEM_FOLDERS if os.path.isdir(path)}
    handles = {path: os.open(path, os.O_PATH) for path in kept}
    for folder in ("/dev", "/sys"):
        mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for path, handle in handles.items():
        if os.path.isdir(f"/proc/self/fd/{handle}"):
            os.makedirs(path, mode=0o755, exist_ok=True)
        else:
            Path(path).touch(mode=0o666)
        mount(f"/proc/self/fd/{handle}", path, None, MS_BIND)
        if path.startswith("/sys/"):
            mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.close(handle)
    os.mkdir("/dev/shm", 0o1777)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    for name, fd in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2")):
        os.symlink(fd, f"/dev/{name}")
    mount("none", "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    mount("none", "/sys", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)


def _wait_for(child: int, *, keep: int, reap_all: bool) -> int:
    """Wait for ``child`` (reaping orphans too when this is the namespace's init) and return its
    wait status, holding no file of the worker's but ``keep`` meanwhile."""
    os.closerange(0, keep)
    os.closerange(keep + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(number, signal.SIG_IGN)  # the worker decides how it ends; SIGKILL still ends us
    while True:
        try:
            pid, status = os.waitpid(-1 if reap_all else child, 0)
        except ChildProcessError:
            os._exit(70)
        if pid == child:
            return status


def _enter_pid_namespace() -> None:
    """After unshare(CLONE_NEWPID): fork the namespace's init (``_become_init``), which mounts its
    /proc and forks the worker. The process the fork server forked ends the way the worker ended
    (its exit status, or the signal that killed it), read from the init's status pipe, so the
    grader's account of a crash or a limit is unchanged; if nothing came through, the init itself
    was killed, and this process ends as it did.
    """
    status_read, status_write = os.pipe()
    init = os.fork()
    if init:
        os.close(status_write)
        status = _wait_for(init, keep=status_read, reap_all=False)
        data = os.read(status_read, 4)
        if len(data) == 4:
            status = struct.unpack("=i", data)[0]
        if os.WIFSIGNALED(status):
            if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):  # those have no handler to reset
                signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 70)
    os.close(status_read)
    _become_init(status_write)


def _become_init(status_pipe: int) -> None:
    """In a process the fork server started as the init of a new PID namespace: mount the
    namespace's /proc and fork the worker, then, in the init, reap until the worker ends. The
    worker sees itself, its children and this init, nothing of the machine; when it ends, the init
    ends, and the kernel kills whatever else the namespace still runs before the init's end is
    reported. An init cannot die of its own signal, so the worker's wait status goes to the fork
    server through ``status_pipe`` and is reported as this process's (see ``zygote.reap``).

    As root the fork server makes the process it forks such an init (``config.init``): one fork
    fewer than ``_enter_pid_namespace``, which forks one to be the init, of a process holding numpy
    and, when preloaded, torch.
    """
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    worker = os.fork()
    if worker:
        status = _wait_for(worker, keep=status_pipe, reap_all=True)
        os.write(status_pipe, struct.pack("=i", status))
        os._exit(0)
    os.close(status_pipe)


def _vm_size_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _set_limits(config: WorkerConfig) -> None:
    # The worker inherits the fork server's address space (numpy, torch), so the cap is what the
    # student may add on top of it.
    address_space = _vm_size_bytes() + config.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CPU, (config.cpu_seconds, config.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (config.file_size_mb * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    # No POSIX message queue at all: one outlives its maker, and without an IPC namespace of its
    # own nobody could list the queues a worker left behind (they need an mqueue mount to be seen).
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    if config.uid is not None:
        # Counted per user: only meaningful when the worker has a user of its own.
        resource.setrlimit(resource.RLIMIT_NPROC, (config.processes, config.processes))


def _drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def enter(config: WorkerConfig, status_pipe: int | None = None) -> tuple[Path, tuple[str, ...]]:
    """Apply every isolation step to the current (freshly forked) process; return its workdir and
    the submission's symbolic links (not copied: the worker refuses a module that is one).
    ``status_pipe``: with ``config.init``, where the worker's wait status goes."""
    files = read_submission(Path(config.submission_dir))
    links = submission_links(Path(config.submission_dir))
    workdir = Path(config.workdir)
    if config.namespaces or config.expose_only:
        _arrange_mounts(config)
    else:
        forget(*config.hide)  # not used without a mount namespace
    if config.init:
        assert status_pipe is not None
        _become_init(status_pipe)
    elif config.namespaces:
        _enter_pid_namespace()
    _write_submission(files, workdir, config.uid)
    _set_limits(config)
    if config.uid is not None:
        _drop_privileges(config.uid)
    os.chdir(workdir)
    os.environ["HOME"] = str(workdir)
    os.environ["TMPDIR"] = str(workdir)
    return workdir, links
