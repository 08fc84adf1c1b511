"""Pretraining windows: documents → one token stream → `[batch, T]` int32 windows.

As released, pretraining sees no padding: documents are tokenized, concatenated into one
stream, and cut into windows of `T` tokens that start every `stride` tokens (overlapping
when `stride < T`; the released recipe shifts by 100±10, i.e. `stride=100,
stride_jitter=10`). With `repeat=True` the stream itself repeats (epoch after epoch
without a seam), so even a corpus shorter than one window yields windows.

Determinism and resuming: the pipeline has no hidden state. The stride jitter uses
stateless random ops keyed by `(seed, chunk index)`, the window shuffle uses
`seed`, and `tf.data.Options.deterministic` is on. Two pipelines built with the same
arguments therefore yield the same batches, and a run resumed at step N can use
`make_pretraining_dataset(...).skip(N)`. One caveat: `tf.data` derives its shuffle
seed from `seed` *and* the global seed, so set the same global seed
(`keras.utils.set_random_seed`) or none in both runs.
"""

from __future__ import annotations

import collections.abc
from typing import Callable, Iterable, Optional, Union

import numpy as np
import tensorflow as tf

from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

DocumentSource = Union[Iterable[str], Callable[[], Iterable[str]], tf.data.Dataset]
TokenSource = Union[np.ndarray, tf.Tensor, "list[int]"]

_TOKEN_CHUNK = 1 << 16


def _is_token_ids(source) -> bool:
    if isinstance(source, tf.Tensor):
        return source.dtype.is_integer
    if isinstance(source, np.ndarray):
        return np.issubdtype(source.dtype, np.integer)
    if isinstance(source, (list, tuple)) and source:
        return isinstance(source[0], (int, np.integer))
    return False


def _token_chunks(source, repeat: bool) -> tf.data.Dataset:
    ids = np.asarray(source)
    if ids.ndim != 1:
        raise ValueError(f"A token-id source must be 1-D; got shape {ids.shape}.")
    if ids.size == 0:
        raise ValueError("The token-id source is empty.")
    if ids.min() < 0:
        raise ValueError("Token ids must be non-negative.")
    ids = ids.astype(np.int32)
    chunks = tf.RaggedTensor.from_row_limits(
        ids, np.append(np.arange(_TOKEN_CHUNK, ids.size, _TOKEN_CHUNK), ids.size)
    )
    dataset = tf.data.Dataset.from_tensor_slices(chunks)
    return dataset.repeat() if repeat else dataset


def _document_dataset(source, repeat: bool) -> tf.data.Dataset:
    if isinstance(source, tf.data.Dataset):
        spec = source.element_spec
        if not (isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string and spec.shape.rank == 0):
            raise ValueError(
                f"A dataset source must yield scalar strings; its element_spec is {spec}."
            )
        return source.repeat() if repeat else source
    if isinstance(source, (str, bytes)):
        raise ValueError(
            "`source` is a single string; pass a list of documents or a CorpusReader "
            "(a path is not read implicitly)."
        )
    if callable(source) and not isinstance(source, collections.abc.Iterable):
        make_iterable = source
    elif isinstance(source, collections.abc.Iterator):
        if repeat:
            raise ValueError(
                "`source` is a one-shot iterator, but `repeat=True` needs to read it "
                "again: pass a list, a CorpusReader, or a function returning an iterable."
            )
        make_iterable = lambda: source  # noqa: E731
    elif isinstance(source, collections.abc.Iterable):
        if isinstance(source, collections.abc.Sized) and len(source) == 0:
            raise ValueError("The document source is empty.")
        make_iterable = lambda: source  # noqa: E731
    else:
        raise ValueError(
            f"Unsupported source of type {type(source).__name__}: expected documents "
            "(iterable of str, a function returning one, or a tf.data.Dataset of "
            "strings) or a 1-D array of token ids."
        )

    def generate():
        while True:
            count = 0
            for document in make_iterable():
                count += 1
                yield document
            if count == 0:
                raise ValueError("The document source yielded no documents.")
            if not repeat:
                return

    return tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec([], tf.string)
    )


