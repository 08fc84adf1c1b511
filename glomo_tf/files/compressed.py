"""Opening files that may be compressed: `.xz`, `.gz`, `.bz2`, or a `.zip` of one text file.

The suffix decides (case-insensitively); anything else is read as it is.

Example:
>>> from glomo_tf.files.compressed import open_text
>>> with open_text("corpus.txt.xz") as f:  # doctest: +SKIP
...     first = f.readline()
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile

COMPRESSED_SUFFIXES = (".xz", ".gz", ".bz2")
_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}


def strip_compression(name: str) -> str:
    """`name` without a `.xz`/`.gz`/`.bz2` suffix (`wiki.train.tokens.xz` -> `...tokens`)."""
    for suffix in COMPRESSED_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _zip_member(path: str) -> io.BufferedIOBase:
    archive = zipfile.ZipFile(path)
    names = [n for n in archive.namelist() if not n.endswith("/")]
    texts = [n for n in names if n.lower().endswith(".txt")]
    if not (texts or len(names) == 1):
        archive.close()
        raise ValueError(f"{path} holds no .txt member (members: {names[:5]})")
    # The archive stays open as long as its member: ZipExtFile reads through it.
    return archive.open((texts or names)[0])


def open_binary(path: str | os.PathLike) -> io.BufferedIOBase:
    """Opens `path` for reading bytes, decompressed.

    A `.zip` yields its first `.txt` member (or its only member), as the GloVe archives
    hold one text file.

    Raises:
        FileNotFoundError: `path` is not a file (named).
        ValueError: a `.zip` without a text member.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"file not found: {path}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".zip":
        return _zip_member(path)
    return _OPENERS.get(suffix, open)(path, "rb")


def open_text(path: str | os.PathLike, errors: str = "strict",
              newline: str | None = "") -> io.TextIOBase:
    """Opens `path` as UTF-8 text, decompressed (see `open_binary`).

    Args:
        path: the file.
        errors: how undecodable bytes are handled (`"strict"` raises, `"replace"`
            substitutes U+FFFD), as for `open`.
        newline: as for `open`; the default `""` keeps line endings as they are.
    """
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", errors=errors,
                            newline=newline)
