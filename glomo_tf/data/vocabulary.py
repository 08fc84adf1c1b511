"""Building, saving and loading the word vocabulary (`<unk>` first, then by frequency)."""

from __future__ import annotations

import collections
from typing import Iterable, Optional

import keras
import tensorflow as tf

from glomo_tf.data.vocabulary_file import (  # noqa: F401  (re-exported: the public place)
    UNK_TOKEN, load_vocabulary, save_vocabulary, validate_vocabulary)
from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer


def count_tokens(
    documents: Iterable[str],
    tokenizer: Optional[GLoMoWordTokenizer] = None,
    *,
    batch_size: int = 256,
    progress: bool = True,
    **tokenizer_options,
) -> collections.Counter:
    """Counts normalised tokens over documents in one streaming pass.

    Args:
        documents: any iterable of strings (read once).
        tokenizer: the tokenizer whose `split` defines the tokens; if None, one is made
            from `tokenizer_options` (e.g. `lowercase=`, `replace_digits=`). Its
            `max_length`/`sequence_length` are ignored: every token is counted.
        batch_size: documents per `split` call.
        progress: show a `keras.utils.Progbar` counting documents.
        **tokenizer_options: passed to `GLoMoWordTokenizer` when `tokenizer` is None.

    Returns:
        A `collections.Counter` from token (str) to count.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1; got {batch_size}.")
    if tokenizer is None:
        tokenizer = GLoMoWordTokenizer(vocabulary=None, **tokenizer_options)
    elif tokenizer_options:
        raise ValueError("Pass either `tokenizer` or tokenizer options, not both.")
    splitter = GLoMoWordTokenizer.from_config(
        {**tokenizer.get_config(), "sequence_length": None, "max_length": None}
    )

    def count_batch(texts):
        # Eager: a batch is a handful of large ops, so tracing would only add startup
        # time. Counting unique tokens in TF keeps the Python loop per batch
        # proportional to the batch's distinct words, not its length.
        tokens = splitter._split_tf(texts)[0].flat_values
        unique, _, counts = tf.unique_with_counts(tokens)
        return unique, counts

    counts = collections.Counter()
    bar = keras.utils.Progbar(None, unit_name="document") if progress else None
    seen = 0

    def flush(batch):
        unique, batch_counts = count_batch(tf.constant(batch, dtype=tf.string))
        for token, count in zip(unique.numpy(), batch_counts.numpy()):
            counts[token] += int(count)

    batch = []
    for document in documents:
        if not isinstance(document, (str, bytes)):
            raise ValueError(
                f"Documents must be strings; got {type(document).__name__} at index {seen}."
            )
        batch.append(document)
        seen += 1
        if len(batch) == batch_size:
            flush(batch)
            batch = []
            if bar is not None:
                bar.update(seen)
    if batch:
        flush(batch)
    if bar is not None:
        bar.update(seen, finalize=True)
    return collections.Counter({k.decode("utf-8"): v for k, v in counts.items()})


def vocabulary_from_counts(
    counts: collections.Counter, *, max_size: Optional[int] = 100_000, min_count: int = 1
) -> list[str]:
    """`<unk>` followed by the `max_size` most frequent tokens with count >= `min_count`.

    Ties are broken alphabetically (by code point) so the result is deterministic.
    The token `<unk>` itself, if counted, is not a word: it stays at index 0 only.
    """
    if max_size is not None and max_size < 1:
        raise ValueError(f"`max_size` must be >= 1 or None; got {max_size}.")
    if min_count < 1:
        raise ValueError(f"`min_count` must be >= 1; got {min_count}.")
    words = [(t, c) for t, c in counts.items() if c >= min_count and t != UNK_TOKEN]
    words.sort(key=lambda item: (-item[1], item[0]))
    if max_size is not None:
        words = words[:max_size]
    return [UNK_TOKEN] + [t for t, _ in words]


def build_vocabulary(
    documents: Iterable[str],
    tokenizer: Optional[GLoMoWordTokenizer] = None,
    *,
    max_size: Optional[int] = 100_000,
    min_count: int = 1,
    batch_size: int = 256,
    progress: bool = True,
    **tokenizer_options,
) -> list[str]:
    """Builds the GLoMo vocabulary in one streaming pass over `documents`.

    The released setup is `max_size=100_000` words plus `<unk>` (100,001 ids).

    Args:
        documents: iterable of strings, e.g. a `CorpusReader`.
        tokenizer: whose `split` defines tokens; or give `tokenizer_options`.
        max_size: number of words kept, `<unk>` not included; None keeps all.
        min_count: drop words seen fewer times.
        batch_size: documents per tokenizer call.
        progress: show a progress bar.
        **tokenizer_options: `GLoMoWordTokenizer` options (`lowercase`,
            `replace_digits`, `normalization_form`) when `tokenizer` is None.

    Returns:
        `["<unk>", most frequent word, ...]`; ties broken alphabetically.

    Raises:
        ValueError: if no word survives (empty corpus or `min_count` too high).

    Example:
    ```python
    vocab = build_vocabulary(CorpusReader("wiki.train.tokens.xz"), max_size=30_000)
    save_vocabulary(vocab, "vocab.txt")
    tokenizer = GLoMoWordTokenizer("vocab.txt")
    ```
    """
    counts = count_tokens(
        documents, tokenizer, batch_size=batch_size, progress=progress, **tokenizer_options
    )
    vocabulary = vocabulary_from_counts(counts, max_size=max_size, min_count=min_count)
    if len(vocabulary) < 2:
        raise ValueError(
            f"No word has count >= {min_count}: the documents are empty or `min_count` "
            "is too high, so the vocabulary would only hold `<unk>`."
        )
    return vocabulary
