"""A family of planted languages of configurable shape, with known parents and a baseline.

Purpose: graph learning shown only on `glomo_tf.data.synthetic`'s language may depend on
that generator's details (one window per document, one dependency, a shared opener). This
family is written independently of it and varies the *shape*: line length (also longer
than the model's window T), how many pairs a line holds, how many classes, the distances,
and whether pairs may cross. `bench/planted_family.py` pretrains on it from a plain text
file, as a user would, and scores the graphs.

The language of a `FamilyShape`. Class `c` (of `num_classes`) owns `triggers_per_class`
trigger words, as many partner words (a fixed random bijection trigger ↔ partner) and one
cue word. A line is `line_length` words, fillers (uniform over `num_fillers` words) except
for `pairs_per_line` planted pairs, each of its own class:

    ... trigger(c, k) ... cue(c) partner(c, k) ...
        position j        i      i + 1

with `i - j` uniform in `distance` (inclusive). The partner after a cue is a function of
the trigger of the cue's class in the line, and of nothing else. Classes are distinct
within a line, so that trigger is the only one of its class there; the other pairs'
triggers are distractors of other classes. With `crossing=True` the pairs are placed
independently, so arcs may interleave (`j1 < j2 < i1 < i2`) and the most recent trigger
before a cue is often another class's; with `crossing=False` arcs may nest or follow each
other but never cross (a projective, bracket-like layout). Lines are independent of each
other: a line's first cue never depends on the previous line.

Gold parents. The model predicts `x_{t+1..t+D}` from position `t`, so the row that has to
read the trigger is the *cue* `i` (it predicts the partner at `i + 1`): `parents[i] = j`;
every other position is -1. These are forward-graph parents (`j < i`), scored with
`glomo_tf.data.synthetic.parent_recovery` (choose the layer/head on one split with
`best_layer_head`, report it on another). The sidecar has synthetic's format
(`synthetic.parents_path`, read back with `synthetic.read_parents`).

The trivial rule. `most_recent_trigger_graphs` turns "read the most recent trigger of any
class" into one-hot forward graphs, so `parent_recovery` scores it exactly as it scores a
head: the recovery a model gets without telling classes apart.

Words are distinct lowercase ASCII letters only (3 letters or more, no digits, which the
tokenizer maps to `N`), so the English and whitespace splittings keep them whole.

Example:
```python
shape = FamilyShape(line_length=48, pairs_per_line=(2, 4), num_classes=4, distance=(4, 20))
family = PlantedFamily(shape, seed=0)
lines, parents = family.sample(100, seed=1)          # 100 word lists, parents [100, 48]
sidecar = family.write_corpus("train.txt", 4000, seed=2)
baseline = parent_recovery(most_recent_trigger_graphs(family.is_trigger(lines)), parents)
```
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from glomo_tf.data.synthetic import write_with_parents

_ONSETS = ("b", "d", "f", "g", "h", "j", "k", "l", "m", "p", "r", "s", "t", "v", "w",
           "z", "br", "dr", "gl", "kr", "pl", "st", "tr")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "", "", "l", "m", "r", "s", "x")
# Placing a line's pairs: tries per pair, then whole-line restarts, before giving up.
_PAIR_TRIES = 64
_LINE_TRIES = 200


def _range(name, value, minimum):
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"`{name}` must be a (low, high) pair of ints; got {value!r}.")
    low, high = value
    if not minimum <= low <= high:
        raise ValueError(f"`{name}` needs {minimum} <= low <= high; got {value!r}.")
    return int(low), int(high)


@dataclasses.dataclass(frozen=True)
class FamilyShape:
    """The shape of one language of the family.

    Attributes:
        line_length: words per line (one line = one document of the corpus).
        pairs_per_line: `(low, high)` inclusive: pairs planted per line, each of a
            distinct class (so `high <= num_classes`).
        num_classes: classes C (each has its own triggers, partners and cue).
        distance: `(low, high)` inclusive: trigger → cue distance `i - j` (>= 1).
        crossing: whether arcs of one line may cross (interleave); False allows only
            nested or disjoint arcs.
        triggers_per_class: triggers (= partners) per class; >= 2, so the cue alone does
            not give the partner away.
        num_fillers: filler words.
    """

    line_length: int = 48
    pairs_per_line: tuple = (2, 4)
    num_classes: int = 4
    distance: tuple = (4, 20)
    crossing: bool = True
    triggers_per_class: int = 4
    num_fillers: int = 100

    def __post_init__(self):
        object.__setattr__(self, "pairs_per_line", _range("pairs_per_line", self.pairs_per_line, 1))
        object.__setattr__(self, "distance", _range("distance", self.distance, 1))
        for name, minimum in (("line_length", 3), ("num_classes", 1),
                              ("triggers_per_class", 2), ("num_fillers", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"`{name}` must be an int >= {minimum}; got {value!r}.")
        if self.pairs_per_line[1] > self.num_classes:
            raise ValueError(
                f"`pairs_per_line` {self.pairs_per_line} exceeds `num_classes` "
                f"{self.num_classes}: the pairs of a line have distinct classes.")
        if self.distance[1] + 2 > self.line_length:
            raise ValueError(
                f"`line_length` {self.line_length} cannot hold a pair at distance "
                f"{self.distance[1]} (needs distance + 2 words: trigger .. cue partner).")
        if 3 * self.pairs_per_line[1] > self.line_length:
            raise ValueError(
                f"`line_length` {self.line_length} cannot hold {self.pairs_per_line[1]} pairs "
                f"of 3 words.")
        if not isinstance(self.crossing, bool):
            raise ValueError(f"`crossing` must be a bool; got {self.crossing!r}.")

    @property
    def num_words(self):
        """Distinct words of the language: fillers, triggers, partners and cues."""
        return self.num_fillers + self.num_classes * (2 * self.triggers_per_class + 1)

    def to_dict(self):
        return dataclasses.asdict(self)


def _crosses(a, b):
    """Whether arcs `a = (j, i)` and `b` interleave (share no position: j1 < j2 < i1 < i2)."""
    (j1, i1), (j2, i2) = sorted([a, b])
    return j1 < j2 < i1 < i2


def _words(count, rng):
    """`count` distinct lowercase words, 2 or 3 syllables, letters only."""
    seen, words = set(), []
    while len(words) < count:
        syllables = 2 + int(rng.random() < 0.3)
        word = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _NUCLEI[rng.integers(len(_NUCLEI))]
                       for _ in range(syllables)) + _CODAS[rng.integers(len(_CODAS))]
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class PlantedFamily:
    """The language of one `FamilyShape` (see the module docstring).

    Args:
        shape: a `FamilyShape`.
        seed: fixes the words, their roles and the trigger ↔ partner bijection.

    Attributes:
        fillers: list of filler words.
        triggers, partners: object arrays `[C, triggers_per_class]`; trigger `[c, k]` is
            followed (after `cues[c]`) by `partners[c, k]`.
        cues: list of C cue words.
    """

    def __init__(self, shape: FamilyShape, seed: int = 0):
        if not isinstance(shape, FamilyShape):
            raise ValueError(f"`shape` must be a FamilyShape; got {type(shape).__name__}.")
        self.shape, self.seed = shape, int(seed)
        rng = np.random.default_rng([self.seed, 0x9A17])
        words = _words(shape.num_words, rng)
        rng.shuffle(words)
        C, K = shape.num_classes, shape.triggers_per_class
        self.fillers = words[:shape.num_fillers]
        rest = words[shape.num_fillers:]
        self.triggers = np.array(rest[:C * K], dtype=object).reshape(C, K)
        self.partners = np.array(rest[C * K:2 * C * K], dtype=object).reshape(C, K)
        self.cues = rest[2 * C * K:]
        self._role = {}
        for (c, k), word in np.ndenumerate(self.triggers):
            self._role[word] = ("trigger", c, k)
        for (c, k), word in np.ndenumerate(self.partners):
            self._role[word] = ("partner", c, k)
        for c, word in enumerate(self.cues):
            self._role[word] = ("cue", c, -1)
        self._fillers = np.array(self.fillers, dtype=object)

    @property
    def words(self):
        """Every word of the language."""
        return (list(self.fillers) + list(self.triggers.ravel()) + list(self.partners.ravel())
                + list(self.cues))

    def role(self, word):
        """`(role, class, index)` of a word: role `"trigger"`, `"partner"` (index k), `"cue"`
        (index -1) or `"filler"` (class and index -1)."""
        return self._role.get(word, ("filler", -1, -1))

    def partner_of(self, trigger):
        """The partner that follows a cue of `trigger`'s class."""
        role, c, k = self.role(trigger)
        if role != "trigger":
            raise ValueError(f"{trigger!r} is not a trigger.")
        return self.partners[c, k]

    def _place(self, rng):
        """Arcs `[(class, j, i), ...]` of one line, or None when the draw did not fit."""
        s = self.shape
        count = int(rng.integers(s.pairs_per_line[0], s.pairs_per_line[1] + 1))
        classes = rng.permutation(s.num_classes)[:count]
        taken = np.zeros(s.line_length, bool)
        arcs = []
        for c in classes:
            for _ in range(_PAIR_TRIES):
                d = int(rng.integers(s.distance[0], s.distance[1] + 1))
                j = int(rng.integers(0, s.line_length - d - 1))  # partner i + 1 in the line
                i = j + d
                if taken[[j, i, i + 1]].any():
                    continue
                if not s.crossing and any(_crosses((j, i), (a, b)) for _, a, b in arcs):
                    continue
                taken[[j, i, i + 1]] = True
                arcs.append((int(c), j, i))
                break
            else:
                return None
        return arcs

    def sample_line(self, rng: np.random.Generator):
        """One line and its parents.

        Returns:
            `(words, parents)`: `line_length` words and int32 parents of the same length
            (`parents[i] = j` for a cue at `i` whose trigger is at `j`, else -1).

        Raises:
            RuntimeError: the shape's pairs could not be placed (too many, too long, or
                without crossing) in many tries.
        """
        s = self.shape
        for _ in range(_LINE_TRIES):
            arcs = self._place(rng)
            if arcs is not None:
                break
        else:
            raise RuntimeError(f"Could not place the pairs of {s} in {_LINE_TRIES} tries.")
        words = self._fillers[rng.integers(s.num_fillers, size=s.line_length)].copy()
        parents = np.full(s.line_length, -1, np.int32)
        for c, j, i in arcs:
            k = int(rng.integers(s.triggers_per_class))
            words[j], words[i], words[i + 1] = self.triggers[c, k], self.cues[c], self.partners[c, k]
            parents[i] = j
        return list(words), parents

    def sample(self, num_lines: int, seed: Optional[int] = None):
        """`num_lines` lines and their parents `[num_lines, line_length]` (int32).

        `seed` (default: the family's seed + 1) fixes the lines; the words stay the
        family's.
        """
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        lines, parents = [], np.empty((num_lines, self.shape.line_length), np.int32)
        for n in range(num_lines):
            words, parents[n] = self.sample_line(rng)
            lines.append(words)
        return lines, parents

    def is_trigger(self, lines):
        """bool `[N, line_length]`: which positions hold a trigger (of any class)."""
        return np.array([[self.role(w)[0] == "trigger" for w in line] for line in lines], bool)

    def write_corpus(self, path, num_lines: int, seed: Optional[int] = None) -> str:
        """Writes `num_lines` lines to `path` (one line = one document, words separated by
        spaces) and their parents to the sidecar `parents_path(path)` (one JSON list per
        line), both atomically. Returns the sidecar's path."""
        lines, parents = self.sample(num_lines, seed)
        return write_with_parents(path, lines, parents)


