"""`GLoMoWordTokenizer`: the word-level tokenizer of the released GLoMo setup."""

from __future__ import annotations

import os
from typing import Iterable, Optional

import functools

import keras
import keras_hub
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from glomo_tf.data.vocabulary_file import UNK_TOKEN, load_vocabulary, validate_vocabulary
from glomo_tf.data.word_splitting import SPLITTING_MODES, split_words_with_offsets

NUMBER_TOKEN = "N"
VOCAB_FILENAME = "vocabulary.txt"
NORMALIZATION_FORMS = (None, "NFC", "NFKC", "NFD", "NFKD")

_HAS_DIGIT = r".*\p{Nd}.*"
# Nothing here branches on tensor values; autograph-converting tf-text's Python
# wrappers would only cost seconds of tracing in every tf.data map.
_NO_AUTOGRAPH = tf.autograph.experimental.do_not_convert


def _tensor_to_python(x):
    if isinstance(x, tf.RaggedTensor):
        x = x.to_list()
    elif isinstance(x, tf.Tensor):
        x = x.numpy()
        x = x.tolist() if isinstance(x, np.ndarray) else x
    else:
        return x
    decode = lambda v: (v.decode("utf-8", "replace") if isinstance(v, bytes)  # noqa: E731
                        else [decode(e) for e in v] if isinstance(v, list) else v)
    return decode(x)


def _preprocessing(fn):
    """keras-hub's preprocessing convention, on its public behaviour.

    Python strings and lists in, and eagerly Python lists out for ragged and string
    results (dense numbers stay tensors); inside `tf.function` / `tf.data` tensors pass
    through untouched.
    """

    @functools.wraps(fn)
    def wrapper(self, inputs, *args, **kwargs):
        with tf.device("cpu"):
            if isinstance(inputs, (str, bytes)) or (
                    isinstance(inputs, (list, tuple)) and tf.executing_eagerly()):
                try:
                    inputs = tf.convert_to_tensor(inputs)
                except (ValueError, TypeError):
                    inputs = tf.ragged.constant(inputs)
            elif isinstance(inputs, np.ndarray):
                inputs = tf.convert_to_tensor(inputs)
            outputs = fn(self, inputs, *args, **kwargs)
            if not tf.executing_eagerly():
                return outputs
            return tf.nest.map_structure(
                lambda x: _tensor_to_python(x)
                if isinstance(x, tf.RaggedTensor) or getattr(x, "dtype", None) == tf.string
                else x,
                outputs,
            )

    return wrapper


