"""Tolerance rules: does an obtained value equal the expected one, and if not, how far off is it.

Following ``pytest.approx``: an entry matches when ``|obtained - expected| <= max(rtol *
|expected|, atol)``. Defaults depend on the dtype of the expected value (the reference's), never on
the one the student returned: returning float16 must not buy a looser tolerance. Shapes must match exactly
and are compared before values; tuples and dicts are compared part by part, so a partly right
answer says which part is wrong.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from grader.results import Comparison
from grader.wire import Unread

DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    # dtype: (rtol, atol). float64 allows for a correct but differently ordered computation.
    "float64": (1e-6, 1e-9),
    "float32": (1e-4, 1e-6),
    "float16": (1e-2, 1e-3),
}
FIRST_OFFENDERS = 5
HEATMAP_CELLS = 16


def describe_type(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} ({value.dtype})" if value.ndim else f"a 0-d array ({value.dtype})"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(value)}"
    if value is None:
        return "None"
    if isinstance(value, Unread):
        return "nothing (it could not be read)"
    return f"a {type(value).__name__}"


def as_array(value: Any) -> np.ndarray | None:
    """A number, bool, array or list of numbers as an array; None for anything else."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (bool, int, float)):
        return np.asarray(value)
    if isinstance(value, list):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError):
            return None
        return array if array.dtype.kind in "biuf" else None
    return None


def tolerances(expected: np.ndarray, rtol: float | None, atol: float | None) -> tuple[float, float]:
    """The spec's tolerances, or the defaults for the expected value's dtype."""
    default = DEFAULT_TOLERANCES.get(str(expected.dtype), DEFAULT_TOLERANCES["float64"])
    return (default[0] if rtol is None else rtol, default[1] if atol is None else atol)


def compare(
    obtained: Any,
    expected: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    nan: str = "fail",
    path: str = "",
    detail: bool = True,
    single_element_scalars: bool = False,
) -> list[Comparison]:
    """Compare part by part; one ``Comparison`` per leaf of ``expected``.

    ``single_element_scalars``: where a scalar is expected, an array holding one element counts as
    that scalar (hw4's handout accepts the ``(1, 1)`` result of a matrix product for a loss).
    """
    if isinstance(obtained, Unread):  # a read that raised: this part is wrong, the others are judged
        return [Comparison(path=path, equal=False, reason="missing", message=obtained.message)]
    options: dict[str, Any] = {"rtol": rtol, "atol": atol, "nan": nan, "detail": detail,
                               "single_element_scalars": single_element_scalars}
    if isinstance(expected, tuple):
        if not isinstance(obtained, (tuple, list)) or len(obtained) != len(expected):
            return [_type_mismatch(path, f"a tuple of {len(expected)}", obtained)]
        results: list[Comparison] = []
        for index, (got, want) in enumerate(zip(obtained, expected)):
            results += compare(got, want, path=_join(path, str(index)), **options)
        return results
    if isinstance(expected, dict):
        if not isinstance(obtained, dict):
            return [_type_mismatch(path, f"a dict with keys {sorted(expected)}", obtained)]
        results = []
        for key, want in expected.items():
            if key not in obtained:
                results.append(Comparison(path=_join(path, key), equal=False, reason="missing", message=f"key {key!r} is missing"))
            else:
                results += compare(obtained[key], want, path=_join(path, key), **options)
        return results
    if isinstance(expected, str):
        equal = obtained == expected
        return [Comparison(path=path, equal=equal, reason="" if equal else "values",
                           message="" if equal else f"expected {expected!r}, got {describe_type(obtained)}")]
    want = as_array(expected)
    got = as_array(obtained)
    if want is None:
        raise TypeError(f"cannot compare against a reference value of type {type(expected).__name__}")
    if got is None:
        return [_type_mismatch(path, "a number" if want.ndim == 0 else f"an array of shape {want.shape}", obtained)]
    if single_element_scalars and want.ndim == 0 and got.size == 1:
        got = got.reshape(())
    return [compare_arrays(got, want, rtol=rtol, atol=atol, nan=nan, path=path, detail=detail)]


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _type_mismatch(path: str, wanted: str, obtained: Any) -> Comparison:
    return Comparison(path=path, equal=False, reason="type", message=f"expected {wanted}, got {describe_type(obtained)}")


RELATIVE_ERROR = "|obtained - expected| / |expected|, over the entries whose expected value exceeds atol in magnitude"
"""The one definition of relative error in every message and report (value and gradient checks alike).
Where the expected value is 0 or within atol of it, the absolute tolerance decides and a ratio would
say nothing (4.81e+307): the message says "expected 0, got 3.2" instead."""

