"""The official SQuAD v1.1 evaluation (exact match and F1), re-implemented.

Same rules as `evaluate-v1.1.py` of the SQuAD release:

- normalise an answer: lowercase, delete every character of `string.punctuation`,
  replace the whole words "a", "an", "the" by a space, squash whitespace;
- exact match: normalised strings equal; F1: bag-of-tokens overlap of the normalised
  strings, 0 when nothing is shared;
- each question scores the maximum over its gold answers; totals are percentages
  over all questions in the data set; a question without a prediction scores 0 and
  is reported (the official script prints one line per question to stderr; here one
  `UserWarning` names how many and the first ids).

Differences, both for clear errors rather than crashes: an empty data set raises a
`ValueError` (the official script divides by zero), and `dataset` may also be the whole
JSON object (`{"version", "data"}`).

Example:

>>> data = [{"paragraphs": [{"qas": [{"id": "q1", "answers": [{"text": "the cat"}]}]}]}]
>>> evaluate(data, {"q1": "Cat!"})
{'exact_match': 100.0, 'f1': 100.0}
"""

from __future__ import annotations

import collections
import re
import string
import warnings
from typing import Callable, Iterable, Mapping

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercases, drops punctuation and articles, squashes whitespace (official order)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-level F1 of the normalised strings."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(ground_truth).split()
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def metric_max_over_ground_truths(
    metric: Callable[[str, str], float], prediction: str, ground_truths: Iterable[str]
) -> float:
    return max(metric(prediction, gt) for gt in ground_truths)


def evaluate(dataset, predictions: Mapping[str, str]) -> dict[str, float]:
    """Scores predictions against a SQuAD v1.1 data set.

    Args:
        dataset: the JSON's `data` list (articles → paragraphs → qas with answers), or
            the whole JSON object.
        predictions: `{question id: answer text}`.

    Returns:
        `{"exact_match": float, "f1": float}`, both percentages in [0, 100].

    Raises:
        ValueError: the data set holds no question, a question has no gold answer, or
            a prediction is not a string.
    """
    if isinstance(dataset, Mapping):
        if "data" not in dataset:
            raise ValueError("dataset must be the SQuAD JSON's 'data' list or the whole JSON")
        dataset = dataset["data"]
    exact_match = f1 = 0.0
    total = 0
    unanswered = []
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                qid = qa["id"]
                if qid not in predictions:
                    unanswered.append(qid)
                    continue
                prediction = predictions[qid]
                if not isinstance(prediction, str):
                    raise ValueError(f"prediction for {qid} is {type(prediction).__name__}, not str")
                ground_truths = [a["text"] for a in qa["answers"]]
                if not ground_truths:
                    raise ValueError(f"question {qid} has no gold answer")
                exact_match += metric_max_over_ground_truths(
                    exact_match_score, prediction, ground_truths
                )
                f1 += metric_max_over_ground_truths(f1_score, prediction, ground_truths)
    if total == 0:
        raise ValueError("the SQuAD data set holds no question")
    if unanswered:
        shown = ", ".join(unanswered[:5]) + (", ..." if len(unanswered) > 5 else "")
        warnings.warn(
            f"{len(unanswered)} unanswered question(s) will receive score 0: {shown}",
            stacklevel=2,
        )
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}
