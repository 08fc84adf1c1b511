"""Splitting raw text into words, with character offsets, on tensorflow-text ops.

Three rules (`SPLITTING_MODES`), chosen per corpus and recorded in a module's config:

- `"english"`: PTB / Universal Dependencies style English words, the default for raw text.
  Clitics are words of their own (`don't` → `do n't`, `it's` → `it 's`, also `'re 'll 'd 'm
  've`, with `'` or `’`); abbreviations and initials keep their period (`M.`, `U.S.`,
  `e.g.`, `Mr.`, `Inc.`); runs such as `--`, `...`, `!!`, `?!`, `<<` and emoticons (`:)`,
  `:-)`) stay whole; numbers with separators (`1,000`, `3.5`, `10:30`, `08/16/2000`,
  `713-664-7478`), URLs, e-mail addresses and dotted names (`alt.animals.cat`,
  `resume.doc`) stay whole; every other punctuation or symbol character is a word, so
  hyphenated compounds split (`15-year` → `15 - year`), as in UD English-EWT.
- `"whitespace"`: only white space separates words, for corpora that are already
  tokenized (WikiText, PTB, SST-2).
- `"punctuation"`: the rule of the first modules (every punctuation or symbol character
  is a word, so `don't` → `don ' t`), kept so that modules exported with it behave as
  they did.

Measured on UD English-EWT dev (2,001 raw sentences): the `"english"` words equal the gold
words (up to lowercasing and the digit rule) for 91.8% of the sentences, against 67% for
`"punctuation"`; most of the rest are typos that the treebank splits (`its` → `it s`,
`Im` → `I m`), which no rule on the surface can recover.

Why two stages: white space is split first, then each piece by the word rules. Patterns
anchored with `^` (initials, abbreviations) thus only match at the start of a piece, so
`sentence.` never yields `e.`; and the pieces are short, which is faster than one regex
over whole documents.

The offsets are byte offsets into the text after invalid UTF-8 has been replaced by
U+FFFD (the same bytes as the input when it is valid UTF-8): `text[start:end]` is the
word before normalisation.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

SPLITTING_MODES = ("english", "whitespace", "punctuation")

# White space: ASCII (\s), Unicode separators (\p{Z}) and NEL (U+0085). A regex split
# rather than tf-text's WhitespaceTokenizer, which cuts multi-byte white space after its
# first byte and leaves invalid UTF-8 behind.
_WHITESPACE = r"[\s\p{Z}\x{85}]+"
# Control and format characters separate words and are dropped.
_DROPPED = r"[\p{Cc}\p{Cf}]+"

_URL = r"(?:https?://|www\.)[^\s]*[^\s.,;:!?'\")\]]"
_EMAIL = r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+"
_ABBREVIATION = (
    r"^(?i:mr|mrs|ms|dr|prof|st|jr|sr|vs|etc|inc|ltd|co|corp|jan|feb|mar|apr|jun|jul|aug|"
    r"sep|sept|oct|nov|dec|no|mt|gen|sen|rep|gov|capt|col|lt|sgt|ave|blvd|dept|est|fig|"
    r"approx)\."
)
_INITIALS = r"^(?:\p{L}\.(?:\p{L}\.)+|\p{Lu}\.)"
_NUMBER = r"\p{Nd}+(?:[.,:/-]\p{Nd}+)+"
# \b is ASCII-only in RE2, which is what a clitic's last letter is.
_CLITIC = r"(?i:n[’']t|[’'](?:s|re|ll|d|m|ve))\b"
_DOTTED_NAME = r"[\p{L}\p{N}_]+(?:\.[\p{L}\p{N}_]+)+"
_RUNS = r"\.{2,}|-{2,}|[!?]{2,}|={2,}|\*{2,}|\${2,}|<<|>>|[:;]-?[()DPp]\B"
_PUNCTUATION = r"[\p{P}\p{S}]"
# `<unk>` (WikiText and PTB write it in the text) stays whole so that it maps to id 0.
_UNK = r"<unk>"

# Order matters: RE2 takes the first alternative that matches at the leftmost position.
_ENGLISH_KEPT = "|".join([
    _UNK, _URL, _EMAIL, _ABBREVIATION, _INITIALS, _NUMBER, _CLITIC, _DOTTED_NAME, _RUNS,
    _PUNCTUATION,
])
_PUNCTUATION_KEPT = "|".join([_UNK, r"\p{Nd}+(?:[.,]\p{Nd}+)+", _PUNCTUATION])


def _check_mode(splitting):
    if splitting not in SPLITTING_MODES:
        raise ValueError(f"`splitting` must be one of {SPLITTING_MODES}; got {splitting!r}.")


def split_words_with_offsets(text, splitting="english"):
    """Splits a batch of strings into words, with byte offsets into each string.

    No normalisation happens here (see `GLoMoWordTokenizer` for NFKC, case folding and
    the digit rule), so `text[b][starts[b, i]:ends[b, i]] == words[b, i]`.

    Args:
        text: `tf.string` `[batch]`, valid UTF-8 (replace invalid bytes first,
            `tf.strings.unicode_transcode(..., errors="replace")`).
        splitting: one of `SPLITTING_MODES`.

    Returns:
        `(words, starts, ends)`: ragged `[batch, None]` `tf.string`, `tf.int64`,
        `tf.int64`.

    Example:
    ```python
    words, starts, ends = split_words_with_offsets(tf.constant(["I don't."]))
    # words [[b"I", b"do", b"n't", b"."]], starts [[0, 2, 4, 7]], ends [[1, 4, 7, 8]]
    ```
    """
    _check_mode(splitting)
    pieces, starts, ends = tf_text.regex_split_with_offsets(text, _WHITESPACE, "")
    if splitting == "whitespace":
        return pieces, starts, ends
    kept = _ENGLISH_KEPT if splitting == "english" else _PUNCTUATION_KEPT
    words, word_starts, word_ends = tf_text.regex_split_with_offsets(
        pieces.flat_values, _DROPPED + "|" + kept, kept)
    # Each word's piece start, gathered by its piece index found in the row splits. A
    # ragged + dense broadcast, tf.repeat and RaggedTensor.value_rowids all tile to a
    # dense [pieces, most words in one piece] tensor: gigabytes for one long run of emoji
    # next to a text of many short pieces.
    splits = word_starts.row_splits
    piece_of_word = tf.searchsorted(
        splits, tf.range(splits[-1], dtype=splits.dtype), side="right") - 1
    piece_starts = tf.gather(starts.flat_values, piece_of_word)
    shift = lambda r: r.with_flat_values(r.flat_values + piece_starts)  # noqa: E731
    merge = lambda r: pieces.with_flat_values(r).merge_dims(-2, -1)  # noqa: E731
    return merge(words), merge(shift(word_starts)), merge(shift(word_ends))
