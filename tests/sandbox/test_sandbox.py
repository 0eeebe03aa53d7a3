"""Hostile submissions against the sandbox: every attack in tests/hostile/ graded for real.

All attacks are graded in ONE ``grader grade`` run per isolation mode (a module-scoped fixture,
``--workers 2``), in a subprocess so that the grader's command line, environment and process tree
are what they are in production. Each attack folder holds ``attack.py`` (the attack in ``double``
or at import time, a correct ``honest_double``) and ``honest.py`` (a correct ``double``, problem
``other_module``); see tests/hostile/README.md. Per attack the tests check the attacked problem's
score and the words of its feedback, that the honest problems keep their marks, and, for the
whole run: no process of a worker outlives grading, no marker file appears (nothing was
unpickled), the project tree is unchanged, a secret in the grader's environment appears in no
output, forged results changed nothing, and no TCP connection reached the test's server.

``isolation="auto"`` (namespaces: no network, instructor files hidden) and ``isolation="none"``
(resource limits and, expected, a dedicated unprivileged user per worker) are both graded; in
"none" mode what only namespaces guarantee (network, hidden files) is replaced by checking that
results.json says isolation is reduced. All limits apply in both modes.

Should the sandbox fail, the fixture removes what the attacks could leave behind (files
named by the attacks, forged results, processes they reported) after recording it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HOSTILE = REPO / "tests" / "hostile"
SPEC = REPO / "tests" / "data" / "sandbox" / "sandbox.yaml"
GIT_LEAK_SPEC = SPEC.parent / "git_leak.yaml"
"""Same limits, with the project's reference/hw1.py as reference: reference/ and problems/ hidden."""
GIT_TARGETS = ("reference/hw1.py", "problems/hw1.yaml")
REFERENCE = SPEC.parent / "reference_sandbox.py"

SECRET_NAME, SECRET_VALUE = "GRADER_TEST_SECRET", "hunter2-xyz"
WORKER_UIDS = range(200_000, 200_000 + 4096 * 256)
"""Every uid grader.sandbox.zygote may give a worker (UID_BASE + pid offset * 256 + slot)."""
UID_BLOCK = 256
"""Workers of one fork server get uids from one block of this size."""
RUN_TIMEOUT = 240

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.geteuid() != 0,
    reason="the sandbox tests need Linux and root (workers drop to dedicated uids)",
)

# The CLI, run as `python -c CLI grade ...`, so that /proc shows a real command line.
CLI = """
import sys
from grader.cli import main
sys.exit(main(sys.argv[1:]))
"""


# --- what each attack must get ------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """The outcome of problem `double` for one attack folder."""

    words: tuple[str, ...] = ()
    """All of these appear in the feedback of `double` (tests[].output)."""
    passes: bool = False
    """`double` gets full marks (the attack returns the right answer)."""
    import_time: bool = False
    """The attack is at import time: `honest_double` (same module) scores 0 too."""
    status: str | None = None
    """extra_data.status of `double`: graded, limit, import_error..."""
    needs_user: bool = False
    """Only a dedicated worker user enforces this (the process limit is counted per user)."""


