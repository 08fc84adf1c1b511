"""`ElmoBiLM`: the ELMo bidirectional language model rebuilt in Keras 3.

The network is the one of bilm-tf (`allenai/bilm-tf`, `bilm/model.py`) and allennlp
(`allennlp/modules/elmo.py`, `elmo_lstm.py`, `lstm_cell_with_projection.py`), read
from the two files every ELMo release ships: `options.json` (the architecture) and
`lm_weights.hdf5` (33 datasets for the standard 2-layer model). Nothing here uses
TF1: the math is `keras.ops`, the recurrence is `keras.layers.RNN` over
`LSTMCellWithProjection`, the weights are read with h5py.

Pipeline, for character ids `[B, T, 50]` of right-padded tokens:

1. `<S>` / `</S>` are added around every sentence (bilm-tf's `Batcher` does this
   outside the model, allennlp's character encoder inside it; here it is inside,
   so callers pass plain tokens).
2. Character embedding (row 0 = padding, all zero), one 1-D convolution per
   `filters` entry with a max over character positions and the activation, the
   highway layers (`y = t * relu(x W_t + b_t) + (1 - t) * x`,
   `t = sigmoid(x W_c + b_c)`, bilm-tf's naming: the "carry" weights make the
   gate), a linear projection to `projection_dim` when the filters do not already
   sum to it.
3. Per direction, `num_layers` LSTMs with a projected, clipped output (TF1
   `LSTMCell(num_proj=..., cell_clip=..., proj_clip=...)`); with
   `use_skip_connections` every layer but the first adds its input to its output.
   The backward LSTMs read each sentence reversed within its own length.
4. Layers `[token; token]`, `[fw_1; bw_1]`, ... are stacked and the `<S>` / `</S>`
   positions removed again: `lm_embeddings [B, num_layers + 1, T, 2 * projection_dim]`,
   as bilm-tf's `lm_embeddings` op.

Character ids follow bilm-tf's `UnicodeCharsVocabulary` / allennlp's
`ELMoCharacterMapper`: the UTF-8 bytes of a token, truncated to
`max_characters_per_token - 2`, between begin-of-word (258) and end-of-word (259)
markers, padded with 260; sentence begin / end tokens are `[258, 256, 259, 260...]`
and `[258, 257, 259, 260...]`; every id is then shifted by +1 so that 0 can mean
"padding token". `sentences_to_character_ids` (Python lists) and
`tokens_to_character_ids` (a string tensor, usable in `tf.data`) compute them.

Statefulness: both reference implementations keep the LSTM states between calls
(an "end of previous sentence" state). This layer is stateless by default (zero
initial states); pass `initial_states` and `return_states=True` to carry states
yourself, which is how the reference fixtures were produced.
"""

from __future__ import annotations

import json
import os

import numpy as np
import keras
from keras import ops

from glomo_tf.configs import check_positive_number

BEGINNING_OF_SENTENCE_CHARACTER = 256
END_OF_SENTENCE_CHARACTER = 257
BEGINNING_OF_WORD_CHARACTER = 258
END_OF_WORD_CHARACTER = 259
PADDING_CHARACTER = 260
BOS_TOKEN = "<S>"
EOS_TOKEN = "</S>"

# The original ELMo (Peters et al. 2018) release: its options.json values.
_ORIGINAL_FILTERS = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]]


def _special_token_ids(character, max_characters_per_token):
    ids = np.full([max_characters_per_token], PADDING_CHARACTER, dtype=np.int32)
    ids[0] = BEGINNING_OF_WORD_CHARACTER
    ids[1] = character
    ids[2] = END_OF_WORD_CHARACTER
    return ids + 1


def _check_max_characters(max_characters_per_token):
    if (
        isinstance(max_characters_per_token, bool)
        or not isinstance(max_characters_per_token, int)
        or max_characters_per_token < 3
    ):
        raise ValueError(
            "`max_characters_per_token` must be an int >= 3 (room for the word "
            f"markers and one byte), got {max_characters_per_token!r}."
        )


