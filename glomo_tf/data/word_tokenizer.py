"""`GLoMoWordTokenizer`: the word-level tokenizer of the released GLoMo setup."""

from __future__ import annotations

import os
from typing import Iterable, Optional

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.src.utils.tensor_utils import preprocessing_function

import keras_hub

UNK_TOKEN = "<unk>"
NUMBER_TOKEN = "N"
VOCAB_FILENAME = "vocabulary.txt"
NORMALIZATION_FORMS = (None, "NFC", "NFKC", "NFD", "NFKD")

# Numbers with inner separators ("3.14", "1,000") stay one token so that digit
# replacement turns them into one "N", as in the released preprocessing.
_NUMBER = r"\p{Nd}+(?:[.,]\p{Nd}+)+"
# Every punctuation or symbol character is a token of its own; `<unk>` (WikiText and
# PTB write it in the text) is kept whole so it maps to id 0.
_KEPT = r"<unk>|" + _NUMBER + r"|[\p{P}\p{S}]"
# Applied inside whitespace-separated pieces (two-stage splitting is ~2x faster than
# one regex over whole documents); control/format characters are dropped there.
_DELIMITERS = r"[\p{Cc}\p{Cf}]+|" + _KEPT
_HAS_DIGIT = r".*\p{Nd}.*"
# Nothing here branches on tensor values; autograph-converting tf-text's Python
# wrappers would only cost seconds of tracing in every tf.data map.
_NO_AUTOGRAPH = tf.autograph.experimental.do_not_convert
# Splits on Unicode White_Space (ICU), which covers \s and the \p{Z} separators.
_WHITESPACE_SPLITTER = tf_text.WhitespaceTokenizer()
# tf-text's WhitespaceTokenizer cuts multi-byte white space (U+0085, U+1680, U+2028,
# U+2029) after its first byte, leaving invalid UTF-8 at the end of the previous token
# (seen in IMDB reviews). Non-ASCII white space is therefore turned into " " first.
_NON_ASCII_WHITESPACE = r"[\x{85}\p{Z}]"


def validate_vocabulary(vocabulary: Iterable[str]) -> list[str]:
    """Checks the GLoMo vocabulary contract and returns it as a list.

    Args:
        vocabulary: tokens, index = id.

    Returns:
        The vocabulary as a new list.

    Raises:
        ValueError: if it is not a list of strings, has fewer than 2 entries, does not
            start with `<unk>`, or repeats a token.
    """
    if isinstance(vocabulary, (str, bytes)):
        raise ValueError("A vocabulary must be a list of tokens or a file path.")
    vocabulary = list(vocabulary)
    if not all(isinstance(t, str) for t in vocabulary):
        raise ValueError("Every vocabulary entry must be a Python str.")
    if len(vocabulary) < 2:
        raise ValueError(
            f"A vocabulary needs `{UNK_TOKEN}` and at least one word; got {len(vocabulary)} entries."
        )
    if vocabulary[0] != UNK_TOKEN:
        raise ValueError(
            f"Index 0 of the vocabulary must be `{UNK_TOKEN}`; got {vocabulary[0]!r}."
        )
    seen = set()
    for index, token in enumerate(vocabulary):
        if token in seen:
            raise ValueError(f"Duplicate vocabulary token {token!r} at index {index}.")
        seen.add(token)
    return vocabulary