def token_stream(
    source: DocumentSource | TokenSource,
    tokenizer: Optional[GLoMoWordTokenizer] = None,
    *,
    repeat: bool = False,
    documents_per_call: int = 64,
) -> tf.data.Dataset:
    """The concatenated token stream, as a dataset of 1-D int32 chunks.

    Args:
        source: documents or token ids (see `make_pretraining_dataset`).
        tokenizer: a `GLoMoWordTokenizer` with vocabulary (unused for token ids).
        repeat: loop over the source forever.
        documents_per_call: documents tokenized per call.

    Returns:
        A `tf.data.Dataset` of int32 `[None]` chunks whose concatenation is the stream.
    """
    if _is_token_ids(source):
        return _token_chunks(source, repeat)
    if tokenizer is None:
        raise ValueError("A tokenizer is needed to turn documents into token ids.")
    tokenizer.vocabulary_size()  # Fails early, with a clear message, if unset.
    if tokenizer.sequence_length is not None or tokenizer.max_length is not None:
        # Truncating documents would silently drop text from the stream.
        tokenizer = GLoMoWordTokenizer.from_config(
            {
                **tokenizer.get_config(),
                "vocabulary": tokenizer.get_vocabulary(),
                "sequence_length": None,
                "max_length": None,
            }
        )
    documents = _document_dataset(source, repeat)

    def tokenize(texts):
        return tf.cast(tokenizer.tokenize(texts).flat_values, tf.int32)

    return documents.batch(documents_per_call).map(
        tokenize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def _window_starts(length, stride, stride_jitter, seed, step):
    """Window start offsets inside a buffer of `length` tokens, and the next offset."""
    max_windows = length // max(stride - stride_jitter, 1) + 2
    if stride_jitter:
        steps = tf.random.stateless_uniform(
            [max_windows],
            seed=tf.stack([tf.cast(seed, tf.int64), step]),
            minval=stride - stride_jitter,
            maxval=stride + stride_jitter + 1,
            dtype=tf.int64,
        )
    else:
        steps = tf.fill([max_windows], tf.constant(stride, tf.int64))
    starts = tf.concat([[0], tf.cumsum(steps)], axis=0)
    return starts


def _windows(chunks: tf.data.Dataset, sequence_length, stride, stride_jitter, seed):
    T = sequence_length

    def cut(state, chunk):
        buffer, skip, step = state
        buffer = tf.concat([buffer, chunk], axis=0)
        # `skip` > 0 when the last stride jumped past the end of the previous buffer.
        dropped = tf.minimum(skip, tf.cast(tf.shape(buffer)[0], tf.int64))
        buffer = buffer[dropped:]
        skip = skip - dropped
        length = tf.cast(tf.shape(buffer)[0], tf.int64)
        starts = _window_starts(length, stride, stride_jitter, seed, step)
        fits = (starts + T <= length) & tf.equal(skip, 0)
        num_windows = tf.reduce_sum(tf.cast(fits, tf.int64))
        window_starts = starts[:num_windows]
        next_start = tf.where(num_windows > 0, starts[num_windows], 0)
        indices = window_starts[:, None] + tf.range(T, dtype=tf.int64)[None, :]
        windows = tf.gather(buffer, indices)
        # Tokens before the next start can never be in a window again.
        kept = buffer[tf.minimum(next_start, length):]
        skip = skip + tf.maximum(next_start - length, 0)
        return (kept, skip, step + 1), windows

    initial = (tf.zeros([0], tf.int32), tf.constant(0, tf.int64), tf.constant(0, tf.int64))
    return chunks.scan(initial, cut).unbatch()


def _check_window_arguments(sequence_length, batch_size, stride, stride_jitter):
    if not isinstance(sequence_length, (int, np.integer)) or sequence_length < 2:
        raise ValueError(
            f"`sequence_length` must be an int >= 2 (a window needs a token and a "
            f"target); got {sequence_length!r}."
        )
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int; got {batch_size!r}.")
    stride = sequence_length if stride is None else stride
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"`stride` must be a positive int or None; got {stride!r}.")
    if not isinstance(stride_jitter, (int, np.integer)) or not 0 <= stride_jitter < stride:
        raise ValueError(
            f"`stride_jitter` must be an int in [0, stride); got {stride_jitter!r} "
            f"with stride {stride}."
        )
    return int(stride)


