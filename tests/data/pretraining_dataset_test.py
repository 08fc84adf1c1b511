import itertools

import numpy as np
import pytest
import tensorflow as tf

from glomo_tf.data import pretraining_dataset as pd
from glomo_tf.data.pretraining_dataset import make_pretraining_dataset, make_validation_dataset
from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

# Word k has id k (letters only: a digit would become "N").
WORDS = ["".join(p) for p in itertools.product("abcdefgh", repeat=2)]
VOCAB = ["<unk>"] + WORDS
TOKENIZER = GLoMoWordTokenizer(VOCAB)


def documents(lengths, start=1):
    """Documents whose concatenated ids are start, start+1, ... (one per token)."""
    docs, next_id = [], start
    for n in lengths:
        docs.append(" ".join(VOCAB[next_id + i] for i in range(n)))
        next_id += n
    return docs


def windows_of(dataset):
    return np.concatenate([b.numpy() for b in dataset], axis=0)


def test_windows_are_consecutive_slices_of_the_document_stream():
    docs = documents([5, 1, 7, 3, 9, 4])  # ids 1..29, tokenized 2 documents per call
    # The tokenizer's truncation options must not cut documents out of the stream.
    truncating = GLoMoWordTokenizer(VOCAB, max_length=2, sequence_length=3)
    ds = make_validation_dataset(docs, truncating, 4, 2, stride=3, documents_per_call=2)
    windows = windows_of(ds)
    expected = np.stack([np.arange(s + 1, s + 5) for s in range(0, 26, 3)])
    np.testing.assert_array_equal(windows, expected)


@pytest.mark.parametrize("T,stride", [(4, 4), (4, 2), (3, 5)])
def test_windows_of_token_ids(T, stride):
    chunks = tf.data.Dataset.from_tensor_slices(
        tf.ragged.constant([[0, 1, 2, 3, 4], [5], [6, 7, 8, 9, 10, 11, 12], [13, 14]])
    )
    windows = windows_of(pd._windows(chunks, T, stride, 0, 0).batch(100))
    expected = np.stack([np.arange(s, s + T) for s in range(0, 15 - T + 1, stride)])
    np.testing.assert_array_equal(windows, expected)


def test_token_id_source_and_output_spec():
    ds = make_pretraining_dataset(np.arange(50), None, 8, 3, stride=4, repeat=False, shuffle_buffer=0)
    assert ds.element_spec == tf.TensorSpec([3, 8], tf.int32)
    windows = windows_of(ds)
    # 11 windows fit; drop_remainder keeps 9.
    np.testing.assert_array_equal(windows, np.stack([np.arange(s, s + 8) for s in range(0, 36, 4)]))


def test_stride_jitter_stays_in_range_and_windows_are_slices():
    ids = np.arange(2000)
    ds = make_pretraining_dataset(
        ids, None, 10, 4, stride=6, stride_jitter=2, repeat=False, shuffle_buffer=0
    )
    windows = windows_of(ds)
    np.testing.assert_array_equal(windows - windows[:, :1], np.tile(np.arange(10), (len(windows), 1)))
    steps = np.diff(windows[:, 0])
    assert steps.min() >= 4 and steps.max() <= 8
    assert len(set(steps.tolist())) > 1


def test_same_seed_same_batches_and_resume_by_skip():
    # Token ids exercise the same jitter/shuffle/batch pipeline as documents, faster.
    stream = np.arange(1, 75)

    def build(seed):
        return make_pretraining_dataset(
            stream, None, 6, 4, stride=3, stride_jitter=1, shuffle_buffer=16, seed=seed
        )

    first = [b.numpy() for b in build(0).take(6)]
    again = [b.numpy() for b in build(0).take(6)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    resumed = [b.numpy() for b in build(0).skip(4).take(2)]
    np.testing.assert_array_equal(resumed[0], first[4])
    np.testing.assert_array_equal(resumed[1], first[5])
    other = [b.numpy() for b in build(1).take(6)]
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))
    # Shuffled windows are still slices of the (repeating) stream 1..74.
    for batch in first:
        for w in batch:
            assert np.all(np.diff(w) % 74 == 1)


def test_repeat_joins_epochs_so_short_corpora_still_yield():
    ds = make_pretraining_dataset(documents([3]), TOKENIZER, 5, 2, shuffle_buffer=0)
    batch = next(iter(ds)).numpy()
    np.testing.assert_array_equal(batch, [[1, 2, 3, 1, 2], [3, 1, 2, 3, 1]])