ATTACKS: dict[str, Expect] = {
    "control": Expect(passes=True, status="graded"),
    "infinite_loop": Expect(("time limit of 2 s exceeded",), status="limit"),
    "sigterm_ignored": Expect(("time limit of 2 s exceeded",), status="limit"),
    "import_sleep": Expect(("importing attack.py", "time limit of 1 s exceeded"), import_time=True,
                           status="import_error"),
    "memory_bomb": Expect(("MemoryError", "ran out of memory"), status="graded"),
    "huge_return": Expect(("more than the limit",), status="graded"),
    "stdout_flood": Expect(("flood!",), passes=True, status="graded"),
    "output_after_flood": Expect(("first",), passes=True, status="graded"),
    "fork_many": Expect(("Resource temporarily unavailable",), status="graded", needs_user=True),
    "detached_daemon": Expect(passes=True, status="graded"),
    "sys_exit_import": Expect(("SystemExit",), import_time=True, status="import_error"),
    "os_exit_import": Expect(("importing attack.py crashed", "exited with status 7"), import_time=True,
                             status="import_error"),
    "sys_exit_call": Expect(("called sys.exit(4)",), status="graded"),
    "os_exit_call": Expect(("crashed", "exited with status 9"), status="limit"),
    "pickle_payload": Expect(("dtype object", "only numeric arrays"), status="graded"),
    "forged_reply": Expect(("malformed reply", "refused"), status="limit"),
    "ndarray_subclass": Expect(("ndarray subclass",), status="graded"),
    "monkeypatch_numpy": Expect(("values differ",), status="graded"),
    "fake_results": Expect(("values differ",), status="graded"),
    "env_dump": Expect(("PATH",), status="graded"),
    "read_reference": Expect(("PROBE",), status="graded"),
    "write_project": Expect(("PROBE",), status="graded"),
    "connect_socket": Expect(("PROBE",), status="graded"),
    "signal_probe": Expect(("PROBE",), status="graded"),
    "inherited_fds": Expect(("PROBE",), status="graded"),
    "git_history": Expect(("PROBE",), status="graded"),  # see test_git_history_does_not_leak_hidden_files
    "html_injection": Expect(("<script>",), status="graded"),  # plain text in results.json
    "segfault": Expect(("crashed", "segmentation fault"), status="limit"),
    "recursion": Expect(("RecursionError",), status="graded"),
    "close_channel": Expect(("crashed",), status="limit"),
    "recursive_return": Expect(("nested too deeply",), status="graded"),
    # Their worker crashes today (see test_unsendable_return_is_a_bad_return); only the score is sure.
    "bigint_return": Expect(),
    "oversized_return": Expect(),
    "symlink_module": Expect(("attack.py is a symbolic link; submissions may not contain links",),
                             import_time=True, status="import_error"),
    "proc_cmdline": Expect(("PROBE",), status="graded"),
    "stdlib_imports": Expect(passes=True, status="graded"),  # not an attack: the stdlib must keep working
    # Attacks on problem `secret` (a public and a hidden case): see test_hidden_inputs_appear_nowhere.
    "hidden_printed": Expect(passes=True, status="graded"),
    "hidden_type_name": Expect(passes=True, status="graded"),
    "hidden_forged_reply": Expect(passes=True, status="graded"),
    "huge_protocol_error": Expect(("malformed reply",), status="limit"),
}
HIDDEN_VALUES = ("1234.5678", "8765.4321")
"""The inputs of `secret`'s hidden case (tests/data/sandbox/sandbox.yaml): shown nowhere."""


def test_every_attack_folder_is_graded() -> None:
    folders = {path.name for path in HOSTILE.iterdir() if path.is_dir() and not path.name.startswith((".", "_"))}
    assert folders == set(ATTACKS)
    for name in folders:
        assert (HOSTILE / name / "attack.py").is_file() and (HOSTILE / name / "honest.py").is_file(), name


# --- helpers ------------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def proc_uid(status: dict[str, str]) -> int | None:
    return int(status["Uid"].split()[0]) if "Uid" in status else None


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    status = proc_status(pid)
    return bool(status) and not status.get("State", "").startswith(("Z", "X"))


def processes_of(uids: range) -> list[str]:
    """Living processes whose real uid is in ``uids``, described."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        status = proc_status(int(entry))
        uid = proc_uid(status)
        if uid in uids and not status.get("State", "").startswith(("Z", "X")):
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmdline = "?"
            found.append(f"pid {entry} uid {uid} {status.get('State', '')}: {cmdline[:200]}")
    return found


def owned_files(root: Path, uids: range, *, skip: tuple[str, ...] = (), depth: int | None = None) -> list[Path]:
    """Files and folders under ``root`` owned by one of ``uids``."""
    found = []
    for folder, dirs, names in os.walk(root):
        level = len(Path(folder).relative_to(root).parts)
        dirs[:] = [d for d in dirs if d not in skip and (depth is None or level < depth)]
        for name in [*dirs, *names]:
            path = Path(folder) / name
            try:
                if path.lstat().st_uid in uids:
                    found.append(path)
            except OSError:
                pass
    return found


def probe_lines(text: str) -> dict[str, str]:
    """`PROBE key=value key=value` lines printed by an attack, merged."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("PROBE "):
            for item in line[6:].split():
                if "=" in item:
                    key, _, value = item.partition("=")
                    values[key] = value
    return values


