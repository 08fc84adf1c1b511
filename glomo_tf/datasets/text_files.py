"""Opening the data sets' files whatever their compression, and finding them in a folder.

The staged data folder stores single files as `.xz`, upstream releases are plain; a
loader asks for a base name (`dev.tsv`) and gets whichever of `dev.tsv`, `dev.tsv.xz`,
`dev.tsv.gz` is there.

Example:

>>> with open_text(find_file("/data/sst2", "dev.tsv")) as f:  # doctest: +SKIP
...     header = f.readline()
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
from pathlib import Path

_COMPRESSED_SUFFIXES = (".xz", ".gz", ".bz2")


def open_binary(path: str | os.PathLike) -> io.BufferedIOBase:
    """Opens `path` for reading bytes, decompressing `.xz`, `.gz` and `.bz2`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


def open_text(path: str | os.PathLike) -> io.TextIOBase:
    """Opens `path` as UTF-8 text (newlines kept as they are), decompressing as needed."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", newline="")


def find_file(folder: str | os.PathLike, *names: str) -> Path:
    """Returns the first of `names` (each tried plain and compressed) found in `folder`.

    Raises:
        FileNotFoundError: naming the folder and every name tried.
    """
    folder = Path(folder)
    tried = []
    for name in names:
        for suffix in ("",) + _COMPRESSED_SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            tried.append(candidate.name)
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"none of {tried} found in {folder}")
