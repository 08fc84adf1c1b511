"""Downloading one file with a pinned SHA-256, atomically.

The file is streamed to a temporary file beside `dest` (`glomo_tf.files.atomic_write`),
hashed on the way, and only renamed into place when the digest matches. A failed or
mismatching download deletes its temporary file and leaves any existing `dest` untouched. `file://` URLs work too (the tests use them).

Example:

>>> download("file:///tmp/a.txt", "/tmp/copy/a.txt", sha256="9f86d0...")  # doctest: +SKIP
PosixPath('/tmp/copy/a.txt')
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from glomo_tf.files.atomic_write import atomic_write

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


class _Progress:
    """A one-line progress bar on stderr (only drawn on a terminal)."""

    def __init__(self, label: str, total: int | None, enabled: bool):
        self.label, self.total, self.done = label, total, 0
        self.enabled = enabled and sys.stderr.isatty()

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        if self.total:
            frac = self.done / self.total
            bar = "#" * int(30 * frac)
            sys.stderr.write(f"\r{self.label} [{bar:<30}] {100 * frac:5.1f}%")
        else:
            sys.stderr.write(f"\r{self.label} {self.done / 1e6:8.1f} MB")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Downloads `url` to `dest`, checking its SHA-256.

    Args:
        url: an `http(s)://`, `ftp://` or `file://` URL.
        dest: the final path; its parent folders are created.
        sha256: the expected hex digest (case-insensitive). `None` skips the check and
            logs a warning; use it only for upstream files without a published digest.
        progress: draw a progress bar on stderr when it is a terminal.
        timeout: socket timeout in seconds.

    Returns:
        `Path(dest)`.

    Raises:
        ConnectionError: the URL could not be read (offline, 404, missing file).
        ValueError: the digest does not match; the downloaded bytes are deleted and an
            existing `dest` is kept.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise ConnectionError(
            f"could not download {url}: {getattr(err, 'reason', err)}. If this machine is "
            f"offline, put the file at {dest} yourself."
        ) from err
    digest = hashlib.sha256()
    # An error inside the block (broken connection, wrong digest) discards the bytes and
    # leaves `dest` as it was.
    with response, atomic_write(dest, "wb") as out:
        length = response.headers.get("Content-Length") if response.headers else None
        bar = _Progress(dest.name, int(length) if length else None, progress)
        try:
            for block in iter(lambda: response.read(_CHUNK), b""):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
        except OSError as err:
            raise ConnectionError(f"download of {url} broke off: {err}") from err
        finally:
            bar.close()
        actual = digest.hexdigest()
        if sha256 is None:
            logger.warning("No pinned SHA-256 for %s; got %s (not verified).", url, actual)
        elif actual != sha256.lower():
            raise ValueError(
                f"SHA-256 mismatch for {url}: expected {sha256.lower()}, got {actual}. "
                f"The download was discarded; {dest} was not changed."
            )
    return dest
