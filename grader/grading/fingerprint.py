"""A wrong answer's fingerprint: a short hash of what the student returned on a case a value check failed.

Two submissions with the same fingerprint on a case returned the same wrong value there, to four
significant digits (NaN, +inf and -inf each a category of their own; shapes, dtypes kinds and the
structure of tuples and dicts included). It is computed in the trusted process from the call's
outcome, kept in the results (``ProblemResult.wrong_answers``) and read by the class's similarity
report (``grader.similarity.behaviour``). It says nothing about the expected value, so it may sit
in results a student sees.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grader.calls import CallOutcome
from grader.grading.checks import Context
from grader.results import CheckResult, Outcome
from grader.spec import ValueCheck

SIGNIFICANT = 4
"""Significant digits kept: a copy computes the same floats; an independent bug rarely agrees to 4."""


def _array_bytes(array: np.ndarray) -> bytes:
    header = f"{array.dtype.kind}{array.shape}".encode()
    if array.dtype.kind == "c":
        return header + _array_bytes(array.real) + _array_bytes(array.imag)
    if array.dtype.kind not in "biuf":
        return header + str(array.tolist())[:100_000].encode()
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    kinds = np.where(finite, 0, np.where(np.isnan(values), 1, np.where(values > 0, 2, 3))).astype(np.int8)
    safe = np.where(finite & (values != 0), values, 1.0)
    exponent = np.floor(np.log10(np.abs(safe)))
    mantissa = np.where(finite & (values != 0), np.round(safe / 10.0 ** exponent, SIGNIFICANT - 1), 0.0) + 0.0
    exponent = np.where(finite & (values != 0), exponent, 0).astype(np.int16)
    return header + kinds.tobytes() + mantissa.tobytes() + exponent.tobytes()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            digest.update(str(key).encode() + b":")
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"(" if isinstance(value, tuple) else b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b")")
    elif isinstance(value, (np.ndarray, np.generic, int, float, complex)):
        digest.update(_array_bytes(np.asarray(value)))
    else:
        digest.update(f"{type(value).__name__}:{str(value)[:10_000]}".encode())


BLANK = "blank"
"""The fingerprint of no answer at all: None, or zeros everywhere (a starter's stub)."""


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return all(_blank(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return all(_blank(item) for item in value)
    if isinstance(value, (np.ndarray, np.generic, int, float)) and np.asarray(value).dtype.kind in "biuf":
        return not np.any(np.asarray(value))
    return False


def fingerprint_value(value: Any) -> str:
    """A short hash of ``value``, equal for values equal to ``SIGNIFICANT`` significant digits;
    ``BLANK`` for no answer (a stub's None or zeros), which two students share without copying."""
    if _blank(value):
        return BLANK
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()[:16]


def wrong_answers(contexts: Sequence[Context], results: Sequence[CheckResult],
                  outcomes: Mapping[str, CallOutcome]) -> dict[str, str]:
    """Case name -> fingerprint of the returned value, for each case a value check of the problem
    failed on with a value (a crash or timeout is not an answer)."""
    found: dict[str, str] = {}
    for ctx, result in zip(contexts, results):
        if not isinstance(ctx.check, ValueCheck) or not result.counted:
            continue
        failed = {case.case for case in result.cases if case.outcome is Outcome.FAILED}
        for case in ctx.cases():
            outcome = outcomes.get(ctx.base_key(case))
            if case.name in failed and case.name not in found and outcome is not None and outcome.ok:
                found[case.name] = fingerprint_value(outcome.value)
    return found
