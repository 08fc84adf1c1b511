"""HyperModels of the downstream transfer: mixtures, candidate set, conditioning, dropout, lr.

The transfer mode is fixed per search (`"none"`, `"uniform"` or `"glomo"`), so the
feature-only and uniform-graph baselines can be tuned with the same budget as GLoMo and
compared fairly: a search only declares the hyper-parameters its mode has (the baselines
have no mixtures, hence only dropout and learning rate).

- `PlantedTransferHyperModel`: the planted-relations task of `glomo demo` (synthetic,
  seconds per trial on a CPU), the demo's local classifier.
- `TaskTransferHyperModel`: IMDB, SST-2, NLI or SQuAD with the models of
  `glomo_tf.tasks` (GloVe or ELMo features, GLoMo on the embeddings).

Both prepare their data once, build a fresh model per trial from `FinetuneConfig`-style
settings, and validate on examples held out of the training data (the evaluation split
stays untouched for reporting): for IMDB / SST-2 / SQuAD a fixed random part of the
training set, for NLI the protocol's validation split.
"""

import dataclasses

import keras
import keras_tuner
import numpy as np

from glomo_tf.tasks.finetune_config import FinetuneConfig
from glomo_tf.tuning.search_space import TRANSFER_MODES, declare, resolve_space, transfer_space

# `glomo tune --transfer` -> `FinetuneConfig.transfer` (GLoMo on the embeddings).
FINETUNE_TRANSFER = {"none": "none", "uniform": "uniform", "glomo": "embeddings"}
# -> `GraphTransfer` / `build_planted_classifier` mode.
PLANTED_TRANSFER = {"none": "none", "uniform": "uniform", "glomo": "graphs"}
HOLD_OUT_SEED = 1


class TransferHyperModel(keras_tuner.HyperModel):
    """What both downstream hypermodels share: the space and `FinetuneConfig` output.

    Args:
        transfer: "none", "uniform" or "glomo" (fixed for the search).
        space: overrides of `transfer_space` (see `resolve_space`).
        defaults: keyword defaults of `transfer_space`.
        seed: seeds initialisation, dropout and the data order of every trial.
    """

    def __init__(self, transfer, space=None, defaults=None, seed=0, name=None):
        super().__init__(name=name, tunable=True)
        if transfer not in TRANSFER_MODES:
            raise ValueError(f"Unknown transfer {transfer!r}; expected one of {TRANSFER_MODES}.")
        self.transfer = transfer
        self.seed = seed
        self.space = resolve_space(transfer_space(transfer, **(defaults or {})), space)

    def settings(self, hp):
        """Declares the space on `hp`; `{name: value}` of the active hyper-parameters."""
        values = {name: declare(hp, name, spec) for name, spec in self.space.items()}
        return {name: value for name, value in values.items() if value is not None}

    def finetune_config(self, values, base=None):
        """A `FinetuneConfig` (for `glomo finetune --config`) with the tuned `values`."""
        base = base or FinetuneConfig()
        fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
        tuned = {k: v for k, v in values.items() if k in fields}
        return base.replace(transfer=FINETUNE_TRANSFER[self.transfer], seed=self.seed, **tuned)


def _hold_out(count, size):
    """`(train, validation)` index arrays: a fixed random `size` of `count` held out."""
    size = min(size, count - 1)
    order = np.random.default_rng(HOLD_OUT_SEED).permutation(count)
    return np.sort(order[size:]), np.sort(order[:size])


