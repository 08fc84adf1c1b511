import numpy as np
import pytest

from glomo_tf.data.synthetic import PlantedLanguage, parent_recovery, parents_path, read_parents
from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer


def small_language(seed=0):
    return PlantedLanguage(
        num_classes=4, num_fillers=20, triggers_per_class=3, document_length=24,
        min_distance=3, max_distance=12, dependencies_per_document=(1, 3), seed=seed,
    )


def test_words_are_distinct_letters_only_and_survive_the_tokenizer():
    language = small_language()
    words = language.words
    assert len(words) == len(set(words)) == 20 + 4 * (2 * 3 + 1) + 1
    assert all(w.isalpha() and w.islower() and w.isascii() and w != "n" for w in words)
    tokenizer = GLoMoWordTokenizer(["<unk>"] + words)
    docs, _ = language.sample(3)
    assert tokenizer.split([" ".join(d) for d in docs]) == docs
    assert all(0 not in row for row in tokenizer([" ".join(d) for d in docs]))


def test_parents_are_valid_and_answers_determined_by_triggers():
    language = small_language()
    docs, parents = language.sample(200, seed=3)
    assert parents.shape == (200, 24) and parents.dtype == np.int32
    markers = set(language.markers)
    triggers = {t: (c, k) for (c, k), t in np.ndenumerate(language.triggers)}
    num_dependencies = num_distractors = 0
    for tokens, row in zip(docs, parents):
        planted = set()
        for i, j in enumerate(row):
            if j < 0:
                assert tokens[i] not in markers
                continue
            num_dependencies += 1
            assert 0 <= j < i and 3 <= i - j <= 12
            c, k = triggers[tokens[j]]
            planted.add(c)
            assert tokens[i] == language.markers[c]
            assert tokens[i + 1] == language.answers[c, k] == language.answer_for(tokens[j])
            assert tokens[j - 1] == language.opener
        # The opener precedes exactly the planted triggers.
        opened = [p + 1 for p, t in enumerate(tokens) if t == language.opener]
        assert sorted(opened) == sorted(row[row >= 0].tolist())
        # Distractors: triggers of classes without a marker here, never after the opener,
        # so the trigger of the marker's class is the only one of its class.
        for p, t in enumerate(tokens):
            if t in triggers and p not in row:
                num_distractors += 1
                assert triggers[t][0] not in planted
                assert p == 0 or tokens[p - 1] != language.opener
    assert num_dependencies >= 200
    assert num_distractors >= num_dependencies  # 2 per dependency unless all 4 classes are planted


def test_answers_are_a_bijection_of_triggers():
    language = small_language()
    for c in range(4):
        assert sorted(language.answers[c]) == sorted(set(language.answers[c]))
    assert set(language.answers.ravel()).isdisjoint(language.triggers.ravel())


def test_deterministic_per_seed():
    a_docs, a_parents = small_language(0).sample(20, seed=5)
    b_docs, b_parents = small_language(0).sample(20, seed=5)
    assert a_docs == b_docs
    np.testing.assert_array_equal(a_parents, b_parents)
    c_docs, _ = small_language(1).sample(20, seed=5)
    assert c_docs != a_docs
    tokens, parents = small_language(0).sample_document(np.random.default_rng(7))
    again = small_language(0).sample_document(np.random.default_rng(7))
    assert tokens == again[0]
    np.testing.assert_array_equal(parents, again[1])


def test_write_and_read_corpus(tmp_path):
    language = small_language()
    path = tmp_path / "planted.txt"
    sidecar = language.write_corpus(path, 5, seed=2)
    assert sidecar == parents_path(path)
    docs, parents = language.sample(5, seed=2)
    assert path.read_text().splitlines() == [" ".join(d) for d in docs]
    np.testing.assert_array_equal(read_parents(path), parents)
    np.testing.assert_array_equal(read_parents(sidecar), parents)
    with pytest.raises(FileNotFoundError, match="nothing.txt"):
        read_parents(tmp_path / "nothing.txt")
    (tmp_path / "bad.txt.parents.jsonl").write_text("[1, 2]\n{oops\n")
    with pytest.raises(ValueError, match=":2"):
        read_parents(tmp_path / "bad.txt")


def test_parent_recovery_on_hand_made_graphs():
    # One document, T = 5: rows 3 and 4 depend on 1 and 0. L = 1, K = 2.
    parents = np.array([[-1, -1, -1, 1, 0]])
    graphs = np.zeros((1, 1, 2, 5, 5))
    graphs[0, 0, 0, 3, 1] = 1.0  # head 0: perfect.
    graphs[0, 0, 0, 4, 0] = 0.7
    graphs[0, 0, 0, 4, 2] = 0.3
    graphs[0, 0, 1, 3, 2] = 1.0  # head 1: wrong on row 3, all-zero row 4.
    result = parent_recovery(graphs, parents)
    np.testing.assert_allclose(result.recovery, [[1.0, 0.0]])
    assert result.best_layer_head == (0, 0) and result.best_recovery == 1.0
    assert result.num_dependent_rows == 2
    # Row 3 may read 3 columns, row 4 may read 4.
    assert result.chance == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert parent_recovery(graphs, parents, layer_head=(0, 1)).selected_recovery == 0.0
    # Masking row 4 out leaves only row 3; masking column 0 shrinks row 3's choices.
    mask = np.array([[0, 1, 1, 1, 0]])
    masked = parent_recovery(graphs, parents, mask)
    assert masked.num_dependent_rows == 1 and masked.chance == pytest.approx(1 / 2)


def test_parent_recovery_errors():
    with pytest.raises(ValueError, match=r"\[N, L, K, T, T\]"):
        parent_recovery(np.zeros((1, 2, 3)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="parents"):
        parent_recovery(np.zeros((1, 1, 1, 3, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="No dependent rows"):
        parent_recovery(np.zeros((1, 1, 1, 3, 3)), -np.ones((1, 3), int))
    with pytest.raises(ValueError, match="precede"):
        parent_recovery(np.zeros((1, 1, 1, 3, 3)), np.array([[-1, 2, -1]]))


def test_bad_language_arguments():
    with pytest.raises(ValueError, match="triggers_per_class"):
        PlantedLanguage(triggers_per_class=1)
    with pytest.raises(ValueError, match="document_length"):
        PlantedLanguage(document_length=10, max_distance=9)
    with pytest.raises(ValueError, match="min_distance"):
        PlantedLanguage(min_distance=0)
