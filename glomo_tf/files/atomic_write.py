"""Writing a file so that readers see the old one or the new one, never half of one.

The bytes go to a temporary file beside the target (same directory, so the same file
system), are flushed to disk, and the temporary file is then renamed onto the target
(`os.replace`, atomic on POSIX and Windows). If writing fails, the temporary file is
removed and the target is left as it was. The temporary name starts with a dot and
ends in `.tmp`, so an interrupted process leaves something recognisable.

Example:
>>> from glomo_tf.files.atomic_write import atomic_write, write_json
>>> with atomic_write("notes.txt") as f:  # doctest: +SKIP
...     f.write("one\\n")
>>> write_json("metrics.json", {"accuracy": 0.9})  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid


def temporary_name(path: str | os.PathLike, suffix: str = "") -> str:
    """A fresh temporary name beside `path`: `DIR/.NAME.<pid>-<random>.tmp<suffix>`."""
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None):
    """A file object open on a temporary file that replaces `path` when the block ends.

    Args:
        path: the target; its directory must exist.
        mode: `"w"` (text) or `"wb"` (bytes).
        encoding, newline: for text mode, as for `open`.

    Raises:
        ValueError: another `mode`.
        Whatever the block raises: then `path` is untouched and no temporary file is left.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files: mode 'w' or 'wb', got {mode!r}.")
    target = os.fspath(path)
    temp = temporary_name(target)
    text = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
    # "x": never clobber another writer's temporary file.
    try:
        with open(temp, mode.replace("w", "x"), **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """A temporary path beside `path` for a writer that takes a path, not a file object
    (Keras' `save_weights`); it replaces `path` when the block ends.

    Args:
        path: the target; its directory must exist.
        suffix: added to the temporary name, for writers that check how it ends
            (".weights.h5").

    Whatever the block raises: then `path` is untouched and the temporary file is removed.
    """
    target = os.fspath(path)
    temp = temporary_name(target, suffix)
    try:
        yield temp
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    with atomic_write(path) as f:
        f.write(text)


def write_json(path: str | os.PathLike, value, indent: int = 2) -> None:
    """Writes `value` as JSON (sorted keys, a final newline) to `path` atomically."""
    write_text(path, json.dumps(value, indent=indent, sort_keys=True) + "\n")