def probe_json(message: str) -> dict[str, Any]:
    match = re.search(r"PROBE (\{.*\})", message)
    assert match, f"no PROBE report in {message!r}"
    return json.loads(match.group(1))


class TcpServer:
    """A TCP server on 127.0.0.1 that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(1.0)
                try:
                    self.connections.append(connection.recv(4096))
                except OSError:
                    self.connections.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@dataclass
class Run:
    """One `grader grade` run over every attack, and what the test saw around it."""

    mode: str
    out: Path
    submissions: Path
    marker: Path
    seconds: float
    stdout: str
    stderr: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    gradebook: dict[str, dict[str, str]] = field(default_factory=dict)
    worker_uid: int | None = None
    """The uid the detached_daemon attack ran as."""
    worker_uids: range = range(0)
    """The block of uids of this run's fork server."""
    leftover_processes: list[str] = field(default_factory=list)
    """Processes of this run's workers alive after grading (killed by the fixture)."""
    zygote_alive: bool = False
    tmp_files: list[Path] = field(default_factory=list)
    """Entries of /tmp, /var/tmp, /dev/shm owned by this run's workers (removed by the fixture)."""
    project_files: list[Path] = field(default_factory=list)
    """Files the attacks wrote into the project (removed by the fixture)."""
    forged_files: list[Path] = field(default_factory=list)
    """results.json / gradebook.csv forged by fake_results outside a private /tmp (removed)."""
    connections: list[bytes] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """Namespaces were in force (auto mode on a machine that allows them)."""
        notes = {data["output"] for data in self.results.values()}
        return self.mode == "auto" and all("no network" in note for note in notes)

    @property
    def dedicated(self) -> bool:
        """Workers ran as a dedicated unprivileged user."""
        return self.worker_uid in WORKER_UIDS

    def test(self, attack: str, problem: str) -> dict[str, Any]:
        return next(t for t in self.results[attack]["tests"] if t["name"] == problem)

    def result(self, attack: str, problem: str) -> dict[str, Any]:
        return self.test(attack, problem)["extra_data"]["result"]

    def case_message(self, attack: str, problem: str = "double") -> str:
        return self.result(attack, problem)["checks"][0]["cases"][0]["message"]

    def printed(self, attack: str, problem: str = "double") -> str:
        return self.result(attack, problem)["output"]


def needs_dedicated_user(run: Run, request: pytest.FixtureRequest) -> None:
    """Student code never runs as the grader's user (root here): every guarantee below needs that."""
    assert run.dedicated, "workers did not run as a dedicated unprivileged user"


def prepare_submissions(root: Path, port: int) -> tuple[Path, Path]:
    """Copy every attack into ``root/submissions`` with what it needs from the test."""
    submissions = root / "submissions"
    markers = root / "markers"
    markers.mkdir()
    marker = markers / "unpickled"
    for folder in sorted(HOSTILE.iterdir()):
        if folder.name not in ATTACKS:
            continue
        target = submissions / folder.name
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        probe = {
            "marker": str(marker),
            "project": str(REPO),
            "source": str(target),
            "read": {
                "reference": str(REFERENCE),
                "spec": str(SPEC),
                "hw1_spec": str(REPO / "problems" / "hw1.yaml"),
                "hw1_reference": str(REPO / "reference" / "hw1.py"),
                "grader_spec": str(REPO / "grader" / "spec.py"),
            },
            "git_targets": list(GIT_TARGETS),
            "secret_names": [SECRET_NAME],
        }
        (target / "probe.json").write_text(json.dumps(probe))
    (submissions / "connect_socket" / "port.txt").write_text(str(port))
    # A link to the reference inside the submission: the sandbox copies regular files only.
    (submissions / "read_reference" / "leak.py").symlink_to(REFERENCE)
    # The graded module itself a link (as committed; copytree copied its target): refused by name.
    (submissions / "symlink_module" / "attack.py").unlink()
    (submissions / "symlink_module" / "attack.py").symlink_to("linked.py")
    return submissions, marker


def run_cli(submissions: Path, out: Path, mode: str, *, cwd: Path,
            workers: int = 2, spec: Path = SPEC) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", CLI, "grade", str(spec), str(submissions), "--out", str(out),
         "--workers", str(workers), "--isolation", mode, "--force"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT,
    )


