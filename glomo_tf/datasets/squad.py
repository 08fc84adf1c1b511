"""SQuAD v1.1 (Rajpurkar et al. 2016): extractive question answering.

`load_squad(path)` reads the release JSON (`.json`, or the staged `.json.xz`) into flat
`SquadExample`s. An answer whose `text` is not found at `answer_start` in the context is
dropped and counted ("answer_mismatch"); a question left without answers is dropped and
counted ("no_valid_answer"). The raw `data` list is kept beside the examples, so the
official metric (`glomo_tf.tasks.squad_metric.evaluate`) scores against every original
gold answer.

Protocols (`load_squad_protocol`):

- "reduced-v1" (the staged data has only dev-v1.1): split dev-v1.1's 48 articles by
  ARTICLE. Rule: sort the article titles by Unicode code point, permute them with
  `numpy.random.default_rng(0).permutation(48)`; the first 36 titles are train, the last
  12 test (`REDUCED_V1_TEST_TITLES` lists them). Articles never share paragraphs, so no
  context appears on both sides.
- "paper": train = train-v1.1.json, test = dev-v1.1.json, from `<data_dir>/squad_v1.1/`
  (a `FileNotFoundError` names a missing file).

Example:

>>> dev = load_squad()  # doctest: +SKIP
>>> len(dev.examples), len(dev.data)  # doctest: +SKIP
(10570, 48)
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from glomo_tf.datasets.data_dir import data_dir
from glomo_tf.datasets.registry import fetch
from glomo_tf.datasets.text_files import find_file, open_text

PROTOCOLS = ("reduced-v1", "paper")
REDUCED_V1_SEED = 0
REDUCED_V1_TRAIN_ARTICLES = 36
# The outcome of the rule above on dev-v1.1.json, for reference (a test checks it).
REDUCED_V1_TEST_TITLES = (
    "Force",
    "European_Union_law",
    "Computational_complexity_theory",
    "Steam_engine",
    "Yuan_dynasty",
    "Chloroplast",
    "French_and_Indian_War",
    "Normans",
    "Teacher",
    "Prime_number",
    "Fresno,_California",
    "Packet_switching",
)  # 2,331 questions; the 36 train articles hold 8,239


@dataclasses.dataclass
class SquadAnswer:
    text: str
    answer_start: int


@dataclasses.dataclass
class SquadExample:
    """One question: `id`, article `title`, `context`, `question`, gold `answers`."""

    id: str
    title: str
    context: str
    question: str
    answers: list[SquadAnswer]


@dataclasses.dataclass
class SquadData:
    """Flattened examples, the raw JSON `data` list, and counts of what was dropped."""

    examples: list[SquadExample]
    data: list[dict]
    skipped: dict[str, int]


def _flatten(data: list[dict]) -> SquadData:
    examples, skipped = [], collections.Counter()
    for article in data:
        title = article.get("title", "")
        for paragraph in article.get("paragraphs", []):
            context = paragraph["context"]
            for qa in paragraph.get("qas", []):
                answers = []
                for ans in qa.get("answers", []):
                    start, text = ans.get("answer_start"), ans.get("text")
                    if (
                        isinstance(start, int)
                        and isinstance(text, str)
                        and text
                        and context[start : start + len(text)] == text
                    ):
                        answers.append(SquadAnswer(text, start))
                    else:
                        skipped["answer_mismatch"] += 1
                if not answers:
                    skipped["no_valid_answer"] += 1
                    continue
                examples.append(SquadExample(qa["id"], title, context, qa["question"], answers))
    return SquadData(examples, data, dict(skipped))


def load_squad(path: str | os.PathLike | None = None) -> SquadData:
    """Loads a SQuAD v1.1 JSON file.

    Args:
        path: the `.json`/`.json.xz` file, or a folder holding `dev-v1.1.json[.xz]`;
            default the registry's `squad-dev` folder.
    """
    path = Path(path) if path is not None else fetch("squad-dev")
    if path.is_dir():
        path = find_file(path, "dev-v1.1.json")
    with open_text(path) as f:
        try:
            dataset = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(dataset, dict) or not isinstance(dataset.get("data"), list):
        raise ValueError(f"{path} is not a SQuAD file (no top-level 'data' list)")
    return _flatten(dataset["data"])


def reduced_v1_split(titles: list[str]) -> tuple[list[str], list[str]]:
    """Applies the reduced-v1 article rule: returns (train titles, test titles)."""
    ordered = sorted(titles)
    order = np.random.default_rng(REDUCED_V1_SEED).permutation(len(ordered))
    shuffled = [ordered[i] for i in order]
    return shuffled[:REDUCED_V1_TRAIN_ARTICLES], shuffled[REDUCED_V1_TRAIN_ARTICLES:]


def load_squad_protocol(
    name: str = "reduced-v1", root: str | os.PathLike | None = None
) -> dict[str, SquadData]:
    """Loads the train/test splits of a SQuAD protocol (see the module docstring).

    Returns:
        `{"train": SquadData, "test": SquadData}`.
    """
    if name not in PROTOCOLS:
        raise ValueError(f"unknown SQuAD protocol {name!r}; use one of {PROTOCOLS}")
    folder = (Path(root) if root is not None else data_dir()) / "squad_v1.1"
    if name == "paper":
        files = {}
        for split, base in (("train", "train-v1.1.json"), ("test", "dev-v1.1.json")):
            try:
                files[split] = find_file(folder, base)
            except FileNotFoundError as err:
                raise FileNotFoundError(
                    f"the 'paper' SQuAD protocol needs {base} in {folder} "
                    f"(`fetch('squad-train')` / `fetch('squad-dev')` download them): {err}"
                ) from err
        return {split: load_squad(p) for split, p in files.items()}
    dev = load_squad(find_file(folder, "dev-v1.1.json"))
    titles = [a["title"] for a in dev.data]
    if len(titles) != len(set(titles)):
        raise ValueError("dev-v1.1.json has duplicate article titles; the split rule needs unique ones")
    _, test_titles = reduced_v1_split(titles)
    test_set = set(test_titles)
    splits = {}
    for split, keep in (("train", lambda t: t not in test_set), ("test", lambda t: t in test_set)):
        subset = _flatten([a for a in dev.data if keep(a["title"])])
        splits[split] = subset
    return splits
