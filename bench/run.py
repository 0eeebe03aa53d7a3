"""Benchmark: what isolation costs, one submission and whole classes, every baseline in the same run.

    python bench/run.py [--n 60] [--n 500] [--assignments hw1,hw2,hw3,hw4] [--fresh-sample 12]

1. One submission, as a student's self-check runs it (a new process each time, median of
   ``--repeat``): ``grader check`` against bare ``python``, ``python -c "import numpy"`` and
   ``python -c "import torch"``, against the floor (a fresh python running the same checks
   in-process, no isolation) and the fresh-process practice (the same, importing numpy and torch
   first, as a container per submission does); then where that time goes, phase by phase.
2. Classes of N per assignment (hw1 without its MNIST problem, hw2, hw3, hw4), on the submissions
   that terminate (per 18: 12 correct, 6 with typical mistakes), graded
   floor        all checks in this one process, no isolation;
   fresh        one fresh `python` per submission importing numpy and torch and running the checks
                (the Gradescope-style practice), timed on a sample and reported per submission;
   sandboxed    this grader, fully sandboxed, with 1 worker and with all cores;
   re-run       the same batch again, unchanged (the content-hash cache);
   with the cost of each further submission (the slope between 1 and N submissions) of the floor
   and of the sandbox; and, as a line of its own, the handling of N/20 crashing and N/20 hanging
   submissions. A hanging submission busy-waits for 3 s in one function: the sandbox stops it after
   its 1 s call limit, while the floor has no way to stop it and waits the 3 s out (both then skip
   the rest of that problem's calls), which is why hangs are not mixed into the floor's figures.
3. The evaluation of all 10,000 MNIST test images with the example CNN inside the sandbox, and the
   grading process's peak memory.

Every mode runs numpy, torch and BLAS with one thread per process, as the sandbox's workers do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import yaml

# One thread per process for numpy, torch and their BLAS, in every mode: what the sandbox's workers
# use, so that the modes differ by isolation only, not by thread pools fighting over two cores.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.batch.executor import GradingRun  # noqa: E402
from grader.batch.run import grade_folder  # noqa: E402
from grader.batch.submissions import discover  # noqa: E402
from grader.calls import Call, CallOutcome  # noqa: E402
from grader.grading.expectations import ReferenceExpectations  # noqa: E402
from grader.grading.runner import grade_submission  # noqa: E402
from grader.sandbox.server import Sandbox  # noqa: E402
from grader.sandbox.session import InProcessSession, skip_rest  # noqa: E402
from grader.spec import Assignment, Limits, load_spec  # noqa: E402

ASSIGNMENTS = ("hw1", "hw2", "hw3", "hw4")
TERMINATING = [("ada", 12), ("ben", 3), ("cy", 3)]
"""Out of every 18 terminating submissions: 12 correct, 6 with typical mistakes."""
FAULTY = [("crash", 1), ("hang", 1)]
"""Beside them, per 20 submissions of a class: 1 crashing, 1 hanging."""

HANG = "\n\ndef {name}(*args, **kwargs):\n    import time\n    end = time.time() + 3\n    while time.time() < end:\n        pass\n"
CRASH = "\n\nraise RuntimeError('this submission crashes at import')\n"


def bench_spec(name: str, folder: Path) -> Path:
    """The course spec with a 1 s call limit and without the MNIST problem (timed separately)."""
    source = ROOT / "problems" / f"{name}.yaml"
    spec = yaml.safe_load(source.read_text())
    spec["problems"] = [p for p in spec["problems"] if not any(c["kind"] == "accuracy" for c in p["checks"])]
    spec["limits"] = {**spec.get("limits", {}), "call_timeout": 1, "submission_timeout": 120}
    for key in ("reference", "mistakes_module", "handout"):
        if spec.get(key):
            spec[key] = str((source.parent / spec[key]).resolve())
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def generate(name: str, assignment: Assignment, n: int, folder: Path, mix: list[tuple[str, int]]) -> Path:
    """N submissions of one assignment in the proportions of ``mix``."""
    target = folder
    kinds = [kind for kind, count in mix for _ in range(count)]
    for index in range(n):
        kind = kinds[index % len(kinds)]
        sub = target / f"s{index:04d}_{kind}"
        sub.mkdir(parents=True)
        source = ROOT / "submissions" / name / ("ada" if kind in ("crash", "hang") else kind) / f"{name}.py"
        code = source.read_text()
        if kind == "crash":
            code += CRASH
        elif kind == "hang":
            code += HANG.format(name=assignment.problems[index % len(assignment.problems)].function_name)
        # A comment makes every submission's content (and so its cache key) unique.
        (sub / f"{name}.py").write_text(code + f"\n# submission {index}\n")
    return target


class FloorSession(InProcessSession):
    """In-process calls under the sandbox's policy: after a call that overran its limit, the rest of
    the problem is skipped. Without isolation the overrunning call itself cannot be stopped."""

    def run(self, calls: list[Call], limits: Limits) -> tuple[dict[str, CallOutcome], str]:
        outcomes: dict[str, CallOutcome] = {}
        for index, call in enumerate(calls):
            start = time.perf_counter()
            outcomes.update(super().run([call], limits)[0])
            if time.perf_counter() - start > (call.timeout or limits.call_timeout):
                outcomes[call.key] = CallOutcome(key=call.key, status="timeout", message="time limit exceeded")
                skip_rest(calls, index + 1, "not run: an earlier call of this problem hit a limit", outcomes)
                break
        return outcomes, ""


def grade_floor(assignment: Assignment, folder: Path) -> float:
    """All submissions in this process, no isolation: the cost of the checks themselves."""
    expectations = ReferenceExpectations(assignment)
    start = time.perf_counter()
    for submission in discover(folder):
        module = types.ModuleType(assignment.module)
        try:
            path = submission.path / f"{assignment.module}.py"
            exec(compile(path.read_text(), str(path), "exec"), module.__dict__)  # noqa: S102 - the floor has no isolation
        except Exception:  # noqa: BLE001 - a crashing submission still costs its import
            module = types.ModuleType(assignment.module)
        grade_submission(
            assignment, submission.path, expectations=expectations,
            session_factory=lambda path, deadline: FloorSession({assignment.module: module}, root=path),
        )
    return time.perf_counter() - start


FRESH = """
import sys, time, types
import numpy{torch}
sys.path.insert(0, {root!r})
from grader.grading.runner import grade_submission
from grader.kit.selfcheck import load_target
from grader.sandbox.session import InProcessSession
assignment, expectations = load_target({spec!r})
module = types.ModuleType(assignment.module)
try:
    exec(open({path!r}).read(), module.__dict__)