def word_to_character_ids(word, max_characters_per_token=50):
    """Character ids of one token (with the +1 shift), as int32 `[max_chars]`.

    `<S>` and `</S>` map to the sentence begin / end ids, like the vocabulary
    entries of bilm-tf and allennlp's mapper.

    Example:

    >>> word_to_character_ids("ab", 6).tolist()
    [259, 98, 99, 260, 261, 261]
    """
    _check_max_characters(max_characters_per_token)
    if not isinstance(word, str):
        raise ValueError(f"A token must be a str, got {type(word).__name__}: {word!r}.")
    if word == BOS_TOKEN:
        return _special_token_ids(BEGINNING_OF_SENTENCE_CHARACTER, max_characters_per_token)
    if word == EOS_TOKEN:
        return _special_token_ids(END_OF_SENTENCE_CHARACTER, max_characters_per_token)
    encoded = word.encode("utf-8", "ignore")[: max_characters_per_token - 2]
    ids = np.full([max_characters_per_token], PADDING_CHARACTER, dtype=np.int32)
    ids[0] = BEGINNING_OF_WORD_CHARACTER
    ids[1 : len(encoded) + 1] = list(encoded)
    ids[len(encoded) + 1] = END_OF_WORD_CHARACTER
    return ids + 1


def sentences_to_character_ids(sentences, max_characters_per_token=50):
    """Right-padded character ids for a batch of tokenized sentences.

    Args:
        sentences: list of sentences, each a list of token strings (no `<S>` /
            `</S>`: `ElmoBiLM` adds them).
        max_characters_per_token: characters per token, markers included (50 in
            every ELMo release).

    Returns:
        int32 numpy array `[B, max_len, max_characters_per_token]`; padding
        tokens are all 0. An empty batch or all-empty sentences give `max_len` 0.

    Example:

    >>> sentences_to_character_ids([["Hi", "!"], ["Ok"]], 5).shape
    (2, 2, 5)
    """
    _check_max_characters(max_characters_per_token)
    if isinstance(sentences, str) or not all(
        isinstance(s, (list, tuple)) for s in sentences
    ):
        raise ValueError(
            "`sentences` must be a list of token lists, e.g. [['The', 'cat', '.']]."
        )
    max_len = max((len(s) for s in sentences), default=0)
    out = np.zeros([len(sentences), max_len, max_characters_per_token], np.int32)
    for b, sentence in enumerate(sentences):
        for t, word in enumerate(sentence):
            out[b, t] = word_to_character_ids(word, max_characters_per_token)
    return out


def tokens_to_character_ids(tokens, max_characters_per_token=50):
    """`sentences_to_character_ids` as TensorFlow ops, for string tensors.

    TF-only (it runs on strings); use it inside `tf.data` pipelines.

    Args:
        tokens: string tensor of any shape (typically `[B, T]`); the empty string
            marks a padding token.
        max_characters_per_token: characters per token, markers included.

    Returns:
        int32 tensor `tokens.shape + [max_characters_per_token]`.
    """
    import tensorflow as tf

    _check_max_characters(max_characters_per_token)
    tokens = tf.convert_to_tensor(tokens)
    if tokens.dtype != tf.string:
        raise ValueError(f"`tokens` must be a string tensor, got {tokens.dtype}.")
    flat = tf.reshape(tokens, [-1])
    # Latin-1 decoding maps every byte to the code point of the same value, so
    # this is the token's UTF-8 byte sequence as ints.
    byte_ids = tf.strings.unicode_decode(flat, "ISO-8859-1")[
        :, : max_characters_per_token - 2
    ]
    n = tf.shape(flat)[0]
    bow = tf.fill([n, 1], BEGINNING_OF_WORD_CHARACTER)
    eow = tf.fill([n, 1], END_OF_WORD_CHARACTER)
    word_ids = tf.concat(
        [tf.RaggedTensor.from_tensor(bow), byte_ids, tf.RaggedTensor.from_tensor(eow)],
        axis=1,
    ).to_tensor(default_value=PADDING_CHARACTER, shape=[None, max_characters_per_token])
    word_ids = word_ids + 1
    bos = tf.constant(
        _special_token_ids(BEGINNING_OF_SENTENCE_CHARACTER, max_characters_per_token)
    )
    eos = tf.constant(
        _special_token_ids(END_OF_SENTENCE_CHARACTER, max_characters_per_token)
    )
    column = lambda condition: tf.expand_dims(condition, -1)  # noqa: E731
    word_ids = tf.where(column(tf.equal(flat, BOS_TOKEN)), bos[None], word_ids)
    word_ids = tf.where(column(tf.equal(flat, EOS_TOKEN)), eos[None], word_ids)
    word_ids = tf.where(column(tf.equal(flat, "")), tf.zeros_like(word_ids), word_ids)
    return tf.reshape(
        word_ids, tf.concat([tf.shape(tokens), [max_characters_per_token]], axis=0)
    )


