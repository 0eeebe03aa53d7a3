"""The local executor: a run's submissions graded in threads on this machine, sharing one sandbox.

The sandbox is the fork server; where it cannot run, grading is refused unless ``--isolation none``
(``choice.open_sandbox``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader.batch.executor import GradingRun, Pending, Record, grade_in_sandbox, hidden_paths
from grader.batch.submissions import sources, unpacked
from grader.grading.expectations import ReferenceExpectations
from grader.grading.preflight import verify_reference
from grader.sandbox.choice import open_sandbox
from grader.sandbox.preload import modules_to_preload


def grade_locally(run: GradingRun, submissions: Path, pending: list[Pending], record: Record) -> dict[str, str]:
    """Grade ``pending`` in ``run.workers`` threads sharing one sandbox.

    Returns no failures: anything that goes wrong on this machine stops the run with its exception.
    """
    hide = hidden_paths(run.assignment, submissions, run.out, run.data_dir)
    # The fork server boots while the submissions' imports are read and the reference is loaded.
    with open_sandbox(run.isolation, hide=hide, purpose="grade") as sandbox:
        sandbox.preload(*modules_to_preload(run.assignment, (sources(item.submission) for item in pending)))
        expectations = ReferenceExpectations(run.assignment, data_dir=run.data_dir)
        verify_reference(expectations)  # a broken spec stops the run before any student is graded

        def grade_one(item: Pending) -> None:
            with unpacked(item.submission) as folder:
                report = grade_in_sandbox(run.assignment, folder, item.submission.id,
                                          expectations=expectations, sandbox=sandbox)
            record(item, report)

        with ThreadPoolExecutor(max_workers=max(1, run.workers)) as pool:
            list(pool.map(grade_one, pending))
    return {}
