"""The exported GLoMo graph module: one SavedModel / TF-Hub directory, text in, graphs out.

What the module holds: the pretrained shared embedding E and the two `GraphPredictor`s
(forward, backward), frozen in inference mode (BatchNorm running statistics), the word
tokenizer's splitting ops, the vocabulary and a JSON config. The feature predictors and
context decoders are not exported: transfer only needs the graphs.

Loading (a fresh process needs nothing from `glomo_tf`)::

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)
    import tensorflow_hub as hub

    module = hub.load("path/to/module")          # or tf.saved_model.load(...)
    out = module.graphs(tf.constant(["The cat sat .", "A dog ."]))
    out["graphs"]                                # float32 [B, 2, L, K, T, T]

Inside `glomo_tf`, prefer `load_graph_module(path)`: it checks the directory and the
config's `format_version` and names the file at fault, and its functions check dtypes and
ranks before calling the module.

Contract (format_version 1)
---------------------------
Functions (each also a serving signature of the same name; `serving_default` = `graphs`;
`saved_model_cli show --dir MODULE --all` lists them):

- `module.graphs(text)`: `text` 1-D `tf.string` `[B]` → dict
    - `tokens`: `tf.string [B, T]`, the normalised tokens, padded with `""`;
    - `ids`: `tf.int32 [B, T]`, vocabulary ids (unknown words → 0 = `<unk>`), padding 0;
    - `mask`: `tf.int32 [B, T]`, 1 on real tokens, 0 on padding;
    - `graphs`: `tf.float32 [B, 2, L, K, T, T]`. Index 0 of axis 1 is the forward
      direction: row i (the reading unit) has entries > 0 only for j < i. Index 1 is the
      backward direction, flipped back to input order: entries only for j > i. Every row
      sums to 1, or to 0 when it has no allowed, non-zero entry (the first forward / last
      backward token, padding rows). Padding rows and columns are 0.
- `module.graphs_from_ids(ids, mask)`: `tf.int32 [B, T]` each → dict with `graphs` as
  above. Ids must lie in `[0, vocabulary_size)` on real positions (an
  `InvalidArgumentError` says so otherwise); ids under `mask == 0` are ignored.
- `module.tokenize(text)`: → dict `tokens`, `ids`, `mask` as in `graphs`.
- `module.graphs_from_tokens(tokens)`: words already split, `tf.string [B, T]` padded with
  `""` (padding after the words of a row) → the same dict as `graphs`, position t = word
  t. The module applies its tokenizer's per-word normalisation (Unicode form, case folding
  except a literal `N`, digits → `N`) and its vocabulary, but no splitting; `""` is
  padding (mask 0). A word that normalises to nothing is kept as given. For tasks with
  their own tokenizer: graphs aligned to their words. Modules exported before this
  function existed lack it (they still load; `GraphModule.graphs_from_tokens` rebuilds it
  from their recorded tokenizer settings).

Lengths: T is the longest sequence of the batch, at least 1, at most `max_length`
(documented in the config; 512 by default). Longer inputs are truncated to their first
`max_length` tokens, never an error. Empty strings give a row of mask 0 and all-zero
graphs. Invalid UTF-8 is replaced by U+FFFD before splitting.

Attributes: `module.vocabulary_file` and `module.config_file` (`tf.saved_model.Asset`s;
`.asset_path` is the file inside `assets/`), `module.variables` (frozen weights).

Assets: `assets/vocabulary.txt` (one token per line, line number = id, `<unk>` first) and
`assets/glomo_module.json`: `format_version`, `hidden_dim` (d), `num_layers` (L),
`num_heads` (K), `head_dim`, `sparse_mode`, `vocabulary_size`, `vocabulary_sha256` (of the
vocabulary asset; checked on load when present), `max_length`, `tokenizer`
(class and settings: `lowercase`, `replace_digits`, `normalization_form`), `model_config`
(the full `GLoMoConfig`), `outputs` (a short description of the output tensors).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import warnings
import shutil
import tempfile
import uuid

import numpy as np
import tensorflow as tf

from glomo_tf.presets import resolve_module

FORMAT_VERSION = 1
DEFAULT_MAX_LENGTH = 512
CONFIG_FILENAME = "glomo_module.json"
VOCAB_FILENAME = "vocabulary.txt"
SIGNATURES = ("graphs", "graphs_from_ids", "tokenize", "graphs_from_tokens")
# Modules exported before `graphs_from_tokens` existed lack it and still load.
OPTIONAL_FUNCTIONS = ("graphs_from_tokens",)

TEXT_SIGNATURE = "graphs(text: tf.string [batch]) / tokenize(text: tf.string [batch])"
IDS_SIGNATURE = "graphs_from_ids(ids: tf.int32 [batch, T], mask: tf.int32 [batch, T])"
TOKENS_SIGNATURE = "graphs_from_tokens(tokens: tf.string [batch, T], padded with '')"

_OUTPUTS_DOC = {
    "tokens": "tf.string [B, T], padded with ''",
    "ids": "tf.int32 [B, T], <unk> = 0, padding 0",
    "mask": "tf.int32 [B, T], 1 = real token",
    "graphs": "tf.float32 [B, 2, L, K, T, T]; 0 = forward (j < i), 1 = backward in input "
              "order (j > i); rows sum to 1 or 0; padding rows/cols 0",
}


def _tokenizer_settings(tokenizer):
    settings = {"class": type(tokenizer).__name__}
    config = tokenizer.get_config() if hasattr(tokenizer, "get_config") else {}
    for key in ("lowercase", "replace_digits", "normalization_form", "splitting"):
        if key in config:
            settings[key] = config[key]
    return settings


def _graph_variables(model):
    """The tf.Variables that `predict_graphs` reads: E and both graph predictors."""
    layers = [model.embedding] + [model.graph_predictors[d] for d in ("forward", "backward")]
    # `.value` is the backing tf.Variable: a tf.Module does not see through Keras 3
    # variables, and without these the export silently saves zero-initialised graphs.
    return [v.value for layer in layers for v in layer.variables]


def _check_vocabulary(vocabulary, model_vocabulary_size):
    vocabulary = list(vocabulary)
    if len(vocabulary) < 2 or vocabulary[0] != "<unk>":
        raise ValueError(
            "The tokenizer's vocabulary must start with '<unk>' and hold at least one word; "
            f"got {len(vocabulary)} entries starting with {vocabulary[:1]!r}."
        )
    for index, token in enumerate(vocabulary):
        if not isinstance(token, str) or not token or "\n" in token or "\r" in token:
            raise ValueError(
                f"Vocabulary token {token!r} at index {index} cannot be written one per line."
            )
    if len(vocabulary) > model_vocabulary_size:
        raise ValueError(
            f"The tokenizer's vocabulary has {len(vocabulary)} tokens but the model's "
            f"embedding only {model_vocabulary_size} rows."
        )
    return vocabulary


def _pad_width(width):
    """At least one column, so every output has T >= 1."""
    return tf.maximum(tf.cast(width, tf.int64), 1)


def _token_normalizer(tokenizer):
    """The tokenizer's per-word normalisation (`normalize_tokens`), or the identity for a
    tokenizer without one (its words are then looked up as given)."""
    return getattr(tokenizer, "normalize_tokens", None) or (lambda words: words)


def _prepare_words(tokens, max_length, normalize):
    """Words `[B, T]` padded with "" → (normalised words, int32 mask), truncated, T >= 1.

    A real word that normalises to nothing (only default-ignorable code points) is kept as
    given, so that positions stay aligned with the caller's words and every real token is
    non-empty.
    """
    tokens = tokens[:, :max_length]
    real = tf.not_equal(tokens, "")
    # Padding must trail the words: the predictor's masks assume real tokens form a prefix.
    tf.debugging.assert_equal(
        tf.reduce_any(real[:, 1:] & ~real[:, :-1]), False,
        message="graphs_from_tokens: padding '' must come after the words of each row")
    width = tf.shape(tokens, out_type=tf.int64)[1]
    short = _pad_width(width) - width
    tokens = tf.pad(tokens, [[0, 0], [0, short]], constant_values="")
    real = tf.not_equal(tokens, "")
    words = normalize(tokens)
    words = tf.where(tf.equal(words, "") & real, tokens, words)
    words = tf.where(real, words, "")
    return words, tf.cast(real, tf.int32)


class _GraphModuleBuilder:
    """Attaches the tokenizer, table, variables and tf.functions to a fresh `tf.Module`.

    The Keras model is only closed over by the functions, never set as an attribute: its
    object graph would otherwise be saved too, decoders and all.
    """

    def __init__(self, model, tokenizer, max_length, vocabulary_path, config_path):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.vocabulary_size = None
        # AutoTrackable rather than tf.Module: a reusable SavedModel (TF-Hub) names its
        # weights in `variables` / `trainable_variables`, which tf.Module reserves.
        self.module = tf.__internal__.tracking.AutoTrackable()
        module = self.module
        module.variables = _graph_variables(model)
        # Frozen: nothing is offered for fine-tuning.
        module.trainable_variables = []
        module.vocabulary_file = tf.saved_model.Asset(vocabulary_path)
        module.config_file = tf.saved_model.Asset(config_path)
        module.vocabulary_table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                module.vocabulary_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=0,
        )

    def build(self, vocabulary_size):
        module, model, tokenizer, max_length = (
            self.module, self.model, self.tokenizer, self.max_length)
        table = module.vocabulary_table

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def tokenize(text):
            tokens = tokenizer.split(text)[:, :max_length]
            ids = tf.cast(tf.ragged.map_flat_values(table.lookup, tokens), tf.int32)
            shape = tf.stack([tokens.nrows(), _pad_width(tokens.bounding_shape(axis=1))])
            return {
                "tokens": tokens.to_tensor(default_value="", shape=shape),
                "ids": ids.to_tensor(default_value=0, shape=shape),
                "mask": tf.ones_like(ids).to_tensor(default_value=0, shape=shape),
            }

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="ids"),
                                      tf.TensorSpec([None, None], tf.int32, name="mask")])
        def graphs_from_ids(ids, mask):
            tf.debugging.assert_equal(
                tf.shape(ids), tf.shape(mask),
                message="graphs_from_ids: `ids` and `mask` must have the same shape [batch, T]",
            )
            ids, mask = ids[:, :max_length], mask[:, :max_length]
            short = _pad_width(tf.shape(ids)[1]) - tf.cast(tf.shape(ids)[1], tf.int64)
            paddings = [[0, 0], [0, short]]
            real = tf.pad(tf.cast(mask != 0, tf.int32), paddings)
            ids = tf.pad(ids, paddings) * real
            tf.debugging.assert_non_negative(
                ids, message="graphs_from_ids: ids must be >= 0")
            tf.debugging.assert_less(
                ids, tf.constant(vocabulary_size, tf.int32),
                message=f"graphs_from_ids: ids must be < vocabulary_size = {vocabulary_size}",
            )
            graphs = model.predict_graphs(
                {"token_ids": ids, "padding_mask": real > 0}, training=False)
            return {"graphs": tf.cast(graphs, tf.float32)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def graphs(text):
            tokens = tokenize(text)
            return dict(tokens, graphs=graphs_from_ids(tokens["ids"], tokens["mask"])["graphs"])

        normalize = _token_normalizer(tokenizer)

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="tokens")])
        def graphs_from_tokens(tokens):
            words, mask = _prepare_words(tokens, max_length, normalize)
            ids = tf.cast(table.lookup(words), tf.int32) * mask
            return {"tokens": words, "ids": ids, "mask": mask,
                    "graphs": graphs_from_ids(ids, mask)["graphs"]}

        module.tokenize = tokenize
        module.graphs_from_ids = graphs_from_ids
        module.graphs = graphs
        module.graphs_from_tokens = graphs_from_tokens
        signatures = {name: getattr(module, name).get_concrete_function()
                      for name in SIGNATURES}
        signatures["serving_default"] = signatures["graphs"]
        return module, signatures


def _vocabulary_sha256(vocabulary):
    """SHA-256 of the vocabulary asset's bytes (one token per line, UTF-8)."""
    return hashlib.sha256("".join(f"{t}\n" for t in vocabulary).encode("utf-8")).hexdigest()