def load_outputs(run: Run) -> None:
    for folder in sorted(run.out.iterdir()):
        if (folder / "results.json").is_file():
            run.results[folder.name] = json.loads((folder / "results.json").read_text())
    gradebook = run.out / "gradebook.csv"
    if gradebook.is_file():
        lines = [line for line in gradebook.read_text().splitlines() if not line.startswith("#")]
        header = lines[0].split(",")
        run.gradebook = {row[0]: dict(zip(header, row)) for row in (line.split(",") for line in lines[1:])}


FORGED = "FORGED-by-hostile-fake_results"
FORGED_FOLDERS = (Path("/"), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/autograder/results"))
PWNED = "PWNED_by_write_project.txt"


def forged_files(*folders: Path) -> list[Path]:
    found = []
    for folder in folders:
        for name in ("results.json", "gradebook.csv"):
            path = folder / name
            try:
                if path.is_file() and not path.is_symlink() and FORGED in path.read_text(errors="replace"):
                    found.append(path)
            except OSError:
                pass
    return found


def our_zygote_processes() -> set[int]:
    """Living processes of a fork server started with this test's interpreter (and their forks):
    with a PID namespace a worker cannot name its fork server, so the test finds them itself."""
    prefix = str(Path(sys.prefix) / "bin" / "python").encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(prefix) and b"grader.sandbox.zygote" in cmdline and alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def stray_attack_processes(pids: list[int]) -> list[int]:
    """Of ``pids`` (reported by attacks), those still alive as forks of the fork server."""
    found = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if alive(pid) and b"grader.sandbox.zygote" in cmdline:
            found.append(pid)
    return found


@pytest.fixture(scope="module", params=["auto", "none"])
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    mode = request.param
    root = tmp_path_factory.mktemp(f"sandbox-{mode}")
    server = TcpServer()
    submissions, marker = prepare_submissions(root, server.port)
    out = root / "out"
    cleanup: list[Path] = []
    kill: list[int] = []
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(SECRET_NAME, SECRET_VALUE)
            zygotes_before = our_zygote_processes()
            start = time.monotonic()
            completed = run_cli(submissions, out, mode, cwd=root)
            seconds = time.monotonic() - start
        run = Run(mode=mode, out=out, submissions=submissions, marker=marker, seconds=seconds,
                  stdout=completed.stdout, stderr=completed.stderr)
        # What the attacks may have left behind, found (and cleaned up below) before any assertion.
        cleanup += [path for path in (REPO / PWNED, REPO / "grader" / PWNED) if path.exists()]
        run.project_files = list(cleanup)
        run.forged_files = forged_files(*FORGED_FOLDERS)
        cleanup += run.forged_files
        if out.is_dir():
            load_outputs(run)
        printed = {name: run.printed(name) if name in run.results else "" for name in ("detached_daemon", "fork_many")}
        daemon = probe_lines(printed["detached_daemon"])
        forks = probe_lines(printed["fork_many"])
        reported = [int(daemon.get("daemon", 0))] + [int(pid) for pid in forks.get("pids", "").split(",") if pid]
        kill += stray_attack_processes(reported)  # even if the run failed
        assert completed.returncode == 0, f"grader grade failed:\n{completed.stdout}\n{completed.stderr}"
        assert "uid" in daemon, f"detached_daemon printed no probe: {printed['detached_daemon']!r}"
        run.worker_uid = int(daemon["uid"])
        if run.dedicated:
            base = run.worker_uid - (run.worker_uid - WORKER_UIDS.start) % UID_BLOCK
            run.worker_uids = range(base, base + UID_BLOCK)
        # Inside a PID namespace the daemon's parent is the namespace's init (pid 1 there).
        run.zygote_alive = (bool(our_zygote_processes() - zygotes_before) if daemon["zygote"] == "1"
                            else alive(int(daemon["zygote"])))
        # Sandbox.close waits for the fork server; give stragglers of a kill a moment anyway.
        deadline = time.monotonic() + 3
        while (processes_of(run.worker_uids) or stray_attack_processes(reported)) and time.monotonic() < deadline:
            time.sleep(0.1)
        run.leftover_processes = processes_of(run.worker_uids)
        strays = stray_attack_processes(reported)
        run.leftover_processes += [f"pid {pid} (reported by an attack)" for pid in strays]
        kill += [pid for pid in strays if pid not in kill]
        for folder in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")):
            run.tmp_files += owned_files(folder, run.worker_uids, depth=0)
        cleanup += run.tmp_files
        run.project_files += owned_files(REPO, run.worker_uids, skip=(".git", ".venv", "node_modules"))
        server.close()
        run.connections = list(server.connections)
        yield run
    finally:
        server.close()
        for pid in kill:  # only processes an attack of this run reported as its own
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        for path in cleanup:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def test_workers_run_as_a_dedicated_user(graded: Run, request: pytest.FixtureRequest) -> None:
    needs_dedicated_user(graded, request)
    assert graded.worker_uid in WORKER_UIDS
    assert probe_json(graded.case_message("signal_probe"))["uid"] in graded.worker_uids


# --- per attack ---------------------------------------------------------------------------------

ATTACK_NAMES = sorted(ATTACKS)


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_other_module_gets_full_marks(graded: Run, attack: str) -> None:
    test = graded.test(attack, "other_module")
    assert test["score"] == test["max_score"] == 1, test["output"]


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_honest_double_after_the_attack(graded: Run, attack: str) -> None:
    test = graded.test(attack, "honest_double")
    if ATTACKS[attack].import_time:
        assert test["score"] == 0, test["output"]
        assert graded.result(attack, "honest_double")["status"] == "import_error"
    else:
        assert test["score"] == test["max_score"] == 1, test["output"]


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_attacked_problem(graded: Run, attack: str, request: pytest.FixtureRequest) -> None:
    expect = ATTACKS[attack]
    if expect.needs_user:
        needs_dedicated_user(graded, request)
    test = graded.test(attack, "double")
    feedback = test["output"]
    assert test["score"] == (1 if expect.passes else 0), feedback
    for word in expect.words:
        assert word in feedback, f"{word!r} not in the feedback of {attack}:\n{feedback}"
    if expect.status is not None:
        assert test["extra_data"]["status"] == expect.status, feedback


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_gradebook_matches_results(graded: Run, attack: str) -> None:
    row = graded.gradebook[attack]
    data = graded.results[attack]
    assert float(row["total"]) == pytest.approx(data["score"])
    for test in data["tests"]:
        assert float(row[test["name"]]) == pytest.approx(test["score"])


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_results_say_what_isolation_was_used(graded: Run, attack: str) -> None:
    note = graded.results[attack]["output"]
    if graded.mode == "none":
        assert "namespaces disabled" in note
    else:
        assert "no network" in note or "network isolation is OFF" in note


# --- attacks with something more to check -------------------------------------------------------


def test_sigterm_ignored_is_killed_promptly(graded: Run) -> None:
    result = graded.results["sigterm_ignored"]
    # 2 s call limit + 0.2 s grace + a new worker for the other problems; never the 60 s budget.
    assert result["execution_time"] < 20


def test_stdout_flood_is_truncated(graded: Run) -> None:
    printed = graded.printed("stdout_flood")
    assert len(printed) < 20 * 1024
    assert "[output truncated:" in printed


def test_stdout_flood_feedback_says_truncated(graded: Run) -> None:
    assert "truncated" in graded.test("stdout_flood", "double")["output"]


def test_output_after_truncation_is_not_a_fragment(graded: Run) -> None:
    printed = graded.printed("output_after_flood", "honest_double")
    assert printed == "" or "truncated" in printed, repr(printed)


def test_fork_many_stops_at_the_process_limit(graded: Run, request: pytest.FixtureRequest) -> None:
    needs_dedicated_user(graded, request)
    probe = probe_lines(graded.printed("fork_many"))
    assert 0 < int(probe["forked"]) < 16  # processes: 16, the worker itself included
    pids = [int(pid) for pid in probe["pids"].split(",")]
    assert not [entry for entry in graded.leftover_processes if any(f"pid {pid} " in entry for pid in pids)]


def test_detached_daemon_does_not_outlive_grading(graded: Run, request: pytest.FixtureRequest) -> None:
    needs_dedicated_user(graded, request)
    daemon = int(probe_lines(graded.printed("detached_daemon"))["daemon"])
    assert daemon > 0
    assert not [entry for entry in graded.leftover_processes if f"pid {daemon} " in entry], f"daemon {daemon} lives"


def test_no_process_outlives_grading(graded: Run, request: pytest.FixtureRequest) -> None:
    needs_dedicated_user(graded, request)
    assert graded.leftover_processes == []
    assert not graded.zygote_alive


def test_nothing_was_unpickled(graded: Run) -> None:
    assert "dtype object" in graded.case_message("pickle_payload")
    assert "refused" in graded.case_message("forged_reply")
    assert not graded.marker.exists()
    assert not list(graded.marker.parent.iterdir())


def test_forged_reply_reached_only_its_own_channel(graded: Run) -> None:
    # It wrote a frame into every descriptor it could; the grader read one (and refused it).
    assert "PROBE writing to" in graded.printed("forged_reply")


def test_ndarray_subclass_is_refused(graded: Run) -> None:
    assert "return a plain numpy array" in graded.case_message("ndarray_subclass")


def test_monkeypatched_numpy_does_not_change_the_comparison(graded: Run) -> None:
    result = graded.result("monkeypatch_numpy", "double")
    case = result["checks"][0]["cases"][0]
    assert case["outcome"] == "failed"
    assert "3 of 3 values differ" in case["message"]
    unmodified = result["checks"][1]
    assert unmodified["outcome"] == "passed" and unmodified["score"] == 0
    assert "counts once your values are right" in unmodified["message"]


def test_secret_environment_appears_nowhere(graded: Run, request: pytest.FixtureRequest) -> None:
    needs_dedicated_user(graded, request)
    message = graded.case_message("env_dump")
    assert "PATH" in message  # the dump itself happened
    assert "readable foreign variables: 0; leaked: {}" in message
    for path in graded.out.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert SECRET_VALUE not in text and SECRET_NAME not in text, path
    assert SECRET_VALUE not in graded.stdout + graded.stderr


def test_fake_results_change_nothing(graded: Run, request: pytest.FixtureRequest) -> None:
    needs_dedicated_user(graded, request)
    data = graded.results["fake_results"]
    assert data["score"] == 2
    assert {t["name"]: t["score"] for t in data["tests"]} == {"double": 0, "secret": 0, "honest_double": 1,
                                                             "other_module": 1}
    assert graded.gradebook["fake_results"]["total"] in ("2", "2.0")
    # The grader's command line names the output folder: with namespaces the attack cannot see it
    # (a PID namespace of its own); without, it found it but could not write.
    if graded.full:
        assert "PROBE guessed \n" in graded.printed("fake_results")
    else:
        # Other grader runs on the machine may be guessed too: ours must be among them.
        guessed = next(line for line in graded.printed("fake_results").splitlines() if line.startswith("PROBE guessed"))
        assert str(graded.out) in guessed.split()[2:]
    stray = [p for p in graded.out.rglob("*") if p.name in ("results.json", "gradebook.csv")
             and p != graded.out / "gradebook.csv" and p.parent.parent != graded.out]
    assert stray == []
    assert not (graded.out / "results.json").exists()
    assert not (graded.out / "fake_results" / "gradebook.csv").exists()
    assert owned_files(graded.out, graded.worker_uids) == []
    assert owned_files(graded.submissions, graded.worker_uids) == []
    # Whatever the attack printed to stdout is shown as its output, never parsed.
    assert '"All tests passed"' in graded.printed("fake_results")
    # With namespaces nothing outside a private /tmp is writable; without, the forgeries written to
    # the shared temporary folders were removed when the worker was released.
    assert graded.forged_files == []


def test_files_in_shared_tmp(graded: Run, request: pytest.FixtureRequest) -> None:
    # A private /tmp per worker; without namespaces, a worker's files there are removed at release.
    needs_dedicated_user(graded, request)
    assert graded.tmp_files == []


def test_project_tree_unchanged(graded: Run, request: pytest.FixtureRequest) -> None:
    needs_dedicated_user(graded, request)
    assert graded.project_files == []
    probe = probe_json(graded.case_message("write_project"))
    assert probe["cwd"] == "written"  # its own working folder is writable
    for target in ("project", "project_grader", "source", "source_attack"):
        assert probe[target] != "written", target
    assert (graded.submissions / "write_project" / "attack.py").read_text() == \
        (HOSTILE / "write_project" / "attack.py").read_text()


def test_reading_instructor_files(graded: Run) -> None:
    probe = probe_json(graded.case_message("read_reference"))
    # Never: imports of the grader or the instructor's packages, links out of the submission,
    # other processes' roots.
    for name in ("import reference", "import reference.hw1", "import grader", "import grader.spec",
                 "import problems"):
        assert probe[name] in ("ImportError", "ModuleNotFoundError"), name
    assert probe["symlink"] == "missing"
    if graded.dedicated:  # root may read any process's root folder (see test_workers_run_as_a_dedicated_user)
        assert not any(value.startswith("read") for key, value in probe.items() if key.startswith("/proc/"))
    if graded.full:
        for name in ("reference", "spec", "grader_spec"):
            assert not probe[name].startswith("read"), (name, probe[name])
        assert probe["load grader/spec.py"] != "ok"
    else:
        # Without namespaces nothing hides the files; results.json must say so.
        assert "namespaces disabled" in graded.results["read_reference"]["output"] or \
            "instructor files are not hidden" in graded.results["read_reference"]["output"]


def test_no_network(graded: Run) -> None:
    message = graded.case_message("connect_socket")
    if graded.full:
        assert "PROBE refused" in message
        assert graded.connections == []
    else:
        note = graded.results["connect_socket"]["output"]
        assert "namespaces disabled" in note or "network isolation is OFF" in note
        assert "PROBE connected" in message or "PROBE refused" in message


def test_a_worker_sees_only_its_own_processes(graded: Run) -> None:
    """/proc/*/cmdline read at import: with namespaces, the worker's own processes and nothing of
    the grader's (its command line names the output folder), the fork server's or the machine's."""
    message = graded.case_message("proc_cmdline")
    if not graded.full:
        note = graded.results["proc_cmdline"]["output"]
        assert "namespaces disabled" in note or "network isolation is OFF" in note
        return
    probe = probe_json(message)
    processes = probe["processes"]
    assert set(processes) <= {"1", str(probe["pid"])}, processes
    assert probe["pid"] != 1 and len(processes) == 2  # the namespace's init and the worker itself
    for command in processes.values():
        assert str(graded.out) not in command and "pytest" not in command and "grader.cli" not in command
    # /dev and /sys hold what Python, numpy and torch read, nothing else.
    assert set(probe["dev"]) <= {"null", "zero", "full", "random", "urandom", "shm", "fd", "stdin", "stdout",
                                 "stderr"}
    assert set(probe["sys"]) <= {"devices"}


def test_workers_cannot_signal_anything_else(graded: Run, request: pytest.FixtureRequest) -> None:
    needs_dedicated_user(graded, request)
    probe = probe_json(graded.case_message("signal_probe"))
    assert probe["uid"] in graded.worker_uids
    assert probe["reachable"] == []


def test_html_reports_escape_student_text(graded: Run) -> None:
    pages = [graded.out / "html_injection" / "feedback.html", graded.out / "index.html"]
    pages = [page for page in pages if page.is_file()]
    if not pages:
        pytest.skip("this grader writes no HTML reports")
    for page in pages:
        html = page.read_text()
        assert "<script>document.title" not in html, page
        assert "<img src=x" not in html, page
    assert "&lt;script&gt;" in pages[0].read_text()  # shown, as text


def test_recursion_is_an_error_not_a_crash(graded: Run) -> None:
    result = graded.result("recursion", "double")
    assert result["status"] == "graded"
    assert result["checks"][0]["outcome"] == "error"


def test_segfault_is_named(graded: Run) -> None:
    assert "SIGSEGV" in graded.case_message("segfault")


@pytest.mark.parametrize("attack", [
    "recursive_return",
    "bigint_return",
    "oversized_return",
])
def test_unsendable_return_is_a_bad_return(graded: Run, attack: str) -> None:
    result = graded.result(attack, "double")
    feedback = graded.test(attack, "double")["output"]
    assert "could not be set up" not in feedback
    assert result["status"] == "graded", feedback
    if attack == "oversized_return":
        assert "more than the limit" in feedback


def test_worker_inherits_only_its_channel(graded: Run) -> None:
    probe = probe_json(graded.case_message("inherited_fds"))
    assert not any("eventpoll" in target for target in probe.values()), probe
    assert len(probe) <= 5, probe  # stdin, stdout, stderr, the request pipe and the reply pipe


def test_hidden_inputs_appear_nowhere(graded: Run) -> None:
    """Printed output, type names and a hand-written reply's decoder error all quote a hidden case's
    inputs; none reaches any report, and no public call runs in a worker that saw a hidden one."""
    texts = {"stdout": graded.stdout, "stderr": graded.stderr}
    for path in graded.out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".html", ".csv", ".xml", ".md", ".txt"):
            texts[str(path)] = path.read_text(errors="replace")
    for where, text in texts.items():
        for value in HIDDEN_VALUES:
            assert value not in text, f"a hidden input ({value}) appears in {where}"
    printed = graded.printed("hidden_printed", "secret")
    assert "PROBE seen=[1.0, 2.0, 3.0]" in printed  # the public case's output is shown
    assert "output printed during hidden cases is not shown" in printed
    # Every problem's public calls run before any hidden call: what honest_double's public call can
    # see of earlier calls is the public case of `secret`, never its hidden one.
    assert "PROBE kept=[1.0, 2.0, 3.0]\n" in graded.printed("hidden_printed", "honest_double")
    shown = graded.result("hidden_type_name", "secret")["checks"][0]["cases"]
    assert "[1.0, 2.0, 3.0]" in shown[0]["message"]  # the same channel on the public case: the attack works
    assert shown[1]["message"] == "returned a value that cannot be graded on a hidden case"
    forged = graded.result("hidden_forged_reply", "secret")
    assert forged["status"] == "limit" and forged["message"] == "sent a malformed reply on a hidden case"


