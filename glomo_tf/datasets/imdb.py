"""IMDB Large Movie Review v1.0 (Maas et al. 2011): binary review sentiment.

Reads the `aclImdb/` layout (`{train,test}/{neg,pos}/<id>_<rating>.txt`,
`train/unsup/<id>_0.txt`) from any of

- a `.tar.gz` archive: the upstream `aclImdb_v1.tar.gz`, or the staged
  `aclImdb_labeled_train_test.tar.gz` / `aclImdb_train_unsup.tar.gz`; streamed
  member by member, never extracted to disk;
- an extracted `aclImdb/` folder (or the folder that contains it);
- a folder holding the archives (the default: the registry's `imdb` folder).

Order of the result: `neg` before `pos`, then file names in byte order. `limit` stops
reading after that many reviews in *reading* order (archive member order, which for the
staged labelled archive is train/pos before train/neg; for folders neg then pos), so
a small `limit` reads only a few members of an archive but need not give both labels.
HTML line breaks
(`<br />`) become spaces; reviews that are empty after that are skipped and counted.

Example:

>>> train = load_imdb("train", limit=4)  # doctest: +SKIP
>>> len(train.texts), train.labels.dtype  # doctest: +SKIP
(4, dtype('int32'))
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import tarfile
from pathlib import Path

import numpy as np

from glomo_tf.datasets.registry import fetch

SPLITS = ("train", "test", "unsup")
LABELS = {"neg": 0, "pos": 1}
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_NAME = re.compile(r"^aclImdb/(train|test)/(neg|pos|unsup)/(\d+)_(\d+)\.txt$")
_ARCHIVES = ("aclImdb_labeled_train_test.tar.gz", "aclImdb_train_unsup.tar.gz", "aclImdb_v1.tar.gz")


@dataclasses.dataclass
class ImdbSplit:
    """One IMDB split.

    Attributes:
        texts: review texts, `<br />` replaced by a space, stripped.
        labels: int32 [N]: 0 negative, 1 positive, -1 for the unlabelled `unsup` split.
        ratings: int32 [N]: the star rating from the file name (1-4 neg, 7-10 pos, 0 unsup).
        ids: the review ids from the file names.
        skipped: counts of reviews left out, by reason ("empty", "undecodable").
    """

    texts: list[str]
    labels: np.ndarray
    ratings: np.ndarray
    ids: list[int]
    skipped: dict[str, int]


def clean_review(text: str) -> str:
    """Replaces HTML line breaks by spaces and strips the review."""
    return _BREAK.sub(" ", text).strip()


def _wanted(split: str, name: str):
    """Returns (label folder, id, rating) when archive path `name` belongs to `split`."""
    match = _NAME.match(name)
    if not match:
        return None
    top, sub, review_id, rating = match.groups()
    if split == "unsup":
        ok = top == "train" and sub == "unsup"
    else:
        ok = top == split and sub in LABELS
    return (sub, int(review_id), int(rating)) if ok else None


class _Collector:
    def __init__(self, limit):
        self.limit = limit
        self.rows = []
        self.skipped = collections.Counter()

    def full(self) -> bool:
        return self.limit is not None and len(self.rows) >= self.limit

    def add(self, sort_key, sub, review_id, rating, raw: bytes) -> None:
        try:
            text = clean_review(raw.decode("utf-8"))
        except UnicodeDecodeError:
            self.skipped["undecodable"] += 1
            return
        if not text:
            self.skipped["empty"] += 1
            return
        self.rows.append((sort_key, text, LABELS.get(sub, -1), rating, review_id))


def _read_archive(archive: Path, split: str, out: _Collector) -> None:
    with tarfile.open(archive, "r|*") as tar:  # stream: no random access, no extraction
        for member in tar:
            if out.full():
                return
            info = _wanted(split, member.name.removeprefix("./")) if member.isfile() else None
            if info is None:
                continue
            sub = info[0]
            key = (sub, Path(member.name).name.encode())
            out.add(key, *info, tar.extractfile(member).read())


def _read_folder(root: Path, split: str, out: _Collector) -> None:
    top, subs = ("train", ["unsup"]) if split == "unsup" else (split, ["neg", "pos"])
    for sub in subs:
        folder = root / top / sub
        if not folder.is_dir():
            raise FileNotFoundError(f"IMDB folder {folder} is missing")
        for name in sorted(os.listdir(folder), key=str.encode):
            if out.full():
                return
            info = _wanted(split, f"aclImdb/{top}/{sub}/{name}")
            if info is not None:
                out.add((sub, name.encode()), *info, (folder / name).read_bytes())


def _archives_for(folder: Path, split: str) -> list[Path]:
    staged = folder / ("aclImdb_train_unsup.tar.gz" if split == "unsup" else _ARCHIVES[0])
    if staged.is_file():
        return [staged]
    upstream = folder / "aclImdb_v1.tar.gz"
    return [upstream] if upstream.is_file() else []


def load_imdb(
    split: str = "train", path: str | os.PathLike | None = None, limit: int | None = None
) -> ImdbSplit:
    """Loads one IMDB split.

    Args:
        split: "train", "test" or "unsup" (the 50,000 unlabelled train reviews).
        path: an archive, an `aclImdb/` folder, or a folder holding either; default the
            registry's `imdb` folder (`fetch("imdb")`, or `fetch("imdb-unsup")`).
        limit: read at most this many reviews (see the module docstring for the order).

    Returns:
        An `ImdbSplit`.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown IMDB split {split!r}; use one of {SPLITS}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    path = Path(path) if path is not None else fetch("imdb-unsup" if split == "unsup" else "imdb")
    out = _Collector(limit)
    if path.is_file():
        _read_archive(path, split, out)
    elif (path / "aclImdb").is_dir():
        _read_folder(path / "aclImdb", split, out)
    elif path.name == "aclImdb" and path.is_dir():
        _read_folder(path, split, out)
    elif path.is_dir() and _archives_for(path, split):
        for archive in _archives_for(path, split):
            _read_archive(archive, split, out)
    else:
        raise FileNotFoundError(
            f"no IMDB data for split {split!r} at {path}: expected an aclImdb/ folder or one of "
            f"{list(_ARCHIVES)}"
        )
    # Archives written by other tools need not be name-sorted; fix one order for all.
    out.rows.sort(key=lambda row: row[0])
    return ImdbSplit(
        texts=[r[1] for r in out.rows],
        labels=np.asarray([r[2] for r in out.rows], dtype=np.int32),
        ratings=np.asarray([r[3] for r in out.rows], dtype=np.int32),
        ids=[r[4] for r in out.rows],
        skipped=dict(out.skipped),
    )
