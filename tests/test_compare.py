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
    result = compare_arrays(np.zeros((2, 3)), np.zeros(3), rtol=None, atol=None)
    assert not result.equal and result.reason == "shape"
    assert "expected shape (3,), got shape (2, 3)" in result.message


def test_right_values_in_a_shape_with_extra_singleton_dimensions_are_said_so() -> None:
    values = np.array([0.5, -1.25, 3.0])
    result = compare_arrays(values[None, :], values, rtol=None, atol=None)
    assert not result.equal and result.reason == "shape_only"
    assert result.message == "values right, shape (1, 3) where (3,) is asked"
    assert compare_arrays(values[:, None], values[None, :], rtol=None, atol=None).reason == "shape_only"
    wrong = compare_arrays(values[None, :] + 1, values, rtol=None, atol=None)
    assert wrong.reason == "shape" and "expected shape (3,), got shape (1, 3)" in wrong.message


def test_scalar_against_length_one_array_is_a_shape_error() -> None:
    (result,) = compare(np.array([0.5]), 0.5)
    assert result.reason == "shape_only" and "values right, shape (1,) where a scalar is asked" in result.message
    (wrong,) = compare(np.array([0.25]), 0.5)
    assert wrong.reason == "shape" and "expected a scalar" in wrong.message


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
    assert not result.equal and "expected 0, got 5" in result.message and "relative" not in result.message
    (array,) = compare(np.array([1.0, 3.2, 2.0]), np.array([1.0, 0.0, 2.0]))
    assert "1 of 3 values differ: expected 0 at (1,), got 3.2" in array.message
    assert "relative" not in array.message and "e+30" not in array.message


def test_a_single_element_array_counts_as_a_scalar_only_when_the_spec_says_so() -> None:
    (strict,) = compare(np.array([[2.0]]), 2.0)
    (lenient,) = compare(np.array([[2.0]]), 2.0, single_element_scalars=True)
    (wrong,) = compare(np.array([[2.5]]), 2.0, single_element_scalars=True)
    (two,) = compare(np.array([2.0, 2.0]), 2.0, single_element_scalars=True)
    assert strict.reason == "shape_only" and lenient.equal
    assert not wrong.equal and wrong.reason == "values"
    assert not two.equal and two.reason == "shape"


def test_an_all_nan_output_says_so() -> None:
    result = compare_arrays(np.full((2, 3), np.nan), np.ones((2, 3)), rtol=None, atol=None)
    assert result.reason == "nan" and result.non_finite == 6
    assert "6 of 6 values differ: every value is NaN where numbers are expected" in result.message
    assert "largest absolute error" not in result.message


def test_one_nan_does_not_make_every_mismatch_a_nan() -> None:
    expected = np.arange(1.0, 7.0)
    obtained = expected * 2
    obtained[0] = np.nan
    obtained[1] = np.inf
    result = compare_arrays(obtained, expected, rtol=None, atol=None)
    assert result.message.startswith("6 of 6 values differ: 1 NaN and 1 inf where numbers are expected; among the "
                                     "others largest absolute error 6 at (5,) (expected 6, got 12), largest relative "
                                     "error 1")


def test_relative_error_is_one_definition_for_values_and_gradients() -> None:
    expected = np.array([0.5, -2.0, 4.0])
    obtained = np.array([0.5, 2.0, 4.0])
    value = compare_arrays(obtained, expected, rtol=1e-6, atol=1e-9)
    gradient = compare_arrays(obtained, expected, rtol=1e-4, atol=1e-6, rule="sum")
    assert value.max_rel_error == gradient.max_rel_error == pytest.approx(2.0)  # |2 - (-2)| / |-2|
    assert "largest relative error 2" in value.message and "largest relative error 2" in gradient.message


def test_previews_are_cut_between_elements() -> None:
    text = summarize(tuple(np.full(3, 1.23456789) * i for i in range(40)), limit=120)
    assert len(text) <= 120 and text.endswith("more)")
    assert all(item.strip().startswith("[") for item in text[1:].split("], ")[:-1])
    array = summarize(np.arange(60.0).reshape(3, 4, 5) + 0.123456, limit=80)
    assert len(array) <= 80 and array.endswith("... shape=(3, 4, 5)")
    body = array.removesuffix(" ... shape=(3, 4, 5)")
    assert body.endswith(",") or body.endswith("]")  # never inside a number
    assert summarize("x" * 500, limit=50).endswith(" ...")


def test_no_relative_error_where_the_expected_value_is_within_atol_of_zero() -> None:
    (result,) = compare(np.array([1.0, 3.2]), np.array([1.0, 1e-300]))
    assert "(expected 1e-300, got 3.2)" in result.message
    assert "relative" not in result.message and result.max_rel_error is None
    noise = compare_arrays(np.array([0.0, 2.0]), np.array([1e-11, 2.0]), rtol=1e-4, atol=1e-6, rule="sum")
    assert noise.equal and noise.max_rel_error == pytest.approx(0.0)  # not 1, from the numerical noise