def module_config(model, tokenizer, vocabulary_size, max_length, vocabulary=None):
    """The JSON config asset of a module (see the module docstring)."""
    c = model.glomo_config
    config = {
        "format_version": FORMAT_VERSION,
        "hidden_dim": c.hidden_dim,
        "num_layers": c.num_layers,
        "num_heads": c.num_heads,
        "head_dim": c.head_dim,
        "sparse_mode": c.sparse_mode,
        "vocabulary_size": vocabulary_size,
        "max_length": max_length,
        "tokenizer": _tokenizer_settings(tokenizer),
        "model_config": c.to_dict(),
        "outputs": _OUTPUTS_DOC,
    }
    if vocabulary is not None:
        config["vocabulary_sha256"] = _vocabulary_sha256(vocabulary)
    return config


def _replaced_copies(target):
    """`target.old-*` directories: previous modules moved aside by `_replace_directory`."""
    return sorted(p for p in glob.glob(glob.escape(target) + ".old-*") if os.path.isdir(p))


def recover_interrupted_replace(target):
    """Puts back the previous module if a replacement was killed between its two renames.

    `_replace_directory` renames the old module to `target.old-XXXX`, then the new one to
    `target`. A process killed in between leaves no `target`, only the old copy: it is
    renamed back (with a warning). Stale old copies beside a complete `target` (killed
    before their deletion) are deleted. Returns True if a module was put back.
    """
    old = _replaced_copies(target)
    if os.path.exists(target):
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
        return False
    complete = [p for p in old if os.path.isfile(os.path.join(p, "saved_model.pb"))]
    if not complete:
        return False
    os.rename(complete[-1], target)
    warnings.warn(
        f"Recovered the graph module {target} from {complete[-1]}: a replacing export was "
        "interrupted between its renames.", stacklevel=3)
    return True