def make_pretraining_dataset(
    source: DocumentSource | TokenSource,
    tokenizer: Optional[GLoMoWordTokenizer],
    sequence_length: int,
    batch_size: int,
    *,
    stride: Optional[int] = None,
    stride_jitter: int = 0,
    shuffle_buffer: int = 10_000,
    seed: int = 0,
    repeat: bool = True,
    drop_remainder: bool = True,
    documents_per_call: int = 64,
) -> tf.data.Dataset:
    """Shuffled batches of pretraining windows, deterministic for a seed.

    Args:
        source: the corpus, either documents — a re-iterable of str (list,
            `CorpusReader`), a zero-argument function returning an iterable of str,
            a `tf.data.Dataset` of scalar strings, or (only with `repeat=False`) a
            one-shot iterator — or token ids: a 1-D integer `np.ndarray`/`tf.Tensor`
            or list of int.
        tokenizer: `GLoMoWordTokenizer` with a vocabulary; may be None for token ids.
            Its `sequence_length`/`max_length` are ignored (documents are never cut).
        sequence_length: window length T (>= 2).
        batch_size: windows per batch.
        stride: tokens between window starts; default T (no overlap). The released
            recipe uses 100 with T up to 200.
        stride_jitter: each stride is drawn uniformly from
            `[stride - stride_jitter, stride + stride_jitter]` (released: 10).
        shuffle_buffer: windows in the shuffle buffer; 0 or 1 disables shuffling.
        seed: seeds the jitter and the shuffle.
        repeat: loop over the corpus forever (the stream continues across epochs).
        drop_remainder: drop a last partial batch (only matters with `repeat=False`).
        documents_per_call: documents tokenized per tokenizer call.

    Returns:
        A `tf.data.Dataset` of int32 `[batch_size, sequence_length]` (first dimension
        `None` when `drop_remainder=False`), prefetched with AUTOTUNE.

    Raises:
        ValueError: for T < 2, bad stride/batch arguments, an empty source, a
            one-shot iterator with `repeat=True`, or a tokenizer without vocabulary.

    Example:
    ```python
    tokenizer = GLoMoWordTokenizer("vocab.txt")
    train = make_pretraining_dataset(
        CorpusReader("wiki/"), tokenizer, 200, 32, stride=100, stride_jitter=10
    )
    resumed = make_pretraining_dataset(...same arguments...).skip(step)
    ```
    """
    stride = _check_window_arguments(sequence_length, batch_size, stride, stride_jitter)
    chunks = token_stream(
        source, tokenizer, repeat=repeat, documents_per_call=documents_per_call
    )
    windows = _windows(chunks, int(sequence_length), stride, int(stride_jitter), int(seed))
    if shuffle_buffer and shuffle_buffer > 1:
        windows = windows.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = windows.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options)


def make_validation_dataset(
    source: DocumentSource | TokenSource,
    tokenizer: Optional[GLoMoWordTokenizer],
    sequence_length: int,
    batch_size: int,
    *,
    stride: Optional[int] = None,
    drop_remainder: bool = False,
    documents_per_call: int = 64,
) -> tf.data.Dataset:
    """Validation windows in corpus order: no shuffle, no repeat, no jitter.

    One pass over the stream; the trailing tokens that do not fill a window are
    dropped (there is no padding in pretraining). Arguments are as for
    `make_pretraining_dataset`; `stride` defaults to T (non-overlapping windows).

    Example:
    ```python
    valid = make_validation_dataset(CorpusReader("wiki.valid.tokens"), tokenizer, 200, 32)
    ```
    """
    return make_pretraining_dataset(
        source,
        tokenizer,
        sequence_length,
        batch_size,
        stride=stride,
        stride_jitter=0,
        shuffle_buffer=0,
        seed=0,
        repeat=False,
        drop_remainder=drop_remainder,
        documents_per_call=documents_per_call,
    )


# The released recipe's window lengths: int(T * 1.4**u), u uniform in [-2, 0].
_RELEASED_LENGTH_BASE = 1.4
_RELEASED_LENGTH_EXPONENT = -2.0


def released_window_lengths(max_length):
    """The shortest and longest window of the released recipe for `max_length` = T."""
    return int(max_length * _RELEASED_LENGTH_BASE ** _RELEASED_LENGTH_EXPONENT), int(max_length)


