"""Tolerance rules: does an obtained value equal the expected one, and if not, how far off is it.

Following ``pytest.approx``: an entry matches when ``|obtained - expected| <= max(rtol *
|expected|, atol)``. Defaults depend on the dtype of the expected value (the reference's), never on
the one the student returned: returning float16 must not buy a looser tolerance. Shapes must match exactly
and are compared before values; tuples and dicts are compared part by part, so a partly right
answer says which part is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.results import Comparison

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


def compare_arrays(
    obtained: np.ndarray,
    expected: np.ndarray,
    *,
    rtol: float | None,
    atol: float | None,
    nan: str = "fail",
    path: str = "",
    detail: bool = True,
) -> Comparison:
    """Shape first, then values under the tolerance rule, then where they differ."""
    if obtained.shape != expected.shape:
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
        allowed = np.maximum(r * np.abs(want), a)
        # An infinite expected value allows an infinite tolerance: compare those entries exactly.
        ok = np.where(np.isfinite(want), diff <= allowed, got == want)
        if nan == "equal":
            ok |= np.isnan(got) & np.isnan(want)
        bad = ~ok
        mismatched = int(bad.sum())
        if not mismatched:
            return Comparison(path=path, equal=True, total=int(want.size), rtol=r, atol=a)
        finite = np.isfinite(diff)
        max_abs = float(diff[finite].max()) if finite.any() else None
        rel = diff / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
        max_rel = float(rel[np.isfinite(rel)].max()) if np.isfinite(rel).any() else None
    reason = "nan" if np.isnan(got[bad]).any() else "values"
    first: tuple[tuple[str, float, float], ...] = ()
    heatmap: tuple[tuple[float, ...], ...] = ()
    if detail:
        indices = np.argwhere(bad)[:FIRST_OFFENDERS]
        first = tuple((str(tuple(int(i) for i in index)) if want.ndim else "()", float(got[tuple(index)]),
                       float(want[tuple(index)])) for index in indices)
        if want.ndim == 2 and want.size > 1:
            heatmap = pooled_error(np.where(np.isfinite(diff), diff, np.nan))
    what = "NaN" if reason == "nan" else "values"
    message = f"{mismatched} of {want.size} {what} differ"
    if max_abs is not None:
        relative = f", relative {max_rel:.3g}" if max_rel is not None else ""
        message += f" (largest absolute error {max_abs:.3g}{relative}; tolerance rtol={r:g}, atol={a:g})"
    return Comparison(
        path=path, equal=False, reason=reason, message=message, mismatched=mismatched, total=int(want.size),
        max_abs_error=max_abs, max_rel_error=max_rel, first=first, rtol=r, atol=a, heatmap=heatmap,
    )


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
    """A compact one-line rendering of a value for feedback."""
    if isinstance(value, tuple):
        text = "(" + ", ".join(summarize(item, limit=limit // 2) for item in value) + ")"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{key!r}: {summarize(item, limit=limit // 2)}" for key, item in value.items()) + "}"
    elif isinstance(value, np.ndarray):
        with np.printoptions(precision=4, threshold=20, edgeitems=3, linewidth=10_000, suppress=False):
            body = np.array2string(value, separator=", ").replace("\n", " ")
        text = body if value.ndim == 0 else f"{body} shape={value.shape}"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