def test_callable_and_tf_data_sources():
    docs = documents([4, 4])
    from_callable = windows_of(make_validation_dataset(lambda: iter(docs), TOKENIZER, 4, 2))
    np.testing.assert_array_equal(from_callable, [[1, 2, 3, 4], [5, 6, 7, 8]])
    from_dataset = make_validation_dataset(
        tf.data.Dataset.from_tensor_slices(docs), TOKENIZER, 4, 2
    )
    assert from_dataset.element_spec.shape.as_list() == [None, 4]


def test_validation_keeps_order_and_last_partial_batch():
    windows = [b.numpy() for b in make_validation_dataset(np.arange(30), None, 5, 4)]
    assert [len(b) for b in windows] == [4, 2]
    np.testing.assert_array_equal(np.concatenate(windows)[:, 0], [0, 5, 10, 15, 20, 25])


def test_bad_arguments():
    with pytest.raises(ValueError, match="sequence_length"):
        make_pretraining_dataset(np.arange(10), None, 1, 2)
    with pytest.raises(ValueError, match="stride_jitter"):
        make_pretraining_dataset(np.arange(10), None, 4, 2, stride=2, stride_jitter=2)
    with pytest.raises(ValueError, match="batch_size"):
        make_pretraining_dataset(np.arange(10), None, 4, 0)
    with pytest.raises(ValueError, match="one-shot iterator"):
        make_pretraining_dataset(iter(["aa ab"]), TOKENIZER, 4, 2)
    with pytest.raises(ValueError, match="empty"):
        make_pretraining_dataset([], TOKENIZER, 4, 2)
    with pytest.raises(ValueError, match="empty"):
        make_pretraining_dataset(np.zeros([0], np.int32), None, 4, 2)
    with pytest.raises(ValueError, match="tokenizer"):
        make_pretraining_dataset(["aa"], None, 4, 2)
    with pytest.raises(ValueError, match="no vocabulary"):
        make_pretraining_dataset(["aa"], GLoMoWordTokenizer(None), 4, 2)
    with pytest.raises(ValueError, match="single string"):
        make_pretraining_dataset("aa ab", TOKENIZER, 4, 2)


def test_window_cutter_carries_a_skip_past_the_buffer():
    # stride > buffer length: the skip must carry into the next chunks.
    chunks = tf.data.Dataset.from_tensor_slices(
        tf.ragged.constant([[0, 1, 2], [3, 4, 5], [6, 7, 8, 9, 10, 11, 12]], dtype=tf.int32)
    )
    windows = windows_of(pd._windows(chunks, 2, 5, 0, 0).batch(10))
    np.testing.assert_array_equal(windows, [[0, 1], [5, 6], [10, 11]])


def _numbered_documents(lengths):
    vocabulary = ["<unk>"] + [f"w{i}" for i in range(max(lengths))]
    documents = [" ".join(f"w{i}" for i in range(n)) for n in lengths]
    return documents, GLoMoWordTokenizer(vocabulary, replace_digits=False, splitting="whitespace")


def test_document_windows_stay_inside_documents_with_released_lengths():
    documents, tokenizer = _numbered_documents([5, 60, 41])
    dataset = pd.make_document_windows_dataset(
        documents, tokenizer, 20, 2, stride=10, stride_jitter=2, shuffle_buffer=0, seed=3)
    shortest, longest = pd.released_window_lengths(20)
    assert (shortest, longest) == (10, 20)
    lengths = set()
    for batch in dataset.take(30):
        batch = batch.numpy()
        lengths.add(batch.shape[1])
        assert shortest <= batch.shape[1] <= longest
        for window in batch:
            # Ids w0.. map to 1..: a window is consecutive words of one document.
            assert np.all(np.diff(window) == 1)
    assert len(lengths) > 3  # Lengths vary per batch.


def test_document_windows_are_deterministic_and_fixed_without_variable_length():
    documents, tokenizer = _numbered_documents([30, 30, 30])
    make = lambda: pd.make_document_windows_dataset(  # noqa: E731
        documents, tokenizer, 10, 3, stride=5, variable_length=False, seed=1, repeat=False)
    first = [b.numpy() for b in make()]
    assert [b.shape for b in first] == [(3, 10)] * len(first) and len(first) == 5
    for a, b in zip(first, make()):
        np.testing.assert_array_equal(a, b.numpy())
    with pytest.raises(ValueError, match="documents"):
        pd.make_document_windows_dataset(np.arange(100), tokenizer, 10, 2)