def _replace_directory(new_dir, target):
    """Moves a complete `new_dir` to `target`; an existing target goes only after the move."""
    recover_interrupted_replace(target)
    if not os.path.exists(target):
        os.rename(new_dir, target)
        return
    old = f"{target}.old-{uuid.uuid4().hex[:8]}"
    os.rename(target, old)
    try:
        os.rename(new_dir, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def export_graph_module(model, tokenizer, out_path, max_length=DEFAULT_MAX_LENGTH):
    """Writes the graph module of a `GLoMoPretrainer` to `out_path` (a directory).

    The module is written to a temporary directory beside `out_path`, checked (its
    `saved_model.pb` and assets exist), then renamed into place; an existing module at
    `out_path` is only replaced once the new one is complete.

    Args:
        model: a built `GLoMoPretrainer` (its weights are exported as they are).
        tokenizer: the word tokenizer the model was trained with: anything with
            `split(text) -> ragged tf.string`, `get_vocabulary()` (`<unk>` first) and
            optionally `get_config()` (settings recorded in the config asset), e.g.
            `glomo_tf.data.word_tokenizer.GLoMoWordTokenizer`.
        out_path: target directory (created; parents too).
        max_length: longest sequence the module returns; longer inputs are truncated.

    Returns:
        `out_path`.

    Raises:
        ValueError: bad `max_length`, a vocabulary without `<unk>` first or larger than
            the model's embedding, or `out_path` being an existing file or a non-empty
            directory that is not a graph module (never deleted).
    """
    if not isinstance(max_length, (int, np.integer)) or isinstance(max_length, bool) \
            or max_length < 1:
        raise ValueError(f"`max_length` must be a positive int, got {max_length!r}.")
    max_length = int(max_length)
    out_path = os.path.abspath(os.fspath(out_path))
    if os.path.exists(out_path) and not os.path.isdir(out_path):
        raise ValueError(f"Export target {out_path} exists and is not a directory.")
    if os.path.isdir(out_path) and os.listdir(out_path) and not os.path.isfile(
            os.path.join(out_path, "assets", CONFIG_FILENAME)):
        # Replacing deletes the old directory: only ever do that to a previous module.
        raise ValueError(
            f"Export target {out_path} is a non-empty directory that is not a GLoMo graph "
            f"module (no assets/{CONFIG_FILENAME}); refusing to replace it."
        )
    vocabulary = _check_vocabulary(
        tokenizer.get_vocabulary(), model.glomo_config.vocabulary_size)
    parent = os.path.dirname(out_path)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(out_path)}.tmp-", dir=parent)
    try:
        staging = os.path.join(work, "staging")
        os.makedirs(staging)
        vocabulary_path = os.path.join(staging, VOCAB_FILENAME)
        with open(vocabulary_path, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(f"{token}\n" for token in vocabulary))
        config_path = os.path.join(staging, CONFIG_FILENAME)
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(module_config(model, tokenizer, len(vocabulary), max_length, vocabulary),
                      f, indent=2, sort_keys=True)
        builder = _GraphModuleBuilder(model, tokenizer, max_length, vocabulary_path,
                                      config_path)
        module, signatures = builder.build(len(vocabulary))
        saved = os.path.join(work, "module")
        tf.saved_model.save(module, saved, signatures=signatures)
        for name in ("saved_model.pb", os.path.join("assets", CONFIG_FILENAME),
                     os.path.join("assets", VOCAB_FILENAME)):
            if not os.path.exists(os.path.join(saved, name)):
                raise RuntimeError(f"Export incomplete: {name} missing in {saved}.")
        _replace_directory(saved, out_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_path


def export_from_checkpoint(ckpt_dir, out_path, max_length=DEFAULT_MAX_LENGTH, checkpoint=None):
    """Exports the graph module of a pretraining run directory.

    Reads `ckpt_dir/config.json` (the model config and the tokenizer settings
    `lowercase`/`replace_digits` of the run), `ckpt_dir/vocab.txt`, and the newest
    checkpoint under `ckpt_dir/checkpoints` (see `glomo_tf.export.run_checkpoint`), or the
    one named by `checkpoint` (a `ckpt-N` directory, `.weights.h5` or `.keras`).

    Returns:
        `out_path`.

    Raises:
        FileNotFoundError: `ckpt_dir`, its config, vocabulary or checkpoint is missing.
        ValueError: the checkpoint does not fit the config, or is corrupt.
    """
    from glomo_tf.export.run_checkpoint import load_run

    model, tokenizer, _ = load_run(ckpt_dir, checkpoint=checkpoint)
    return export_graph_module(model, tokenizer, out_path, max_length=max_length)


# Loading ------------------------------------------------------------------------------


def read_module_config(path):
    """Reads and checks `assets/glomo_module.json` of a module directory."""
    config_path = os.path.join(path, "assets", CONFIG_FILENAME)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"{config_path} not found: {path} is not a GLoMo graph module.")
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"GLoMo module config {config_path} is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ValueError(f"GLoMo module config {config_path} is not a JSON object.")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"GLoMo module config {config_path} has format_version {version!r}; this "
            f"version of glomo_tf reads format_version {FORMAT_VERSION}."
        )
    return config


