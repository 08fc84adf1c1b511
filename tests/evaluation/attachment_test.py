import numpy as np
import pytest

from glomo_tf.evaluation.attachment import (
    AttachmentCounts,
    Choice,
    head_shares,
    score_heads,
    score_offsets,
    select_heads,
    select_offsets,
)
from glomo_tf.evaluation.treebank import TreebankSentence

# "The dog barks loudly ." : The -> dog, dog -> barks, barks = root, loudly -> barks,
# . -> barks. 0-based (word, head): right-side heads (0, 1), (1, 2); left-side (3, 2), (4, 2).
HEADS = (2, 3, 0, 3, 3)
RELATIONS = ("det", "nsubj", "root", "advmod", "punct:x")


def _top1():
    """[2, L=1, K=2, n=5]: the column each row's top-1 sits on, -1 = all-zero row."""
    top1 = np.full((2, 1, 2, 5), -1)
    top1[0, 0, 0, 3], top1[0, 0, 0, 4] = 2, 3   # forward head 1: loudly hit, "." miss
    top1[0, 0, 1, 4] = 2                         # forward head 2: loudly dead, "." hit
    top1[1, 0, 0, 0], top1[1, 0, 0, 1] = 1, 2   # backward head 1: both hits
    top1[1, 0, 1, 0] = 2                         # backward head 2: The -> barks, a miss
    return top1


def test_hand_computed_attachment():
    counts = AttachmentCounts(num_layers=1, num_heads=2, max_offset=3)
    counts.add_sentence(_top1(), HEADS, RELATIONS)
    assert counts.words.tolist() == [2, 2]
    assert counts.head_hits.tolist() == [[[1, 1]], [[2, 0]]]
    # Left heads at distances 1 (loudly) and 2 ("."); right heads both at distance 1.
    assert counts.offset_hits.tolist() == [[1, 1, 0], [2, 0, 0]]
    heads = select_heads(counts.total)
    assert heads == Choice((0, 0), (0, 0))       # forward tie: the first head
    assert score_heads(counts.total, heads) == {"forward": 0.5, "backward": 1.0,
                                                "combined": 0.75}
    assert score_heads(counts.total, Choice((0, 1), (0, 1)))["combined"] == 0.25
    offsets = select_offsets(counts.total)
    assert offsets == Choice(1, 1)
    assert score_offsets(counts.total, offsets)["combined"] == 0.75
    np.testing.assert_allclose(head_shares(counts.total), [[[0.5, 0.5]], [[1.0, 0.0]]])
    # Top-1 on the adjacent word (hit or not): forward head 1 reads c - 1 for loudly (2)
    # and "." (3); backward head 1 reads c + 1 for The and dog; head 2 never does.
    assert counts.total.adjacent_hits.tolist() == [[[2, 0]], [[2, 0]]]
    np.testing.assert_allclose(head_shares(counts.total, counts.total.adjacent_hits),
                               [[[1.0, 0.0]], [[1.0, 0.0]]])
    # Per base relation: punct:x counts as punct; only "." is one, its head on the left.
    punct = counts.relation("punct")
    assert punct.words.tolist() == [1, 0] and punct.head_hits[0].tolist() == [[0, 1]]
    assert select_heads(punct).forward == (0, 1)
    assert counts.relation("nmod").words.sum() == 0
    assert counts.most_frequent_relations(2) == ["advmod", "det"]  # ties by name


def test_hand_computed_head_to_dependent_direction():
    """The head's row finding its dependent: barks' forward row -> dog, dog's -> The;
    barks' backward rows -> "." (head 1) and loudly (head 2)."""
    top1 = _top1()
    top1[0, 0, 0, 2], top1[0, 0, 0, 1] = 1, 0
    top1[1, 0, 0, 2], top1[1, 0, 1, 2] = 4, 3
    counts = AttachmentCounts(num_layers=1, num_heads=2, max_offset=3)
    counts.add_sentence(top1, HEADS, RELATIONS)
    assert counts.head_hits.tolist() == [[[1, 1]], [[2, 0]]]    # the other direction unchanged
    # By the word's side: loudly and "." (head on the left) are found by barks' backward
    # rows, one per head; The and dog (head on the right) by their heads' forward head 1.
    assert counts.total.dependent_hits.tolist() == [[[1, 1]], [[2, 0]]]
    chosen = select_heads(counts.total, counts.total.dependent_hits)
    assert chosen == Choice((0, 0), (0, 0))
    assert score_heads(counts.total, chosen, counts.total.dependent_hits) == {
        "forward": 0.5, "backward": 1.0, "combined": 0.75}
    assert counts.relation("nsubj").dependent_hits[1].tolist() == [[1, 0]]
    assert counts.relation("advmod").dependent_hits[0].tolist() == [[0, 1]]
    merged = counts.total.merged(counts.total)
    assert merged.dependent_hits.tolist() == [[[2, 2]], [[4, 0]]] and merged.words.tolist() == [4, 4]


def test_selection_and_scoring_sets_are_separate():
    """Heads chosen on one set are scored on another, even where another head is better."""
    selection = AttachmentCounts(1, 2, 3)
    selection.add_sentence(_top1(), HEADS, RELATIONS)
    scored = AttachmentCounts(1, 2, 3)
    top1 = _top1()
    top1[0, 0, 0, 3] = -1                        # on the scored set head 1 dies on loudly
    scored.add_sentence(top1, HEADS, RELATIONS)
    chosen = select_heads(selection.total)
    assert chosen.forward == (0, 0)
    assert score_heads(scored.total, chosen)["forward"] == 0.0
    assert select_heads(scored.total).forward == (0, 1)


