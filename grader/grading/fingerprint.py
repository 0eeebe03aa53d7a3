"""Fingerprints of wrong answers: a short digest per failing case, equal for equal wrong answers.

The class summary groups submissions whose wrong answers are the same (``reports.summary``), and
``grader lint --clusters`` checks a newly declared mistake against such a group
(``grading.clusters``). Both need "the same wrong output" to survive float noise: two students who
make the same mistake in different code get values that differ in the last bits. A digest here
is of the returned value with every float rounded to ``SIGNIFICANT`` significant digits, values
below ``TINY`` of their array's largest magnitude or below ``ABS_TINY`` taken as zero (so -1e-17
and 1e-17 agree), NaN,
inf and -inf as categories of their own, and the shape of every array; a call that did not return
is fingerprinted by how it ended (``raised TypeError``, ``timeout``). Everything is computed in the
trusted process from the plain data the worker sent; no student string is kept, only digests.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Mapping

import numpy as np

from grader.calls import CallOutcome
from grader.compare import as_array
from grader.results import CheckResult, Outcome

SIGNIFICANT = 4
"""Significant digits kept of each float: coarse enough for float noise, fine enough for mistakes."""
TINY = 1e-9
"""Relative to an array's largest finite magnitude, values below this are zero..."""
ABS_TINY = 1e-12
"""...and so are values below this absolutely (a lone scalar that is float noise around 0)."""
DIGEST_BYTES = 8
VALUE_KINDS = ("value", "stability")
"""Check kinds that judge the base call's returned value: their failing cases get a value digest."""
_EXCEPTION = re.compile(r"(?:^|: )([A-Za-z_][A-Za-z0-9_.]{0,79}): ")
"""The exception type in an error message, ``TypeError: ...`` or after a scenario step's
``step 2 `...`: `` (the worker's message is untrusted text: matched on its first 1000 characters)."""


def _array_token(array: np.ndarray) -> bytes:
    if array.dtype.kind == "b":
        array = array.astype(np.int8)
    if array.dtype.kind not in "iuf":
        return b"?"
    values = array.astype(np.float64).ravel()
    finite = np.isfinite(values)
    scale = float(np.max(np.abs(values[finite]))) if finite.any() else 0.0
    with np.errstate(all="ignore"):
        safe = np.where(finite & (np.abs(values) > max(TINY * scale, ABS_TINY)), values, 0.0)
        exponent = np.where(safe != 0, np.floor(np.log10(np.abs(np.where(safe != 0, safe, 1.0)))), 0).astype(np.int64)
        mantissa = np.round(safe / 10.0 ** (exponent - (SIGNIFICANT - 1))).astype(np.int64)
    # Non-finite entries keep their category in the mantissa slot (no finite rounding reaches it).
    category = np.where(np.isnan(values), 1, np.where(values == np.inf, 2, np.where(values == -np.inf, 3, 0)))
    mantissa = np.where(finite, mantissa, -(10 ** 12) - category)
    exponent = np.where(finite, exponent, 0)
    return b"a" + repr(array.shape).encode() + mantissa.tobytes() + exponent.tobytes()


def _tokens(value: Any, out: list[bytes]) -> None:
    if isinstance(value, dict):
        out.append(b"{")
        for key in sorted(value, key=repr):
            out.append(repr(key).encode()[:200] + b":")
            _tokens(value[key], out)
        out.append(b"}")
        return
    array = as_array(value)
    if array is not None:
        out.append(_array_token(np.asarray(array)))
        return
    if isinstance(value, (list, tuple)):
        out.append(b"(")
        for item in value:
            _tokens(item, out)
        out.append(b")")
        return
    if value is None:
        out.append(b"None")
        return
    # Anything else (a string, an unknown object's description) only by its type and a hash.
    out.append(type(value).__name__.encode()[:40] + hashlib.blake2b(repr(value).encode()[:10_000]).digest()[:4])


def value_fingerprint(value: Any) -> str:
    """The digest of a returned value, robust to float noise."""
    tokens: list[bytes] = []
    _tokens(value, tokens)
    return hashlib.blake2b(b"|".join(tokens), digest_size=DIGEST_BYTES).hexdigest()


def raised_fingerprint(message: str) -> str:
    """``raised <ExceptionType>`` from a worker's (or a mistake's) error message."""
    match = _EXCEPTION.search(message[:1000])
    return f"raised {match.group(1)}" if match else "raised"


def outcome_fingerprint(outcome: CallOutcome) -> str:
    if outcome.ok:
        try:
            return value_fingerprint(outcome.value)
        except (ValueError, TypeError, OverflowError, RecursionError, MemoryError):
            return "unreadable"  # a value no fingerprint reads costs the class summary a cluster, not the run

    if outcome.status == "error":
        return raised_fingerprint(outcome.message)
    return outcome.status


def wrong_answers(results: list[CheckResult], outcomes: Mapping[str, CallOutcome], problem: str) -> tuple[tuple[str, str], ...]:
    """(case, fingerprint) of each failing case of a problem, sorted: equal for equal wrong answers.

    A case a value or stability check failed gets the digest of what the student's code returned
    (or how the call ended); a case that only another kind of check failed (a gradient, a
    property) is named ``kind:case`` (``gradient:small``) with the fingerprint ``failed``.
    """
    wrong: dict[str, str] = {}
    for result in results:
        if not result.counted:
            continue
        for case in result.cases:
            if case.outcome is Outcome.PASSED:
                continue
            outcome = outcomes.get(f"{problem}/{case.case}")
            if result.kind in VALUE_KINDS and outcome is not None:
                wrong[case.case] = outcome_fingerprint(outcome)
            else:
                wrong.setdefault(f"{result.kind}:{case.case}", "failed")
    return tuple(sorted(wrong.items()))