class PlantedTransferHyperModel(TransferHyperModel):
    """The planted-relations task (`glomo_tf.demo.planted_task`) as a keras-tuner HyperModel.

    Args:
        graph_layer: a `GLoMoGraphs` layer of a module pretrained on the planted language.
        language: that `PlantedLanguage` (documents are drawn from it).
        transfer: "none", "uniform" or "glomo".
        train_examples, validation_examples: task sizes (validation: other documents).
        batch_size: training batch.
        steps_per_epoch: batches per epoch (None: the whole training set).
        space: search-space overrides.
        seed: seeds the documents, initialisation and data order.
        run_eagerly: Keras `run_eagerly` (tiny runs: no tracing per trial).

    Example:

    ```python
    hypermodel = PlantedTransferHyperModel(GLoMoGraphs(module), language, "glomo")
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=3)
    tuner.search(epochs=2)
    ```
    """

    objective = "val_accuracy"

    def __init__(self, graph_layer, language, transfer="glomo", train_examples=1000,
                 validation_examples=500, batch_size=32, steps_per_epoch=None, space=None,
                 seed=0, run_eagerly=False):
        from glomo_tf.demo.planted_task import PlantedClassifierConfig, make_planted_task

        defaults = PlantedClassifierConfig()
        super().__init__(transfer, space, seed=seed, defaults=dict(
            dropout=defaults.dropout, learning_rate=defaults.learning_rate,
            num_mixtures=defaults.num_mixtures))
        import tensorflow as tf

        self.graph_layer = graph_layer
        self.steps_per_epoch = steps_per_epoch
        self.run_eagerly = run_eagerly
        texts, labels = make_planted_task(language, train_examples, seed)
        # Not the demo's test documents (seed + 1): those stay unseen by the search.
        val_texts, val_labels = make_planted_task(language, validation_examples, seed + 2)
        self.train_data = tf.data.Dataset.from_tensor_slices((texts, labels)).shuffle(
            len(texts), seed=seed).batch(batch_size)
        if steps_per_epoch is not None:
            self.train_data = self.train_data.repeat()
        self.validation_data = tf.data.Dataset.from_tensor_slices(
            (val_texts, val_labels)).batch(256)

    def classifier_config(self, values):
        from glomo_tf.demo.planted_task import PlantedClassifierConfig

        fields = {f.name for f in dataclasses.fields(PlantedClassifierConfig)}
        return PlantedClassifierConfig(**{k: v for k, v in values.items() if k in fields})

    def build(self, hp):
        from glomo_tf.demo.planted_task import build_planted_classifier

        config = self.classifier_config(self.settings(hp))
        keras.utils.set_random_seed(self.seed)
        model = build_planted_classifier(self.graph_layer, PLANTED_TRANSFER[self.transfer],
                                         config, seed=self.seed)
        model.run_eagerly = self.run_eagerly
        return model

    def fit(self, hp, model, *args, **kwargs):
        # The datasets are shuffled (or ordered) already; Keras' shuffle=True would only warn.
        return model.fit(self.train_data, validation_data=self.validation_data,
                         steps_per_epoch=self.steps_per_epoch, **{"shuffle": False, **kwargs})