@keras.saving.register_keras_serializable(package="glomo_tf")
class LSTMCellWithProjection(keras.layers.Layer):
    """The biLM's LSTM cell: TF1 `LSTMCell` with `num_proj`, `cell_clip`, `proj_clip`.

    One step, with `[i, j, f, o] = [x; h_prev] W + b` (TF1's gate order):

        c = sigmoid(f + forget_bias) * c_prev + sigmoid(i) * tanh(j)
        c = clip(c, -cell_clip, cell_clip)
        h = clip((sigmoid(o) * tanh(c)) P, -proj_clip, proj_clip)

    The recurrent input is the projected `h`, so the state is `[h, c]` of sizes
    `[projection_units, units]`. The weights keep bilm-tf's layout (`W_0`, `B`,
    `W_P_0`) so loading is a copy; the 1.0 forget bias is added at run time as
    TF1 did, not folded into `b`.

    Args:
        units: cell size (`lstm.dim` in options.json).
        projection_units: output / recurrent size; `None` = no projection
            (output size `units`), as bilm-tf does when `projection_dim >= dim`.
        cell_clip: optional float, clip value for `c`.
        proj_clip: optional float, clip value for `h` (after the projection).
        forget_bias: added to the forget gate pre-activation (TF1: 1.0).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `[B, input_dim]`.
        states: list `[h [B, projection_units], c [B, units]]`.

    Returns:
        `(h, [h, c])`, the shape `keras.layers.RNN` expects from a cell.

    Weights: `kernel` `[input_dim + projection_units, 4 * units]`, `bias`
    `[4 * units]`, and with a projection `projection_kernel`
    `[units, projection_units]`.

    Example:

    >>> cell = LSTMCellWithProjection(8, projection_units=3, cell_clip=3.0)
    >>> rnn = keras.layers.RNN(cell, return_sequences=True)
    >>> tuple(rnn(keras.ops.ones((2, 5, 4))).shape)
    (2, 5, 3)
    """

    def __init__(
        self,
        units,
        projection_units=None,
        cell_clip=None,
        proj_clip=None,
        forget_bias=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive int, got {units!r}.")
        if projection_units is not None and (
            isinstance(projection_units, bool)
            or not isinstance(projection_units, int)
            or projection_units <= 0
        ):
            raise ValueError(
                f"`projection_units` must be a positive int or None, got "
                f"{projection_units!r}."
            )
        for name, value in (("cell_clip", cell_clip), ("proj_clip", proj_clip)):
            check_positive_number(name, value, allow_none=True)
        self.units = units
        self.projection_units = projection_units
        self.cell_clip = None if cell_clip is None else float(cell_clip)
        self.proj_clip = None if proj_clip is None else float(proj_clip)
        self.forget_bias = float(forget_bias)
        self.output_units = projection_units or units

    @property
    def state_size(self):
        return [self.output_units, self.units]

    @property
    def output_size(self):
        return self.output_units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "LSTMCellWithProjection: the input's last axis must be known."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim + self.output_units, 4 * self.units),
            initializer="glorot_uniform",
        )
        self.bias = self.add_weight(
            name="bias", shape=(4 * self.units,), initializer="zeros"
        )
        if self.projection_units is not None:
            self.projection_kernel = self.add_weight(
                name="projection_kernel",
                shape=(self.units, self.projection_units),
                initializer="glorot_uniform",
            )

    def call(self, inputs, states, training=None):
        h_prev, c_prev = states[0], states[1]
        z = ops.matmul(ops.concatenate([inputs, h_prev], axis=-1), self.kernel)
        z = z + self.bias
        i, j, f, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f + self.forget_bias) * c_prev + ops.sigmoid(i) * ops.tanh(j)
        if self.cell_clip is not None:
            c = ops.clip(c, -self.cell_clip, self.cell_clip)
        h = ops.sigmoid(o) * ops.tanh(c)
        if self.projection_units is not None:
            h = ops.matmul(h, self.projection_kernel)
        if self.proj_clip is not None:
            h = ops.clip(h, -self.proj_clip, self.proj_clip)
        return h, [h, c]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "projection_units": self.projection_units,
                "cell_clip": self.cell_clip,
                "proj_clip": self.proj_clip,
                "forget_bias": self.forget_bias,
            }
        )
        return config