def test_truncated_rows_are_misses_and_shapes_are_checked():
    counts = AttachmentCounts(1, 2, 3)
    counts.add_sentence(_top1()[..., :3], HEADS, RELATIONS)  # the module saw 3 of 5 words
    assert counts.words.tolist() == [2, 2]
    assert counts.head_hits[0].tolist() == [[0, 0]]
    with pytest.raises(ValueError, match="top1 must be"):
        counts.add_sentence(np.zeros((2, 1, 3, 5), int), HEADS, RELATIONS)
    with pytest.raises(ValueError, match="max_offset"):
        AttachmentCounts(1, 1, 0)


def test_live_rows_count_rows_with_an_allowed_column():
    counts = AttachmentCounts(1, 1, 2)
    live = np.zeros((2, 1, 1, 4), bool)
    live[0, 0, 0, [1, 2]] = True      # forward rows 1..3 are counted, 2 of them live
    live[0, 0, 0, 0] = True           # row 0 has no allowed column: never counted
    live[1, 0, 0, [0, 1, 2, 3]] = True  # backward rows 0..2 counted, all live
    counts.add_live_rows(live, 4)
    counts.add_live_rows(np.ones((2, 1, 1, 1), bool), 1)  # one word: nothing counted
    assert counts.counted_rows.tolist() == [3, 3]
    np.testing.assert_allclose(counts.live_fractions(), [[[2 / 3]], [[1.0]]])


def test_row_spread_counts_live_columns_of_the_allowed_ones_and_the_top1_weight():
    counts = AttachmentCounts(1, 1, 2)
    graphs = np.zeros((2, 1, 1, 3, 3))
    graphs[0, 0, 0, 1, 0] = 1.0                # forward row 1: 1 of 1 allowed, top-1 1.0
    graphs[0, 0, 0, 2, :2] = [0.25, 0.75]      # forward row 2: 2 of 2 allowed, top-1 0.75
    graphs[1, 0, 0, 0, 1:] = [0.5, 0.5]        # backward row 0: 2 of 2, top-1 0.5
    # backward row 1 is dead (not counted); rows with no allowed column have no mass
    counts.add_live_rows(graphs.sum(-1) > 0.5, 3)
    counts.add_row_spread(graphs)
    counts.add_row_spread(np.ones((2, 1, 1, 1, 1)))  # one word: nothing counted
    columns, top_weight = counts.row_spread()
    assert counts.allowed_columns.tolist() == [[[3]], [[2]]]
    np.testing.assert_allclose(columns, [[[1.0]], [[1.0]]])
    np.testing.assert_allclose(top_weight, [[[(1.0 + 0.75) / 2]], [[0.5]]])
    graphs[0, 0, 0, 2, :2] = [0.0, 1.0]        # a second sentence: row 2 on 1 of 2 columns
    counts.add_live_rows(graphs.sum(-1) > 0.5, 3)
    counts.add_row_spread(graphs)
    columns, top_weight = counts.row_spread()
    np.testing.assert_allclose(columns[0], [[5 / 6]])
    np.testing.assert_allclose(top_weight[0], [[(1.0 + 0.75 + 1.0 + 1.0) / 4]])


class FakeModule:
    """What `count_attachment` reads of a GraphModule, with hand-set graphs per word count."""

    path = "fake"

    def __init__(self, graphs_by_length, max_length=16):
        self.graphs_by_length = graphs_by_length
        self.max_length = max_length
        self.config = {"num_layers": 1, "num_heads": 2}
        self.calls = []

    def graphs_from_tokens(self, words):
        self.calls.append(words)
        width = max(1, min(max(len(w) for w in words), self.max_length))
        graphs = np.zeros((len(words), 2, 1, 2, width, width), np.float32)
        mask = np.zeros((len(words), width), np.int32)
        for b, row in enumerate(words):
            n = min(len(row), self.max_length)
            graphs[b, ..., :n, :n] = self.graphs_by_length[len(row)][..., :n, :n]
            mask[b, :n] = 1
        return {"graphs": _Tensor(graphs), "mask": _Tensor(mask)}


class _Tensor:
    def __init__(self, value):
        self.value = value

    def numpy(self):
        return self.value


def _graphs_from_top1(top1):
    n = top1.shape[-1]
    graphs = np.zeros(top1.shape + (n,), np.float32)
    for index in np.ndindex(top1.shape):
        if top1[index] >= 0:
            graphs[index + (top1[index],)] = 0.7   # top-1; the rest of the row's mass
            other = [j for j in range(n) if j != top1[index]][:1]
            graphs[index + (other[0],)] = 0.3
    return graphs


def test_count_attachment_takes_the_top1_of_module_graphs():
    from glomo_tf.evaluation.evaluate import count_attachment

    five = TreebankSentence(("The", "dog", "barks", "loudly", "."), HEADS, RELATIONS)
    two = TreebankSentence(("Dogs", "bark"), (2, 0), ("nsubj", "root"))
    two_top1 = np.full((2, 1, 2, 2), -1)
    two_top1[1, 0, 1, 0] = 1                          # backward head 2 attaches "Dogs"
    module = FakeModule({5: _graphs_from_top1(_top1()), 2: _graphs_from_top1(two_top1)})
    counts = count_attachment(module, [five, two], max_offset=3)
    assert counts.words.tolist() == [2, 3]
    assert counts.head_hits.tolist() == [[[1, 1]], [[2, 1]]]
    assert counts.sentences == 2
    # Sentences are batched (sorted by length) and called with their gold words.
    assert sorted(map(len, module.calls[0])) == [2, 5]
    # Truncation by the module: the words it did not see are misses.
    short = FakeModule({5: _graphs_from_top1(_top1())}, max_length=3)
    assert count_attachment(short, [five], max_offset=3).head_hits[0].tolist() == [[0, 0]]
