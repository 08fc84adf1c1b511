"""The vocabulary file: one token per line, line number = id, `<unk>` first.

Kept apart from building a vocabulary (`vocabulary.py`, which needs the tokenizer) so that
the tokenizer can read a vocabulary file without importing the code that builds one.
"""

from __future__ import annotations

import os
from typing import Iterable

from glomo_tf.files.atomic_write import atomic_write

UNK_TOKEN = "<unk>"


def validate_vocabulary(vocabulary: Iterable[str]) -> list[str]:
    """Checks the GLoMo vocabulary contract and returns it as a list.

    Args:
        vocabulary: tokens, index = id.

    Returns:
        The vocabulary as a new list.

    Raises:
        ValueError: if it is not a list of strings, has fewer than 2 entries, does not
            start with `<unk>`, or repeats a token.
    """
    if isinstance(vocabulary, (str, bytes)):
        raise ValueError("A vocabulary must be a list of tokens or a file path.")
    vocabulary = list(vocabulary)
    if not all(isinstance(t, str) for t in vocabulary):
        raise ValueError("Every vocabulary entry must be a Python str.")
    if len(vocabulary) < 2:
        raise ValueError(
            f"A vocabulary needs `{UNK_TOKEN}` and at least one word; got {len(vocabulary)} entries."
        )
    if vocabulary[0] != UNK_TOKEN:
        raise ValueError(
            f"Index 0 of the vocabulary must be `{UNK_TOKEN}`; got {vocabulary[0]!r}."
        )
    seen = set()
    for index, token in enumerate(vocabulary):
        if token in seen:
            raise ValueError(f"Duplicate vocabulary token {token!r} at index {index}.")
        seen.add(token)
    return vocabulary


def save_vocabulary(vocabulary: Iterable[str], path: str | os.PathLike) -> None:
    """Writes one token per line (UTF-8), atomically (temp file, then `os.replace`).

    Raises:
        ValueError: if the vocabulary breaks the contract (see `validate_vocabulary`)
            or a token holds a line break or is empty.
    """
    vocabulary = validate_vocabulary(vocabulary)
    for index, token in enumerate(vocabulary):
        if not token or "\n" in token or "\r" in token:
            raise ValueError(
                f"Vocabulary token {token!r} at index {index} cannot be written one per line."
            )
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, newline="\n") as file:
        file.write("".join(f"{token}\n" for token in vocabulary))


def load_vocabulary(path: str | os.PathLike) -> list[str]:
    """Reads a one-token-per-line vocabulary file and checks it.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the file is empty, not UTF-8, does not start with `<unk>`,
            repeats a token or holds fewer than 2 tokens.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Vocabulary file {path!r} does not exist.")
    try:
        with open(path, "r", encoding="utf-8", newline="") as file:
            text = file.read()
    except UnicodeDecodeError as error:
        raise ValueError(f"Vocabulary file {path!r} is not valid UTF-8: {error}.") from None
    if not text.strip():
        raise ValueError(f"Vocabulary file {path!r} is empty.")
    tokens = text.split("\n")
    if tokens[-1] == "":
        tokens.pop()
    tokens = [t[:-1] if t.endswith("\r") else t for t in tokens]
    try:
        return validate_vocabulary(tokens)
    except ValueError as error:
        raise ValueError(f"Vocabulary file {path!r}: {error}") from None
