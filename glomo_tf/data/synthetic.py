"""A synthetic language with planted long-range dependencies and known parents.

Purpose: check that a pretrained graph predictor finds real structure, by comparing
its graphs with the positions that *must* be read to predict the next word.

The language. There are `num_classes` dependency classes. Class `c` owns
`triggers_per_class` trigger words, the same number of answer words (a fixed random
bijection trigger ↔ answer) and one marker word; one opener word is shared by all
classes. A document is `document_length` words, mostly fillers drawn uniformly from
`num_fillers` filler words. A dependency of class `c` is planted as

    ... opener trigger(c, k) filler ... filler marker(c) answer(c, k) ...
               position j                      position i  position i + 1

with `i - j` drawn uniformly from `[min_distance, max_distance]`. The answer after a
marker is determined by the trigger of its class that came before, and by nothing
else, so predicting it needs the word `i - j` positions back. Besides the planted
triggers, `distractors_per_dependency` triggers per dependency, of classes *not* planted
in the document (so with other answers and no marker), are scattered over it without an
opener: a model that merely pools every trigger it has seen cannot tell the answer, only
one that reads the trigger of the marker's class can.

Why the parent is identifiable from local context. The graph predictor computes keys
and queries from the embeddings through a causal CNN only (receptive field about 9
tokens, no positions): the marker at `i` tells the query "class c" and the trigger at
`j` tells the key "class c", a typed pair. Each class is planted at most once per
document (hence at most `num_classes` dependencies per document), so its trigger is the
only one of its class there. Why the opener is shared: with one opener word per class,
the opener at `j - 1` was a second key of the marker's class one position early, and in
one seed of four most heads settled on it (it carries no answer, so recovery stayed near
0); with the trigger as the only word of the marker's class, every seed measured found
it (BENCHMARKS.md, "planted_recovery"). Words are lowercase letters only, never digits
(the tokenizer maps tokens with digits to `N`), never `n`, and all distinct.

What is recorded. The model predicts `x_{t+1..t+D}` from position `t`. The row that
needs the parent is therefore the *marker* position `i` (it must predict the answer
at `i + 1`): `parents[i] = j`, the trigger's position. Every other position has
`parents[·] = -1` (the triggers, fillers and the answers themselves). In the forward
direction `j < i` always holds, so the parent is an allowed column of row `i`.

Evaluation. `parent_recovery` scores forward graphs `[N, L, K, T, T]` per layer `l`
and head `k`. To report one number, choose the layer/head as the one with the best
recovery on a held-out split (`best_layer_head` of that split), then report that
head's recovery on the test split (`parent_recovery(..., layer_head=(l, k))`); the
best head of the test split itself is an optimistic number.

Note on training windows: `make_pretraining_dataset` concatenates documents, so a
window that spans two documents can hold two triggers of one class. Windows of
length `document_length` with `stride=document_length` align with documents when
every document has the same length (the default here); evaluate on whole documents.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional, Sequence

import numpy as np

from glomo_tf.files.atomic_write import write_text

_CONSONANTS = "bdfgklmprstvz"
_VOWELS = "aeiou"


def _make_words(count: int, rng: np.random.Generator) -> list[str]:
    """`count` distinct pronounceable lowercase words (3 to 8 letters, letters only)."""
    words: set[str] = set()
    ordered: list[str] = []
    syllables = 2
    attempts = 0
    while len(ordered) < count:
        letters = []
        for _ in range(syllables):
            letters.append(_CONSONANTS[rng.integers(len(_CONSONANTS))])
            letters.append(_VOWELS[rng.integers(len(_VOWELS))])
        if rng.random() < 0.5:
            letters.append(_CONSONANTS[rng.integers(len(_CONSONANTS))])
        word = "".join(letters)
        attempts += 1
        if word not in words:
            words.add(word)
            ordered.append(word)
        elif attempts > 20 * count:
            syllables += 1  # The short-word space is running out.
            attempts = 0
    return ordered


@dataclasses.dataclass(frozen=True)
class ParentRecovery:
    """Result of `parent_recovery`.

    Attributes:
        recovery: `[L, K]` fraction of dependent rows whose argmax column is the parent.
        best_layer_head: `(l, k)` with the highest recovery on these graphs.
        best_recovery: `recovery[best_layer_head]`.
        selected_recovery: `recovery[layer_head]` when a `layer_head` was given
            (chosen on a held-out split), else None.
        chance: mean over dependent rows of 1 / (number of allowed columns).
        num_dependent_rows: rows scored.
    """

    recovery: np.ndarray
    best_layer_head: tuple[int, int]
    best_recovery: float
    selected_recovery: Optional[float]
    chance: float
    num_dependent_rows: int


class PlantedLanguage:
    """Generator of the planted-dependency language (see the module docstring).

    Args:
        num_classes: dependency classes C.
        num_fillers: filler words.
        triggers_per_class: triggers (and answers) per class; >= 2 so that the
            marker alone does not give the answer away.
        document_length: words per document T.
        min_distance: smallest trigger → marker distance (>= 1).
        max_distance: largest trigger → marker distance (<= document_length - 3).
        dependencies_per_document: `(low, high)` inclusive range of dependencies
            planted per document (capped by C and by the room available).
        distractors_per_dependency: triggers of classes not planted in the document,
            without an opener, placed at random free positions, per dependency (fewer
            when every class is planted); 0 disables.
        seed: fixes the words and the trigger ↔ answer bijection.

    Example:
    ```python
    language = PlantedLanguage(num_classes=8, num_fillers=50, seed=0)
    tokens, parents = language.sample_document(np.random.default_rng(1))
    documents, parents = language.sample(100, seed=1)   # parents [100, T]
    vocabulary = ["<unk>"] + language.words
    ```
    """

    def __init__(
        self,
        num_classes: int = 8,
        num_fillers: int = 100,
        *,
        triggers_per_class: int = 4,
        document_length: int = 64,
        min_distance: int = 4,
        max_distance: int = 40,
        dependencies_per_document: tuple[int, int] = (1, 4),
        distractors_per_dependency: int = 2,
        seed: int = 0,
    ):
        if num_classes < 1:
            raise ValueError(f"`num_classes` must be >= 1; got {num_classes}.")
        if num_fillers < 1:
            raise ValueError(f"`num_fillers` must be >= 1; got {num_fillers}.")
        if triggers_per_class < 2:
            raise ValueError(
                f"`triggers_per_class` must be >= 2 (else the marker alone gives the "
                f"answer); got {triggers_per_class}."
            )
        if not 1 <= min_distance <= max_distance:
            raise ValueError(
                f"Need 1 <= min_distance <= max_distance; got {min_distance}, {max_distance}."
            )
        if max_distance + 3 > document_length:
            raise ValueError(
                f"`document_length` ({document_length}) must be >= max_distance + 3 "
                f"({max_distance + 3}) to fit an opener, a trigger, a marker and its answer."
            )
        low, high = dependencies_per_document
        if not 0 <= low <= high:
            raise ValueError(f"Bad `dependencies_per_document` {dependencies_per_document}.")
        self.num_classes = num_classes
        self.num_fillers = num_fillers
        self.triggers_per_class = triggers_per_class
        self.document_length = document_length
        self.min_distance = min_distance
        self.max_distance = max_distance
        self.dependencies_per_document = (low, min(high, num_classes))
        if distractors_per_dependency < 0:
            raise ValueError("`distractors_per_dependency` must be >= 0.")
        self.distractors_per_dependency = distractors_per_dependency
        self.seed = seed

        rng = np.random.default_rng(seed)
        total = num_fillers + num_classes * (2 * triggers_per_class + 1) + 1
        words = _make_words(total, rng)
        words = [words[i] for i in rng.permutation(total)]
        self.fillers = words[:num_fillers]
        rest = words[num_fillers:]
        n = num_classes * triggers_per_class
        self.triggers = np.array(rest[:n], dtype=object).reshape(num_classes, triggers_per_class)
        answers = np.array(rest[n : 2 * n], dtype=object).reshape(num_classes, triggers_per_class)
        # The bijection: trigger (c, k) is answered by answers[c, permutation[c, k]].
        permutation = np.stack([rng.permutation(triggers_per_class) for _ in range(num_classes)])
        self.answers = np.take_along_axis(answers, permutation, axis=1)
        self.markers = rest[2 * n : 2 * n + num_classes]
        self.opener = rest[2 * n + num_classes]
        self._filler_array = np.array(self.fillers, dtype=object)

    @property
    def words(self) -> list[str]:
        """Every word of the language (fillers, triggers, answers, markers, the opener)."""
        return (
            list(self.fillers)
            + list(self.triggers.ravel())
            + list(self.answers.ravel())
            + list(self.markers)
            + [self.opener]
        )

    def answer_for(self, trigger: str) -> str:
        """The word that follows a marker of `trigger`'s class."""
        c, k = np.argwhere(self.triggers == trigger)[0]
        return self.answers[c, k]

    def sample_document(self, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        """One document and its parents.

        Args:
            rng: a `np.random.Generator` (the document is a function of its state).

        Returns:
            `(tokens, parents)`: `document_length` words and an int32 array of the same
            length, `parents[i] = j` for a marker at `i` whose trigger is at `j`, else -1.
        """
        T = self.document_length
        tokens = self._filler_array[rng.integers(self.num_fillers, size=T)].copy()
        parents = np.full(T, -1, dtype=np.int32)
        taken = np.zeros(T, dtype=bool)
        low, high = self.dependencies_per_document
        wanted = int(rng.integers(low, high + 1)) if high > 0 else 0
        classes = rng.permutation(self.num_classes)[:wanted]
        planted = []
        for c in classes:
            for _ in range(10):  # A few placement tries; skip the class if crowded.
                distance = int(rng.integers(self.min_distance, self.max_distance + 1))
                j = int(rng.integers(1, T - distance - 1))
                i = j + distance
                if not taken[[j - 1, j, i, i + 1]].any():
                    k = int(rng.integers(self.triggers_per_class))
                    tokens[j - 1] = self.opener
                    tokens[j] = self.triggers[c, k]
                    tokens[i] = self.markers[c]
                    tokens[i + 1] = self.answers[c, k]
                    taken[[j - 1, j, i, i + 1]] = True
                    parents[i] = j
                    planted.append(int(c))
                    break
        unplanted = np.setdiff1d(np.arange(self.num_classes), planted)
        for _ in range(self.distractors_per_dependency * len(planted) if unplanted.size else 0):
            free = np.flatnonzero(~taken)
            # Not right after the opener: that would make it look planted.
            free = free[(free == 0) | (tokens[np.maximum(free - 1, 0)] != self.opener)]
            if free.size == 0:
                break
            position = int(rng.choice(free))
            c = int(unplanted[rng.integers(unplanted.size)])
            tokens[position] = self.triggers[c, int(rng.integers(self.triggers_per_class))]
            taken[position] = True
        return list(tokens), parents

    def sample(
        self, num_documents: int, seed: Optional[int] = None
    ) -> tuple[list[list[str]], np.ndarray]:
        """`num_documents` documents and their parents `[num_documents, T]` (int32).

        `seed` defaults to the language's seed + 1 (so the corpus differs from the
        word-drawing stream but is reproducible).
        """
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        documents, parents = [], np.empty((num_documents, self.document_length), np.int32)
        for n in range(num_documents):
            tokens, parents[n] = self.sample_document(rng)
            documents.append(tokens)
        return documents, parents

    def write_corpus(
        self, path: str | os.PathLike, num_documents: int, seed: Optional[int] = None
    ) -> str:
        """Writes one document per line to `path` and the parents to a sidecar.

        The sidecar `parents_path(path)` holds one JSON list of ints per line, aligned
        with the text lines. Both files are written atomically.

        Returns:
            The sidecar's path.
        """
        documents, parents = self.sample(num_documents, seed)
        return write_with_parents(path, documents, parents)


def write_with_parents(path: str | os.PathLike, documents, parents) -> str:
    """Writes `documents` (word lists) one per line to `path` and their `parents` (int
    arrays) to the sidecar `parents_path(path)`, one JSON list per line, both atomically.
    Returns the sidecar's path."""
    path = os.fspath(path)
    sidecar = parents_path(path)
    write_text(path, "".join(" ".join(d) + "\n" for d in documents))
    write_text(sidecar, "".join(json.dumps(p.tolist()) + "\n" for p in parents))
    return sidecar


def parents_path(corpus_path: str | os.PathLike) -> str:
    """The parents sidecar of a corpus file: `<corpus>.parents.jsonl`."""
    return os.fspath(corpus_path) + ".parents.jsonl"


def read_parents(path: str | os.PathLike) -> np.ndarray:
    """Reads parents written by `write_corpus`.

    Args:
        path: the corpus file or the `.parents.jsonl` sidecar itself.

    Returns:
        int32 `[num_documents, T]` (documents of different lengths are padded with -1).

    Raises:
        FileNotFoundError: if neither the path nor its sidecar exists.
        ValueError: on a line that is not a JSON list of ints.
    """
    path = os.fspath(path)
    if not path.endswith(".parents.jsonl"):
        path = parents_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Parents file {path!r} does not exist.")
    rows = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error}).") from None
            if not isinstance(row, list) or not all(isinstance(v, int) for v in row):
                raise ValueError(f"{path}:{number}: expected a JSON list of ints.")
            rows.append(row)
    if not rows:
        return np.zeros((0, 0), np.int32)
    width = max(len(r) for r in rows)
    parents = np.full((len(rows), width), -1, np.int32)
    for n, row in enumerate(rows):
        parents[n, : len(row)] = row
    return parents