def released_mean_length(max_length):
    """E[int(T · 1.4^u)], u uniform in [-2, 0]: the mean window of the released recipe
    (145.1 for T = 200), for counting tokens per step."""
    u = np.linspace(_RELEASED_LENGTH_EXPONENT, 0.0, 200_001)
    return float(np.mean(np.floor(max_length * _RELEASED_LENGTH_BASE ** u)))


def _document_windows(ids, max_length, stride, stride_jitter, seed, index):
    length = tf.cast(tf.shape(ids)[0], tf.int64)
    starts = _window_starts(length, stride, stride_jitter, seed, index)
    starts = starts[starts + max_length <= length]
    return tf.gather(ids, starts[:, None] + tf.range(max_length, dtype=tf.int64)[None, :])


def make_document_windows_dataset(
    source: DocumentSource,
    tokenizer: GLoMoWordTokenizer,
    max_length: int,
    batch_size: int,
    *,
    stride: Optional[int] = None,
    stride_jitter: int = 0,
    variable_length: bool = True,
    shuffle_buffer: int = 10_000,
    seed: int = 0,
    repeat: bool = True,
    drop_remainder: bool = True,
    documents_per_call: int = 64,
) -> tf.data.Dataset:
    """The released pretraining windows: inside documents, batch lengths int(T·1.4^u).

    Each document is tokenized on its own and cut into windows of `max_length` (= T)
    tokens that start every `stride ± stride_jitter` tokens (released: T 200, stride
    100 ± 10), so no window crosses a document; a document shorter than T gives none.
    With `variable_length`, each batch is then cut to its first `int(T · 1.4^u)` tokens,
    u uniform in [-2, 0] and drawn per batch (102–200 for T = 200), as released: all
    windows of a batch share a length, so there is still no padding.

    Deterministic for a seed (stateless draws keyed by document and batch index), so a
    resumed run can `skip(step)` as with `make_pretraining_dataset`.

    Args:
        source: documents (see `make_pretraining_dataset`; not token ids: windows are
            cut per document).
        tokenizer: a `GLoMoWordTokenizer` with vocabulary.
        max_length: T, the longest window.
        batch_size: windows per batch.
        stride, stride_jitter: window starts (default stride T // 2, jitter 0).
        variable_length: cut each batch to a random length (False: every batch is T).
        shuffle_buffer, seed, repeat, drop_remainder, documents_per_call: as in
            `make_pretraining_dataset`.

    Returns:
        `tf.data.Dataset` of int32 `[batch_size, length]`, length ≤ T (`None` statically).

    Example:
    ```python
    train = make_document_windows_dataset(CorpusReader("wiki/"), tokenizer, 200, 32,
                                          stride=100, stride_jitter=10)
    ```
    """
    if _is_token_ids(source):
        raise ValueError("Document windows need documents, not a stream of token ids.")
    stride = _check_window_arguments(
        max_length, batch_size, max_length // 2 if stride is None else stride, stride_jitter)
    tokenizer.vocabulary_size()
    documents = _document_dataset(source, repeat)
    max_length, stride_jitter, seed = int(max_length), int(stride_jitter), int(seed)

    def tokenize(texts):
        return tf.cast(tokenizer.tokenize(texts), tf.int32)

    per_document = documents.batch(documents_per_call).map(
        tokenize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    windows = per_document.enumerate().flat_map(
        lambda index, ids: tf.data.Dataset.from_tensor_slices(
            _document_windows(ids, max_length, stride, stride_jitter, seed, index)))
    if shuffle_buffer and shuffle_buffer > 1:
        windows = windows.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = windows.batch(batch_size, drop_remainder=drop_remainder)
    if variable_length:
        def crop(index, batch):
            u = tf.random.stateless_uniform(
                [], seed=tf.stack([tf.constant(seed + 1, tf.int64), index]),
                minval=_RELEASED_LENGTH_EXPONENT, maxval=0.0)
            length = tf.cast(float(max_length) * tf.pow(_RELEASED_LENGTH_BASE, u), tf.int32)
            return batch[:, :tf.clip_by_value(length, 2, max_length)]

        dataset = dataset.enumerate().map(crop)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
