"""Configurations: the model (`GLoMoConfig`) and its pretraining run (`PretrainConfig`).

Both are plain dataclasses that round-trip through JSON, so a config written by `glomo tune`
or saved beside a checkpoint can be handed back to `glomo pretrain --config FILE`.
"""

import dataclasses
import json
import numbers
import os

SPARSE_MODES = (0, 1, 2, 3, 4, 5, 6)
OPTIMIZERS = ("sgd", "adam")
ON_NAN = ("stop", "skip")
WINDOWS = ("stream", "documents")
SPLITTING = ("english", "whitespace", "punctuation")  # glomo_tf.data.word_splitting
# bf16 needs no loss scaling (float16 would); graphs and the softmax stay float32 either way.
PRECISIONS = ("float32", "mixed_bfloat16")


def config_from_dict(cls, values):
    """`cls(**values)` for a config dataclass, refusing the fields it does not have.

    A typo in a config file must fail loudly, not fall back to a default silently.
    """
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} fields: {unknown}.")
    return cls(**values)


def _check_positive(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def check_positive_number(name, value, allow_none=False):
    """Raises `ValueError` unless `value` is a real number > 0 (or None, if allowed).

    The one check of positive real settings (learning rates, ranges, clips) everywhere.
    """
    if allow_none and value is None:
        return
    # numbers.Real admits numpy scalars (a tuner's or a sweep's values), not bools; `not
    # value > 0` also refuses NaN.
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        extra = " or None" if allow_none else ""
        raise ValueError(f"`{name}` must be a number > 0{extra}, got {value!r}.")


@dataclasses.dataclass
class GLoMoConfig:
    """Architecture of the GLoMo pretraining network (both directions).

    The defaults are the `paper()` values: the released configuration of the authors' code
    (see `GLOMO_SPEC.md`), not the argument defaults of that code.

    Attributes:
        vocabulary_size: V, including `<unk>` at index 0.
        hidden_dim: d, the embedding/feature size (shared embedding E is V x d).
        num_layers: L, graph layers (and feature-predictor steps).
        num_heads: K, graphs per layer; d must be divisible by K.
        head_dim: size of each key/query head.
        cnn_layers: depth of the key and query CNNs.
        kernel_size: causal convolution width.
        sparse_mode: affinity function, 0-6 (4 = released default, ReLU(s - theta_i)^2; 5 = 4
            with theta_i capped so that every row keeps two live entries; 6 = 5 with theta_i
            also raised so that a row keeps at most eight).
        topk_rate: mode 3 keeps clamp(int(rate * sqrt(T)), 1, T) entries per row.
        context_length: D, units predicted from each sampled position.
        num_sampled_positions: positions per batch at which the loss is taken.
        decoder_layers: GRU layers of the context decoder.
        sequence_length: T, the pretraining window length.
        scale_embedding_gradient: scale E's gradient by the inverse frequency of each
            token in the batch, as released.
        embedding_init_range: E starts uniform in +-this (released: 0.1, for d = 512).
    """

    vocabulary_size: int = 100_001
    hidden_dim: int = 512
    num_layers: int = 3
    num_heads: int = 8
    head_dim: int = 256
    cnn_layers: int = 4
    kernel_size: int = 3
    sparse_mode: int = 4
    topk_rate: float = 1.0
    context_length: int = 3
    num_sampled_positions: int = 20
    decoder_layers: int = 2
    sequence_length: int = 128
    scale_embedding_gradient: bool = True
    embedding_init_range: float = 0.1

    def __post_init__(self):
        self.validate()

    def validate(self):
        _check_positive("vocabulary_size", self.vocabulary_size, 2)
        for name in ("hidden_dim", "num_layers", "num_heads", "head_dim", "cnn_layers",
                     "kernel_size", "context_length", "num_sampled_positions",
                     "decoder_layers"):
            _check_positive(name, getattr(self, name))
        _check_positive("sequence_length", self.sequence_length, 2)
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                f"`hidden_dim` ({self.hidden_dim}) must be divisible by `num_heads` "
                f"({self.num_heads}): each head propagates a d/K slice of the features."
            )
        if self.sparse_mode not in SPARSE_MODES:
            raise ValueError(f"`sparse_mode` must be one of {SPARSE_MODES}, got {self.sparse_mode!r}.")
        check_positive_number("embedding_init_range", self.embedding_init_range)
        if self.sequence_length <= self.context_length:
            raise ValueError(
                f"`sequence_length` ({self.sequence_length}) must exceed `context_length` "
                f"({self.context_length}): positions 0..T-D-1 are where the loss is taken."
            )

    @classmethod
    def paper(cls, **overrides):
        """The released configuration (d 512, L 3, K 8, head 256, 4 CNN layers, D 3, 100k words)."""
        return cls(**overrides)

    @classmethod
    def small(cls, **overrides):
        """A CPU-sized model for real text: d 128, L 2, K 4, head 64, 20k words."""
        values = dict(vocabulary_size=20_001, hidden_dim=128, num_layers=2, num_heads=4,
                      head_dim=64, cnn_layers=2, sequence_length=64)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def tiny(cls, **overrides):
        """A seconds-per-hundred-steps model for tests and the embedded demo.

        It samples 64 positions per batch (released: 20): its windows are short and the
        planted dependencies sparse, so more positions give the graphs more signal per step.
        It has 4 heads: a sparse (mode 4) head only learns an edge whose score already starts
        above the row's threshold, so more heads give more chances that one finds the parent
        (measured on the planted-brackets test, lr 1e-2, 400 steps: 4 of 4 seeds recovered the
        parents with 4 heads, 2 of 4 with 2).
        Its embedding starts uniform in +-0.5 (released: +-0.1, at d = 512, where E's rows have
        about the norm they have here at +-0.4): at +-0.1 and d = 32 the messages a graph
        carries are so small that in 1500 steps the model had not learned even that an answer
        word follows a marker (cross-entropy there 2.8 = log 16), and no head settled on the
        planted parents; at +-0.5 the parents were found at 1000 steps (planted language,
        Adam 3e-3, batch 16).
        """
        values = dict(vocabulary_size=200, hidden_dim=32, num_layers=2, num_heads=4,
                      head_dim=16, cnn_layers=2, sequence_length=32, num_sampled_positions=64,
                      embedding_init_range=0.5)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def named(cls, name, **overrides):
        presets = {"paper": cls.paper, "small": cls.small, "tiny": cls.tiny}
        if name not in presets:
            raise ValueError(f"Unknown config {name!r}; expected one of {sorted(presets)} or a JSON file.")
        return presets[name](**overrides)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        return config_from_dict(cls, values)