class TaskTransferHyperModel(TransferHyperModel):
    """A `glomo_tf.tasks` model (IMDB, SST-2, NLI, SQuAD) as a keras-tuner HyperModel.

    Data, graphs and GloVe vectors are loaded once; each trial builds the task's model
    from `base_config` with the trial's values (exactly what `glomo finetune --config`
    builds from the written best config). Objective: `val_accuracy` (classification,
    NLI), `val_loss` (SQuAD: the start/end span loss).

    Args:
        task: "imdb", "sst2", "nli" or "squad".
        graphs: a graph module path / handle or a `GLoMoGraphs` layer.
        transfer: "none", "uniform" or "glomo" (GLoMo on the embeddings).
        base_config: `FinetuneConfig` for everything not tuned (features, hidden size,
            batch size, ...); default `FinetuneConfig()`.
        data_dir: the data folder (default `GLOMO_DATA_DIR`).
        max_train: train on a fixed random subset of this many examples.
        max_validation: validation examples (held out of the training set, or the NLI
            protocol's validation split).
        steps_per_epoch: batches per epoch (None: the whole training subset).
        space: search-space overrides.
        seed: seeds initialisation, dropout and data order.
    """

    def __init__(self, task, graphs, transfer="glomo", base_config=None, data_dir=None,
                 max_train=None, max_validation=1000, steps_per_epoch=None, space=None,
                 seed=0):
        base_config = base_config or FinetuneConfig()
        if task not in ("imdb", "sst2", "nli", "squad"):
            raise ValueError(f"TaskTransferHyperModel: unknown task {task!r}.")
        super().__init__(transfer, space, seed=seed, defaults=dict(
            dropout=base_config.dropout, learning_rate=base_config.learning_rate,
            num_mixtures=base_config.num_mixtures))
        self.task = task
        self.base_config = base_config.replace(task=task, transfer=FINETUNE_TRANSFER[transfer],
                                               seed=seed)
        self.objective = "val_loss" if task == "squad" else "val_accuracy"
        self.steps_per_epoch = steps_per_epoch
        self.graph_layer = _graphs_layer(graphs)
        # GLoMoGraphs keeps the loaded module (for its tokenizer) privately.
        graph_module = getattr(self.graph_layer, "graph_module", None) \
            or self.graph_layer._graph_module
        if task == "squad":
            train, validation, vocabulary = self._squad_data(graph_module, data_dir, max_train,
                                                             max_validation)
        else:
            train, validation, vocabulary = self._text_data(graph_module, data_dir, max_train,
                                                            max_validation)
        self.counts = {"train_examples": len(train[1]), "validation_examples": len(validation[1])}
        self.vocabulary = vocabulary
        self._glove = None
        if self.base_config.features == "glove":
            from glomo_tf.features.glove import load_glove

            words = {w for w in vocabulary if w}
            # As `glove_features` does, but once for all trials: only the task's words.
            wanted = words | {w.lower() for w in words} \
                if self.base_config.glove_words == "data" else None
            self._glove = load_glove(self.base_config.glove, vocabulary=wanted)
            if len(self._glove[0]) == 0:
                self._glove = load_glove(self.base_config.glove, max_words=1)
        self.train_data = self._dataset(*train, shuffle=True)
        if steps_per_epoch is not None:
            self.train_data = self.train_data.repeat()
        self.validation_data = self._dataset(*validation, shuffle=False)

    # ------------------------------------------------------------------ data
    def _text_data(self, graph_module, data_dir, max_train, max_validation):
        from glomo_tf.tasks.finetune import NUM_CLASSES
        from glomo_tf.tasks.task_data import load_task_splits, prepare_text_examples

        config = self.base_config
        raw = load_task_splits(self.task, data_dir, config.nli_protocol)
        classes = NUM_CLASSES[self.task]
        if "validation" in raw:
            train = prepare_text_examples(graph_module, *raw["train"][:2], classes,
                                          config.max_tokens, limit=max_train)
            validation = prepare_text_examples(graph_module, *raw["validation"][:2], classes,
                                               config.max_tokens, limit=max_validation)
            if len(train) == 0 or len(validation) == 0:
                raise ValueError(f"{self.task}: no usable examples (train {len(train)}, "
                                 f"validation {len(validation)}).")
            vocabulary = train.vocabulary | validation.vocabulary
            return ((dict(train.texts), train.labels),
                    (dict(validation.texts), validation.labels), vocabulary)
        limit = None if max_train is None else max_train + max_validation
        examples = prepare_text_examples(graph_module, *raw["train"][:2], classes,
                                         config.max_tokens, limit=limit)
        if len(examples) < 2:
            raise ValueError(f"{self.task}: only {len(examples)} usable training example(s).")
        keep, held = _hold_out(len(examples), max_validation)

        def pick(idx):
            return ({k: [v[i] for i in idx] for k, v in examples.texts.items()},
                    examples.labels[idx])

        return pick(keep), pick(held), examples.vocabulary

    def _squad_data(self, graph_module, data_dir, max_train, max_validation):
        from glomo_tf.datasets.squad import load_squad_protocol
        from glomo_tf.tasks.squad import prepare_squad

        config = self.base_config
        splits = load_squad_protocol(config.squad_protocol, root=data_dir)
        limit = None if max_train is None else max_train + max_validation
        examples = prepare_squad(graph_module, splits["train"], config.max_context_tokens,
                                 config.max_question_tokens, limit=limit)
        if len(examples) < 2:
            raise ValueError(f"squad: only {len(examples)} usable training question(s).")
        keep, held = _hold_out(len(examples), max_validation)

        def pick(idx):
            inputs = {"context": [examples.contexts[i] for i in idx],
                      "question": [examples.questions[i] for i in idx]}
            return inputs, {"start": examples.starts[idx], "end": examples.ends[idx]}

        return pick(keep), pick(held), examples.vocabulary

    def _dataset(self, inputs, targets, shuffle):
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((inputs, targets))
        if shuffle:
            count = len(next(iter(inputs.values())))
            data = data.shuffle(max(count, 1), seed=self.seed, reshuffle_each_iteration=True)
        return data.batch(self.base_config.batch_size)

    # ----------------------------------------------------------------- model
    def _features(self, config):
        if self._glove is not None:
            from glomo_tf.features.glove import GloVeEmbedding

            return GloVeEmbedding(*self._glove, oov="zero", name="glove")
        from glomo_tf.tasks.token_features import token_features

        return token_features(config, self.vocabulary)[0]

    def build(self, hp):
        from glomo_tf.tasks.finetune import NUM_CLASSES, _optimizer

        config = self.finetune_config(self.settings(hp), self.base_config)
        keras.utils.set_random_seed(self.seed)
        features = self._features(config)
        if self.task == "squad":
            from glomo_tf.tasks.squad_model import build_squad_model

            model = build_squad_model(config, self.graph_layer, features)
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            model.compile(optimizer=_optimizer(config), loss={"start": loss, "end": loss},
                          run_eagerly=config.run_eagerly)
            return model
        if self.task == "nli":
            from glomo_tf.tasks.nli_model import build_nli_model

            model = build_nli_model(config, self.graph_layer, features, NUM_CLASSES["nli"])
        else:
            from glomo_tf.tasks.text_classifier import build_text_classifier

            model = build_text_classifier(config, self.graph_layer, features,
                                          NUM_CLASSES[self.task])
        model.compile(optimizer=_optimizer(config),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], run_eagerly=config.run_eagerly)
        return model

    def fit(self, hp, model, *args, **kwargs):
        # The datasets are shuffled (or ordered) already; Keras' shuffle=True would only warn.
        return model.fit(self.train_data, validation_data=self.validation_data,
                         steps_per_epoch=self.steps_per_epoch, **{"shuffle": False, **kwargs})


def _graphs_layer(graphs):
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    if isinstance(graphs, GLoMoGraphs):
        return graphs
    if graphs is None:
        raise ValueError("A downstream search needs a graph module (--graphs MODULE).")
    return GLoMoGraphs(graphs, name="glomo_graphs")