except Exception:
    pass
grade_submission(assignment, __import__("pathlib").Path({sub!r}), expectations=expectations, mode={mode!r},
                 session_factory=lambda p, d: InProcessSession({{assignment.module: module}}))
"""


def fresh_code(spec: Path, submission: Path, module: str, *, torch: bool = True, mode: str = "grade") -> str:
    """A fresh python grading one submission in-process (``spec``: a spec or a student kit): with
    torch imported first (the practice of a container per submission), or without (the floor of a
    one-submission check, ``mode="check"``)."""
    return FRESH.format(torch=", torch" if torch else "", root=str(ROOT), spec=str(spec), sub=str(submission),
                        path=str(submission / f"{module}.py"), mode=mode)


def grade_fresh(spec: Path, assignment: Assignment, folder: Path, sample: int) -> tuple[float, int]:
    """One fresh interpreter per submission (timed on the first ``sample`` submissions)."""
    submissions = discover(folder)[:sample]
    start = time.perf_counter()
    for submission in submissions:
        code = fresh_code(spec, submission.path, assignment.module)
        subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, timeout=600)
    return time.perf_counter() - start, len(submissions)


def grade_sandboxed(assignment: Assignment, folder: Path, out: Path, workers: int, force: bool) -> float:
    start = time.perf_counter()
    grade_folder(GradingRun(assignment=assignment, out=out, workers=workers, force=force, progress=False, html=False), folder)
    return time.perf_counter() - start


def time_mnist_evaluation(scratch: Path) -> float:
    """Seconds to evaluate all 10,000 test images with the example CNN, in the sandbox."""
    spec = yaml.safe_load((ROOT / "problems" / "hw1.yaml").read_text())
    problem = next(p for p in spec["problems"] if p["id"] == "mnist_accuracy")
    problem["checks"][0]["images"] = [0, 10000]
    spec["problems"] = [problem]
    spec["reference"] = spec["mistakes_module"] = spec["handout"] = None
    path = scratch / "mnist10k.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    from grader.kit.selfcheck import check_submission

    report = check_submission(path, ROOT / "submissions" / "hw1" / "ada")
    return float(report.problems[0].checks[0].data["seconds"])


PHASES = """
import json, sys, time
start = time.perf_counter()
marks = {{}}
def mark(name):
    marks.setdefault(name, time.perf_counter() - start)
sys.path.insert(0, {root!r})
from grader.cli import _launch_fork_server
_launch_fork_server(["check", {spec!r}, {sub!r}])
mark("fork server launched (torch queued if the student imports it)")
from pathlib import Path
from grader.kit import selfcheck
from grader.sandbox import server
mark("grader imported")
def wrap(owner, name, label, before=None):
    original = getattr(owner, name)
    def wrapped(*args, **kwargs):
        if before:
            mark(before)
        result = original(*args, **kwargs)
        mark(label)
        return result
    setattr(owner, name, wrapped)