def most_recent_trigger_graphs(is_trigger, mask=None):
    """The rule "read the most recent trigger (any class)" as forward graphs.

    Args:
        is_trigger: bool `[N, T]`.
        mask: optional `[N, T]`, true on real tokens (padding is never read).

    Returns:
        float32 `[N, 1, 1, T, T]`: row i has a single 1 at the largest `j < i` with
        `is_trigger[n, j]`, or is all zero when no trigger precedes it. Score it with
        `parent_recovery` like a layer/head.
    """
    is_trigger = np.asarray(is_trigger, bool)
    if is_trigger.ndim != 2:
        raise ValueError(f"`is_trigger` must be [N, T]; got shape {is_trigger.shape}.")
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != is_trigger.shape:
            raise ValueError(f"`mask` {mask.shape} and `is_trigger` {is_trigger.shape} differ.")
        is_trigger = is_trigger & mask
    N, T = is_trigger.shape
    positions = np.where(is_trigger, np.arange(T), -1)
    # latest[n, i] = the last trigger at or before i; the row reads the one before i.
    latest = np.maximum.accumulate(positions, axis=1)
    before = np.concatenate([np.full((N, 1), -1), latest[:, :-1]], axis=1)
    graphs = np.zeros((N, 1, 1, T, T), np.float32)
    n, i = np.nonzero(before >= 0)
    graphs[n, 0, 0, i, before[n, i]] = 1.0
    return graphs
