"""glomo_tf.data.planted_family: the lines, their gold parents, crossing, the sidecar and
the most-recent-trigger rule."""

import numpy as np
import pytest

from glomo_tf.data.planted_family import FamilyShape, PlantedFamily, most_recent_trigger_graphs
from glomo_tf.data.synthetic import parent_recovery, read_parents


def _arcs(parents):
    return [(int(j), int(i)) for i, j in enumerate(parents) if j >= 0]


def _crossing(arcs):
    return any(j1 < j2 < i1 < i2 for j1, i1 in arcs for j2, i2 in arcs)


@pytest.mark.parametrize("shape", [
    FamilyShape(),
    FamilyShape(line_length=96, pairs_per_line=(3, 6), num_classes=6),
    FamilyShape(line_length=20, pairs_per_line=(1, 2), num_classes=8, distance=(12, 17),
                triggers_per_class=3, num_fillers=10),
    FamilyShape(crossing=False),
])
def test_lines_parents_and_partners(shape):
    family = PlantedFamily(shape, seed=3)
    lines, parents = family.sample(300, seed=4)
    assert parents.shape == (300, shape.line_length) and parents.dtype == np.int32
    partner_of_trigger = {}
    for line, row in zip(lines, parents):
        assert len(line) == shape.line_length
        arcs = _arcs(row)
        assert shape.pairs_per_line[0] <= len(arcs) <= shape.pairs_per_line[1]
        classes = []
        for j, i in arcs:
            assert shape.distance[0] <= i - j <= shape.distance[1] and i + 1 < shape.line_length
            role, c, k = family.role(line[j])
            assert role == "trigger"
            assert family.role(line[i]) == ("cue", c, -1)  # the cue of the trigger's class
            assert line[i + 1] == family.partners[c, k] == family.partner_of(line[j])
            classes.append(c)
            partner_of_trigger.setdefault(line[j], set()).add(line[i + 1])
        assert len(set(classes)) == len(classes)  # one pair per class in a line
        # No planted word outside its pair: every trigger, cue and partner is in an arc.
        planted = {p for j, i in arcs for p in (j, i, i + 1)}
        assert all(family.role(w)[0] == "filler" for p, w in enumerate(line) if p not in planted)
        # Parents are forward: only cue rows have one.
        assert all(family.role(line[i])[0] == "cue" for i in np.flatnonzero(row >= 0))
    # The partner is a function of the trigger, and a bijection within each class.
    assert all(len(partners) == 1 for partners in partner_of_trigger.values())
    for c in range(shape.num_classes):
        assert len(set(family.partners[c])) == shape.triggers_per_class
    if not shape.crossing:
        assert _crossing_share(parents) == 0.0


def _crossing_share(parents):
    return np.mean([_crossing(_arcs(row)) for row in parents])


def test_crossing_happens_only_when_allowed():
    crossing = PlantedFamily(FamilyShape(crossing=True), seed=0).sample(500, seed=1)[1]
    nested = PlantedFamily(FamilyShape(crossing=False), seed=0).sample(500, seed=1)[1]
    assert _crossing_share(crossing) > 0.3
    assert _crossing_share(nested) == 0.0
    # Not crossing still lets arcs nest, so the rule "most recent trigger" can fail.
    assert any(j1 < j2 < i2 < i1 for row in nested for j1, i1 in _arcs(row)
               for j2, i2 in _arcs(row))


def test_words_are_distinct_letters_and_kept_whole_by_the_tokenizer():
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

    family = PlantedFamily(FamilyShape(num_classes=8), seed=0)
    words = family.words
    assert len(words) == len(set(words)) == FamilyShape(num_classes=8).num_words == 172
    assert all(w.isascii() and w.isalpha() and w.islower() and len(w) >= 3 for w in words)
    lines, _ = family.sample(5)
    for splitting in ("english", "whitespace"):
        tokenizer = GLoMoWordTokenizer(["<unk>"] + words, lowercase=True, splitting=splitting)
        assert tokenizer.split([" ".join(line) for line in lines]) == lines