def check_module_directory(path):
    """Raises `FileNotFoundError`/`ValueError` naming what is wrong with a module dir.

    A module left aside by an interrupted replacement is put back first
    (`recover_interrupted_replace`).
    """
    path = resolve_module(path)  # a bundled module's name (glomo_tf.presets) is a path too
    if not os.path.isdir(path):
        recover_interrupted_replace(os.path.abspath(path))
    if not os.path.isdir(path):
        raise FileNotFoundError(f"GLoMo graph module directory not found: {path}")
    for name in ("saved_model.pb", os.path.join("variables", "variables.index"),
                 os.path.join("assets", VOCAB_FILENAME)):
        if not os.path.isfile(os.path.join(path, name)):
            raise FileNotFoundError(
                f"{os.path.join(path, name)} not found: {path} is not a complete GLoMo "
                "graph module."
            )
    return read_module_config(path)


def _as_string_batch(text):
    if isinstance(text, str):
        raise ValueError(
            f"Expected a batch of strings for {TEXT_SIGNATURE}; got one Python str "
            "(wrap it in a list)."
        )
    if isinstance(text, (list, tuple)):
        # Lone surrogates (e.g. undecodable bytes of a command line, kept by Python's
        # surrogateescape) cannot be encoded as UTF-8; passed through as invalid bytes,
        # the module replaces them by U+FFFD like any other invalid UTF-8.
        text = [t.encode("utf-8", "surrogatepass") if isinstance(t, str) else t for t in text]
    try:
        tensor = tf.convert_to_tensor(text)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Expected {TEXT_SIGNATURE}; could not convert input: {e}") from None
    if tensor.dtype != tf.string or tensor.shape.rank != 1:
        raise ValueError(
            f"Expected {TEXT_SIGNATURE}; got dtype {tensor.dtype.name}, shape {tensor.shape}."
        )
    return tensor


