"""Number types for the `glomo` subcommands' arguments (argparse `type=`), each failing
with one line that names the value. Imports nothing heavy: the CLI checks its arguments
before TensorFlow loads.

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> _ = parser.add_argument("--steps", type=positive_int)
>>> parser.parse_args(["--steps", "3"]).steps
3
"""

import argparse


def _number(text, kind, name):
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None


def positive_int(text):
    """An integer >= 1."""
    value = _number(text, int, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def non_negative_int(text):
    """An integer >= 0."""
    value = _number(text, int, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def positive_float(text):
    """A finite or infinite number > 0 (not NaN)."""
    value = _number(text, float, "a number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def int_or_none(text):
    """An integer, or the word `none` (any case) for None."""
    if text.lower() == "none":
        return None
    return _number(text, int, "an integer or 'none'")