def parent_recovery(
    graphs,
    parents,
    mask=None,
    *,
    layer_head: Optional[Sequence[int]] = None,
) -> ParentRecovery:
    """How often each layer/head's strongest edge of a dependent row is its parent.

    For every dependent row (`parents[n, i] >= 0`, and `mask[n, i]` true) and every
    `(l, k)`, the row counts as recovered when `argmax_j G[n, l, k, i, :] == parents[n, i]`
    and that maximum is positive (an all-zero row recovers nothing). Chance is the
    expected recovery of a uniform pick among the allowed columns `j < i` (with
    `mask[n, j]`): the mean of `1 / allowed` over dependent rows.

    Choose the layer/head on a held-out split (its `best_layer_head`) and pass it as
    `layer_head` when scoring the test split.

    Args:
        graphs: forward graphs `[N, L, K, T, T]` (row = reader, column = read).
        parents: int `[N, T]`, -1 for rows without a parent.
        mask: optional `[N, T]`, true for real (non-padded) tokens.
        layer_head: optional `(l, k)` chosen elsewhere; reported as
            `selected_recovery`.

    Returns:
        A `ParentRecovery`.

    Raises:
        ValueError: on mismatched shapes, a parent not in `[0, i)`, or no dependent row.
    """
    graphs = np.asarray(graphs)
    parents = np.asarray(parents)
    if graphs.ndim != 5 or graphs.shape[-1] != graphs.shape[-2]:
        raise ValueError(f"`graphs` must be [N, L, K, T, T]; got shape {graphs.shape}.")
    N, L, K, T, _ = graphs.shape
    if parents.shape != (N, T):
        raise ValueError(f"`parents` must be [N, T] = {(N, T)}; got {parents.shape}.")
    mask = np.ones((N, T), bool) if mask is None else np.asarray(mask).astype(bool)
    if mask.shape != (N, T):
        raise ValueError(f"`mask` must be [N, T] = {(N, T)}; got {mask.shape}.")
    dependent = (parents >= 0) & mask
    n_idx, i_idx = np.nonzero(dependent)
    if n_idx.size == 0:
        raise ValueError("No dependent rows (parents >= 0 on unmasked positions) to score.")
    targets = parents[n_idx, i_idx]
    if np.any(targets >= i_idx):
        raise ValueError("Every parent must precede its row (forward graphs: j < i).")
    rows = graphs[n_idx, :, :, i_idx, :]  # [R, L, K, T]
    best = rows.argmax(axis=-1)
    positive = rows.max(axis=-1) > 0
    hit = (best == targets[:, None, None]) & positive
    recovery = hit.mean(axis=0)
    flat = int(np.argmax(recovery))
    best_layer_head = (flat // K, flat % K)
    allowed = np.array(
        [mask[n, :i].sum() for n, i in zip(n_idx, i_idx)], dtype=np.float64
    )
    chance = float(np.mean(1.0 / np.maximum(allowed, 1.0)))
    selected = None
    if layer_head is not None:
        l, k = layer_head
        selected = float(recovery[l, k])
    return ParentRecovery(
        recovery=recovery,
        best_layer_head=best_layer_head,
        best_recovery=float(recovery[best_layer_head]),
        selected_recovery=selected,
        chance=chance,
        num_dependent_rows=int(n_idx.size),
    )
