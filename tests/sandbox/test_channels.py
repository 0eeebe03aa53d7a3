"""No channel between submissions: what one worker leaves, the next cannot read.

Two submissions of tests/hostile/_channels are graded in one ``grader grade`` run (``--workers
1``, so A's worker is released before B's starts): A plants its answer by every channel it can
find (System V shared memory, message queue and semaphore, a POSIX message queue, /dev/shm, a
file in every world-writable folder, its working folder, an abstract unix socket served by a
daemon it leaves behind) and reads it all back itself, which shows each plant and each reader
works; B, with no implementation of its own, reads every channel. Graded with namespaces
(``auto``: IPC, network and mount namespaces of their own, everything read-only but private
temporaries) and without them (``none``: the same fork server with namespaces off, the code path
of a machine that refuses ``unshare``, where release removes the worker user's IPC objects and
files). Either way B finds nothing, and nothing of A's stays on the machine after the run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "hostile" / "_channels"
SPEC = REPO / "tests" / "data" / "sandbox" / "sandbox.yaml"
TAG = "grader-channel-test"
KEY = 0x5EC12E7
CLI = "import sys\nfrom grader.cli import main\nsys.exit(main(sys.argv[1:]))\n"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="needs Linux and root (workers drop to dedicated uids)",
)


def probe(results: dict) -> dict:
    test = next(test for test in results["tests"] if test["name"] == "double")
    message = test["extra_data"]["result"]["checks"][0]["cases"][0]["message"]
    match = re.search(r"PROBE (\{.*\})", message)
    assert match, f"no PROBE report in {message!r}"
    return json.loads(match.group(1))


def planted_on_the_machine() -> list[str]:
    """What of the attack is still on the machine (outside any namespace)."""
    found = [path for folder in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
             if os.path.exists(path := f"{folder}/{TAG}.txt")]
    for kind in ("shm", "sem", "msg"):
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        found += [f"sysv {kind}" for line in lines[1:] if int(line.split()[0]) == KEY]
    return found


@pytest.mark.parametrize("mode", ["auto", "none"])
def test_the_next_submission_reads_nothing_the_previous_left(tmp_path: Path, mode: str) -> None:
    assert not planted_on_the_machine(), "left over from an earlier run: remove it first"
    submissions = tmp_path / "submissions"
    planter = f"a_planter_{os.urandom(6).hex()}"
    for name, role in ((planter, "plant"), ("b_reader", "read")):
        shutil.copytree(FIXTURE, submissions / name, ignore=shutil.ignore_patterns("__pycache__"))
        (submissions / name / "role.txt").write_text(role)
    # What B looks for in its own memory: A's id, the instructor's folders (the spec's, the output),
    # and, to show the scan finds what is there, a string of B's own module.
    needles = [planter, str(SPEC.parent), str(tmp_path / "out"), TAG]
    (submissions / "b_reader" / "needles.json").write_text(
        json.dumps([bytes(byte ^ 0x5A for byte in needle.encode()).hex() for needle in needles]))
    completed = subprocess.run(
        [sys.executable, "-c", CLI, "grade", str(SPEC), str(submissions), "--out", str(tmp_path / "out"),
         "--workers", "1", "--isolation", mode, "--force", "--no-html"],
        env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    leftovers = planted_on_the_machine()
    for folder in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):  # whatever the sandbox missed
        Path(f"{folder}/{TAG}.txt").unlink(missing_ok=True)
    for option in ("-M", "-S", "-Q"):
        subprocess.run(["ipcrm", option, hex(KEY)], capture_output=True)
    ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1").mq_unlink(f"/{TAG}".encode())
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = {name: json.loads((tmp_path / "out" / name / "results.json").read_text())
               for name in (planter, "b_reader")}
    planted, reader = probe(results[planter]), probe(results["b_reader"])
    if mode == "auto":
        assert "no network" in results["b_reader"]["output"]

    assert reader["found"] == {}  # B, graded next, finds nothing by any channel
    # Nor in the memory it was forked with: the fork server kept nothing of A's request, and B's
    # own worker overwrote the instructor's paths once its file system was arranged.
    memory = dict(zip(["A's id", "spec folder", "output folder", "own module"], reader["memory"]))
    assert memory["own module"] > 0 and not {name for name, hits in memory.items() if hits and name != "own module"}, \
        memory

    # A's plants took where the machine let it write, and its own reader found each of them ...
    assert not planted["unread"], planted
    assert {"sysv shm", "sysv msg", "sysv sem", "abstract socket", "cwd", "file /tmp", "file /dev/shm"} \
        <= set(planted["planted"]), planted
    assert "posix mqueue" in planted["refused"]  # RLIMIT_MSGQUEUE is 0: no queue that outlives it
    if mode == "auto":  # an allow list: nothing outside the private temporaries is writable
        assert {"file /tmp", "file /var/tmp", "file /dev/shm", "file /run/lock", "cwd"} >= \
            {name for name in planted["planted"] if name.startswith(("file", "cwd"))}, planted
    else:
        assert {"file /var/tmp", "file /run/lock"} <= set(planted["planted"]), planted
    # ... B found none of them, nor is anything of A's left.
    assert next(test for test in results["b_reader"]["tests"] if test["name"] == "double")["score"] == 0
    assert not leftovers