@keras.saving.register_keras_serializable(package="glomo_tf")
class GLoMoWordTokenizer(keras_hub.tokenizers.Tokenizer):
    """Word-level tokenizer on tensorflow-text ops, `<unk>` = 0 the only special token.

    Splitting and normalisation, in order:
    1. invalid UTF-8 is replaced by U+FFFD (`tf.strings.unicode_transcode`);
    2. split into words by the `splitting` rule (`glomo_tf.data.word_splitting`):
       `"english"` (default) gives PTB / Universal Dependencies words (`don't` → `do
       n't`, `U.S.` and `1,000` whole, `state-of-the-art` → `state - of - the - art`);
       `"whitespace"` only splits on white space (already tokenized corpora);
       `"punctuation"`, the rule of the first modules, makes every punctuation or
       symbol character a word (`don't` → `don ' t`) and normalises the whole text
       before splitting. White space, control and format characters are dropped;
    3. each word: Unicode normalisation (`normalization_form`, NFKC by default);
    4. with `lowercase=True`, NFKC case folding of each word
       (`tf_text.case_fold_utf8`), except the literal token `N`, which PTB uses for
       numbers and which digit replacement produces; words that fold to nothing are
       dropped;
    5. with `replace_digits=True`, any word containing a decimal digit becomes `N`
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
        normalization_form: Unicode normalisation of each word: one of
            `None`, `"NFC"`, `"NFKC"`, `"NFD"`, `"NFKD"`.
        splitting: `"english"`, `"whitespace"` or `"punctuation"` (see above). A
            config without this key (saved before it existed) means `"punctuation"`.
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
    tokenizer.split(["The cat didn't sit in 1999."])
    # [["the", "cat", "did", "n't", "sit", "in", "N", "."]]
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
        splitting: str = "english",
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
        if splitting not in SPLITTING_MODES:
            raise ValueError(f"`splitting` must be one of {SPLITTING_MODES}; got {splitting!r}.")
        super().__init__(dtype=dtype, **kwargs)
        self.splitting = splitting
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
    def normalize_tokens(self, tokens):
        """The per-word normalisation of `split`, on words that are already split.

        NFKC (`normalization_form`), case folding except the literal `N` (`lowercase`),
        then any word with a digit → `N` (`replace_digits`). A word may normalise to `""`
        (case folding drops default-ignorable code points); `split` drops such words,
        this function keeps them so that shapes are unchanged.

        Args:
            tokens: `tf.string` tensor of any shape, or a ragged one.

        Returns:
            The normalised words, same shape (and ragged structure).
        """
        if isinstance(tokens, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self.normalize_tokens, tokens)
        tokens = tf.convert_to_tensor(tokens)
        if tokens.dtype != tf.string:
            raise ValueError(f"`normalize_tokens` expects strings; got dtype {tokens.dtype}.")
        tokens = tf.strings.unicode_transcode(
            tokens, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
        if self.normalization_form is not None:
            tokens = tf_text.normalize_utf8(tokens, self.normalization_form)
        if self.lowercase:
            # Folded per token so that a literal `N` (PTB's number token) survives.
            tokens = tf.where(
                tf.equal(tokens, NUMBER_TOKEN), tokens, tf_text.case_fold_utf8(tokens))
        if self.replace_digits:
            tokens = tf.where(
                tf.strings.regex_full_match(tokens, _HAS_DIGIT), NUMBER_TOKEN, tokens)
        return tokens

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
        if self.splitting == "punctuation" and self.normalization_form is not None:
            # The first modules normalised the whole text before splitting; kept so they
            # tokenize as they did. The other rules normalise each word after splitting,
            # so that offsets point into the text as given.
            text = tf_text.normalize_utf8(text, self.normalization_form)
        tokens, starts, ends = split_words_with_offsets(text, self.splitting)
        tokens = self.normalize_tokens(tokens)
        kept = tf.strings.length(tokens) > 0
        tokens, starts, ends = (tf.ragged.boolean_mask(x, kept) for x in (tokens, starts, ends))
        limit = self.max_length
        if self.sequence_length is not None:
            limit = self.sequence_length if limit is None else min(limit, self.sequence_length)
        if limit is not None:
            tokens, starts, ends = (x[:, :limit] for x in (tokens, starts, ends))
        return tokens, starts, ends, unbatched

    @_NO_AUTOGRAPH
    @_preprocessing
    def split_with_offsets(self, inputs):
        """`split`, with each word's byte offsets into its input string.

        With `splitting="english"` or `"whitespace"`, `text[start:end]` is the word
        before normalisation (offsets index the text after invalid UTF-8 is replaced by
        U+FFFD, which are the input's bytes when it is valid). With the legacy
        `"punctuation"` rule they index the NFKC-normalised text.

        Args:
            inputs: string scalar or `[batch]`.

        Returns:
            `(words, starts, ends)`: ragged `[batch, None]` (`[n]` for a scalar).
        """
        tokens, starts, ends, unbatched = self._split_tf(inputs)
        if unbatched:
            return tokens[0], starts[0], ends[0]
        return tokens, starts, ends

    @_NO_AUTOGRAPH
    @_preprocessing
    def split(self, inputs):
        """Normalises and splits strings into word tokens (no vocabulary needed).

        Truncation (`max_length` / `sequence_length`) is applied, padding is not: use
        `.to_tensor(default_value="")` to align with a dense `tokenize` output.

        Args:
            inputs: string scalar or `[batch]` (also Python str / list of str).

        Returns:
            Ragged string tokens `[batch, None]` (a `[n]` tensor for a scalar input).
        """
        tokens, _, _, unbatched = self._split_tf(inputs)
        if unbatched:
            tokens = tokens[0]
        return tokens

    @_NO_AUTOGRAPH
    @_preprocessing
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
        tokens, _, _, unbatched = self._split_tf(inputs)
        ids = tf.ragged.map_flat_values(self._lookup_table.lookup, tokens)
        ids = tf.cast(ids, self.compute_dtype)
        if self.sequence_length is not None:
            ids = ids.to_tensor(default_value=0, shape=[None, self.sequence_length])
        if unbatched:
            ids = ids[0]
        return ids

    @_NO_AUTOGRAPH
    @_preprocessing
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
        tokens, _, _, _ = self._split_tf(inputs)
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
    @_preprocessing
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
                "splitting": self.splitting,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Configs from before `splitting` existed were made with the punctuation rule.
        return cls(**{"splitting": "punctuation", **config})