def _reverse_within_length(x, lengths):
    """`tf.reverse_sequence` on axis 1: reverses each row's first `lengths[b]` steps."""
    steps = ops.shape(x)[1]
    t = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
    lengths = ops.expand_dims(ops.cast(lengths, "int32"), 1)
    index = ops.where(t < lengths, lengths - 1 - t, t)
    index = ops.broadcast_to(ops.expand_dims(index, -1), ops.shape(x))
    return ops.take_along_axis(x, index, axis=1)


@keras.saving.register_keras_serializable(package="glomo_tf")
class ElmoBiLM(keras.layers.Layer):
    """The ELMo biLM: character ids in, the 3 (in general `num_layers + 1`) layers out.

    See the module docstring for the network. Build it from a release with
    `ElmoBiLM.from_files(options_file, weight_file)` (frozen, as in bilm-tf), or
    from hyperparameters alone (random init) for tests and new models.

    Args:
        lstm_dim: LSTM cell size (`lstm.dim`).
        projection_dim: LSTM output size and token-representation size
            (`lstm.projection_dim`); each layer is `2 * projection_dim` wide.
        num_layers: LSTM layers per direction (`lstm.n_layers`).
        cell_clip: clip value for the LSTM cells, or None (`lstm.cell_clip`).
        proj_clip: clip value for the projected outputs, or None (`lstm.proj_clip`).
        use_skip_connections: add each LSTM layer's input to its output, from the
            second layer on (`lstm.use_skip_connections`).
        char_embedding_dim: character embedding size (`char_cnn.embedding.dim`).
        filters: list of `[width, num_filters]` (`char_cnn.filters`).
        num_highway: highway layers after the CNN (`char_cnn.n_highway`).
        num_characters: rows of the character embedding, padding row included
            (`char_cnn.n_characters`; 261, the value bilm-tf trains with, is read
            as 262, the value it runs with, since shifted ids reach 261).
        max_characters_per_token: characters per token (`char_cnn.max_characters_per_token`).
        activation: CNN activation, `"relu"` or `"tanh"` (`char_cnn.activation`).
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        character_ids: int `[B, T, max_characters_per_token]`, right-padded, from
            `sentences_to_character_ids` / `tokens_to_character_ids` (without
            `<S>` / `</S>`; the layer adds them). A token whose ids are all 0 is
            padding.
        initial_states: optional list of `4 * num_layers` tensors, the LSTM states
            to start from, ordered `[fw_1 h, fw_1 c, ..., fw_L h, fw_L c, bw_1 h,
            bw_1 c, ..., bw_L h, bw_L c]` (`h` `[B, projection_dim]`, `c`
            `[B, lstm_dim]`); default zeros. `get_initial_states(B)` gives zeros.
        return_states: when True, the output also holds `"states"`, the final
            states in the same order (each row's state after its own last token:
            the forward LSTMs end at `</S>`, the backward ones at `<S>`).

    Returns:
        dict with `"lm_embeddings"`: float `[B, num_layers + 1, T, 2 * projection_dim]`
        (layer 0 = the token representation twice; padded positions are 0),
        `"mask"`: bool `[B, T]`, and with `return_states` `"states"`.

    Example:

    >>> bilm = ElmoBiLM(lstm_dim=8, projection_dim=4, filters=[[1, 4], [2, 4]],
    ...                 char_embedding_dim=3, num_highway=1)
    >>> ids = sentences_to_character_ids([["Hello", "world", "!"], ["Hi"]])
    >>> out = bilm(ids)
    >>> tuple(out["lm_embeddings"].shape), tuple(out["mask"].shape)
    ((2, 3, 3, 8), (2, 3))
    """

    def __init__(
        self,
        lstm_dim=4096,
        projection_dim=512,
        num_layers=2,
        cell_clip=3.0,
        proj_clip=3.0,
        use_skip_connections=True,
        char_embedding_dim=16,
        filters=None,
        num_highway=2,
        num_characters=262,
        max_characters_per_token=50,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        filters = _ORIGINAL_FILTERS if filters is None else filters
        for name, value in (
            ("lstm_dim", lstm_dim),
            ("projection_dim", projection_dim),
            ("num_layers", num_layers),
            ("char_embedding_dim", char_embedding_dim),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"ElmoBiLM: `{name}` must be a positive int, got {value!r}.")
        if isinstance(num_highway, bool) or not isinstance(num_highway, int) or num_highway < 0:
            raise ValueError(f"ElmoBiLM: `num_highway` must be an int >= 0, got {num_highway!r}.")
        try:
            filters = [[int(w), int(n)] for w, n in filters]
        except (TypeError, ValueError):
            raise ValueError(
                f"ElmoBiLM: `filters` must be a list of [width, num_filters], got {filters!r}."
            ) from None
        if not filters or any(w <= 0 or n <= 0 for w, n in filters):
            raise ValueError(
                f"ElmoBiLM: `filters` must be a non-empty list of positive [width, num], got {filters!r}."
            )
        _check_max_characters(max_characters_per_token)
        if max(w for w, _ in filters) > max_characters_per_token:
            raise ValueError(
                f"ElmoBiLM: a filter is wider ({max(w for w, _ in filters)}) than "
                f"`max_characters_per_token` ({max_characters_per_token})."
            )
        if num_characters == 261:
            num_characters = 262
        if num_characters < PADDING_CHARACTER + 2:
            raise ValueError(
                f"ElmoBiLM: `num_characters` must be >= {PADDING_CHARACTER + 2}, got {num_characters!r}."
            )
        if activation not in ("relu", "tanh"):
            raise ValueError(f"ElmoBiLM: `activation` must be 'relu' or 'tanh', got {activation!r}.")
        self.lstm_dim = lstm_dim
        self.projection_dim = projection_dim
        self.num_layers = num_layers
        self.cell_clip = None if cell_clip is None else float(cell_clip)
        self.proj_clip = None if proj_clip is None else float(proj_clip)
        self.use_skip_connections = bool(use_skip_connections)
        self.char_embedding_dim = char_embedding_dim
        self.filters = filters
        self.num_highway = num_highway
        self.num_characters = num_characters
        self.max_characters_per_token = max_characters_per_token
        self.activation = activation
        self.num_filters = sum(n for _, n in filters)
        # bilm-tf projects only when the CNN width differs from the LSTM input.
        self.use_token_projection = self.num_filters != projection_dim
        # ... and gives the LSTM a projection only when it shrinks the output.
        lstm_projection = projection_dim if projection_dim < lstm_dim else None
        self.output_dim = 2 * (lstm_projection or lstm_dim)
        if self.output_dim != 2 * projection_dim:
            raise ValueError(
                f"ElmoBiLM: `projection_dim` ({projection_dim}) > `lstm_dim` "
                f"({lstm_dim}) leaves the token and LSTM layers different widths."
            )
        self.forward_rnns = []
        self.backward_rnns = []
        for direction, rnns in (("forward", self.forward_rnns), ("backward", self.backward_rnns)):
            for i in range(num_layers):
                cell = LSTMCellWithProjection(
                    lstm_dim,
                    projection_units=lstm_projection,
                    cell_clip=self.cell_clip,
                    proj_clip=self.proj_clip,
                    dtype=self.dtype_policy,
                    name=f"{direction}_cell_{i}",
                )
                rnns.append(
                    keras.layers.RNN(
                        cell,
                        return_sequences=True,
                        return_state=True,
                        zero_output_for_mask=True,
                        dtype=self.dtype_policy,
                        name=f"{direction}_lstm_{i}",
                    )
                )

    @classmethod
    def options_to_kwargs(cls, options):
        """Constructor kwargs from a bilm-tf `options.json` dict (or its path)."""
        if isinstance(options, (str, os.PathLike)):
            if not os.path.exists(options):
                raise FileNotFoundError(f"ELMo options file not found: {options}")
            with open(options) as f:
                options = json.load(f)
        try:
            lstm, cnn = options["lstm"], options["char_cnn"]
            return {
                "lstm_dim": lstm["dim"],
                "projection_dim": lstm["projection_dim"],
                "num_layers": lstm.get("n_layers", 1),
                "cell_clip": lstm.get("cell_clip"),
                "proj_clip": lstm.get("proj_clip"),
                "use_skip_connections": lstm["use_skip_connections"],
                "char_embedding_dim": cnn["embedding"]["dim"],
                "filters": cnn["filters"],
                "num_highway": cnn.get("n_highway") or 0,
                "num_characters": cnn["n_characters"],
                "max_characters_per_token": cnn["max_characters_per_token"],
                "activation": cnn["activation"],
            }
        except (KeyError, TypeError) as e:
            raise ValueError(f"ELMo options lack the entry {e} (need 'lstm' and 'char_cnn').") from None

    @classmethod
    def from_options(cls, options, **kwargs):
        """A randomly initialised biLM with the architecture of `options`."""
        return cls(**cls.options_to_kwargs(options), **kwargs)

    @classmethod
    def from_files(cls, options_file, weight_file=None, trainable=False, **kwargs):
        """The biLM of a release: `options.json` + `lm_weights.hdf5`.

        Frozen by default, as bilm-tf builds it (`trainable=False`).
        """
        layer = cls.from_options(options_file, trainable=trainable, **kwargs)
        if weight_file is not None:
            layer.load_lm_weights(weight_file)
        return layer

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] != self.max_characters_per_token:
            raise ValueError(
                "ElmoBiLM: character ids must be [B, T, "
                f"{self.max_characters_per_token}], got shape {input_shape}."
            )
        d = self.char_embedding_dim
        self.char_embedding = self.add_weight(
            name="char_embedding",
            shape=(self.num_characters, d),
            initializer=keras.initializers.RandomUniform(-1.0, 1.0),
        )
        self.cnn_kernels, self.cnn_biases = [], []
        for i, (width, num) in enumerate(self.filters):
            self.cnn_kernels.append(
                self.add_weight(
                    name=f"cnn_kernel_{i}",
                    shape=(width, d, num),
                    initializer=keras.initializers.RandomUniform(-0.05, 0.05),
                )
            )
            self.cnn_biases.append(
                self.add_weight(name=f"cnn_bias_{i}", shape=(num,), initializer="zeros")
            )
        n = self.num_filters
        self.highways = []
        for i in range(self.num_highway):
            normal = keras.initializers.RandomNormal(stddev=float(np.sqrt(1.0 / n)))
            self.highways.append(
                (
                    self.add_weight(name=f"highway_{i}_carry_kernel", shape=(n, n), initializer=normal),
                    self.add_weight(
                        name=f"highway_{i}_carry_bias",
                        shape=(n,),
                        initializer=keras.initializers.Constant(-2.0),
                    ),
                    self.add_weight(name=f"highway_{i}_transform_kernel", shape=(n, n), initializer=normal),
                    self.add_weight(name=f"highway_{i}_transform_bias", shape=(n,), initializer="zeros"),
                )
            )
        if self.use_token_projection:
            self.token_projection_kernel = self.add_weight(
                name="token_projection_kernel",
                shape=(n, self.projection_dim),
                initializer=keras.initializers.RandomNormal(stddev=float(np.sqrt(1.0 / n))),
            )
            self.token_projection_bias = self.add_weight(
                name="token_projection_bias", shape=(self.projection_dim,), initializer="zeros"
            )
        layer_width = self.projection_dim
        for i in range(self.num_layers):
            for rnn in (self.forward_rnns[i], self.backward_rnns[i]):
                rnn.build((input_shape[0], None, layer_width))
            layer_width = self.output_dim // 2

    def get_initial_states(self, batch_size):
        """Zero LSTM states for `batch_size` rows, in the `initial_states` order."""
        states = []
        for _ in range(2):
            for _ in range(self.num_layers):
                states.append(ops.zeros((batch_size, self.output_dim // 2), self.compute_dtype))
                states.append(ops.zeros((batch_size, self.lstm_dim), self.compute_dtype))
        return states

    def _with_sentence_boundaries(self, character_ids, lengths):
        # Right-padded [B, T, C] -> [B, T + 2, C] with <S> first and </S> after
        # each row's last token (allennlp's add_sentence_boundary_token_ids).
        c = self.max_characters_per_token
        padded = ops.pad(character_ids, [[0, 0], [1, 1], [0, 0]])
        steps = ops.shape(padded)[1]
        t = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
        is_bos = ops.expand_dims(t == 0, -1)
        is_eos = ops.expand_dims(t == ops.expand_dims(lengths + 1, 1), -1)
        bos = ops.reshape(
            ops.convert_to_tensor(_special_token_ids(BEGINNING_OF_SENTENCE_CHARACTER, c)), (1, 1, c)
        )
        eos = ops.reshape(
            ops.convert_to_tensor(_special_token_ids(END_OF_SENTENCE_CHARACTER, c)), (1, 1, c)
        )
        with_bos = ops.where(is_bos, bos, padded)
        return ops.where(is_eos, eos, with_bos)

    def _token_representations(self, character_ids):
        # [B, S, C] -> [B, S, projection_dim]
        batch, steps = ops.shape(character_ids)[0], ops.shape(character_ids)[1]
        chars = ops.reshape(character_ids, (-1, self.max_characters_per_token))
        x = ops.take(self.char_embedding, chars, axis=0)
        act = ops.relu if self.activation == "relu" else ops.tanh
        pooled = []
        for kernel, bias in zip(self.cnn_kernels, self.cnn_biases):
            conv = ops.conv(x, kernel, strides=1, padding="valid")
            # max-then-activate equals activate-then-max: both are monotonic.
            pooled.append(act(ops.max(conv, axis=1) + bias))
        h = ops.concatenate(pooled, axis=-1)
        for carry_w, carry_b, transform_w, transform_b in self.highways:
            gate = ops.sigmoid(ops.matmul(h, carry_w) + carry_b)
            transform = ops.relu(ops.matmul(h, transform_w) + transform_b)
            h = gate * transform + (1.0 - gate) * h
        if self.use_token_projection:
            h = ops.matmul(h, self.token_projection_kernel) + self.token_projection_bias
        return ops.reshape(h, (batch, steps, self.projection_dim))

    def call(self, character_ids, initial_states=None, return_states=False):
        character_ids = ops.cast(character_ids, "int32")
        mask = ops.any(character_ids > 0, axis=-1)
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        ids = self._with_sentence_boundaries(character_ids, lengths)
        full_lengths = lengths + 2
        steps = ops.shape(ids)[1]
        full_mask = ops.expand_dims(ops.arange(steps, dtype="int32"), 0) < ops.expand_dims(
            full_lengths, 1
        )
        full_mask_f = ops.expand_dims(ops.cast(full_mask, self.compute_dtype), -1)
        tokens = self._token_representations(ids) * full_mask_f

        n = self.num_layers
        if initial_states is None:
            initial_states = self.get_initial_states(ops.shape(ids)[0])
        elif len(initial_states) != 4 * n:
            raise ValueError(
                f"ElmoBiLM: `initial_states` must hold {4 * n} tensors "
                f"(h and c per direction and layer), got {len(initial_states)}."
            )
        final_states = []
        directions = []
        for d, rnns in enumerate((self.forward_rnns, self.backward_rnns)):
            x = tokens if d == 0 else _reverse_within_length(tokens, full_lengths)
            outputs = []
            for i, rnn in enumerate(rnns):
                state = list(initial_states[(d * n + i) * 2 : (d * n + i) * 2 + 2])
                y, h, c = rnn(x, mask=full_mask, initial_state=state)
                if self.use_skip_connections and i > 0:
                    y = (y + x) * full_mask_f
                final_states.extend([h, c])
                outputs.append(y if d == 0 else _reverse_within_length(y, full_lengths))
                x = y
            directions.append(outputs)

        layers = [ops.concatenate([tokens, tokens], axis=-1)]
        layers += [ops.concatenate([fw, bw], axis=-1) for fw, bw in zip(*directions)]
        # Drop <S> (position 0) and </S> (position length + 1, which the token
        # mask zeroes after the shift).
        token_mask_f = ops.expand_dims(ops.cast(mask, self.compute_dtype), -1)
        layers = [layer[:, 1:-1, :] * token_mask_f for layer in layers]
        out = {"lm_embeddings": ops.stack(layers, axis=1), "mask": mask}
        if return_states:
            out["states"] = final_states
        return out

    def compute_output_spec(self, character_ids, initial_states=None, return_states=False):
        batch, steps = character_ids.shape[0], character_ids.shape[1]
        out = {
            "lm_embeddings": keras.KerasTensor(
                (batch, self.num_layers + 1, steps, self.output_dim), dtype=self.compute_dtype
            ),
            "mask": keras.KerasTensor((batch, steps), dtype="bool"),
        }
        if return_states:
            out["states"] = [
                keras.KerasTensor((batch, size), dtype=self.compute_dtype)
                for _ in range(2 * self.num_layers)
                for size in (self.output_dim // 2, self.lstm_dim)
            ]
        return out

    def hdf5_weight_map(self):
        """`{dataset name in lm_weights.hdf5: (variable, to_variable, from_variable)}`.

        The converters turn a dataset's array into the variable's value and back.
        The layer must be built.
        """
        if not self.built:
            raise ValueError("ElmoBiLM: build the layer before mapping its weights.")
        identity = (lambda a: a, lambda a: a)
        mapping = {
            # The file has no padding row: bilm-tf prepends a zero row for id 0.
            "char_embed": (
                self.char_embedding,
                lambda a: np.concatenate([np.zeros_like(a[:1]), a], axis=0),
                lambda a: a[1:],
            )
        }
        for i, (kernel, bias) in enumerate(zip(self.cnn_kernels, self.cnn_biases)):
            # bilm-tf runs the 1-D convolution as conv2d with a height-1 kernel.
            mapping[f"CNN/W_cnn_{i}"] = (kernel, lambda a: a[0], lambda a: a[None])
            mapping[f"CNN/b_cnn_{i}"] = (bias,) + identity
        for i, (carry_w, carry_b, transform_w, transform_b) in enumerate(self.highways):
            mapping[f"CNN_high_{i}/W_carry"] = (carry_w,) + identity
            mapping[f"CNN_high_{i}/b_carry"] = (carry_b,) + identity
            mapping[f"CNN_high_{i}/W_transform"] = (transform_w,) + identity
            mapping[f"CNN_high_{i}/b_transform"] = (transform_b,) + identity
        if self.use_token_projection:
            mapping["CNN_proj/W_proj"] = (self.token_projection_kernel,) + identity
            mapping["CNN_proj/b_proj"] = (self.token_projection_bias,) + identity
        for d, rnns in enumerate((self.forward_rnns, self.backward_rnns)):
            for i, rnn in enumerate(rnns):
                root = f"RNN_{d}/RNN/MultiRNNCell/Cell{i}/LSTMCell"
                cell = rnn.cell
                mapping[f"{root}/W_0"] = (cell.kernel,) + identity
                mapping[f"{root}/B"] = (cell.bias,) + identity
                if cell.projection_units is not None:
                    mapping[f"{root}/W_P_0"] = (cell.projection_kernel,) + identity
        return mapping

    def _build_if_needed(self):
        if not self.built:
            self.build((None, None, self.max_characters_per_token))

    def load_lm_weights(self, weight_file):
        """Loads bilm-tf's `lm_weights.hdf5` (every dataset must map to a weight)."""
        import h5py

        if not os.path.exists(weight_file):
            raise FileNotFoundError(f"ELMo weight file not found: {weight_file}")
        self._build_if_needed()
        mapping = self.hdf5_weight_map()
        with h5py.File(weight_file, "r") as f:
            present = []
            f.visititems(
                lambda name, obj: present.append(name) if isinstance(obj, h5py.Dataset) else None
            )
            missing = sorted(set(mapping) - set(present))
            if missing:
                raise ValueError(
                    f"ELMo weight file {weight_file} lacks the dataset(s) {missing} "
                    "that this architecture needs (check options.json)."
                )
            unexpected = sorted(set(present) - set(mapping))
            if unexpected:
                raise ValueError(
                    f"ELMo weight file {weight_file} has dataset(s) {unexpected} that "
                    "this architecture does not use (check options.json)."
                )
            values = {}
            for name, (variable, to_variable, _) in mapping.items():
                value = to_variable(np.asarray(f[name][...], dtype=np.float32))
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(
                        f"ELMo weight file {weight_file}: dataset {name!r} has shape "
                        f"{tuple(f[name].shape)}, which does not fit the weight "
                        f"{variable.path} of shape {tuple(variable.shape)} (check options.json)."
                    )
                values[name] = value
        for name, (variable, _, _) in mapping.items():
            variable.assign(values[name])

    def save_lm_weights(self, weight_file):
        """Writes the weights in bilm-tf's `lm_weights.hdf5` layout."""
        import h5py

        self._build_if_needed()
        with h5py.File(weight_file, "w") as f:
            for name, (variable, _, from_variable) in self.hdf5_weight_map().items():
                f.create_dataset(
                    name, data=from_variable(np.asarray(ops.convert_to_numpy(variable), np.float32))
                )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "lstm_dim": self.lstm_dim,
                "projection_dim": self.projection_dim,
                "num_layers": self.num_layers,
                "cell_clip": self.cell_clip,
                "proj_clip": self.proj_clip,
                "use_skip_connections": self.use_skip_connections,
                "char_embedding_dim": self.char_embedding_dim,
                "filters": self.filters,
                "num_highway": self.num_highway,
                "num_characters": self.num_characters,
                "max_characters_per_token": self.max_characters_per_token,
                "activation": self.activation,
            }
        )
        return config
