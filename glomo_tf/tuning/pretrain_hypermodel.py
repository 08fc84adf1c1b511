"""HyperModel of GLoMo pretraining: d, L, K, head size, sparse mode, CNN depth, D, lr, optimiser.

The objective is the validation context-prediction loss (`val_loss`) on fixed held-out
windows, the quantity `glomo pretrain` validates on. Corpus, vocabulary and windows are
prepared once (the vocabulary fixes V, the window length T stays the base config's); every
trial trains a fresh `GLoMoPretrainer` for `epochs x steps_per_epoch` steps.
"""

import dataclasses
import itertools
import os

import keras
import keras_tuner

from glomo_tf.configs import SPARSE_MODES, GLoMoConfig, PretrainConfig
from glomo_tf.tuning.search_space import declare, resolve_space, spec_values

# Model fields searched (GLoMoConfig names); the learning rate depends on the optimiser,
# whose sensible ranges differ by orders of magnitude (released SGD: 8.0).
MODEL_FIELDS = ("hidden_dim", "num_layers", "num_heads", "head_dim", "sparse_mode", "cnn_layers",
                "context_length")


def pretrain_space(base=None):
    """The default search space around `base` (a `GLoMoConfig`, default `tiny`)."""
    base = base or GLoMoConfig.tiny()
    return {
        "hidden_dim": {"type": "choice", "values": [32, 64, 128],
                       "default": base.hidden_dim if base.hidden_dim in (32, 64, 128) else 64},
        "num_layers": {"type": "int", "min": 1, "max": 3, "default": min(base.num_layers, 3)},
        "num_heads": {"type": "choice", "values": [1, 2, 4],
                      "default": base.num_heads if base.num_heads in (1, 2, 4) else 2},
        "head_dim": {"type": "choice", "values": [16, 32, 64],
                     "default": base.head_dim if base.head_dim in (16, 32, 64) else 32},
        "sparse_mode": {"type": "choice", "values": list(SPARSE_MODES), "default": base.sparse_mode},
        "cnn_layers": {"type": "int", "min": 1, "max": 4, "default": min(base.cnn_layers, 4)},
        "context_length": {"type": "int", "min": 1, "max": 4,
                           "default": min(base.context_length, 4)},
        "optimizer": {"type": "choice", "values": ["adam", "sgd"], "default": "adam"},
        "learning_rate_adam": {"type": "float", "min": 1e-4, "max": 1e-2, "sampling": "log",
                               "default": 3e-3, "parent": ["optimizer", ["adam"]]},
        "learning_rate_sgd": {"type": "float", "min": 0.5, "max": 10.0, "sampling": "log",
                              "default": 8.0, "parent": ["optimizer", ["sgd"]]},
    }


def check_pretrain_space(space, sequence_length):
    """Rejects spaces in which some trials could not build a model.

    Every `hidden_dim` must be divisible by every `num_heads` (each head reads a d/K
    slice) and `context_length` must stay below the window length T.
    """
    dims, heads = spec_values(space["hidden_dim"]), spec_values(space["num_heads"])
    if dims is None or heads is None:
        raise ValueError("search space: 'hidden_dim' and 'num_heads' must be int ranges or choices.")
    bad = [(d, k) for d, k in itertools.product(dims, heads) if k < 1 or d < 1 or d % k]
    if bad:
        raise ValueError(
            f"search space: hidden_dim must be divisible by num_heads for every combination; "
            f"{bad[:3]} are not (d, K) pairs a model can have.")
    lengths = spec_values(space["context_length"]) or []
    if max(lengths, default=0) >= sequence_length:
        raise ValueError(
            f"search space: context_length up to {max(lengths)} needs windows longer than "
            f"the sequence_length {sequence_length}.")
    for name in ("num_layers", "head_dim", "cnn_layers", "context_length"):
        values = spec_values(space[name])
        if values is None or min(values) < 1:
            raise ValueError(f"search space: {name!r} must be an int range or choice of values >= 1.")
    modes = spec_values(space["sparse_mode"])
    if modes is None or not set(modes) <= set(SPARSE_MODES):
        raise ValueError(f"search space: sparse_mode values must be in {SPARSE_MODES}, got {modes}.")
    optimizers = spec_values(space["optimizer"])
    if optimizers is None or not set(optimizers) <= {"sgd", "adam"}:
        raise ValueError(f"search space: optimizer values must be 'sgd' or 'adam', got {optimizers}.")