TOLERANCE_RULES = {
    "max": "|obtained - expected| <= max(rtol * |expected|, atol)",
    "sum": "|obtained - expected| <= atol + rtol * |expected|",
}
"""How an entry is judged: pytest.approx's rule (value checks), or torch.autograd.gradcheck's (gradients)."""


def _shape_text(shape: tuple[int, ...]) -> str:
    return "a scalar" if not shape else str(shape)


def compare_arrays(
    obtained: np.ndarray,
    expected: np.ndarray,
    *,
    rtol: float | None,
    atol: float | None,
    nan: str = "fail",
    path: str = "",
    detail: bool = True,
    rule: str = "max",
) -> Comparison:
    """Shape first, then values under the tolerance rule (``TOLERANCE_RULES``), then where they differ.

    Values that are right once dimensions of size 1 are dropped (a ``(1, D)`` answer where ``(D,)`` is
    asked) are a ``shape_only`` mismatch: still not equal, but said for what it is.
    """
    if obtained.shape != expected.shape:
        if obtained.size == expected.size and np.squeeze(obtained).shape == np.squeeze(expected).shape:
            aligned = compare_arrays(obtained.reshape(expected.shape), expected, rtol=rtol, atol=atol, nan=nan,
                                     path=path, detail=False, rule=rule)
            if aligned.equal:
                return dataclasses.replace(
                    aligned, equal=False, reason="shape_only",
                    message=f"values right, shape {_shape_text(obtained.shape)} where "
                    f"{_shape_text(expected.shape)} is asked")
        wanted = "a scalar" if expected.ndim == 0 else f"shape {expected.shape}"
        returned = "a scalar" if obtained.ndim == 0 else f"shape {obtained.shape}"
        return Comparison(path=path, equal=False, reason="shape", message=f"expected {wanted}, got {returned}",
                          total=int(expected.size))
    exact = expected.dtype.kind in "biu" and obtained.dtype.kind in "biu"
    r, a = (0.0, 0.0) if exact else tolerances(expected, rtol, atol)
    got = obtained.astype(np.float64)
    want = expected.astype(np.float64)
    with np.errstate(all="ignore"):
        diff = np.abs(got - want)
        allowed = np.maximum(r * np.abs(want), a) if rule == "max" else a + r * np.abs(want)
        # An infinite expected value allows an infinite tolerance: compare those entries exactly.
        ok = np.where(np.isfinite(want), diff <= allowed, got == want)
        if nan == "equal":
            ok |= np.isnan(got) & np.isnan(want)
        bad = ~ok
        mismatched = int(bad.sum())
        finite = np.isfinite(diff)
        max_abs = float(diff[finite].max()) if finite.any() else None
        relative = finite & (np.abs(want) > a) & (want != 0)
        max_rel = float((diff[relative] / np.abs(want[relative])).max()) if relative.any() else None
    if not mismatched:
        return Comparison(path=path, equal=True, total=int(want.size), rtol=r, atol=a, max_abs_error=max_abs,
                          max_rel_error=max_rel)
    non_finite = int((bad & ~np.isfinite(got) & np.isfinite(want)).sum())
    first: tuple[tuple[str, float, float], ...] = ()
    heatmap: tuple[tuple[float, ...], ...] = ()
    if detail:
        indices = np.argwhere(bad)[:FIRST_OFFENDERS]
        first = tuple((str(tuple(int(i) for i in index)) if want.ndim else "()", float(got[tuple(index)]),
                       float(want[tuple(index)])) for index in indices)
        if want.ndim == 2 and want.size > 1:
            heatmap = pooled_error(np.where(np.isfinite(diff), diff, np.nan))
    # The worst entry and the relative error are told over the finite wrong entries only: a NaN
    # elsewhere is counted, not allowed to hide (or stand for) how far off the numbers are.
    finite_bad = bad & finite
    with np.errstate(all="ignore"):
        bad_rel = finite_bad & relative
        rel_bad = float((diff[bad_rel] / np.abs(want[bad_rel])).max()) if bad_rel.any() else None
    message = mismatch_message(got, want, bad, diff, finite_bad, non_finite, rel_bad, a) + \
        f"; tolerance rtol={r:g}, atol={a:g}"
    return Comparison(
        path=path, equal=False, reason="nan" if non_finite else "values", message=message, mismatched=mismatched,
        total=int(want.size), max_abs_error=max_abs, max_rel_error=rel_bad, first=first, rtol=r, atol=a,
        heatmap=heatmap, non_finite=non_finite,
    )