def _as_id_batch(value, name):
    tensor = tf.convert_to_tensor(value)
    if not (tensor.dtype.is_integer or tensor.dtype == tf.bool) or tensor.shape.rank != 2:
        raise ValueError(
            f"Expected {IDS_SIGNATURE}; `{name}` has dtype {tensor.dtype.name}, shape "
            f"{tensor.shape}."
        )
    return tf.cast(tensor, tf.int32)


def _as_token_batch(tokens):
    """Words `[B, T]` (tensor, ragged tensor, numpy, or lists of str) → tf.string `[B, T]`."""
    if isinstance(tokens, (str, bytes)):
        raise ValueError(f"Expected {TOKENS_SIGNATURE}; got one string.")
    if isinstance(tokens, (list, tuple)):
        rows = list(tokens)
        if any(isinstance(row, (str, bytes)) for row in rows):
            raise ValueError(
                f"Expected {TOKENS_SIGNATURE}; got a flat list of strings (wrap one "
                "sentence's words in a list: [[...]]).")
        try:
            rows = [[w.encode("utf-8", "surrogatepass") if isinstance(w, str) else w
                     for w in row] for row in rows]
            width = max((len(row) for row in rows), default=0)
            tokens = np.array([list(row) + [b""] * (width - len(row)) for row in rows],
                              dtype=object).reshape(len(rows), width)
        except TypeError as e:
            raise ValueError(f"Expected {TOKENS_SIGNATURE}; could not read the rows: {e}") \
                from None
    if isinstance(tokens, tf.RaggedTensor):
        if tokens.dtype != tf.string or tokens.shape.rank != 2:
            raise ValueError(f"Expected {TOKENS_SIGNATURE}; got a ragged tensor of dtype "
                             f"{tokens.dtype.name}, shape {tokens.shape}.")
        tokens = tokens.to_tensor(default_value="")
    try:
        tensor = tf.convert_to_tensor(tokens, tf.string) if isinstance(tokens, np.ndarray) \
            and tokens.dtype == object else tf.convert_to_tensor(tokens)
    except (TypeError, ValueError) as e:
        raise ValueError(f"Expected {TOKENS_SIGNATURE}; could not convert input: {e}") from None
    if tensor.dtype != tf.string or tensor.shape.rank != 2:
        raise ValueError(
            f"Expected {TOKENS_SIGNATURE}; got dtype {tensor.dtype.name}, shape {tensor.shape}.")
    real = tensor.numpy() != b"" if tf.executing_eagerly() else None
    if real is not None and np.any(real[:, 1:] & ~real[:, :-1]):
        raise ValueError(f"Expected {TOKENS_SIGNATURE}: padding '' must come after the words "
                         "of each row.")
    return tensor


