"""Attack (used by tests/sandbox/test_channels.py): two submissions talk through the machine.

`role.txt` says which one this is. The planter (submission A, graded first) leaves its answer by
every channel a process can reach: System V shared memory, message queue and semaphore, a POSIX
message queue, POSIX shared memory (/dev/shm), a file in every world-writable folder it can find
(/tmp, /var/tmp, /run/lock... at any depth it looks), a file in its own working folder, and an
abstract unix socket served by a daemon it leaves running. It then reads everything back itself
(so the reader is shown to work) and reports both as `PROBE {...}`. The reader (submission B, no
implementation of its own) reads every channel and reports what it found; given needles.json, it
also counts A's id and the instructor's paths in its own memory (inherited from the fork server).
"""

import ctypes
import ctypes.util
import glob
import json
import os
import socket
import stat
import time

TAG = "grader-channel-test"
KEY = 0x5EC12E7
MESSAGE = b"ANSWER:2,4,6"
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
librt = ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
IPC_CREAT, IPC_NOWAIT, GETVAL, SETVAL = 0o1000, 0o4000, 12, 16


class Msg(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]


def writable_folders(depth=4):
    found, pending = set(), [("/", 0)]
    while pending:
        folder, level = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_symlink() or not entry.is_dir() or entry.path in ("/proc", "/sys"):
                    continue
                mode = entry.stat().st_mode
            except OSError:
                continue
            if mode & stat.S_IWOTH:
                found.add(entry.path)
            if level + 1 < depth and mode & stat.S_IXOTH:
                pending.append((entry.path, level + 1))
    return sorted(found)


def attempt(action):
    try:
        return action()
    except Exception as error:  # noqa: BLE001 - every refusal is an answer
        return f"refused: {type(error).__name__}: {error}"


def errno_text(what):
    return f"refused: {what}: {os.strerror(ctypes.get_errno())}"


# --- planting ---------------------------------------------------------------------------------


def plant_shm():
    ident = libc.shmget(KEY, 4096, IPC_CREAT | 0o666)
    if ident < 0:
        return errno_text("shmget")
    address = libc.shmat(ident, None, 0)
    ctypes.memmove(address, MESSAGE, len(MESSAGE))
    return "planted"


def plant_msg():
    ident = libc.msgget(KEY, IPC_CREAT | 0o666)
    if ident < 0:
        return errno_text("msgget")
    message = Msg(1, MESSAGE)
    return "planted" if libc.msgsnd(ident, ctypes.byref(message), len(MESSAGE), IPC_NOWAIT) == 0 else errno_text("msgsnd")


def plant_sem():
    ident = libc.semget(KEY, 1, IPC_CREAT | 0o666)
    if ident < 0:
        return errno_text("semget")
    return "planted" if libc.semctl(ident, 0, SETVAL, 246) == 0 else errno_text("semctl")


def plant_mqueue():
    librt.mq_open.restype = ctypes.c_int
    descriptor = librt.mq_open(f"/{TAG}".encode(), os.O_CREAT | os.O_WRONLY, 0o666, None)
    if descriptor < 0:
        return errno_text("mq_open")
    return "planted" if librt.mq_send(descriptor, MESSAGE, len(MESSAGE), 0) == 0 else errno_text("mq_send")


def plant_file(path):
    def write():
        with open(path, "wb") as stream:
            stream.write(MESSAGE)
        os.chmod(path, 0o666)
        return "planted"
    return attempt(write)


def plant_socket():
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(f"\0{TAG}")
    server.listen(4)
    if os.fork() == 0:  # a daemon serving the answer to whoever asks
        try:
            os.setsid()
            if os.fork():
                os._exit(0)
            end = time.time() + 60
            while time.time() < end:
                connection, _ = server.accept()
                connection.sendall(MESSAGE)
                connection.close()
        finally:
            os._exit(0)
    server.close()
    return "planted"


# --- reading ----------------------------------------------------------------------------------


def read_shm():
    ident = libc.shmget(KEY, 0, 0)
    if ident < 0:
        return None
    address = libc.shmat(ident, None, 0o10000)  # SHM_RDONLY
    return ctypes.string_at(address, len(MESSAGE)).decode(errors="replace")


def read_msg():
    ident = libc.msgget(KEY, 0)
    if ident < 0:
        return None
    message = Msg()
    size = libc.msgrcv(ident, ctypes.byref(message), 64, 0, IPC_NOWAIT)
    if size < 0:
        return f"queue exists: {os.strerror(ctypes.get_errno())}"
    libc.msgsnd(ident, ctypes.byref(message), size, IPC_NOWAIT)  # put back: a peek
    return message.mtext[:size].decode(errors="replace")