class PretrainHyperModel(keras_tuner.HyperModel):
    """GLoMo pretraining as a keras-tuner HyperModel (objective: `val_loss`).

    Args:
        corpus: a text corpus path, or "synthetic" (the planted language, written to
            `work_dir/synthetic/`).
        work_dir: where a synthetic corpus is written.
        base_model: `GLoMoConfig` of everything not tuned (T, kernel size, ...).
        base_train: `PretrainConfig` of the training (batch size, clipnorm, tokenizer
            settings, seed).
        steps_per_epoch: optimizer steps per epoch.
        validation_steps: validation batches (the same windows every time).
        validation_corpus: held-out corpus (default: the last 2% of `corpus`).
        max_vocab: words kept besides `<unk>` (default: the base config's V - 1).
        corpus_format: reader format.
        space: search-space overrides.
        run_eagerly: Keras `run_eagerly` (tiny runs: no tracing per trial).

    Example:

    ```python
    hypermodel = PretrainHyperModel("synthetic", "runs/tune", GLoMoConfig.tiny(),
                                    PretrainConfig.for_model("tiny"))
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_loss", max_trials=4)
    tuner.search(epochs=2)
    ```
    """

    objective = "val_loss"

    def __init__(self, corpus, work_dir, base_model=None, base_train=None, steps_per_epoch=100,
                 validation_steps=5, validation_corpus=None, max_vocab=None,
                 corpus_format="auto", space=None, run_eagerly=False):
        super().__init__(name="glomo_pretraining", tunable=True)
        self.base_model = base_model or GLoMoConfig.tiny()
        self.base_train = base_train or PretrainConfig.for_model("tiny")
        self.space = resolve_space(pretrain_space(self.base_model), space)
        check_pretrain_space(self.space, self.base_model.sequence_length)
        self.steps_per_epoch = steps_per_epoch
        self.validation_steps = validation_steps
        self.run_eagerly = run_eagerly
        self._prepare_data(corpus, work_dir, validation_corpus, max_vocab, corpus_format)

    def _prepare_data(self, corpus, work_dir, validation_corpus, max_vocab, corpus_format):
        from glomo_tf.data.pretraining_dataset import make_pretraining_dataset
        from glomo_tf.data.vocabulary import build_vocabulary
        from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer
        from glomo_tf.training.pretraining import _split_corpus
        from glomo_tf.training.synthetic_corpus import SYNTHETIC, write_synthetic_corpus

        tc = self.base_train
        if corpus == SYNTHETIC:
            corpus, synthetic_valid = write_synthetic_corpus(
                os.path.join(work_dir, "synthetic"), self.base_model, tc.seed)
            validation_corpus = validation_corpus or synthetic_valid
        elif not os.path.exists(os.fspath(corpus)):
            raise FileNotFoundError(f"Corpus not found: {corpus}")
        train_documents, validation_documents = _split_corpus(corpus, validation_corpus,
                                                              corpus_format)
        self.vocabulary = build_vocabulary(
            train_documents,
            max_size=max_vocab if max_vocab is not None else self.base_model.vocabulary_size - 1,
            lowercase=tc.lowercase, replace_digits=tc.replace_digits, progress=False)
        if len(self.vocabulary) < 3:
            raise ValueError(f"Vocabulary too small: {len(self.vocabulary) - 1} word(s) in {corpus}.")
        tokenizer = GLoMoWordTokenizer(self.vocabulary, lowercase=tc.lowercase,
                                       replace_digits=tc.replace_digits)
        length = self.base_model.sequence_length
        self.train_data = make_pretraining_dataset(
            train_documents, tokenizer, length, tc.batch_size,
            stride=tc.window_stride or length, shuffle_buffer=4096, seed=tc.seed)
        # The same windows at every validation of every trial.
        self.validation_data = make_pretraining_dataset(
            validation_documents, tokenizer, length, tc.batch_size, stride=length,
            shuffle_buffer=0, seed=0).take(self.validation_steps).cache().repeat()

    def configs(self, values):
        """`(GLoMoConfig, PretrainConfig)` of a trial's hyper-parameter `values`."""
        model = dataclasses.replace(
            self.base_model, vocabulary_size=len(self.vocabulary),
            **{k: values[k] for k in MODEL_FIELDS if k in values})
        optimizer = values.get("optimizer", self.base_train.optimizer)
        rate = values.get(f"learning_rate_{optimizer}", self.base_train.learning_rate)
        train = dataclasses.replace(self.base_train, optimizer=optimizer, learning_rate=rate)
        model.validate()
        train.validate()
        return model, train

    def build(self, hp):
        from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer
        from glomo_tf.training.pretraining import _make_optimizer

        values = {name: declare(hp, name, spec) for name, spec in self.space.items()}
        model_config, train_config = self.configs({k: v for k, v in values.items() if v is not None})
        keras.utils.set_random_seed(train_config.seed)
        model = GLoMoPretrainer(model_config, seed=train_config.seed, dtype=train_config.precision)
        model.compile(optimizer=_make_optimizer(train_config), run_eagerly=self.run_eagerly)
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(self.train_data, steps_per_epoch=self.steps_per_epoch,
                         validation_data=self.validation_data,
                         validation_steps=self.validation_steps,
                         **{"shuffle": False, **kwargs})  # a tf.data stream: Keras cannot shuffle it