class _TokenGraphsOfOldModule:
    """`graphs_from_tokens` for a module exported before it existed (format 1 all the same).

    Rebuilds the per-word normalisation from the tokenizer settings the config recorded
    (`GLoMoWordTokenizer.normalize_tokens`) and calls the module's `graphs_from_ids`, so
    the outputs are those the module's own function would give.
    """

    def __init__(self, graph_module):
        settings = dict(graph_module.config.get("tokenizer") or {})
        if settings.get("class") != "GLoMoWordTokenizer":
            raise ValueError(
                f"{graph_module.path} was exported without graphs_from_tokens and with the "
                f"tokenizer {settings.get('class')!r}, whose word normalisation glomo_tf "
                "cannot rebuild; re-export the module.")
        from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

        tokenizer = GLoMoWordTokenizer.from_config(
            {key: settings[key] for key in
             ("lowercase", "replace_digits", "normalization_form", "splitting")
             if key in settings})
        self.normalize = tokenizer.normalize_tokens
        self.module = graph_module.module
        self.max_length = graph_module.max_length
        with tf.init_scope():
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(graph_module.vocabulary, tf.string),
                    tf.range(len(graph_module.vocabulary), dtype=tf.int64)),
                default_value=0)

    def __call__(self, tokens):
        words, mask = _prepare_words(tokens, self.max_length, self.normalize)
        ids = tf.cast(self.table.lookup(words), tf.int32) * mask
        return {"tokens": words, "ids": ids, "mask": mask,
                "graphs": self.module.graphs_from_ids(ids, mask)["graphs"]}