wrap(server.Sandbox, "_start", "fork server up (python, numpy, worker code)")
wrap(server.Sandbox, "_probe", "probe worker started and stopped")
wrap(selfcheck, "load_target", "spec loaded")
wrap(server.Sandbox, "spawn", "first worker forked (after the preloads)", before="first worker asked for")
wrap(server.Sandbox, "close", "fork server stopped", before="grading done")
selfcheck.check_submission({spec!r}, Path({sub!r}))
print(json.dumps(marks))
"""


def median_seconds(command: list[str], repeat: int) -> float:
    """Median wall-clock seconds of running ``command`` in a new process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=False, capture_output=True, timeout=600)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def one_submission(scratch: Path, repeat: int) -> None:
    """Section 1: a student's self-check of one submission, and where its time goes."""
    python = sys.executable
    bare = {label: median_seconds([python, "-c", code], repeat) for label, code in
            (("python -c pass", "pass"), ("python -c 'import numpy'", "import numpy"),
             ("python -c 'import torch'", "import torch"))}
    print(f"1. One submission, `grader check` in a new process (median of {repeat}), seconds")
    for label, seconds in bare.items():
        print(f"   {label:<44}{seconds:>8.2f}")
    kits = {}
    for name, spec in (("hw2", bench_spec("hw2", scratch)), ("hw1", bench_spec("hw1", scratch)),
                       ("hw1-mnist", ROOT / "problems" / "hw1.yaml")):
        kits[name] = scratch / "kits" / name
        subprocess.run([python, "-m", "grader", "bundle", str(spec), "--out", str(kits[name])], cwd=ROOT,
                       check=True, capture_output=True)
    # The student's kit (no reference: the expected outputs ship in it), as students check their work.
    cases = [
        ("hw2, a numpy student (ben)", kits["hw2"], "hw2", "ben"),
        ("hw2, a student who imports torch (ada)", kits["hw2"], "hw2", "ada"),
        ("hw1 without MNIST (ada)", kits["hw1"], "hw1", "ada"),
        ("hw1 with its MNIST model (ada)", kits["hw1-mnist"], "hw1", "ada"),
        ("hw1 without MNIST (ada), from the spec", scratch / "hw1.yaml", "hw1", "ada"),
    ]
    print(f"   {'':<44}{'grader':>8}{'floor':>8}{'fresh':>8}")
    figures = {}
    for label, target, name, student in cases:
        submission = ROOT / "submissions" / name / student
        ours = median_seconds([python, "-m", "grader", "check", str(target), str(submission)], repeat)
        floor = median_seconds([python, "-c", fresh_code(target, submission, name, torch=False, mode="check")],
                               repeat)
        fresh = median_seconds([python, "-c", fresh_code(target, submission, name, mode="check")], repeat)
        figures[label] = ours
        print(f"   {label:<44}{ours:>8.2f}{floor:>8.2f}{fresh:>8.2f}")
    print("   the student's kit, or the spec with its reference; floor: a fresh python running the same checks")
    print("   in-process, unisolated; fresh: the same after importing numpy and torch, as a container per")
    print("   submission does")
    print(f"   goal, a hw2 self-check under 1 s: {figures['hw2, a numpy student (ben)']:.2f} s")
    print(f"   goal, one hw1 submission within 0.5 s of `import torch`: "
          f"{figures['hw1 without MNIST (ada)'] - bare['python -c ' + repr('import torch')]:+.2f} s")
    for label, spec, name, student in (cases[0], cases[2]):
        code = PHASES.format(root=str(ROOT), spec=str(spec), sub=str(ROOT / "submissions" / name / student))
        result = subprocess.run([python, "-c", code], cwd=ROOT, check=False, capture_output=True, text=True,
                                timeout=600)
        marks = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"   where the time goes, {label} (seconds since the process started):")
        for phase, seconds in sorted(marks.items(), key=lambda item: item[1]):
            print(f"      {seconds:6.2f}  {phase}")
    print()


def worker_cost(scratch: Path, preload: tuple[str, ...], count: int = 30) -> tuple[float, float]:
    """Wall-clock seconds to start, ready and stop one sandboxed worker, and the CPU seconds its
    processes and their set-up took (the fork server's children's time), averaged over ``count``."""
    folder = scratch / "empty-worker"
    folder.mkdir(exist_ok=True)
    with Sandbox(preload=preload) as sandbox:
        sandbox.wait_ready()
        if preload:  # a spawn waits for the preload; do not count it
            sandbox.spawn(folder, Limits()).close()
        assert sandbox._process is not None
        stat = Path(f"/proc/{sandbox._process.pid}/stat")

        def children_cpu() -> float:
            fields = stat.read_bytes().rsplit(b")", 1)[1].split()
            return sum(int(value) for value in fields[13:15]) / os.sysconf("SC_CLK_TCK")  # cutime cstime

        cpu, start = children_cpu(), time.perf_counter()
        for _ in range(count):
            worker = sandbox.spawn(folder, Limits())
            worker.wait_ready(30)
            worker.close()
        wall = time.perf_counter() - start
        time.sleep(0.2)  # the last worker reaped
        return wall / count, (children_cpu() - cpu) / count


