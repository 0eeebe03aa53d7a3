"""``grader lint --clusters``: does a declared mistake now explain a class's wrong-answer cluster?

The class summary writes ``clusters.json`` (``reports.summary.clusters_json``): per problem, the
submissions that share wrong answers no declared mistake explained, with each failing case's
fingerprint (``grading.fingerprint``). After the instructor declares the mistake they recognised,
this module runs every declared mistake of the cluster's problem on the problem's value-check
cases, in-process (the instructor's trusted code): a mistake explains the cluster when it gives
the cluster's fingerprint on every case the cluster fails and the reference's answer (within the
check's tolerance) on every other case, which is what the diagnosis asks of a student too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.compare import compare
from grader.errors import GraderError
from grader.grading.expectations import MistakeRaised, ReferenceExpectations
from grader.grading.fingerprint import raised_fingerprint, value_fingerprint
from grader.spec import Assignment, Case, Mistake, Problem, ValueCheck


class ClustersFileError(GraderError):
    """The clusters file cannot be read, or belongs to another assignment: name the right file
    (``DIR/clusters.json`` written by ``grader grade`` with HTML reports)."""


@dataclass(frozen=True, kw_only=True)
class ClusterVerdict:
    problem: str
    count: int
    representative: str
    cases: tuple[str, ...]
    explained_by: tuple[str, ...] = ()
    """The declared mistakes that give exactly this cluster's wrong answers."""
    note: str = ""

    def line(self) -> str:
        who = f"{self.problem}: cluster of {self.count} (e.g. {self.representative}) failing {', '.join(self.cases)}"
        if self.explained_by:
            return f"  explained  {who}: by declared mistake {', '.join(self.explained_by)}"
        return f"  undeclared {who}" + (f": {self.note}" if self.note else "")


def load_clusters(path: Path, assignment: Assignment) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        clusters = data["clusters"]
        owner = data["assignment"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ClustersFileError(f"{path}: not a clusters file written by grader grade ({error})") from error
    if owner != assignment.assignment:
        raise ClustersFileError(f"{path}: clusters of assignment {owner!r}, not {assignment.assignment!r}")
    for index, cluster in enumerate(clusters if isinstance(clusters, list) else [None]):
        try:
            well_formed = (isinstance(cluster["problem"], str) and isinstance(cluster["count"], int)
                           and isinstance(cluster["representative"], str)
                           and all(isinstance(item["case"], str) and isinstance(item["fingerprint"], str)
                                   for item in cluster["wrong_answers"]))
        except (KeyError, TypeError):
            well_formed = False
        if not well_formed:
            raise ClustersFileError(f"{path}: cluster {index} lacks its problem, count, representative or "
                                    "wrong answers (case and fingerprint each)")
    return list(clusters)


def _value_cases(problem: Problem) -> dict[str, tuple[Case, ValueCheck]]:
    """Every case a value check of ``problem`` runs on, with the first such check (its tolerance)."""
    cases: dict[str, tuple[Case, ValueCheck]] = {}
    for check in problem.checks:
        if isinstance(check, ValueCheck):
            for case in problem.check_cases(check):
                if not case.raises:  # judged by the exception's class, with no value to compare
                    cases.setdefault(case.name, (case, check))
    return cases


def _explains(expectations: ReferenceExpectations, assignment: Assignment, problem: Problem, mistake: Mistake,
              wrong: dict[str, str]) -> bool:
    for name, (case, check) in _value_cases(problem).items():
        output = expectations.mistake_output(problem, mistake, case)
        if name in wrong:
            got = raised_fingerprint(output.message) if isinstance(output, MistakeRaised) else value_fingerprint(output)
            if got != wrong[name]:
                return False
        elif isinstance(output, MistakeRaised) or not all(
            c.equal for c in compare(output, expectations.expected(problem, case), rtol=check.rtol, atol=check.atol,
                                     nan="equal", detail=False,
                                     single_element_scalars=assignment.single_element_scalars)):
            return False
    return True


def check_clusters(assignment: Assignment, clusters: list[dict[str, Any]], *,
                   data_dir: Path | None = None) -> list[ClusterVerdict]:
    """Each cluster of the file, with the declared mistakes of its problem that explain it."""
    expectations = ReferenceExpectations(assignment, data_dir=data_dir)
    problems = {problem.id: problem for problem in assignment.problems}
    verdicts = []
    for cluster in clusters:
        wrong = {item["case"]: item["fingerprint"] for item in cluster["wrong_answers"]}
        common = dict(problem=cluster["problem"], count=cluster["count"], representative=cluster["representative"],
                      cases=tuple(wrong))
        problem = problems.get(cluster["problem"])
        if problem is None:
            verdicts.append(ClusterVerdict(**common, note="no such problem in the spec any more"))
            continue
        values = _value_cases(problem)
        if not any(case in values for case in wrong):
            verdicts.append(ClusterVerdict(**common, note="no value check fails, so no mistake can be matched"))
            continue
        if any(case not in values for case in wrong):
            # Gradient or property failures ("kind:case") cannot be told from a mistake's outputs.
            common["cases"] = tuple(case for case in wrong if case in values)
            wrong = {case: print_ for case, print_ in wrong.items() if case in values}
        explained = tuple(m.id for m in problem.mistakes if _explains(expectations, assignment, problem, m, wrong))
        verdicts.append(ClusterVerdict(**common, explained_by=explained,
                                       note="" if explained else "no declared mistake gives these outputs"))
    return verdicts