def test_deterministic_per_seed_and_sidecar(tmp_path):
    shape = FamilyShape(line_length=30, pairs_per_line=(1, 3), distance=(2, 10))
    a_lines, a_parents = PlantedFamily(shape, seed=1).sample(20, seed=2)
    b_lines, b_parents = PlantedFamily(shape, seed=1).sample(20, seed=2)
    assert a_lines == b_lines and np.array_equal(a_parents, b_parents)
    assert PlantedFamily(shape, seed=2).words != PlantedFamily(shape, seed=1).words
    path = tmp_path / "train.txt"
    sidecar = PlantedFamily(shape, seed=1).write_corpus(path, 20, seed=2)
    assert path.read_text().splitlines() == [" ".join(line) for line in a_lines]
    np.testing.assert_array_equal(read_parents(sidecar), a_parents)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.txt", "train.txt.parents.jsonl"]


def test_most_recent_trigger_rule_by_hand():
    # T = 7: triggers at 0 and 2; cues at 4 (parent 0: an arc crossed by the trigger at 2)
    # and 6 (parent 2). The rule reads 2 from rows 3..6, 0 from rows 1..2, nothing at 0.
    is_trigger = np.array([[1, 0, 1, 0, 0, 0, 0]], bool)
    graphs = most_recent_trigger_graphs(is_trigger)
    assert graphs.shape == (1, 1, 1, 7, 7)
    read = [int(np.argmax(r)) if r.any() else -1 for r in graphs[0, 0, 0]]
    assert read == [-1, 0, 0, 2, 2, 2, 2]
    assert graphs.sum() == 6
    parents = np.array([[-1, -1, -1, -1, 0, -1, 2]])
    result = parent_recovery(graphs, parents)
    assert result.best_recovery == 0.5 and result.num_dependent_rows == 2
    # Masking the trigger at 2 out: every row after 0 reads 0.
    masked = most_recent_trigger_graphs(is_trigger, mask=np.array([[1, 1, 0, 1, 1, 1, 1]]))
    assert parent_recovery(masked, parents).best_recovery == 0.5
    assert [int(np.argmax(r)) for r in masked[0, 0, 0, 1:]] == [0] * 6


def test_rule_on_a_generated_line_reads_the_previous_trigger():
    family = PlantedFamily(FamilyShape(), seed=5)
    lines, parents = family.sample(50, seed=6)
    is_trigger = family.is_trigger(lines)
    graphs = most_recent_trigger_graphs(is_trigger)
    for n, i in zip(*np.nonzero(parents >= 0)):
        j = int(np.argmax(graphs[n, 0, 0, i]))
        assert is_trigger[n, j] and not is_trigger[n, j + 1:i].any()
    # Right exactly when no trigger lies between a cue and its own trigger.
    expected = np.mean([not is_trigger[n, parents[n, i] + 1:i].any()
                        for n, i in zip(*np.nonzero(parents >= 0))])
    assert parent_recovery(graphs, parents).best_recovery == pytest.approx(expected)


@pytest.mark.parametrize("kwargs, match", [
    (dict(pairs_per_line=(3, 5), num_classes=4), "num_classes"),
    (dict(line_length=20, distance=(4, 20)), "distance"),
    (dict(distance=(0, 3)), "distance"),
    (dict(pairs_per_line=(3, 2)), "pairs_per_line"),
    (dict(triggers_per_class=1), "triggers_per_class"),
    (dict(line_length=10, distance=(2, 4), pairs_per_line=(4, 4)), "3 words"),
    (dict(crossing="yes"), "crossing"),
])
def test_bad_shapes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FamilyShape(**kwargs)
    with pytest.raises(ValueError, match="FamilyShape"):
        PlantedFamily({"line_length": 48})
