"""SST-2 (GLUE version): binary sentence sentiment.

GLUE's `SST-2/{train,dev,test}.tsv`: a header line, then tab-separated rows, no quoting.
train/dev rows are `sentence<TAB>label` (label 0 negative, 1 positive): train 67,349,
dev 872; test rows are `index<TAB>sentence` without labels (1,821). Plain `.tsv` or the
staged `.tsv.xz` both load. Rows with the wrong number of fields or a label other than
0/1 are skipped and counted.

Example:

>>> dev = load_sst2("dev")  # doctest: +SKIP
>>> len(dev.sentences), dev.labels[:3]  # doctest: +SKIP
(872, array([1, 0, 1], dtype=int32))
"""

from __future__ import annotations

import collections
import dataclasses
import os
from pathlib import Path

import numpy as np

from glomo_tf.datasets.registry import fetch
from glomo_tf.datasets.text_files import find_file, open_text

SPLITS = ("train", "dev", "test")
_ALIASES = {"validation": "dev"}


@dataclasses.dataclass
class Sst2Split:
    """One SST-2 split.

    Attributes:
        sentences: the sentences (GLUE's tokenized, lowercased text).
        labels: int32 [N], 0 negative / 1 positive; `None` for the unlabelled test split.
        skipped: counts of rows left out, by reason.
    """

    sentences: list[str]
    labels: np.ndarray | None
    skipped: dict[str, int]


def load_sst2(split: str = "train", path: str | os.PathLike | None = None) -> Sst2Split:
    """Loads one SST-2 split.

    Args:
        split: "train", "dev" (alias "validation") or "test".
        path: the `.tsv`/`.tsv.xz` file, or a folder holding `<split>.tsv[.xz]`; default
            the registry's `sst2` folder (`fetch("sst2")`).

    Returns:
        An `Sst2Split`.
    """
    split = _ALIASES.get(split, split)
    if split not in SPLITS:
        raise ValueError(f"unknown SST-2 split {split!r}; use one of {SPLITS}")
    path = Path(path) if path is not None else fetch("sst2")
    if path.is_dir():
        path = find_file(path, f"{split}.tsv")
    labelled = split != "test"
    sentences, labels = [], []
    skipped: collections.Counter = collections.Counter()
    with open_text(path) as f:
        header = f.readline().rstrip("\r\n").split("\t")
        expected = ["sentence", "label"] if labelled else ["index", "sentence"]
        if header != expected:
            raise ValueError(f"{path}: header {header} is not the GLUE SST-2 {split} header {expected}")
        for line in f:
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                skipped["wrong_field_count"] += 1
                continue
            if labelled:
                sentence, label = fields
                if label.strip() not in ("0", "1"):
                    skipped["bad_label"] += 1
                    continue
                labels.append(int(label))
            else:
                sentence = fields[1]
            if not sentence.strip():
                skipped["empty"] += 1
                if labelled:
                    labels.pop()
                continue
            sentences.append(sentence)
    return Sst2Split(
        sentences=sentences,
        labels=np.asarray(labels, dtype=np.int32) if labelled else None,
        skipped=dict(skipped),
    )