def test_a_huge_protocol_error_makes_small_reports(graded: Run) -> None:
    folder = graded.out / "huge_protocol_error"
    assert (folder / "results.json").stat().st_size < 100_000
    for page in folder.glob("*.html"):
        assert page.stat().st_size < 500_000, page


def test_run_time(graded: Run) -> None:
    # The slowest attacks cost their limit once (1 s import, 2 s calls); two workers in parallel.
    assert graded.seconds < 120, graded.seconds


# --- runs of their own -------------------------------------------------------------------------


def loose_git_objects(*paths: str) -> bool:
    """Whether ``paths`` are tracked by the project's git and stored as loose objects."""
    if not (REPO / ".git").is_dir() or shutil.which("git") is None:
        return False
    for path in paths:
        found = subprocess.run(["git", "-C", str(REPO), "rev-parse", f":{path}"], capture_output=True, text=True)
        sha = found.stdout.strip()
        if found.returncode != 0 or not (REPO / ".git" / "objects" / sha[:2] / sha[2:]).is_file():
            return False
    return True


@pytest.mark.skipif(not loose_git_objects(*GIT_TARGETS),
                    reason="needs a git checkout with reference/hw1.py and problems/hw1.yaml as loose objects")
def test_git_history_does_not_leak_hidden_files(tmp_path: Path) -> None:
    submissions = tmp_path / "submissions"
    shutil.copytree(HOSTILE / "git_history", submissions / "git_history")
    probe = {"project": str(REPO), "git_targets": list(GIT_TARGETS)}
    (submissions / "git_history" / "probe.json").write_text(json.dumps(probe))
    completed = run_cli(submissions, tmp_path / "out", "auto", cwd=tmp_path, workers=1,
                        spec=GIT_LEAK_SPEC)
    assert completed.returncode == 0, completed.stderr
    data = json.loads((tmp_path / "out" / "git_history" / "results.json").read_text())
    if "no network" not in data["output"]:
        pytest.skip("this machine allows no namespaces: nothing is hidden, as results.json says")
    feedback = data["tests"][0]["output"]
    assert "PROBE" in feedback  # the attack ran
    assert "leaked" not in feedback, feedback


# --- the none mode, one correct submission ---------------------------------------------------


def test_none_mode_workers_start_as_shipped(tmp_path: Path) -> None:
    """The CLI as shipped, "none" mode, a correct submission: full marks."""
    submissions = tmp_path / "submissions"
    shutil.copytree(HOSTILE / "control", submissions / "control")
    completed = run_cli(submissions, tmp_path / "out", "none", cwd=tmp_path, workers=1)
    results = tmp_path / "out" / "control" / "results.json"
    text = completed.stderr + (results.read_text() if results.is_file() else "")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(results.read_text())["score"] == 3, text
