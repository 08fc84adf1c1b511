"""SQuAD spans over the graph module's tokens: character offsets, answer mapping, decoding.

The module returns normalised tokens without offsets. Their character spans come from the
module's own splitting ops on the raw text (`GraphModule.word_char_spans`), and a context is
accepted only when it gives as many spans as the module's tokens — otherwise it cannot be
aligned and its questions are skipped (counted by the caller).
"""

from __future__ import annotations

import numpy as np


def token_char_spans(spans, tokens):
    """`spans` (a text's word spans) when they align with the module's `tokens`, else None.

    Args:
        spans: `[(start, end), ...]` from `GraphModule.word_char_spans`.
        tokens: the module's tokens of the same text (str or bytes; padding "" ignored).

    Returns:
        `spans` as a list, or None if the counts differ.

    Example:

    >>> token_char_spans([(0, 2), (3, 5)], ["do", "it", ""])
    [(0, 2), (3, 5)]
    >>> token_char_spans([(0, 2), (3, 5)], ["do"]) is None
    True
    """
    tokens = [t for t in tokens if t]
    return list(spans) if len(spans) == len(tokens) else None


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
