"""Tolerance rules: exact shapes, pytest.approx-style tolerance, parts of tuples and dicts, NaN."""

from __future__ import annotations

import numpy as np
import pytest

from grader.compare import compare, compare_arrays, summarize


@pytest.mark.parametrize(
    ("obtained", "expected", "rtol", "atol", "equal"),
    [
        (1.0 + 0.9e-6, 1.0, 1e-6, 0.0, True),
        (1.0 + 1.1e-6, 1.0, 1e-6, 0.0, False),
        (0.9e-9, 0.0, 1e-6, 1e-9, True),
        (1.1e-9, 0.0, 1e-6, 1e-9, False),
        (1e6 + 0.5, 1e6, 1e-6, 1e-9, True),
        (-1.0, 1.0, 1e-6, 1e-9, False),
    ],
)
def test_tolerance_edges(obtained: float, expected: float, rtol: float, atol: float, equal: bool) -> None:
    (result,) = compare(np.array([obtained]), np.array([expected]), rtol=rtol, atol=atol)
    assert result.equal is equal


def test_the_tolerance_follows_the_reference_dtype_not_the_students() -> None:
    """A float32 reference gets float32's tolerance whatever the student returns; a float64 one
    float64's, so that returning float16 buys no looser tolerance (issue 21, 5)."""
    expected = np.array([1.0, 2.0])
    off = expected * (1 + 3e-6)
    assert compare(off, expected.astype(np.float32))[0].equal
    assert compare(off.astype(np.float32), expected.astype(np.float32))[0].equal
    assert not compare(off.astype(np.float32), expected)[0].equal
    assert not compare(off, expected)[0].equal
    wrong = expected * 1.004  # 0.4% off
    assert not compare(wrong.astype(np.float16), expected)[0].equal
    assert not compare(wrong, expected)[0].equal
    assert compare(wrong.astype(np.float16), expected, rtol=1e-2)[0].equal  # unless the spec says otherwise


def test_shape_is_compared_before_values() -> None:
    result = compare_arrays(np.zeros((1, 3)), np.zeros(3), rtol=None, atol=None)
    assert not result.equal and result.reason == "shape"
    assert "expected shape (3,), got shape (1, 3)" in result.message


def test_scalar_against_length_one_array_is_a_shape_error() -> None:
    (result,) = compare(np.array([0.5]), 0.5)
    assert result.reason == "shape" and "expected a scalar" in result.message


def test_python_float_and_zero_d_array_are_both_scalars() -> None:
    assert compare(np.float64(0.25), 0.25)[0].equal
    assert compare(np.array(0.25), 0.25)[0].equal


def test_mismatch_summary_names_count_errors_and_first_indices() -> None:
    expected = np.arange(6.0).reshape(2, 3)
    obtained = expected.copy()
    obtained[1, 2] += 1.0
    result = compare_arrays(obtained, expected, rtol=1e-6, atol=1e-9)
    assert (result.mismatched, result.total) == (1, 6)
    assert result.max_abs_error == pytest.approx(1.0)
    assert result.first == (("(1, 2)", 6.0, 5.0),)
    assert len(result.heatmap) == 2 and result.heatmap[1][2] == pytest.approx(1.0)


def test_tuple_parts_say_which_part_is_wrong() -> None:
    expected = (np.ones(2), np.zeros((2, 2)), np.ones(3))
    obtained = (np.ones(2), np.zeros((2, 2)), np.ones(3) * 2)
    results = compare(obtained, expected)
    assert [r.equal for r in results] == [True, True, False]
    assert results[2].path == "2"


def test_tuple_of_wrong_length_is_a_type_error() -> None:
    (result,) = compare((np.ones(2),), (np.ones(2), np.ones(2)))
    assert result.reason == "type" and "tuple of 2" in result.message


def test_dict_missing_key_is_reported() -> None:
    results = compare({"W1": np.ones(2)}, {"W1": np.ones(2), "b1": np.ones(1)})
    assert [r.path for r in results if not r.equal] == ["b1"]


def test_nan_fails_unless_policy_is_equal() -> None:
    nan = np.array([np.nan, 1.0])
    assert not compare(nan, nan)[0].equal
    assert compare(nan, nan, nan="equal")[0].equal
    assert compare_arrays(nan, np.array([0.0, 1.0]), rtol=None, atol=None).reason == "nan"


def test_infinities_match_only_with_the_same_sign() -> None:
    assert compare(np.array([np.inf]), np.array([np.inf]))[0].equal
    assert not compare(np.array([-np.inf]), np.array([np.inf]))[0].equal


def test_integers_are_compared_exactly() -> None:
    assert not compare(np.array([3]), np.array([4]), rtol=1.0, atol=10.0)[0].equal


def test_non_numeric_result_is_a_type_error() -> None:
    (result,) = compare("hello", np.ones(2))
    assert result.reason == "type" and "got a str" in result.message


def test_summarize_is_compact() -> None:
    text = summarize(np.arange(1000.0))
    assert len(text) <= 300 and "shape=(1000,)" in text


def test_wrong_answer_where_zero_is_expected() -> None:
    (result,) = compare(5.0, 0.0)
    assert not result.equal and "largest absolute error 5" in result.message


def test_a_single_element_array_counts_as_a_scalar_only_when_the_spec_says_so() -> None:
    (strict,) = compare(np.array([[2.0]]), 2.0)
    (lenient,) = compare(np.array([[2.0]]), 2.0, single_element_scalars=True)
    (wrong,) = compare(np.array([[2.5]]), 2.0, single_element_scalars=True)
    (two,) = compare(np.array([2.0, 2.0]), 2.0, single_element_scalars=True)
    assert strict.reason == "shape" and lenient.equal
    assert not wrong.equal and wrong.reason == "values"
    assert not two.equal and two.reason == "shape"
