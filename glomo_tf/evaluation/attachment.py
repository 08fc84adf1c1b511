"""Directed attachment of graph heads against gold dependency heads, and head selection.

A word c whose gold head h lies to its left (h < c) is attached by a forward graph when
row c of that graph puts its top-1 weight on column h; a word whose head lies to its right
is attached by a backward graph the same way. A row that is all zero (a dead row of
sparse mode 4, or a row the module truncated away) is a miss. The root has no head and
is not counted. Scores are shares of words: a forward head's score is over the words
with their head on the left, a backward head's over those with it on the right, and the
pair "best forward + best backward" is scored over all non-root words, each word by the
head of the side its gold head is on.

The other direction Clark et al. (2019) read attention in, head → dependent, is counted
too: the arc c → h is found when the head's row h puts its top-1 on c, in the graph that
looks from h towards c (backward when the dependent is on the head's right, forward when
on its left). A head has several dependents, so its one top-1 finds at most one of them.

Heads (direction, layer, head) are chosen on one set of sentences and scored on another
(`select` then `score`), so no result is tuned on its own test. Counts are kept per base
relation too (`nmod:poss` counts as `nmod`), for Clark et al. (2019)'s per-relation
comparison.

Example:
>>> import numpy as np
>>> counts = AttachmentCounts(num_layers=1, num_heads=1, max_offset=2)
>>> top1 = np.array([[[[-1, 0, 1]]], [[[1, 2, -1]]]])   # [2, L, K, n]: forward, backward
>>> counts.add_sentence(top1, heads=(2, 0, 2), relations=("det", "root", "obj"))
>>> counts.head_hits.tolist()                            # [side, L, K]
[[[1]], [[1]]]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from glomo_tf.evaluation.treebank import base_relation

SIDES = ("forward", "backward")  # = the direction that can attach a word of this side


@dataclasses.dataclass
class Tally:
    """Counts of one set of words (all words, or those of one relation).

    Attributes:
        words: `[2]` non-root words whose head is on the left (0) / right (1).
        head_hits: `[2, L, K]` of those, how many the graph of direction side (0 forward,
            1 backward), layer l, head k attaches.
        offset_hits: `[2, max_offset]`: how many have their head at distance o + 1 on
            that side (what the fixed rule "the word o + 1 to the left / right" gets).
        adjacent_hits: `[2, L, K]`: of the words of each side, how many have the top-1 of
            that head's row on the adjacent word (c - 1 forward, c + 1 backward), right or
            wrong: how local a head is, next to the gold share `offset_hits[:, 0]`.
        dependent_hits: `[2, L, K]`: the head → dependent direction. Of the words of each
            side, how many have their gold head's row put its top-1 on them, in the graph
            of the other direction (side 0, head on the left: the head's backward row;
            side 1: its forward row). Indexed by the word's side, like `words`.
    """

    words: np.ndarray
    head_hits: np.ndarray
    offset_hits: np.ndarray
    adjacent_hits: np.ndarray
    dependent_hits: np.ndarray

    @classmethod
    def empty(cls, num_layers, num_heads, max_offset):
        per_head = (2, num_layers, num_heads)
        return cls(np.zeros(2, np.int64), np.zeros(per_head, np.int64),
                   np.zeros((2, max_offset), np.int64), np.zeros(per_head, np.int64),
                   np.zeros(per_head, np.int64))

    def merged(self, other):
        return Tally(*(getattr(self, f.name) + getattr(other, f.name)
                       for f in dataclasses.fields(self)))


class AttachmentCounts:
    """Attachment counts over sentences, overall and per base relation, plus live rows.

    Args:
        num_layers, num_heads: L and K of the graphs.
        max_offset: the fixed-offset baseline tries offsets 1..max_offset on each side.
    """

    def __init__(self, num_layers, num_heads, max_offset=20):
        if max_offset < 1:
            raise ValueError(f"max_offset must be >= 1; got {max_offset}.")
        self.num_layers, self.num_heads, self.max_offset = num_layers, num_heads, max_offset
        self.total = Tally.empty(num_layers, num_heads, max_offset)
        self.relations = {}
        self.live_rows = np.zeros((2, num_layers, num_heads), np.int64)
        self.counted_rows = np.zeros(2, np.int64)
        # How spread a live row is: its non-zero columns (of the allowed ones) and its
        # largest weight. Top-1 attachment reads one column of a row, so a row spread over
        # many columns gives a weak top-1 even when the mass sits near the gold head.
        self.live_columns = np.zeros((2, num_layers, num_heads), np.int64)
        self.allowed_columns = np.zeros((2, num_layers, num_heads), np.int64)
        self.top_weight = np.zeros((2, num_layers, num_heads), np.float64)
        self.sentences = 0

    @property
    def words(self):
        return self.total.words

    @property
    def head_hits(self):
        return self.total.head_hits

    @property
    def offset_hits(self):
        return self.total.offset_hits

    def add_sentence(self, top1, heads, relations):
        """Counts one sentence.

        Args:
            top1: int `[2, L, K, n]`: the column each row puts its top-1 weight on, in
                input order (backward graphs flipped back), -1 for an all-zero row.
                n may be shorter than the sentence (truncated by the module): the
                missing rows are misses.
            heads: n_words gold heads, 1-based, 0 = root.
            relations: n_words relations (subtypes are dropped here).
        """
        top1 = np.asarray(top1)
        words = len(heads)
        if top1.shape[:3] != (2, self.num_layers, self.num_heads) or top1.shape[3] > words:
            raise ValueError(f"top1 must be [2, {self.num_layers}, {self.num_heads}, <= "
                             f"{words}]; got {top1.shape}.")
        if top1.shape[3] < words:
            pad = np.full(top1.shape[:3] + (words - top1.shape[3],), -1, top1.dtype)
            top1 = np.concatenate([top1, pad], axis=3)
        self.sentences += 1
        for c, (head, relation) in enumerate(zip(heads, relations)):
            if head == 0:
                continue
            h = head - 1
            side = 0 if h < c else 1
            distance = abs(c - h)
            hits = (top1[side, :, :, c] == h).astype(np.int64)
            adjacent = (top1[side, :, :, c] == (c - 1 if side == 0 else c + 1)).astype(np.int64)
            found = (top1[1 - side, :, :, h] == c).astype(np.int64)
            for tally in (self.total, self._relation(base_relation(relation))):
                tally.words[side] += 1
                tally.head_hits[side] += hits
                tally.adjacent_hits[side] += adjacent
                tally.dependent_hits[side] += found
                if distance <= self.max_offset:
                    tally.offset_hits[side, distance - 1] += 1

    def add_live_rows(self, live, length):
        """Counts the rows of one sentence's graphs that carry mass.

        Args:
            live: bool `[2, L, K, n]`: row sums to 1 (in input order).
            length: n, the sentence's length as the module saw it.
        """
        live = np.asarray(live, bool)
        if length < 2:
            return
        # Forward rows need an earlier unit (i > 0), backward rows a later one (i < n - 1).
        self.live_rows[0] += live[0, :, :, 1:length].sum(-1)
        self.live_rows[1] += live[1, :, :, : length - 1].sum(-1)
        self.counted_rows += length - 1

    def add_row_spread(self, graphs):
        """Counts the live columns and the top-1 weight of one sentence's live rows.

        Call it with `add_live_rows` for the same sentence: `row_spread` averages the top-1
        weight over the live rows that one counts.

        Args:
            graphs: float `[2, L, K, n, n]`, in input order (forward rows j < i,
                backward rows j > i), rows summing to 1 or 0.
        """
        graphs = np.asarray(graphs, np.float64)
        n = graphs.shape[-1]
        if n < 2:
            return
        live = graphs.sum(-1) > 0.5                                   # [2, L, K, n]
        allowed = np.stack([np.arange(n), n - 1 - np.arange(n)])      # [2, n]
        self.live_columns += np.where(live, (graphs > 0).sum(-1), 0).sum(-1)
        self.allowed_columns += (live * allowed[:, None, None, :]).sum(-1)
        self.top_weight += np.where(live, graphs.max(-1), 0.0).sum(-1)

    def row_spread(self):
        """`([2, L, K] live columns ÷ allowed columns, [2, L, K] mean top-1 weight)` over
        the live rows counted by `add_row_spread` (0 where none was)."""
        live = np.maximum(self.live_rows, 1)
        columns = np.where(self.allowed_columns > 0,
                           self.live_columns / np.maximum(self.allowed_columns, 1), 0.0)
        return columns, np.where(self.live_rows > 0, self.top_weight / live, 0.0)

    def _relation(self, name):
        if name not in self.relations:
            self.relations[name] = Tally.empty(self.num_layers, self.num_heads, self.max_offset)
        return self.relations[name]

    def relation(self, name):
        """The `Tally` of one base relation (empty if it never occurred)."""
        return self.relations.get(name) or Tally.empty(
            self.num_layers, self.num_heads, self.max_offset)

    def most_frequent_relations(self, count):
        """The `count` most frequent base relations (ties by name)."""
        ranked = sorted(self.relations.items(), key=lambda kv: (-int(kv[1].words.sum()), kv[0]))
        return [name for name, _ in ranked[:count]]

    def live_fractions(self):
        """`[2, L, K]` live rows ÷ counted rows (0 where nothing was counted)."""
        counted = self.counted_rows[:, None, None]
        return np.where(counted > 0, self.live_rows / np.maximum(counted, 1), 0.0)


def _share(hits, words):
    return float(hits) / float(words) if words else 0.0


@dataclasses.dataclass(frozen=True)
class Choice:
    """What was chosen for each side: `(layer, head)` pairs or offsets, 0-based."""

    forward: tuple | int
    backward: tuple | int


def select_heads(tally, hits=None):
    """The best `(layer, head)` per side by its share of that side's words.

    `hits`: which `[2, L, K]` counts to rank by (default `tally.head_hits`;
    `tally.dependent_hits` for the head → dependent direction). Ties go to the lowest
    layer, then head (argmax order).
    """
    hits = tally.head_hits if hits is None else hits
    picks = []
    for side in range(2):
        flat = int(np.argmax(hits[side]))
        picks.append(tuple(int(i) for i in np.unravel_index(flat, hits.shape[1:])))
    return Choice(*picks)


def select_offsets(tally):
    """The best fixed offset per side, as distances 1..max_offset (ties: the nearest)."""
    return Choice(*(int(np.argmax(tally.offset_hits[side])) + 1 for side in range(2)))


def score_heads(tally, choice, hits=None):
    """`{"forward", "backward", "combined"}` shares of `tally`'s words under `choice`
    (keys name the side of the word's head: `forward` = head on the left); `hits` as for
    `select_heads`."""
    hits = tally.head_hits if hits is None else hits
    f = hits[(0,) + tuple(choice.forward)]
    b = hits[(1,) + tuple(choice.backward)]
    return {"forward": _share(f, tally.words[0]), "backward": _share(b, tally.words[1]),
            "combined": _share(f + b, tally.words.sum())}


def score_offsets(tally, choice):
    """As `score_heads`, for fixed offsets (distances)."""
    f = tally.offset_hits[0, choice.forward - 1]
    b = tally.offset_hits[1, choice.backward - 1]
    return {"forward": _share(f, tally.words[0]), "backward": _share(b, tally.words[1]),
            "combined": _share(f + b, tally.words.sum())}


def head_shares(tally, hits=None):
    """`[2, L, K]`: every head's share of its side's words (`hits`: another `[2, L, K]`
    count over the same words, e.g. `tally.adjacent_hits`)."""
    hits = tally.head_hits if hits is None else hits
    words = np.maximum(tally.words, 1)[:, None, None]
    return np.where(tally.words[:, None, None] > 0, hits / words, 0.0)
