"""Benchmark: how much does isolation cost? One command, all baselines measured in the same run.

    python bench/run.py [--n 60] [--fresh-sample 12]

Generates N submissions per assignment (hw1 without its MNIST problem, hw2, hw3, hw4) in a
realistic mix: mostly correct, typical mistakes, crashing and hanging ones. Then grades them:

1. floor        all checks of all submissions in this one process, no isolation;
2. fresh        one fresh `python` per submission importing numpy and torch and running the checks
                (the Gradescope-style practice), timed on a sample and reported per submission;
3. sandboxed    this grader, fully sandboxed, with 1 worker and with all cores;
4. re-run       the same batch again, unchanged (the content-hash cache);

and prints submissions per second and the ratios, in total and per assignment (hw4's problems are
scenarios: several steps per case in one worker round trip, caches and objects kept in the worker). Separately it times the evaluation of all
10,000 MNIST test images with the example CNN inside the sandbox, and reports the grading
process's peak memory.

A "hanging" submission busy-waits for 3 s in one function: the sandbox stops it after its 1 s call
limit, while the in-process floor has no way to stop it and waits the 3 s out; both then skip the
rest of that problem's calls (the floor follows the sandbox's policy, so that the two differ by
isolation only). Every mode runs numpy, torch and BLAS with one thread per process, as the
sandbox's workers do.
"""

from __future__ import annotations

import argparse
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
from grader.reference import load_module  # noqa: E402
from grader.sandbox.session import InProcessSession, skip_rest  # noqa: E402
from grader.spec import Assignment, Limits, load_spec  # noqa: E402

ASSIGNMENTS = ("hw1", "hw2", "hw3", "hw4")
MIX = [("ada", 12), ("ben", 3), ("cy", 3), ("crash", 1), ("hang", 1)]
"""Out of every 20 submissions: 12 correct, 6 with typical mistakes, 1 crashing, 1 hanging."""

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


def generate(name: str, assignment: Assignment, n: int, folder: Path) -> Path:
    """N submissions of one assignment in the MIX proportions."""
    target = folder / name
    kinds = [kind for kind, count in MIX for _ in range(count)]
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
import numpy, torch
sys.path.insert(0, {root!r})
from grader.grading.expectations import ReferenceExpectations
from grader.grading.runner import grade_submission
from grader.sandbox.session import InProcessSession
from grader.spec import load_spec
assignment = load_spec({spec!r})
module = types.ModuleType(assignment.module)
try:
    exec(open({path!r}).read(), module.__dict__)
except Exception:
    pass
grade_submission(assignment, __import__("pathlib").Path({sub!r}), expectations=ReferenceExpectations(assignment),
                 session_factory=lambda p, d: InProcessSession({{assignment.module: module}}))
"""


def grade_fresh(spec: Path, assignment: Assignment, folder: Path, sample: int) -> tuple[float, int]:
    """One fresh interpreter per submission (timed on the first ``sample`` submissions)."""
    submissions = discover(folder)[:sample]
    start = time.perf_counter()
    for submission in submissions:
        code = FRESH.format(root=str(ROOT), spec=str(spec), sub=str(submission.path),
                            path=str(submission.path / f"{assignment.module}.py"))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="submissions per assignment")
    parser.add_argument("--fresh-sample", type=int, default=12, help="submissions per assignment run fresh")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(f"{args.n} submissions per assignment ({', '.join(ASSIGNMENTS)}; hw1 without MNIST); mix per 20: {MIX}\n")
    modes = ("floor", "fresh", "sandbox_1", "sandbox_all", "rerun")
    per_assignment = {name: dict.fromkeys(modes, 0.0) for name in ASSIGNMENTS}
    fresh_count = 0
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as scratch_name:
        scratch = Path(scratch_name)
        for name, times in per_assignment.items():
            spec = bench_spec(name, scratch)
            assignment = load_spec(spec)
            folder = generate(name, assignment, args.n, scratch / "subs")
            times["floor"] = grade_floor(assignment, folder)
            seconds, count = grade_fresh(spec, assignment, folder, args.fresh_sample)
            times["fresh"] = seconds * args.n / count
            fresh_count += count
            times["sandbox_1"] = grade_sandboxed(assignment, folder, scratch / "out1" / name, 1, True)
            times["sandbox_all"] = grade_sandboxed(assignment, folder, scratch / "outN" / name, cores, True)
            times["rerun"] = grade_sandboxed(assignment, folder, scratch / "outN" / name, cores, False)
        mnist_seconds = time_mnist_evaluation(scratch)
    totals = {mode: sum(times[mode] for times in per_assignment.values()) for mode in modes}
    n = len(ASSIGNMENTS) * args.n
    rate = {key: n / value for key, value in totals.items()}
    print(f"{'mode':<34}{'seconds':>10}{'subs/s':>10}")
    labels = {
        "floor": "1. floor (one process, no isolation)",
        "fresh": f"2. fresh python per submission*",
        "sandbox_1": "3. sandboxed, 1 worker",
        "sandbox_all": f"3. sandboxed, {cores} workers",
        "rerun": "4. re-run, unchanged (cache)",
    }
    for key, label in labels.items():
        print(f"{label:<34}{totals[key]:>10.2f}{rate[key]:>10.1f}")
    print(f"* timed on {fresh_count} submissions, extrapolated to {n}\n")
    print(f"sandboxed (all cores) vs fresh process: {totals['fresh'] / totals['sandbox_all']:.1f}x faster (goal >= 10x)")
    print(f"sandboxed (all cores) vs floor:        {totals['sandbox_all'] / totals['floor']:.2f}x the floor's time (goal <= 3x)")
    print(f"sandboxed (1 worker) vs floor:         {totals['sandbox_1'] / totals['floor']:.2f}x the floor's time")
    print(f"unchanged re-run vs first run:         {100 * totals['rerun'] / totals['sandbox_all']:.1f}% (goal < 5%)")
    print(f"MNIST, 10,000 images with the example CNN, sandboxed: {mnist_seconds:.2f} s (goal < 5 s)\n")
    print(f"{'per assignment, seconds':<26}" + "".join(f"{label:>12}" for label in ("floor", "fresh*", "sandbox 1",
                                                                                      f"sandbox {cores}", "re-run")))
    for name, times in per_assignment.items():
        print(f"{name:<26}" + "".join(f"{times[mode]:>12.2f}" for mode in modes)
              + f"   {times['fresh'] / times['sandbox_all']:.1f}x fresh, {times['sandbox_all'] / times['floor']:.2f}x floor")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the grading process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