@dataclasses.dataclass
class PretrainConfig:
    """How the pretraining network is trained.

    Defaults follow the released recipe: SGD lr 8.0, momentum 0.2, gradient-norm clip 0.25,
    batch 32, lr halved after 3 validations without improvement, stop when lr < 1% of start.

    Attributes:
        batch_size: global batch (split over replicas).
        steps: optimizer steps to run in total.
        optimizer: "sgd" (released) or "adam".
        learning_rate, momentum, clipnorm: optimizer settings (clipnorm is the global norm).
        validate_every: steps between validations (an "epoch" of `model.fit`).
        validation_steps: batches per validation.
        plateau_patience: validations without improvement before the lr is halved.
        min_lr_fraction: stop once lr < this fraction of the initial lr.
        checkpoint_every: steps between checkpoints.
        keep_checkpoints: how many recent checkpoints to keep.
        windows: `"stream"`: documents concatenated into one stream, windows of exactly
            `sequence_length` tokens every `window_stride` (None = T, no overlap);
            `"documents"`: the released recipe for real corpora, windows inside each
            document (a document shorter than T gives none), every `window_stride`
            (None = T // 2) tokens, each batch cut to int(T * 1.4^u), u uniform in
            [-2, 0] (`glomo_tf.data.pretraining_dataset.make_document_windows_dataset`).
        window_stride: tokens between window starts.
        window_stride_jitter: each stride is drawn from stride ± this (released: 10).
        lowercase, replace_digits: tokenizer settings.
        splitting: the tokenizer's word rule: `"english"` (raw text), `"whitespace"`
            (already tokenized corpora such as WikiText or PTB) or `"punctuation"` (the
            first modules' rule; what a config file without this key means).
        seed: seeds data order, position sampling and initialisation.
        log_every: steps between TensorBoard scalars.
        image_every: steps between graph heatmap images (0 = never).
        on_nan: what a non-finite training loss does: "stop" (end the run, keeping the
            last good checkpoint) or "skip" (rewind to the last checkpoint, replay up to
            the bad step and skip its batch; see `glomo_tf.training.pretraining`).
        precision: Keras dtype policy of the model, "float32" or "mixed_bfloat16" (bf16
            compute, float32 weights, graphs and cross-entropy; checkpoints are the same
            either way, so a run may resume in the other precision). bf16 pays off only on
            hardware with bf16 matmuls (TPUs, recent GPUs, CPUs with AVX-512 BF16 or AMX);
            elsewhere it is emulated and slower: BENCHMARKS.md "mixed_precision".
    """

    batch_size: int = 32
    steps: int = 1000
    optimizer: str = "sgd"
    learning_rate: float = 8.0
    momentum: float = 0.2
    clipnorm: float = 0.25
    validate_every: int = 4000
    validation_steps: int = 50
    plateau_patience: int = 3
    min_lr_fraction: float = 0.01
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    windows: str = "stream"
    window_stride: int | None = None
    window_stride_jitter: int = 0
    lowercase: bool = False
    splitting: str = "english"
    replace_digits: bool = True
    seed: int = 0
    log_every: int = 50
    image_every: int = 1000
    on_nan: str = "stop"
    precision: str = "float32"

    def __post_init__(self):
        self.validate()

    def validate(self):
        for name in ("batch_size", "steps", "validate_every", "validation_steps",
                     "plateau_patience", "checkpoint_every", "keep_checkpoints", "log_every"):
            _check_positive(name, getattr(self, name))
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if self.on_nan not in ON_NAN:
            raise ValueError(f"`on_nan` must be one of {ON_NAN}, got {self.on_nan!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.windows not in WINDOWS:
            raise ValueError(f"`windows` must be one of {WINDOWS}, got {self.windows!r}.")
        if self.splitting not in SPLITTING:
            raise ValueError(f"`splitting` must be one of {SPLITTING}, got {self.splitting!r}.")
        if (not isinstance(self.window_stride_jitter, int) or self.window_stride_jitter < 0
                or (self.window_stride is not None
                    and self.window_stride_jitter >= self.window_stride)):
            raise ValueError(
                f"`window_stride_jitter` must be an int >= 0 and below `window_stride`, got "
                f"{self.window_stride_jitter!r}.")
        check_positive_number("learning_rate", self.learning_rate)

    @classmethod
    def for_model(cls, name, **overrides):
        """Training defaults that suit a named model config."""
        values = {}
        if name == "tiny":
            values = dict(batch_size=16, optimizer="adam", learning_rate=3e-3, validate_every=100,
                          validation_steps=5, checkpoint_every=100, log_every=10, image_every=100,
                          lowercase=True)
        elif name == "small":
            values = dict(batch_size=32, optimizer="adam", learning_rate=1e-3, validate_every=500,
                          validation_steps=20, checkpoint_every=500, log_every=25, image_every=500,
                          lowercase=True)
        values.update(overrides)
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        # Written before `splitting` existed: those runs split on punctuation.
        return config_from_dict(cls, {"splitting": "punctuation", **values})


def save_configs(path, model_config, train_config=None):
    """Writes `{"model": ..., "train": ...}` atomically (temp file, then rename)."""
    payload = {"model": model_config.to_dict()}
    if train_config is not None:
        payload["train"] = train_config.to_dict()
    from glomo_tf.files.atomic_write import write_json

    write_json(path, payload)


def load_configs(path):
    """Reads a file written by `save_configs` (or by `glomo tune`): (GLoMoConfig, PretrainConfig|None)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    try:
        with open(path) as f:
            payload = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"Config file {path} is not valid JSON: {e}") from None
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"Config file {path} has no \"model\" section.")
    model = GLoMoConfig.from_dict(payload["model"])
    train = PretrainConfig.from_dict(payload["train"]) if payload.get("train") else None
    return model, train