class GraphModule:
    """A loaded graph module with checked inputs (returned by `load_graph_module`).

    Attributes:
        path: the module directory.
        module: the raw object of `tf.saved_model.load` (its functions take tensors only).
        config: the config asset as a dict.
        vocabulary: list of tokens, index = id.
    """

    def __init__(self, path, module, config):
        self.path = path
        self.module = module
        self.config = config
        self._old_module_tokens = None
        with open(module.vocabulary_file.asset_path.numpy().decode("utf-8"),
                  encoding="utf-8") as f:
            self.vocabulary = f.read().split("\n")[:-1]
        if len(self.vocabulary) != config.get("vocabulary_size"):
            raise ValueError(
                f"{path}: the vocabulary asset holds {len(self.vocabulary)} tokens but the "
                f"config says vocabulary_size {config.get('vocabulary_size')}."
            )
        expected = config.get("vocabulary_sha256")
        if expected is not None and _vocabulary_sha256(self.vocabulary) != expected:
            raise ValueError(
                f"{os.path.join(path, 'assets', VOCAB_FILENAME)} is not the vocabulary the "
                f"module was exported with (vocabulary_sha256 "
                f"{_vocabulary_sha256(self.vocabulary)[:12]} vs {expected[:12]} in "
                f"{CONFIG_FILENAME}); re-export the module."
            )

    @property
    def max_length(self):
        return self.config["max_length"]

    @property
    def variables(self):
        return list(self.module.variables)

    @property
    def splitting(self):
        """The word-splitting rule the module's tokenizer recorded (`SPLITTING_MODES`);
        `"punctuation"` for modules exported before the rule was recorded."""
        return (self.config.get("tokenizer") or {}).get("splitting", "punctuation")

    def word_char_spans(self, texts):
        """Character spans `[(start, end), ...]` of each text's words, before normalisation.

        The same splitting ops as the module's own (`split_words_with_offsets` with its
        recorded rule), on the raw text: with `"english"` and `"whitespace"` the spans are
        exactly the module's tokens of the text (before truncation to `max_length`); with
        the legacy `"punctuation"` rule the module splits the NFKC form instead, so a text
        that normalisation changes may give another count (callers compare counts).

        Args:
            texts: a list of str.

        Returns:
            A list (one per text) of lists of `(start, end)` character offsets.
        """
        from glomo_tf.data.word_splitting import split_words_with_offsets

        encoded = [text.encode("utf-8", errors="replace") for text in texts]
        if not encoded:
            return []
        _, starts, ends = split_words_with_offsets(tf.constant(encoded), self.splitting)
        out = []
        for text, row_starts, row_ends in zip(texts, starts.to_list(), ends.to_list()):
            # Byte offset of each character's first byte, plus the end: bytes -> characters.
            widths = [len(ch.encode("utf-8", errors="replace")) for ch in text]
            byte_of_char = np.concatenate([[0], np.cumsum(widths, dtype=np.int64)])
            first = np.searchsorted(byte_of_char, row_starts)
            last = np.searchsorted(byte_of_char, row_ends)
            out.append([(int(s), int(e)) for s, e in zip(first, last)])
        return out

    def graphs(self, text):
        """Text `[B]` → dict `tokens`, `ids`, `mask`, `graphs` (see the module contract)."""
        return self.module.graphs(_as_string_batch(text))

    def tokenize(self, text):
        """Text `[B]` → dict `tokens`, `ids`, `mask`."""
        return self.module.tokenize(_as_string_batch(text))

    def graphs_from_ids(self, ids, mask=None):
        """Integer ids `[B, T]` (+ optional mask, default all 1) → dict `graphs`."""
        ids = _as_id_batch(ids, "ids")
        mask = tf.ones_like(ids) if mask is None else _as_id_batch(mask, "mask")
        if ids.shape != mask.shape:
            raise ValueError(
                f"Expected {IDS_SIGNATURE}; `ids` {ids.shape} and `mask` {mask.shape} differ."
            )
        return self.module.graphs_from_ids(ids, mask)

    @property
    def has_token_function(self):
        """Whether the SavedModel itself has `graphs_from_tokens` (modules exported before
        it existed do not; `graphs_from_tokens` below works on them all the same)."""
        return hasattr(self.module, "graphs_from_tokens")

    def graphs_from_tokens(self, tokens):
        """Words `[B, T]`, padded with `""` → dict `tokens`, `ids`, `mask`, `graphs`.

        The module's own normalisation and vocabulary, no splitting: position t of the
        outputs is word t of the input (up to `max_length`). On a module exported before
        the function existed, the normalisation is rebuilt from its recorded tokenizer
        settings (a `ValueError` if it was not a `GLoMoWordTokenizer`).

        Args:
            tokens: `tf.string [B, T]` (or a ragged tensor, numpy array, or lists of words).

        Raises:
            ValueError: not strings of rank 2, or `""` before a word in a row.
        """
        tokens = _as_token_batch(tokens)
        if self.has_token_function:
            return self.module.graphs_from_tokens(tokens)
        if self._old_module_tokens is None:
            self._old_module_tokens = _TokenGraphsOfOldModule(self)
        return self._old_module_tokens(tokens)

    def __repr__(self):
        c = self.config
        return (f"GraphModule({self.path!r}, L={c['num_layers']}, K={c['num_heads']}, "
                f"vocabulary_size={c['vocabulary_size']}, max_length={c['max_length']})")


def load_graph_module(path):
    """Loads a module written by `export_graph_module`, checking it first.

    Raises:
        FileNotFoundError: the directory, `saved_model.pb`, `variables/variables.index` or
            an asset is missing (the message names the file).
        ValueError: the config asset is not JSON or has another `format_version` (both
            versions named), or TensorFlow cannot read the SavedModel (path named).
    """
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before loading)

    path = resolve_module(path)  # a bundled module's name (glomo_tf.presets) is a path too
    config = check_module_directory(path)
    try:
        module = tf.saved_model.load(path)
    except Exception as e:  # TF raises several types for a damaged SavedModel.
        raise ValueError(f"Could not load the GLoMo graph module at {path}: "
                         f"{type(e).__name__}: {e}") from e
    missing = [name for name in SIGNATURES
               if name not in OPTIONAL_FUNCTIONS and not hasattr(module, name)]
    if missing:
        raise ValueError(f"{path} is a SavedModel but lacks the functions {missing}.")
    return GraphModule(path, module, config)
