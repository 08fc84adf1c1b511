"""SQuAD spans over the graph module's tokens: character offsets, answer mapping, decoding.

The module returns normalised tokens without offsets. `token_char_spans` re-splits the
raw text in Python with the module tokenizer's rules (`GLoMoWordTokenizer`: whitespace
and control/format characters separate and are dropped; `<unk>`, numbers with inner
`.`/`,` and every punctuation/symbol character are tokens of their own) and accepts the
result only when it gives as many pieces as the module's tokens — otherwise the context
cannot be aligned and its questions are skipped (counted by the caller).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

_NUMBER = re.compile(r"\d+(?:[.,]\d+)+")
_UNK = "<unk>"


def _separator(ch):
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")


def _own_token(ch):
    return unicodedata.category(ch)[0] in "PS"


def split_with_offsets(text):
    """`[(start, end), ...]` character spans of the tokenizer's pieces of `text`.

    Example:

    >>> split_with_offsets("Don't stop, 3.5 m!")
    [(0, 3), (3, 4), (4, 5), (6, 10), (10, 11), (12, 15), (16, 17), (17, 18)]
    """
    spans, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if _separator(ch):
            i += 1
            continue
        if text.startswith(_UNK, i):
            spans.append((i, i + len(_UNK)))
            i += len(_UNK)
            continue
        number = _NUMBER.match(text, i)
        if number:
            spans.append((i, number.end()))
            i = number.end()
            continue
        if _own_token(ch):
            spans.append((i, i + 1))
            i += 1
            continue
        j = i + 1
        while j < n and not (_separator(text[j]) or _own_token(text[j])
                             or text.startswith(_UNK, j) or _NUMBER.match(text, j)):
            j += 1
        spans.append((i, j))
        i = j
    return spans


def token_char_spans(text, tokens):
    """Character spans of the module's `tokens` of `text`, or None when they do not align.

    Args:
        text: the raw string given to the module.
        tokens: the module's tokens of `text` (str or bytes; padding "" ignored).

    Returns:
        A list of `(start, end)` per token, or None if the piece counts differ.
    """
    tokens = [t.decode("utf-8") if isinstance(t, bytes) else t for t in tokens]
    tokens = [t for t in tokens if t]
    spans = split_with_offsets(text)
    if len(spans) != len(tokens):
        return None
    return spans


def answer_token_span(spans, answer_start, answer_text):
    """Token indices `(first, last)` covering characters `[answer_start, +len)`, or None.

    A token belongs to the answer when its characters overlap the answer's. None when
    no token overlaps (e.g. the answer is only whitespace, or lies beyond the tokens).

    Example:

    >>> answer_token_span([(0, 3), (4, 7), (8, 11)], 4, "cat sat")
    (1, 2)
    """
    end = answer_start + len(answer_text)
    inside = [k for k, (s, e) in enumerate(spans) if s < end and e > answer_start]
    if not inside or not answer_text.strip():
        return None
    return inside[0], inside[-1]


def best_span(start_logits, end_logits, length, max_span_length=16):
    """The span `(s, e)` maximising `start[s] + end[e]` with `s <= e < s + max_span_length`.

    Args:
        start_logits, end_logits: float `[T]` (positions `>= length` are ignored).
        length: number of real tokens (>= 1).
        max_span_length: longest span in tokens.

    Returns:
        `(s, e, score)`.

    Example:

    >>> best_span([0, 5, 0, 0], [0, 0, 0, 9], 4, max_span_length=3)
    (1, 3, 14.0)
    >>> best_span([0, 5, 0, 0], [0, 0, 0, 9], 4, max_span_length=2)
    (3, 3, 9.0)
    """
    if length < 1:
        raise ValueError("best_span needs at least one real token.")
    if max_span_length < 1:
        raise ValueError(f"max_span_length must be >= 1, got {max_span_length}.")
    start = np.asarray(start_logits, np.float64)[:length]
    end = np.asarray(end_logits, np.float64)[:length]
    best = (0, 0, -np.inf)
    for offset in range(min(max_span_length, length)):
        # Spans of exactly offset + 1 tokens: start s, end s + offset.
        scores = start[: length - offset] + end[offset:]
        s = int(np.argmax(scores))
        if scores[s] > best[2]:
            best = (s, s + offset, float(scores[s]))
    return best


def span_text(text, spans, first, last):
    """The context substring from token `first` to token `last` (inclusive)."""
    return text[spans[first][0]: spans[last][1]]
