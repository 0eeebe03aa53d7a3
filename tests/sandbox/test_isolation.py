"""The two ways a worker gets its PID namespace, run directly (not through a fork server).

As root the fork server starts each worker's namespace itself, and the process it forks is the
namespace's init (``config.init``); without that (user namespaces) the forked process starts the
namespace and forks an init of its own. Either way the worker must see only itself and its init,
and its end (here a segmentation fault) must reach the grader as it happened.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from grader.sandbox import isolation

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0 or not isolation.namespaces_available(),
    reason="needs Linux, root and namespaces",
)


def run_worker(submission: Path, *, init: bool, end: int) -> tuple[int, dict]:
    """Isolate a forked child as the fork server would; the worker reports what it sees, then
    dies of signal ``end``. Returns the wait status the grader would be told, and the report."""
    config = isolation.WorkerConfig(submission_dir=str(submission), workdir="/tmp/submission", namespaces=True,
                                    uid=None, init=init)
    report_read, report_write = os.pipe()
    status_read, status_write = os.pipe()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY)
    if init:
        isolation.unshare(isolation.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setsid()
            os.close(report_read)
            os.close(status_read)
            workdir, _ = isolation.enter(config, status_write if init else None)
            seen = {"pid": os.getpid(), "processes": sorted(int(n) for n in os.listdir("/proc") if n.isdigit()),
                    "files": sorted(os.listdir(workdir))}
            os.write(report_write, json.dumps(seen).encode())
            faulthandler.disable()  # pytest's, inherited: no traceback of this deliberate crash
            os.kill(os.getpid(), end)
        finally:
            os._exit(70)
    if init:
        isolation.setns(own, isolation.CLONE_NEWPID)
    os.close(own)
    os.close(report_write)
    os.close(status_write)
    _, status = os.waitpid(pid, 0)
    report = json.loads(os.read(report_read, 65536) or b"{}")
    forwarded = os.read(status_read, 4)
    os.close(report_read)
    os.close(status_read)
    if init:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0  # the init ended normally...
        status = struct.unpack("=i", forwarded)[0]  # ...and sent the worker's status, as zygote.reap reads it
    return status, report


@pytest.mark.parametrize("end", [signal.SIGSEGV, signal.SIGKILL], ids=["segfault", "killed"])
@pytest.mark.parametrize("init", [True, False], ids=["fork-server-starts-the-namespace", "child-starts-it"])
def test_a_worker_sees_only_itself_and_its_end_is_reported(tmp_path: Path, init: bool, end: int) -> None:
    (tmp_path / "hw1.py").write_text("x = 1\n")
    status, seen = run_worker(tmp_path, init=init, end=end)
    # The namespace's init and the worker (pid 2, or 3 where the init forked the helper that
    # arranged the mounts, which has ended).
    assert seen["pid"] in (2, 3) and seen["processes"] == [1, seen["pid"]]
    assert seen["files"] == ["hw1.py"]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == end


DOCKER_SECCOMP = Path(__file__).with_name("docker_seccomp.py")
SPEC = Path(__file__).resolve().parents[2] / "tests" / "data" / "sandbox" / "sandbox.yaml"


@pytest.mark.skipif(all(isolation.traversable_by_others(path) for path in isolation.python_paths()),
                    reason="needs a Python installation other users cannot read (as under /root)")
def test_without_namespaces_an_unreadable_python_refuses_rather_than_run_as_root(tmp_path: Path) -> None:
    """As in a Docker container (namespace calls refused) with a Python no worker user can read:
    the grader says so and grades nothing; it never runs the student's code as root instead."""
    pytest.importorskip("pyseccomp")
    (tmp_path / "class" / "ada").mkdir(parents=True)
    (tmp_path / "class" / "ada" / "attack.py").write_text("import os\nROOT = os.getuid() == 0\n")
    completed = subprocess.run(
        [sys.executable, DOCKER_SECCOMP, sys.executable, "-m", "grader", "grade", str(SPEC), str(tmp_path / "class"),
         "--out", str(tmp_path / "out"), "--no-html"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert completed.returncode != 0
    assert "no worker user can read the Python installation" in completed.stdout + completed.stderr
    assert not (tmp_path / "out" / "ada").exists()
