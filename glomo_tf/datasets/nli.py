"""Natural language inference (MultiNLI, SNLI, e-SNLI): premise, hypothesis, 3-way label.

Formats read:

- jsonl, one example per line, in either of two schemas (detected per line):
  the generative-nli copies staged in the data folder, `{"premise", "hypothesis",
  "label"}`; and the MultiNLI/SNLI release files, `{"sentence1", "sentence2",
  "gold_label", ...}`, whose examples with `gold_label` "-" (no annotator majority) are
  skipped and counted as "no_gold_label". Plain or `.xz`/`.gz`.
- e-SNLI's tokenized `s1.<split>`, `s2.<split>`, `labels.<split>` line files, from the
  staged `esnli_tokenized_snli_dev_test.tar.xz` or a folder holding them.

Labels map to `LABELS` = {entailment: 0, neutral: 1, contradiction: 2}; integer labels
0-2 are accepted as they are. Anything else (unknown strings, out-of-range integers) is
skipped and counted as "bad_label"; lines that are not JSON objects with the fields as
"malformed".

Protocols (`load_nli_protocol`):

- "reduced-v1" (what the staged data allows): train = SNLI dev + test from e-SNLI
  (tokenized text, 9,842 + 9,824 = 19,666 pairs); validation = the first
  `n // 2` = 4,907 examples of MNLI dev-matched in file order; test = the remaining
  4,908. A contiguous split, not a seeded one: the file's order is the upstream order,
  which the staged copy keeps, so anyone can rebuild it.
- "paper": train = MultiNLI train, validation = dev-matched, test = dev-mismatched,
  from the release files `multinli_1.0_{train,dev_matched,dev_mismatched}.jsonl` under
  `<data_dir>/mnli/` (or its `multinli_1.0/` subfolder); a `FileNotFoundError` names
  the missing ones.

Example:

>>> splits = load_nli_protocol("reduced-v1")  # doctest: +SKIP
>>> len(splits["validation"].premises), len(splits["test"].premises)  # doctest: +SKIP
(4907, 4908)
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import tarfile
from pathlib import Path

import numpy as np

from glomo_tf.datasets.data_dir import data_dir
from glomo_tf.datasets.registry import fetch
from glomo_tf.datasets.text_files import find_file, open_text

LABELS = {"entailment": 0, "neutral": 1, "contradiction": 2}
LABEL_NAMES = tuple(LABELS)
PROTOCOLS = ("reduced-v1", "paper")
_ESNLI_ARCHIVE = "esnli_tokenized_snli_dev_test.tar.xz"


@dataclasses.dataclass
class NliExamples:
    """Premise/hypothesis pairs with labels.

    Attributes:
        premises, hypotheses: the texts.
        labels: int32 [N] in {0: entailment, 1: neutral, 2: contradiction}.
        skipped: counts of examples left out, by reason.
    """

    premises: list[str]
    hypotheses: list[str]
    labels: np.ndarray
    skipped: dict[str, int]

    def __len__(self) -> int:
        return len(self.premises)

    def take(self, start: int, stop: int) -> "NliExamples":
        """Returns examples `start:stop` (skip counts are kept with the whole)."""
        return NliExamples(
            self.premises[start:stop], self.hypotheses[start:stop], self.labels[start:stop], {}
        )

    @staticmethod
    def concatenate(parts: list["NliExamples"]) -> "NliExamples":
        skipped: collections.Counter = collections.Counter()
        for p in parts:
            skipped.update(p.skipped)
        return NliExamples(
            [x for p in parts for x in p.premises],
            [x for p in parts for x in p.hypotheses],
            np.concatenate([p.labels for p in parts]).astype(np.int32),
            dict(skipped),
        )


def label_id(label) -> int | None:
    """Maps a string or integer label to 0-2, or `None` when it is not one."""
    if isinstance(label, bool):
        return None
    if isinstance(label, int):
        return label if 0 <= label < len(LABELS) else None
    if isinstance(label, str):
        return LABELS.get(label.strip().lower())
    return None


class _Builder:
    def __init__(self):
        self.premises, self.hypotheses, self.labels = [], [], []
        self.skipped = collections.Counter()

    def add(self, premise, hypothesis, label) -> None:
        if not isinstance(premise, str) or not isinstance(hypothesis, str):
            self.skipped["malformed"] += 1
            return
        if label == "-":
            self.skipped["no_gold_label"] += 1
            return
        lid = label_id(label)
        if lid is None:
            self.skipped["bad_label"] += 1
            return
        self.premises.append(premise)
        self.hypotheses.append(hypothesis)
        self.labels.append(lid)

    def build(self) -> NliExamples:
        return NliExamples(
            self.premises,
            self.hypotheses,
            np.asarray(self.labels, dtype=np.int32),
            dict(self.skipped),
        )


def load_nli_jsonl(path: str | os.PathLike) -> NliExamples:
    """Loads a jsonl file in the generative-nli or the MultiNLI/SNLI release schema."""
    out = _Builder()
    with open_text(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                out.skipped["malformed"] += 1
                continue
            if not isinstance(row, dict):
                out.skipped["malformed"] += 1
            elif "sentence1" in row:
                out.add(row.get("sentence1"), row.get("sentence2"), row.get("gold_label"))
            elif "premise" in row:
                out.add(row.get("premise"), row.get("hypothesis"), row.get("label"))
            else:
                out.skipped["malformed"] += 1
    return out.build()


def _esnli_lines_from_archive(archive: Path, split: str) -> dict[str, list[str]]:
    wanted = {f"{part}.{split}": part for part in ("s1", "s2", "labels")}
    found = {}
    with tarfile.open(archive, "r|*") as tar:
        for member in tar:
            name = Path(member.name).name
            if member.isfile() and name in wanted:
                text = tar.extractfile(member).read().decode("utf-8")
                found[wanted[name]] = text.splitlines()
    missing = [n for n, part in wanted.items() if part not in found]
    if missing:
        raise FileNotFoundError(f"{archive} has no members {missing}")
    return found


def load_esnli(split: str = "dev", path: str | os.PathLike | None = None) -> NliExamples:
    """Loads e-SNLI's tokenized SNLI `dev` or `test` pairs.

    Args:
        split: "dev" or "test" (the staged archive has only these two).
        path: the `.tar.xz`, or a folder holding it or `s1.<split>`, `s2.<split>`,
            `labels.<split>` (also inside `eSNLI/` or `dataset/eSNLI/`); default the
            registry's `esnli` folder.
    """
    if split not in ("dev", "test", "train"):
        raise ValueError(f"unknown e-SNLI split {split!r}; use 'dev' or 'test'")
    path = Path(path) if path is not None else fetch("esnli")
    if path.is_dir() and (path / _ESNLI_ARCHIVE).is_file():
        path = path / _ESNLI_ARCHIVE
    if path.is_file():
        lines = _esnli_lines_from_archive(path, split)
    else:
        for folder in (path, path / "eSNLI", path / "dataset" / "eSNLI"):
            if (folder / f"s1.{split}").is_file():
                break
        lines = {}
        for part in ("s1", "s2", "labels"):
            with open_text(find_file(folder, f"{part}.{split}")) as f:
                lines[part] = f.read().splitlines()
    counts = {part: len(v) for part, v in lines.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"e-SNLI {split} files disagree in length: {counts}")
    out = _Builder()
    for s1, s2, label in zip(lines["s1"], lines["s2"], lines["labels"]):
        out.add(s1.strip(), s2.strip(), label.strip())
    return out.build()


def _find_mnli_release(root: Path, split: str) -> Path | None:
    for folder in (root / "mnli", root / "mnli" / "multinli_1.0", root / "multinli_1.0"):
        try:
            return find_file(folder, f"multinli_1.0_{split}.jsonl")
        except FileNotFoundError:
            continue
    return None


def load_nli_protocol(
    name: str = "reduced-v1", root: str | os.PathLike | None = None
) -> dict[str, NliExamples]:
    """Loads the train/validation/test splits of an NLI protocol (see the module docstring).

    Args:
        name: "reduced-v1" or "paper".
        root: the data folder; default `data_dir()`.

    Returns:
        `{"train": ..., "validation": ..., "test": ...}` of `NliExamples`.
    """
    if name not in PROTOCOLS:
        raise ValueError(f"unknown NLI protocol {name!r}; use one of {PROTOCOLS}")
    root = Path(root) if root is not None else data_dir()
    if name == "paper":
        files = {
            split: _find_mnli_release(root, split)
            for split in ("train", "dev_matched", "dev_mismatched")
        }
        missing = [f"multinli_1.0_{s}.jsonl" for s, p in files.items() if p is None]
        if missing:
            raise FileNotFoundError(
                f"the 'paper' NLI protocol needs the MultiNLI 1.0 release files {missing} in "
                f"{root / 'mnli'} (from multinli_1.0.zip; `fetch('mnli')` downloads it)"
            )
        return {
            "train": load_nli_jsonl(files["train"]),
            "validation": load_nli_jsonl(files["dev_matched"]),
            "test": load_nli_jsonl(files["dev_mismatched"]),
        }
    snli_folder = root / "snli"
    train = NliExamples.concatenate(
        [load_esnli("dev", snli_folder), load_esnli("test", snli_folder)]
    )
    mnli_file = find_file(root / "mnli", "mnli_dev_matched.generative-nli.jsonl")
    dev_matched = load_nli_jsonl(mnli_file)
    half = len(dev_matched) // 2
    validation = dev_matched.take(0, half)
    validation.skipped = dev_matched.skipped
    return {"train": train, "validation": validation, "test": dev_matched.take(half, len(dev_matched))}