@keras.saving.register_keras_serializable(package="glomo_tf")
class GLoMoWordTokenizer(keras_hub.tokenizers.Tokenizer):
    """Word-level tokenizer on tensorflow-text ops, `<unk>` = 0 the only special token.

    Normalisation and splitting, in order:
    1. invalid UTF-8 is replaced by U+FFFD (`tf.strings.unicode_transcode`);
    2. Unicode normalisation (`normalization_form`, NFKC by default);
    3. split: whitespace, control and format characters separate tokens and are
       dropped; every punctuation or symbol character (Unicode `P*`/`S*`, which
       includes U+FFFD) is a token of its own; the literal `<unk>` and numbers with
       inner `.`/`,` (`3.14`, `1,000`) are single tokens. So `don't` gives
       `don ' t` and `state-of-the-art` gives `state - of - the - art`;
    4. with `lowercase=True`, NFKC case folding of each token
       (`tf_text.case_fold_utf8`), except the literal token `N`, which PTB uses for
       numbers and which digit replacement produces;
    5. with `replace_digits=True`, any token containing a decimal digit becomes `N`
       (`1990s`, `3.14` and `a4` all become `N`), as in the released code;
    6. truncation to the first `max_length` tokens, then (if `sequence_length` is
       set) truncation/padding with id 0 to exactly `sequence_length`.

    Unknown words map to id 0 (`<unk>`). The empty or blank string gives zero tokens.
    The vocabulary table is a `tf.lookup.StaticHashTable`, built eagerly, so the layer
    works inside `tf.function`, `tf.data.Dataset.map` and exported SavedModels. It is
    saved as the asset `vocabulary.txt` (not in the config), the way keras-hub does.

    Args:
        vocabulary: list of tokens (index = id, index 0 = `<unk>`) or a path to a
            one-token-per-line file; `None` leaves the tokenizer without vocabulary
            (enough for `split`, used when building a vocabulary, and for
            deserialisation before `load_assets`).
        sequence_length: if set, `tokenize` returns a dense `[batch, sequence_length]`
            tensor, truncated or padded with 0.
        max_length: if set, keep only the first `max_length` tokens of each string.
        lowercase: case-fold every token except `N` (NFKC_Casefold).
        replace_digits: map every token containing a digit to `N`.
        normalization_form: Unicode normalisation before splitting: one of
            `None`, `"NFC"`, `"NFKC"`, `"NFD"`, `"NFKD"`.
        dtype: integer output dtype of `tokenize` (default `"int32"`).

    Shapes:
        `tokenize`: string `[]` → `[n]`; string `[batch]` → ragged `[batch, None]`,
        or dense `[batch, sequence_length]` when `sequence_length` is set.
        `split`: the same shapes, ragged strings (never padded).
        `detokenize`: ids `[batch, n]` → strings `[batch]` (tokens joined by spaces).

    Example:
    ```python
    tokenizer = GLoMoWordTokenizer(["<unk>", "the", "cat", "N", "."], lowercase=True)
    tokenizer(["The cat sat in 1999."])   # [[1, 2, 0, 0, 3, 4]]
    tokenizer.split(["The cat sat in 1999."])
    # [["the", "cat", "sat", "in", "N", "."]]
    ```
    """

    def __init__(
        self,
        vocabulary=None,
        sequence_length: Optional[int] = None,
        max_length: Optional[int] = None,
        lowercase: bool = True,
        replace_digits: bool = True,
        normalization_form: Optional[str] = "NFKC",
        dtype="int32",
        **kwargs,
    ):
        dtype_name = dtype.name if isinstance(dtype, keras.DTypePolicy) else dtype
        if not isinstance(dtype_name, (str, dict)) or (
            isinstance(dtype_name, str) and not dtype_name.startswith(("int", "uint"))
        ):
            raise ValueError(f"`dtype` must be an integer dtype; got {dtype!r}.")
        for name, value in (("sequence_length", sequence_length), ("max_length", max_length)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive int or None; got {value!r}.")
        if normalization_form not in NORMALIZATION_FORMS:
            raise ValueError(
                f"`normalization_form` must be one of {NORMALIZATION_FORMS}; "
                f"got {normalization_form!r}."
            )
        super().__init__(dtype=dtype, **kwargs)
        self.sequence_length = sequence_length
        self.max_length = max_length
        self.lowercase = lowercase
        self.replace_digits = replace_digits
        self.normalization_form = normalization_form
        self.set_vocabulary(vocabulary)
        self.file_assets = [VOCAB_FILENAME]

    # Vocabulary -----------------------------------------------------------------

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary from a list of tokens or a file path (or clears it)."""
        if vocabulary is None:
            self.vocabulary = None
            self._token_to_id_map = None
            self._lookup_table = None
            self._id_to_token_table = None
            return
        if isinstance(vocabulary, (str, os.PathLike)):
            # Imported here: vocabulary.py imports this module for its splitter.
            from glomo_tf.data.vocabulary import load_vocabulary

            vocabulary = load_vocabulary(vocabulary)
        self.vocabulary = validate_vocabulary(vocabulary)
        self._token_to_id_map = {t: i for i, t in enumerate(self.vocabulary)}
        # Built eagerly: a table created while tracing a tf.data function would be
        # owned by that function's graph.
        with tf.init_scope():
            keys = tf.constant(self.vocabulary, dtype=tf.string)
            self._lookup_table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    keys, tf.range(len(self.vocabulary), dtype=tf.int64)
                ),
                default_value=0,
            )
            self._id_to_token_table = keys

    def save_assets(self, dir_path):
        path = os.path.join(dir_path, VOCAB_FILENAME)
        with open(path, "w", encoding="utf-8") as file:
            for token in self.get_vocabulary():
                file.write(f"{token}\n")

    def load_assets(self, dir_path):
        self.set_vocabulary(os.path.join(dir_path, VOCAB_FILENAME))

    def _check_vocabulary(self):
        if self.vocabulary is None:
            raise ValueError(
                "GLoMoWordTokenizer has no vocabulary: pass `vocabulary=` (a list or a "
                "file) or call `set_vocabulary()`. `split()` works without one."
            )

    def get_vocabulary(self) -> list[str]:
        self._check_vocabulary()
        return list(self.vocabulary)

    def vocabulary_size(self) -> int:
        self._check_vocabulary()
        return len(self.vocabulary)

    def id_to_token(self, id) -> str:
        self._check_vocabulary()
        id = int(id)
        if not 0 <= id < len(self.vocabulary):
            raise ValueError(f"`id` must be in [0, {len(self.vocabulary) - 1}]; got {id}.")
        return self.vocabulary[id]

    def token_to_id(self, token: str) -> int:
        """Returns the id of `token`, or 0 (`<unk>`) for a word outside the vocabulary."""
        self._check_vocabulary()
        return self._token_to_id_map.get(token, 0)

    @property
    def unk_token(self) -> str:
        return UNK_TOKEN

    @property
    def unk_token_id(self) -> int:
        return 0

    # Text processing --------------------------------------------------------------

    @_NO_AUTOGRAPH
    def _split_tf(self, inputs):
        inputs = tf.convert_to_tensor(inputs) if not isinstance(inputs, tf.RaggedTensor) else inputs
        if inputs.dtype != tf.string:
            raise ValueError(f"GLoMoWordTokenizer expects string inputs; got dtype {inputs.dtype}.")
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        text = tf.strings.unicode_transcode(
            inputs, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        if self.normalization_form is not None:
            text = tf_text.normalize_utf8(text, self.normalization_form)
        text = tf.strings.regex_replace(text, _NON_ASCII_WHITESPACE, " ")
        pieces = _WHITESPACE_SPLITTER.tokenize(text)
        tokens = pieces.with_flat_values(
            tf_text.regex_split(pieces.flat_values, _DELIMITERS, _KEPT)
        ).merge_dims(-2, -1)
        if self.lowercase:
            # Folded per token so that a literal `N` (PTB's number token) survives.
            tokens = tf.ragged.map_flat_values(
                lambda t: tf.where(tf.equal(t, NUMBER_TOKEN), t, tf_text.case_fold_utf8(t)),
                tokens,
            )
            # Case folding drops default-ignorable code points, which can empty a token.
            tokens = tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)
        if self.replace_digits:
            tokens = tf.ragged.map_flat_values(
                lambda t: tf.where(tf.strings.regex_full_match(t, _HAS_DIGIT), NUMBER_TOKEN, t),
                tokens,
            )
        limit = self.max_length
        if self.sequence_length is not None:
            limit = self.sequence_length if limit is None else min(limit, self.sequence_length)
        if limit is not None:
            tokens = tokens[:, :limit]
        return tokens, unbatched

    @_NO_AUTOGRAPH
    @preprocessing_function
    def split(self, inputs):
        """Normalises and splits strings into word tokens (no vocabulary needed).

        Truncation (`max_length` / `sequence_length`) is applied, padding is not: use
        `.to_tensor(default_value="")` to align with a dense `tokenize` output.

        Args:
            inputs: string scalar or `[batch]` (also Python str / list of str).

        Returns:
            Ragged string tokens `[batch, None]` (a `[n]` tensor for a scalar input).
        """
        tokens, unbatched = self._split_tf(inputs)
        if unbatched:
            tokens = tokens[0]
        return tokens

    @_NO_AUTOGRAPH
    @preprocessing_function
    def tokenize(self, inputs):
        """Maps strings to token ids (unknown words → 0).

        Args:
            inputs: string scalar or `[batch]` (also Python str / list of str).

        Returns:
            int ids: `[n]` for a scalar, ragged `[batch, None]`, or dense
            `[batch, sequence_length]` padded with 0 when `sequence_length` is set.
            As for every keras-hub tokenizer, an eager call returns ragged results as
            Python lists; inside `tf.function`/`tf.data` they are `tf.RaggedTensor`s.
        """
        self._check_vocabulary()
        tokens, unbatched = self._split_tf(inputs)
        ids = tf.ragged.map_flat_values(self._lookup_table.lookup, tokens)
        ids = tf.cast(ids, self.compute_dtype)
        if self.sequence_length is not None:
            ids = ids.to_tensor(default_value=0, shape=[None, self.sequence_length])
        if unbatched:
            ids = ids[0]
        return ids

    @_NO_AUTOGRAPH
    @preprocessing_function
    def tokenize_with_padding_mask(self, inputs):
        """Dense ids plus keras-hub's `padding_mask` (True on real tokens).

        Without `sequence_length` the batch is padded to its longest row. Needed
        because id 0 is both padding and a real `<unk>`.

        Args:
            inputs: string `[batch]`.

        Returns:
            `{"token_ids": int [batch, S], "padding_mask": bool [batch, S]}`.
        """
        self._check_vocabulary()
        tokens, _ = self._split_tf(inputs)
        ids = tf.cast(
            tf.ragged.map_flat_values(self._lookup_table.lookup, tokens), self.compute_dtype
        )
        shape = [None, self.sequence_length]
        mask = tf.ones_like(ids, dtype=tf.bool).to_tensor(default_value=False, shape=shape)
        return {
            "token_ids": ids.to_tensor(default_value=0, shape=shape),
            "padding_mask": mask,
        }

    @_NO_AUTOGRAPH
    @preprocessing_function
    def detokenize(self, inputs):
        """Joins the tokens of id sequences with single spaces.

        Args:
            inputs: ids `[n]`, `[batch, n]` or ragged `[batch, None]`. Dense padding
                (id 0) reads back as `<unk>`; pass ragged ids to avoid it.

        Returns:
            String scalar for `[n]`, else strings `[batch]`.
        """
        self._check_vocabulary()
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 1
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        if not isinstance(inputs, tf.RaggedTensor):
            inputs = tf.RaggedTensor.from_tensor(inputs)
        ids = tf.cast(inputs, tf.int64)
        tf.debugging.assert_non_negative(
            ids.flat_values, message="detokenize: negative id"
        )
        tf.debugging.assert_less(
            ids.flat_values,
            tf.constant(len(self.vocabulary), tf.int64),
            message="detokenize: id outside the vocabulary",
        )
        words = tf.ragged.map_flat_values(
            lambda i: tf.gather(self._id_to_token_table, i), ids
        )
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        if unbatched:
            text = text[0]
        return text

    def call(self, inputs, *args, training=None, **kwargs):
        return self.tokenize(inputs, *args, **kwargs)

    def compute_output_spec(self, input_spec):
        return keras.KerasTensor(
            tuple(input_spec.shape) + (self.sequence_length,), dtype=self.compute_dtype
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": None,  # Saved as an asset by `save_assets`.
                "sequence_length": self.sequence_length,
                "max_length": self.max_length,
                "lowercase": self.lowercase,
                "replace_digits": self.replace_digits,
                "normalization_form": self.normalization_form,
            }
        )
        return config