def read_sem():
    ident = libc.semget(KEY, 1, 0)
    if ident < 0:
        return None
    value = libc.semctl(ident, 0, GETVAL)
    return MESSAGE.decode() if value == 246 else f"semaphore exists, value {value}"


def read_mqueue():
    descriptor = librt.mq_open(f"/{TAG}".encode(), os.O_RDONLY | os.O_NONBLOCK)
    if descriptor < 0:
        return None
    buffer = ctypes.create_string_buffer(1 << 16)
    size = librt.mq_receive(descriptor, buffer, len(buffer), None)
    return buffer.raw[:size].decode(errors="replace") if size >= 0 else "queue exists"


def read_file(path):
    try:
        with open(path, "rb") as stream:
            return stream.read(64).decode(errors="replace")
    except OSError:
        return None


def read_socket():
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(2)
    try:
        client.connect(f"\0{TAG}")
        return client.recv(64).decode(errors="replace")
    except OSError:
        return None
    finally:
        client.close()


def file_places():
    here = os.path.join(os.getcwd(), f"{TAG}.txt")
    return {f"file {folder}": os.path.join(folder, f"{TAG}.txt") for folder in writable_folders()} | {"cwd": here}


def read_all():
    """What every channel holds (None: nothing there)."""
    found = {"sysv shm": attempt(read_shm), "sysv msg": attempt(read_msg), "sysv sem": attempt(read_sem),
             "posix mqueue": attempt(read_mqueue), "abstract socket": attempt(read_socket)}
    for name, path in file_places().items():
        found[name] = read_file(path)
    # Another worker's working folder beside this one's (without namespaces they share a parent).
    own = os.path.realpath(file_places()["cwd"])
    for path in glob.glob(os.path.join(os.getcwd(), "..", "..", "*", "*", f"{TAG}.txt")):
        if os.path.realpath(path) != own:
            found[f"cwd of another: {os.path.realpath(path)}"] = read_file(path)
    return found


def double(x):
    role = open("role.txt").read().strip()
    if role == "plant":
        planted = {"sysv shm": attempt(plant_shm), "sysv msg": attempt(plant_msg), "sysv sem": attempt(plant_sem),
                   "posix mqueue": attempt(plant_mqueue), "abstract socket": attempt(plant_socket)}
        for name, path in file_places().items():
            planted[name] = plant_file(path)
        back = read_all()
        report = {"planted": sorted(name for name, how in planted.items() if how == "planted"),
                  "unread": sorted(name for name, how in planted.items()
                                   if how == "planted" and MESSAGE.decode() not in str(back.get(name))),
                  "refused": sorted(name for name, how in planted.items() if how != "planted")}
    else:
        report = {"found": {name: value for name, value in read_all().items() if value is not None}}
        if os.path.exists("needles.json"):  # A's id and the instructor's paths, in the fork server's memory?
            report["memory"] = scan_memory(json.load(open("needles.json")))
    raise Exception("PROBE " + json.dumps(report))


def honest_double(x):
    return 2 * x


# --- memory -----------------------------------------------------------------------------------


def scan_memory(hidden):
    """How often each needle (hex of its bytes XOR 0x5A in needles.json, so that no plain copy is
    read in) occurs in this process's readable memory, not counting the needle itself."""
    needles = []
    for code in hidden:
        needle = bytearray(len(code) // 2)
        for index in range(len(needle)):
            needle[index] = int(code[2 * index:2 * index + 2], 16) ^ 0x5A
        needles.append(needle)
    own = {ctypes.addressof((ctypes.c_char * len(n)).from_buffer(n)) for n in needles}
    chunk = bytearray(1 << 20)
    chunk_at = ctypes.addressof((ctypes.c_char * len(chunk)).from_buffer(chunk))
    overlap = max(len(n) for n in needles)
    hits = [0] * len(needles)
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: a worker that dropped to its user may read its own /proc/self/mem
    memory = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        for fields in regions:
            if not fields[1].startswith("r") or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(part, 16) for part in fields[0].split("-"))
            position = start
            while position < end:
                size = min(len(chunk), end - position)
                try:
                    got = os.preadv(memory, [memoryview(chunk)[:size]], position)
                except OSError:
                    break
                for which, needle in enumerate(needles):
                    found = chunk.find(needle, 0, got)
                    while found >= 0:
                        address = position + found
                        if address not in own and not chunk_at <= address < chunk_at + len(chunk):
                            hits[which] += 1
                        found = chunk.find(needle, found + 1, got)
                if got < size:
                    break
                position += max(size - overlap, 1) if position + size < end else size
    finally:
        os.close(memory)
    return hits
