"""Behavioural similarity: the same wrong answers on the same hidden cases, weighed by their rarity.

No student has seen a hidden case, so two submissions that return the same wrong value on one,
when few others in the class do, are evidence that they share code; a wrong answer many share
(a common mistake, a declared one) is not. From each submission's results this reads, per
problem, the fingerprint of each wrong answer on a hidden case (``ProblemResult.wrong_answers``,
computed in the trusted process while grading) and:

- a fingerprint given by ``n`` submissions on a case weighs ``1 / (n - 1)``: 1 for two students
  alone, 0.5 for three, ...; one given by more than ``common`` submissions weighs nothing (it is a
  cluster of the class, and ignoring it keeps the work near linear in the class size);
- a problem's evidence for a pair is the summed weight of the answers they share, over the number
  of hidden cases either of them got wrong (sharing one wrong answer out of five wrong ones is
  weak);
- the pair's score combines its problems as independent pieces of evidence,
  ``1 - prod(1 - STRENGTH * evidence)``: one problem with a unique shared wrong answer on every
  case gives ``STRENGTH``, several such problems approach 1.

The fingerprints are the class summary's (``grading.fingerprint``): the returned values rounded
to four significant digits, NaN and inf by kind. Only fingerprints of returned values count: a
call that raised, timed out or crashed says little about shared code, and neither does a stub's
None. A problem diagnosed as a declared mistake keeps no fingerprint, so it is never evidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from grader.grading.fingerprint import DIGEST_BYTES, value_fingerprint
from grader.results import GradeReport
from grader.spec import Assignment

STRENGTH = 0.6
"""A problem on whose every hidden case a pair alone shares a wrong answer scores this much."""
BLANK = value_fingerprint(None)
"""What a stub that returns nothing gives: two students who left it share no work."""


def is_value(fingerprint: str) -> bool:
    """Whether a wrong answer's fingerprint is of a returned value (``grading.fingerprint`` also
    fingerprints how a call ended: ``raised TypeError``, ``timeout``, ``failed``), and not a stub's None."""
    return fingerprint != BLANK and len(fingerprint) == 2 * DIGEST_BYTES and all(c in "0123456789abcdef" for c in fingerprint)


@dataclass(frozen=True)
class SharedAnswer:
    """One wrong answer two submissions gave on the same hidden case."""

    problem: str
    case: str
    fingerprint: str
    count: int
    """Submissions of the class that gave this answer there (the pair included)."""
    weight: float


@dataclass(frozen=True)
class BehaviourMatch:
    a: str
    b: str
    score: float
    shared: tuple[SharedAnswer, ...]


def _hidden_cases(assignment: Assignment) -> dict[str, set[str]]:
    return {problem.id: {case.name for case in problem.cases if case.visibility != "public"}
            for problem in assignment.problems}


def compare_behaviour(assignment: Assignment, reports: Iterable[GradeReport], *, common: int) -> list[BehaviourMatch]:
    """Every pair of submissions that share a rare wrong answer on a hidden case, with its score."""
    hidden = _hidden_cases(assignment)
    # submission -> problem -> case -> fingerprint; None for a problem diagnosed as a declared mistake.
    answers: dict[str, dict[str, dict[str, str] | None]] = {}
    holders: defaultdict[tuple[str, str, str], list[str]] = defaultdict(list)
    for report in reports:
        mine: dict[str, dict[str, str] | None] = {}
        for result in report.problems:
            wrong = {case: fingerprint for case, fingerprint in result.wrong_answers
                     if case in hidden.get(result.problem, ()) and is_value(fingerprint)}
            for case, fingerprint in wrong.items():
                holders[(result.problem, case, fingerprint)].append(report.submission)
            mine[result.problem] = None if result.diagnoses else wrong
        answers[report.submission] = mine

    shared: defaultdict[tuple[str, str], list[SharedAnswer]] = defaultdict(list)
    for (problem, case, fingerprint), ids in holders.items():
        if not 2 <= len(ids) <= common:
            continue
        answer = SharedAnswer(problem=problem, case=case, fingerprint=fingerprint, count=len(ids),
                              weight=1.0 / (len(ids) - 1))
        for a, b in combinations(sorted(ids), 2):
            if answers[a].get(problem) is not None and answers[b].get(problem) is not None:
                shared[(a, b)].append(answer)

    matches = []
    for (a, b), found in shared.items():
        by_problem: defaultdict[str, float] = defaultdict(float)
        for answer in found:
            by_problem[answer.problem] += answer.weight
        doubt = 1.0
        for problem, weight in by_problem.items():
            wrong_a, wrong_b = answers[a][problem], answers[b][problem]
            assert wrong_a is not None and wrong_b is not None  # diagnosed problems were left out above
            doubt *= 1.0 - STRENGTH * min(1.0, weight / len(wrong_a.keys() | wrong_b.keys()))
        matches.append(BehaviourMatch(a=a, b=b, score=1.0 - doubt,
                                      shared=tuple(sorted(found, key=lambda s: (-s.weight, s.problem, s.case)))))
    return matches
