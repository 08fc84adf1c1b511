"""Opening the data sets' files whatever their compression, and finding them in a folder.

The staged data folder stores single files as `.xz`, upstream releases are plain; a
loader asks for a base name (`dev.tsv`) and gets whichever of `dev.tsv`, `dev.tsv.xz`,
`dev.tsv.gz` is there.

Example:

>>> with open_text(find_file("/data/sst2", "dev.tsv")) as f:  # doctest: +SKIP
...     header = f.readline()
"""

from __future__ import annotations

import os
from pathlib import Path

# Re-exported: the loaders open what `find_file` finds with these.
from glomo_tf.files.compressed import COMPRESSED_SUFFIXES, open_binary, open_text

__all__ = ["find_file", "open_binary", "open_text"]


def find_file(folder: str | os.PathLike, *names: str) -> Path:
    """Returns the first of `names` (each tried plain and compressed) found in `folder`.

    Raises:
        FileNotFoundError: naming the folder and every name tried.
    """
    folder = Path(folder)
    tried = []
    for name in names:
        for suffix in ("",) + COMPRESSED_SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            tried.append(candidate.name)
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"none of {tried} found in {folder}")
