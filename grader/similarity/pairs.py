"""Pairs of submissions ranked by the evidence that they share work: code and behaviour kept apart.

A pair's score combines its two kinds of evidence as independent ones, ``1 - (1 - code) *
(1 - behaviour)``: either alone can rank a pair high, both together rank it higher. The score
orders the instructor's reading; it is evidence for a person to review, never a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from grader.similarity.behaviour import BehaviourMatch
from grader.similarity.code import CodeMatch
from grader.similarity.documents import Document

NOTICE = ("Evidence for a person to review, not a verdict: similar code and shared wrong answers can have "
          "innocent causes (a common source, a study group, a handout), and a copy can escape both measures.")


@dataclass(frozen=True)
class Pair:
    """Two submissions (or a submission and the reference) and what they share."""

    a: str
    b: str
    code: CodeMatch | None
    behaviour: BehaviourMatch | None

    @property
    def code_score(self) -> float:
        return self.code.score if self.code else 0.0

    @property
    def behaviour_score(self) -> float:
        return self.behaviour.score if self.behaviour else 0.0

    @property
    def score(self) -> float:
        return 1.0 - (1.0 - self.code_score) * (1.0 - self.behaviour_score)


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _flip(match: CodeMatch) -> CodeMatch:
    return CodeMatch(a=match.b, b=match.a, share_a=match.share_b, share_b=match.share_a, tokens=match.tokens,
                     regions_a=match.regions_b, regions_b=match.regions_a)


def rank_pairs(code: Iterable[CodeMatch], behaviour: Iterable[BehaviourMatch], *, minimum: float = 0.0) -> list[Pair]:
    """Every pair with some evidence and a score of at least ``minimum``, highest score first.

    A pair with the reference keeps the reference second (``b``)."""
    codes: dict[tuple[str, str], CodeMatch] = {}
    for match in code:
        key = _ordered(match.a, match.b)
        codes[key] = match if (match.a, match.b) == key else _flip(match)
    behaviours = {_ordered(match.a, match.b): match for match in behaviour}
    pairs = []
    for key in codes.keys() | behaviours.keys():
        pair = Pair(a=key[0], b=key[1], code=codes.get(key), behaviour=behaviours.get(key))
        if pair.b != "reference" and pair.a == "reference":
            pair = Pair(a=key[1], b=key[0], code=_flip(pair.code) if pair.code else None, behaviour=pair.behaviour)
        if pair.score > 0 and pair.score >= minimum:
            pairs.append(pair)
    return sorted(pairs, key=lambda pair: (-pair.score, pair.a, pair.b))


def _lines(document: Document | None, regions: tuple[tuple[int, int], ...]) -> list[dict[str, Any]]:
    if document is None:
        return []
    found = []
    for start, end in regions:
        name, first = document.place(start)
        _, last = document.place(max(start, end - 1))
        found.append({"file": name, "lines": [first, last]})
    return found


def pair_json(pair: Pair, documents: dict[str, Document]) -> dict[str, Any]:
    """The JSON record of a pair: its score, then the code and the behaviour evidence apart."""
    code = None
    if pair.code is not None:
        code = {"score": round(pair.code_score, 4), "share_a": round(pair.code.share_a, 4),
                "share_b": round(pair.code.share_b, 4), "matched_tokens": pair.code.tokens,
                "regions_a": _lines(documents.get(pair.a), pair.code.regions_a),
                "regions_b": _lines(documents.get(pair.b), pair.code.regions_b)}
    behaviour = None
    if pair.behaviour is not None:
        behaviour = {"score": round(pair.behaviour_score, 4),
                     "shared_wrong_answers": [{"problem": s.problem, "case": s.case, "fingerprint": s.fingerprint,
                                               "given_by": s.count, "weight": round(s.weight, 4)}
                                              for s in pair.behaviour.shared]}
    return {"a": pair.a, "b": pair.b, "score": round(pair.score, 4), "code": code, "behaviour": behaviour}
