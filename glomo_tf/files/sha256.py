"""The SHA-256 of a file.

Example:
>>> from glomo_tf.files.sha256 import sha256_of
>>> sha256_of("vocab.txt")  # doctest: +SKIP
'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'
"""

from __future__ import annotations

import hashlib
import os


def sha256_of(path: str | os.PathLike) -> str:
    """The hex SHA-256 of the file at `path` (streamed: any size)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
