import numpy as np
import pytest

from glomo_tf.evaluation.evaluate import evaluate_module, format_table, to_markdown
from glomo_tf.evaluation.treebank import parse_conllu, read_conllu
from glomo_tf.export.graph_module import load_graph_module
from tests.evaluation import conllu_samples
from tests.export import tiny_module


@pytest.fixture(scope="module")
def module():
    return load_graph_module(tiny_module.exported_module()[1])


@pytest.fixture(scope="module")
def sentences():
    return parse_conllu(conllu_samples.treebank())


def _hits_by_hand(module, sentences, adjacent=False, dependents=False):
    """Independent count: [2, L, K] attachments (with `adjacent`: top-1s on the adjacent
    word instead; with `dependents`: the head's row of the other graph on the word) and
    [2] words, by the side of the word's head, from graphs_from_tokens."""
    config = module.config
    hits = np.zeros((2, config["num_layers"], config["num_heads"]), int)
    words = np.zeros(2, int)
    for s in sentences:
        graphs = module.graphs_from_tokens([list(s.words)])["graphs"].numpy()[0]
        for c, head in enumerate(s.heads):
            if head == 0:
                continue
            side = 0 if head - 1 < c else 1
            words[side] += 1
            rows = graphs[side, :, :, c, :]                 # [L, K, T]
            target = c + (1 if side else -1) if adjacent else head - 1
            if dependents:
                rows, target = graphs[1 - side, :, :, head - 1, :], c
            hits[side] += (rows.max(-1) > 0) & (rows.argmax(-1) == target)
    return hits, words


def test_scores_against_an_independent_count(module, sentences, tmp_path):
    selection, scored = sentences[:2], sentences[2:]
    result = evaluate_module(module, scored, select_on=selection, untrained_seed=0,
                             max_offset=4, work_dir=tmp_path)
    hits, words = _hits_by_hand(module, scored)
    adjacent_hits, _ = _hits_by_hand(module, scored, adjacent=True)
    assert [result["words"]["scored_left_head"], result["words"]["scored_right_head"]] == \
        words.tolist() == [4, 8]
    for side, name in enumerate(("forward", "backward")):
        np.testing.assert_allclose(result["per_head"][name], hits[side] / words[side])
        np.testing.assert_allclose(result["adjacent"]["per_head"][name],
                                   adjacent_hits[side] / words[side])
    # Right heads adjacent for 6 of 8 scored words, left heads for none (see below).
    assert result["adjacent"]["gold"] == {"forward": 0.0, "backward": 0.75}
    # The heads were chosen on the selection sentences, and scored here.
    sel_hits, sel_words = _hits_by_hand(module, selection)
    glomo = result["methods"]["glomo"]
    for side, name in enumerate(("forward", "backward")):
        best = np.unravel_index(np.argmax(sel_hits[side]), sel_hits[side].shape)
        assert (glomo[name]["layer"] - 1, glomo[name]["head"] - 1) == best
        assert glomo[name]["score"] == pytest.approx(hits[side][best] / words[side])
    assert glomo["combined"] == pytest.approx(
        (glomo["forward"]["score"] * 4 + glomo["backward"]["score"] * 8) / 12)
    # Fixed offsets: on s1 and s2 the left heads are at distances 3, 4 (mat, .) and 1
    # (. of s2): ties go to the nearest, so -1; right heads mostly adjacent: +1.
    offsets = result["methods"]["offsets"]
    assert offsets["forward"]["offset"] == -1 and offsets["backward"]["offset"] == 1
    # Scored set: left heads of s3 at 3 (ball), 4 (.); of s4 at 4 (sat), 5 (.): no -1 hit.
    # Right heads: adjacent for 6 of 8 words (not "a" -> ball, "and" -> sat).
    assert offsets["forward"]["score"] == pytest.approx(0 / 4)
    assert offsets["backward"]["score"] == pytest.approx(6 / 8)
    # Head -> dependent: chosen on the selection sentences as well; the forward graph
    # finds the dependents left of their head (the words with the head on the right).
    dep_hits, _ = _hits_by_hand(module, scored, dependents=True)
    sel_dep_hits, _ = _hits_by_hand(module, selection, dependents=True)
    np.testing.assert_allclose(result["dependents_per_head"]["forward"], dep_hits[1] / 8)
    np.testing.assert_allclose(result["dependents_per_head"]["backward"], dep_hits[0] / 4)
    reverse = result["methods"]["glomo_dependents"]
    for side, name, graph in ((0, "head_left", "backward"), (1, "head_right", "forward")):
        best = np.unravel_index(np.argmax(sel_dep_hits[side]), sel_dep_hits[side].shape)
        assert reverse[name]["graph"] == graph
        assert (reverse[name]["layer"] - 1, reverse[name]["head"] - 1) == best
        assert reverse[name]["score"] == pytest.approx(dep_hits[side][best] / words[side])
    assert "untrained_dependents" in result["methods"]
    untrained = result["methods"]["untrained"]
    assert untrained["seed"] == 0 and 0 <= untrained["combined"] <= 1
    assert result["untrained_per_head"] != result["per_head"]
    assert list(tmp_path.iterdir()) == []                 # the untrained module is deleted
    # Live rows on the scored sentences: 6 + 6 rows per direction have an allowed column.
    assert result["live_rows"]["counted_rows_per_head"] == [12, 12]
    assert 0 <= result["live_rows"]["overall"] <= 1
    # Relations: the most frequent in the scored set, each chosen on the selection set.
    relations = [r["relation"] for r in result["relations"]]
    assert relations[:3] == ["det", "nsubj", "punct"]
    det = result["relations"][0]
    assert det["words"] == 3 and det["words_left"] == 0
    assert isinstance(det["heads_beat_offsets"], bool)
    assert det["direction"] in ("dependent→head", "head→dependent")
    chosen = det["dependent_heads"] if det["direction"] == "head→dependent" else det["heads"]
    assert det["direction_beats_offsets"] == (chosen["combined"] > det["offsets"]["combined"])
    assert 0 <= det["untrained_dependent_heads"]["combined"] <= 1