def grade_sandboxed_once(assignment: Assignment, folder: Path, out: Path, workers: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    return grade_sandboxed(assignment, folder, out, workers, True)


def classes(scratch: Path, sizes: list[int], names: list[str], sample: int) -> None:
    """Section 2: classes of N per assignment."""
    cores = os.cpu_count() or 1
    fresh_each: dict[str, float] = {}
    for n in sizes:
        print(f"2. A class of {n} terminating submissions per assignment (seconds; fresh* timed on "
              f"{sample} and extrapolated)")
        print(f"   {'':<6}{'floor':>9}{'fresh*':>9}{'sbx 1':>9}{f'sbx {cores}':>9}{'re-run':>9}"
              f"{'vs fresh':>10}{'vs floor':>10}{'each, floor':>13}{'each, sbx':>11}")
        faulty_lines = []
        for name in names:
            spec = bench_spec(name, scratch)
            assignment = load_spec(spec)
            base = scratch / f"n{n}" / name
            folder = generate(name, assignment, n, base / "terminating", TERMINATING)
            single = generate(name, assignment, 1, base / "single", TERMINATING)
            faulty = generate(name, assignment, max(2, n // 10), base / "faulty", FAULTY)
            floor = grade_floor(assignment, folder)
            floor_one = grade_floor(assignment, single)
            if name not in fresh_each:
                seconds, count = grade_fresh(spec, assignment, folder, sample)
                fresh_each[name] = seconds / count
            fresh = fresh_each[name] * n
            one_worker = grade_sandboxed_once(assignment, folder, base / "out1", 1)
            one_worker_one = grade_sandboxed_once(assignment, single, base / "out1single", 1)
            all_cores = grade_sandboxed_once(assignment, folder, base / "outN", cores)
            rerun = grade_sandboxed(assignment, folder, base / "outN", cores, False)
            each_floor = (floor - floor_one) / (n - 1)
            each_sandbox = (one_worker - one_worker_one) / (n - 1)
            print(f"   {name:<6}{floor:>9.2f}{fresh:>9.1f}{one_worker:>9.2f}{all_cores:>9.2f}{rerun:>9.2f}"
                  f"{fresh / all_cores:>9.1f}x{all_cores / floor:>9.2f}x{each_floor * 1000:>10.0f} ms"
                  f"{each_sandbox * 1000:>8.0f} ms")
            faulty_sandbox = grade_sandboxed_once(assignment, faulty, base / "outF", cores)
            faulty_floor = grade_floor(assignment, faulty)
            count = len(discover(faulty))
            faulty_lines.append(f"   {name:<6}{count} crashing or hanging: sandboxed {faulty_sandbox:.2f} s on "
                                f"{cores} workers, the floor {faulty_floor:.2f} s (it cannot stop a hang)")
        print("   each: the cost of one more submission, (time for N - time for 1) / (N - 1), on 1 worker")
        for label, preload in (("numpy only", ()), ("torch preloaded", ("torch",))):
            wall, cpu = worker_cost(scratch, preload)
            print(f"   of which a worker's start and stop ({label}): {wall * 1000:.0f} ms, "
                  f"{cpu * 1000:.0f} ms of CPU in its processes")
        print("\n".join(faulty_lines))
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="submissions per assignment (repeatable; default 60)")
    parser.add_argument("--assignments", default=",".join(ASSIGNMENTS), help="comma-separated (default: all four)")
    parser.add_argument("--fresh-sample", type=int, default=12, help="submissions per assignment run fresh")
    parser.add_argument("--repeat", type=int, default=3, help="runs per one-submission figure (median)")
    parser.add_argument("--skip-one", action="store_true", help="skip section 1")
    args = parser.parse_args()
    sizes = args.n or [60]
    names = [name for name in args.assignments.split(",") if name]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}\n")
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as scratch_name:
        scratch = Path(scratch_name)
        if not args.skip_one:
            one_submission(scratch, args.repeat)
        classes(scratch, sizes, names, args.fresh_sample)
        print(f"3. MNIST, 10,000 images with the example CNN, sandboxed: {time_mnist_evaluation(scratch):.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"   peak memory of the grading process: {peak:.0f} MiB; load average at the end "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
