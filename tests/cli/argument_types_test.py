"""The `glomo` subcommands' number types: values accepted, and one-line errors."""

import argparse

import pytest

from glomo_tf.argument_types import int_or_none, non_negative_int, positive_float, positive_int


@pytest.mark.parametrize("kind, text, expected", [
    (positive_int, "3", 3), (non_negative_int, "0", 0), (positive_float, "1e-3", 1e-3),
    (positive_float, "inf", float("inf")), (int_or_none, "None", None), (int_or_none, "-4", -4),
])
def test_accepted(kind, text, expected):
    assert kind(text) == expected


@pytest.mark.parametrize("kind, text, message", [
    (positive_int, "0", "expected an integer >= 1, got 0"),
    (positive_int, "2.5", "expected an integer, got '2.5'"),
    (non_negative_int, "-1", "expected an integer >= 0, got -1"),
    (positive_float, "0", "expected a number > 0, got 0"),
    (positive_float, "nan", "expected a number > 0, got nan"),
    (positive_float, "x", "expected a number, got 'x'"),
    (int_or_none, "seven", "expected an integer or 'none', got 'seven'"),
])
def test_refused_with_one_line(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as error:
        kind(text)
    assert str(error.value) == message