def test_halves_and_reports(module, tmp_path):
    path = conllu_samples.write(tmp_path / "tb.conllu.xz")
    result = evaluate_module(module.path, str(path), untrained_seed=None, max_offset=3)
    assert result["sentences"] == {"selection": 2, "scored": 2}
    assert "first 2 sentences of the treebank" in result["selection"]
    assert "untrained" not in result["methods"]
    # Live rows over the whole treebank: both halves (6 + 4 + 6 + 6 rows per direction).
    assert result["live_rows"]["sentences"] == 4
    assert result["live_rows"]["counted_rows_per_head"] == [22, 22]
    by_hand, _ = _hits_by_hand(module, read_conllu(path)[2:])
    np.testing.assert_allclose(result["per_head"]["forward"], by_hand[0] / 4)
    table = format_table(result)
    for text in ("GLoMo heads", "fixed offset", "Every head", "first 2 sentences", "det",
                 "Top-1 on the adjacent word", "Head → dependent", "head's forward row"):
        assert text in table, text
    markdown = to_markdown(result)
    assert "| method | forward (head left) |" in markdown and "| relation |" in markdown
    assert "Every head" not in to_markdown(result, heads=False)


def test_truncating_module_scores_unseen_words_as_misses(module):
    long = conllu_samples.treebank([("long", [("the", 2, "det"), ("cat", 3, "nsubj"),
                                              ("sat", 0, "root")] + [
        ("and", 3, "cc") for _ in range(tiny_module.MAX_LENGTH)])])
    sentences = parse_conllu(long)
    result = evaluate_module(module, sentences, select_on=sentences, untrained_seed=None)
    # Words 9..11 (0-based 8..10) lie beyond max_length = 8: they can never be attached.
    assert result["words"]["scored_left_head"] == tiny_module.MAX_LENGTH
    for shares in result["per_head"]["forward"]:
        assert max(shares) <= (tiny_module.MAX_LENGTH - 3) / tiny_module.MAX_LENGTH


def test_bad_inputs(module, tmp_path):
    with pytest.raises(FileNotFoundError):
        evaluate_module(module, str(tmp_path / "missing.conllu"))
    with pytest.raises(ValueError, match="at least 2 sentences"):
        evaluate_module(module, parse_conllu(conllu_samples.treebank())[:1])
    with pytest.raises(FileNotFoundError):
        evaluate_module(str(tmp_path), parse_conllu(conllu_samples.treebank()))
