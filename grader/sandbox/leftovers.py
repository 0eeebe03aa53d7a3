"""What a worker's user leaves on the machine outside its namespaces, found and removed at release.

Where a worker has no IPC and mount namespace of its own (``--isolation none``, or a machine that
refuses ``unshare``, such as a default Docker container and so Gradescope), what it makes outlives
it and the next submission could read it: System V shared memory, semaphores and message queues,
and files in the folders every user may write (``/tmp``, ``/var/tmp``, ``/dev/shm`` where POSIX
shared memory lives, ``/run/lock``...). The fork server, as root, removes all of them that belong
to the released worker's user (owner or creator) once that user has no process left. POSIX message
queues cannot be listed without a mount, so workers may not make any (``RLIMIT_MSGQUEUE`` is 0).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import stat
from collections import deque

STANDARD_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue", "/var/crash")
"""World-writable on most Linux systems; searched whatever their depth."""
SEARCH_DEPTH = 4
"""How deep below / the fork server looks for other world-writable folders (a walk of the whole
file system takes tens of seconds on a large machine)."""
SKIPPED = ("/proc", "/sys")

IPC_RMID = 0
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def world_writable_folders(depth: int = SEARCH_DEPTH) -> list[str]:
    """Folders a worker's user could write in and another could reach: every folder with o+w
    within ``depth`` levels of / (only through folders others may traverse), and the standard ones."""
    found = {path for path in STANDARD_FOLDERS if _world_writable(path)}
    pending: deque[tuple[str, int]] = deque([("/", 0)])
    while pending:
        folder, level = pending.popleft()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_symlink() or not entry.is_dir() or entry.path in SKIPPED:
                    continue
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if not mode & stat.S_IXOTH:
                continue  # another user can reach nothing inside
            if mode & stat.S_IWOTH:
                found.add(entry.path)
            elif level + 1 < depth:
                pending.append((entry.path, level + 1))
    return sorted(found)


def _world_writable(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) and bool(mode & stat.S_IWOTH)


def remove_files_of(uid: int, folders: list[str]) -> list[str]:
    """Remove every entry owned by ``uid`` in ``folders`` (at any depth; a folder of its own with
    all it holds); return what was removed. Symbolic links are removed, never followed."""
    removed = []
    for top in folders:
        pending = [top]
        while pending:
            folder = pending.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if info.st_uid == uid:
                    if stat.S_ISDIR(info.st_mode):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        try:
                            os.unlink(entry.path)
                        except OSError:
                            continue
                    removed.append(entry.path)
                elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IXOTH:
                    pending.append(entry.path)  # a folder the worker could not enter holds nothing of it
    return removed


_IPC_KINDS = {"shm": ("shmid", lambda ident: _libc.shmctl(ident, IPC_RMID, None)),
              "sem": ("semid", lambda ident: _libc.semctl(ident, 0, IPC_RMID)),
              "msg": ("msqid", lambda ident: _libc.msgctl(ident, IPC_RMID, None))}


def remove_ipc_of(uid: int) -> list[str]:
    """Remove the System V IPC objects (shared memory, semaphores, message queues) that ``uid``
    owns or created (an owner may hand an object to another uid; its creator stays); return them."""
    removed = []
    for kind, (id_column, remove) in _IPC_KINDS.items():
        try:
            lines = open(f"/proc/sysvipc/{kind}").read().splitlines()  # noqa: SIM115 - a /proc file
        except OSError:
            continue
        if not lines:
            continue
        header = lines[0].split()
        for line in lines[1:]:
            row = dict(zip(header, line.split()))
            try:
                owners = {int(row["uid"]), int(row["cuid"])}
                ident = int(row[id_column])
            except (KeyError, ValueError):
                continue
            if uid in owners and remove(ident) == 0:
                removed.append(f"{kind} {ident}")
    return removed