def mismatch_message(got: np.ndarray, want: np.ndarray, bad: np.ndarray, diff: np.ndarray, finite_bad: np.ndarray,
                     non_finite: int, relative: float | None, atol: float) -> str:
    """'3 of 12 values differ: 1 NaN where a number is expected; largest absolute error 0.5 at (1, 2)
    (expected 0.25, got 0.75), largest relative error 2' - what happened, in words."""
    mismatched, total = int(bad.sum()), int(want.size)
    text = f"{mismatched} of {total} value{'s' if total != 1 else ''} differ" if want.ndim else "the value differs"
    said: list[str] = []
    if non_finite:
        kinds = [(int((bad & np.isnan(got)).sum()), "NaN"), (int((bad & np.isinf(got)).sum()), "inf")]
        named = " and ".join(f"{count} {word}" for count, word in kinds if count)
        if non_finite == total and want.ndim:
            said.append("every value is " + " or ".join(word for count, word in kinds if count) +
                        " where numbers are expected")
        elif want.ndim:
            said.append(f"{named} where {'numbers are' if non_finite > 1 else 'a number is'} expected")
        else:
            said.append(f"expected {float(want):.6g}, got {float(got):g}")
    odd = int((bad & ~np.isfinite(want)).sum())
    if odd:
        said.append(f"{odd} finite or different where NaN or inf is expected")
    if finite_bad.any():
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(finite_bad, diff, -1.0))), want.shape))
        at = f" at {worst}" if want.ndim else ""
        expected, obtained = float(want[worst]), float(got[worst])
        if expected == 0:
            entry = f"expected 0{at}, got {obtained:.6g}"
        else:
            entry = f"largest absolute error {float(diff[worst]):.3g}{at} (expected {expected:.6g}, got {obtained:.6g})"
        if relative is not None and abs(expected) > atol:
            entry += f", largest relative error {relative:.3g}"
        elif relative is not None:
            entry += f"; largest relative error elsewhere {relative:.3g}"
        said.append(("among the others " if non_finite else "") + entry)
    return text + (": " + "; ".join(said) if said else "")


def pooled_error(error: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Max-pool a 2-D error array down to at most HEATMAP_CELLS per side (NaN -> -1 marks non-finite)."""
    rows = np.array_split(np.arange(error.shape[0]), min(HEATMAP_CELLS, error.shape[0]))
    cols = np.array_split(np.arange(error.shape[1]), min(HEATMAP_CELLS, error.shape[1]))
    cells = []
    for r in rows:
        line = []
        for c in cols:
            block = error[np.ix_(r, c)]
            line.append(-1.0 if np.isnan(block).any() else float(block.max()))
        cells.append(tuple(line))
    return tuple(cells)


def summarize(value: Any, *, limit: int = 300) -> str:
    """A compact one-line rendering of a value for feedback, cut between elements (never inside a
    number) and marked '...' where cut."""
    if isinstance(value, (tuple, dict)):
        items = ([summarize(item, limit=limit // 2) for item in value] if isinstance(value, tuple) else
                 [f"{key!r}: {summarize(item, limit=limit // 2)}" for key, item in value.items()])
        opening, closing = ("(", ")") if isinstance(value, tuple) else ("{", "}")
        text = opening + ", ".join(items) + closing
        if len(text) <= limit:
            return text
        shown: list[str] = []
        for item in items:
            if len(opening) + len(", ".join([*shown, item])) + len(", ...") + len(closing) > limit:
                break
            shown.append(item)
        return opening + ", ".join([*shown, f"... {len(items) - len(shown)} more"]) + closing
    if isinstance(value, np.ndarray):
        with np.printoptions(precision=4, threshold=20, edgeitems=3, linewidth=10_000, suppress=False):
            body = np.array2string(value, separator=", ").replace("\n", " ")
        text = body if value.ndim == 0 else f"{body} shape={value.shape}"
        if len(text) > limit and value.ndim:
            text = _cut(body, limit - len(f" ... shape={value.shape}")) + f" ... shape={value.shape}"
        return text
    text = f"{value:.6g}" if isinstance(value, float) else repr(value)
    return text if len(text) <= limit else _cut(text, limit - 4) + " ..."


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at the last separator (', ' or a space) before it."""
    if len(text) <= limit:
        return text
    head = text[:max(limit, 0)]
    for separator in (", ", " "):
        at = head.rfind(separator)
        if at > 0:
            return head[:at + (1 if separator == ", " else 0)].rstrip()
    return head
