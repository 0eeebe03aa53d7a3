"""Attack: a classic double-fork daemon in its own session that sleeps 600 s.

The daemon reports its pid through a pipe; `double` prints it (with the worker's uid and its
parent, the fork server) and returns the right answer. Nothing may outlive the grading run.
"""

import os
import signal
import time


def _daemon(report: int) -> None:
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    os.chdir("/")
    os.write(report, str(os.getpid()).encode())
    os.close(report)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "daemon.pid"), "w") as stream:
            stream.write(str(os.getpid()))
    except OSError:
        pass
    time.sleep(600)


def double(x):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            _daemon(write)
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    daemon = int(os.read(read, 64) or b"0")
    print(f"PROBE daemon={daemon} uid={os.getuid()} worker={os.getpid()} zygote={os.getppid()}", flush=True)
    return 2 * x


def honest_double(x):
    return 2 * x
