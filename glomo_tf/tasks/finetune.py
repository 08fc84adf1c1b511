"""`finetune`: one downstream run, the API behind `glomo finetune`.

The run in steps, each a function of its own: `resolve_config` → `prepare_data` (the
module-tokenized, filtered train / validation / test examples) → `graph_caches` (GLoMo
modes: each example's graphs computed once) → `build_model` → `make_callbacks`
(validation metric, early stopping or the released lr-halving rule, the best model's
checkpoint, TensorBoard) → `fit` → `report` (the test score of the best-on-validation
weights).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time

import numpy as np

from glomo_tf.files.atomic_write import write_json
from glomo_tf.tasks.finetune_config import FinetuneConfig

NUM_CLASSES = {"imdb": 2, "sst2": 2, "nli": 3}
FIELDS = {"imdb": ("text",), "sst2": ("text",), "nli": ("premise", "hypothesis"),
          "squad": ("context", "question")}
SPLITS = ("train", "validation", "test")


# ------------------------------------------------------------------------ config
def resolve_config(config=None, **fields):
    """A `FinetuneConfig` from a config (object, dict or JSON path) and field overrides."""
    if isinstance(config, (str, os.PathLike)):
        config = FinetuneConfig.from_json(config)
    elif isinstance(config, dict):
        config = FinetuneConfig.from_dict(config)
    return (config or FinetuneConfig()).replace(**fields)


@functools.lru_cache(maxsize=2)
def _graphs_layer(handle):
    # Loading a module and its first call cost seconds; repeated runs (seeds, modes) in
    # one process share the frozen, weightless layer.
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    return GLoMoGraphs(handle, name="glomo_graphs")


@functools.lru_cache(maxsize=2)
def _untrained_graphs_layer(handle, seed, graph_module=None):
    from glomo_tf.tasks.untrained_graphs import UntrainedGLoMoGraphs

    return UntrainedGLoMoGraphs(handle, seed=seed, graph_module=graph_module, name="glomo_graphs")


@functools.lru_cache(maxsize=2)
def _untrained_source(graph_module, seed):
    from glomo_tf.tasks.untrained_graphs import UntrainedGraphSource

    return UntrainedGraphSource(graph_module, seed=seed)


def load_graphs(config, graphs_module):
    """`(GLoMoGraphs layer, GraphModule, graph source)`; the source computes the cached
    graphs (the module itself, or its untrained twin with `graphs_untrained`)."""
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    if graphs_module is None:
        raise ValueError("finetune needs `graphs_module`: a graph module directory or handle.")
    given_layer = isinstance(graphs_module, GLoMoGraphs)
    if config.graphs_untrained and not config.graph_cache:
        # Dense graphs in the model: the layer computes the untrained predictor's. A path is
        # loaded once, by that layer; a given layer lends its loaded module.
        if given_layer:
            graphs = _untrained_graphs_layer(graphs_module.handle, config.untrained_seed,
                                             graphs_module._graph_module)
        else:
            graphs = _untrained_graphs_layer(os.fspath(graphs_module), config.untrained_seed)
        return graphs, graphs._graph_module, graphs.source
    graphs = graphs_module if given_layer else _graphs_layer(os.fspath(graphs_module))
    graph_module = graphs._graph_module
    if not config.graphs_untrained:
        return graphs, graph_module, graph_module
    return graphs, graph_module, _untrained_source(graph_module, config.untrained_seed)


# -------------------------------------------------------------------------- data
@dataclasses.dataclass
class TaskData:
    """The prepared splits of a task.

    Attributes:
        task: the task name; fields: its text inputs (`"text"`, ...).
        splits: `"train"`, `"validation"`, `"test"` → `TextExamples` or `SquadExamples`.
    """

    task: str
    fields: tuple
    splits: dict

    def texts(self, split):
        examples = self.splits[split]
        if self.task == "squad":
            return {"context": examples.contexts, "question": examples.questions}
        return dict(examples.texts)

    def targets(self, split):
        examples = self.splits[split]
        if self.task == "squad":
            return {"start": examples.starts, "end": examples.ends}
        return examples.labels

    @property
    def vocabulary(self):
        return set().union(*(s.vocabulary for s in self.splits.values()))

    @property
    def counts(self):
        return {f"{split}_{reason}": int(number) for split, examples in self.splits.items()
                for reason, number in examples.counts.items()}


def prepare_data(config, graph_module, data_dir=None):
    """Loads, splits (validation held out where the data set has none), filters and
    counts a task's examples (`task_data`, `squad`); returns `TaskData`."""
    if config.task == "squad":
        from glomo_tf.datasets.squad import load_squad_protocol
        from glomo_tf.tasks.squad import hold_out_articles, prepare_squad

        raw = load_squad_protocol(config.squad_protocol, root=data_dir)
        train, validation = hold_out_articles(raw["train"], config.validation_fraction)
        limits = {"train": config.max_train, "validation": config.max_eval,
                  "test": config.max_eval}
        splits = {name: prepare_squad(graph_module, data, config.max_context_tokens,
                                      config.max_question_tokens, limit=limits[name],
                                      training=name == "train")
                  for name, data in (("train", train), ("validation", validation),
                                     ("test", raw["test"]))}
    else:
        from glomo_tf.tasks.task_data import (
            load_task_splits,
            prepare_text_examples,
            split_off_validation,
        )

        raw = split_off_validation(load_task_splits(config.task, data_dir, config.nli_protocol),
                                   config.validation_fraction)
        raw["test"] = raw.pop("eval")
        splits = {}
        for name in SPLITS:
            texts, labels, skipped = raw[name]
            splits[name] = prepare_text_examples(
                graph_module, texts, labels, NUM_CLASSES[config.task], config.max_tokens,
                limit=config.max_train if name == "train" else config.max_eval,
                skipped=skipped)
    empty = {name: len(examples) for name, examples in splits.items() if len(examples) == 0}
    if empty:
        raise ValueError(
            f"{config.task}: no usable examples left in {sorted(empty)} (sizes "
            f"{ {n: len(e) for n, e in splits.items()} }); skipped: "
            f"{ {n: e.counts for n, e in splits.items()} }.")
    return TaskData(config.task, FIELDS[config.task], splits)


def default_cache_dir(out_dir=None):
    if out_dir is not None:
        return os.path.join(out_dir, "graph_cache")
    return os.environ.get("GLOMO_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "glomo_tf", "graph_cache")


def _field_limit(config, field):
    return {"context": config.max_context_tokens,
            "question": config.max_question_tokens}.get(field, config.max_tokens)


def graph_caches(config, source, data, cache_dir, features=None):
    """GLoMo modes with `graph_cache`: `{split: {field: cache}}` and a summary dict (per
    split and field: built or reused, seconds, bytes; for graph caches entries per row and
    dropped mass); `(None, None)` otherwise. Caches are named by module identity, settings
    and texts (and features), so runs of other seeds and modes reuse them.

    With `propagated_cache` the caches are `PropagatedCache`s of `features` (the task
    model's features layer) for the training and validation splits only: the test set is
    scored with graphs computed in the model (`finetune`), so its candidates never take
    disk space."""
    from glomo_tf.transfer.graph_cache import DENSE_ROWS, compared_identity, module_identity
    from glomo_tf.transfer.graph_cache import open_or_build_graph_cache, texts_sha256
    from glomo_tf.transfer.propagated_cache import (
        features_identity,
        open_or_build_propagated_cache,
    )

    if config.transfer not in ("embeddings", "rnn") or not config.graph_cache:
        return None, None
    # A module copied or renamed is the same module, so its caches stay.
    identity = json.dumps(compared_identity(module_identity(source)), sort_keys=True)
    if config.propagated_cache:
        identity += "|propagated|" + json.dumps(features_identity(features), sort_keys=True) + \
            f"|{config.hierarchical}"
    caches, summary = {}, {}
    for split in SPLITS[:2] if config.propagated_cache else SPLITS:
        caches[split] = {}
        for field, texts in data.texts(split).items():
            limit = _field_limit(config, field)
            key = hashlib.sha256(
                f"{identity}|{limit}|{config.graph_top_k}|{texts_sha256(texts)}".encode()
            ).hexdigest()[:16]
            kind = "propagated" if config.propagated_cache else "graphs"
            path = os.path.join(cache_dir, f"{config.task}-{split}-{field}-"
                                + (f"{kind}-{key}" if config.propagated_cache else key))
            started = time.time()
            if config.propagated_cache:
                cache, built = open_or_build_propagated_cache(
                    source, features, texts, path, limit, hierarchical=config.hierarchical)
                details = {"kind": kind, "tokens": cache.manifest["tokens"]}
            else:
                cache, built = open_or_build_graph_cache(
                    source, texts, path, limit, top_k=config.graph_top_k,
                    max_entries_per_row=None if config.graph_top_k else DENSE_ROWS)
                stats = cache.manifest["stats"]
                details = {"entries_per_row": round(stats["entries_per_row"], 3),
                           "max_live": stats["max_live"],
                           "dropped_mass_per_row": stats["dropped_mass_per_row"]}
            summary[f"{split}_{field}"] = {
                "built": built, "seconds": round(time.time() - started, 2),
                "examples": len(cache), "megabytes": round(cache.nbytes / 2 ** 20, 2),
                **details}
            caches[split][field] = cache
    return caches, summary


def datasets(config, data, caches, repeat_train=False):
    """`(train, validation, test)` `tf.data` pipelines (train shuffled per seed)."""
    from glomo_tf.tasks.task_datasets import task_dataset

    out = []
    for split in SPLITS:
        out.append(task_dataset(
            data.texts(split), data.targets(split), config.batch_size,
            caches=None if caches is None else caches.get(split),
            shuffle_seed=config.seed if split == "train" else None,
            repeat=repeat_train and split == "train",
            length_buckets=config.length_buckets if split == "train" else None))
    return tuple(out)


# ------------------------------------------------------------------------- model
def _optimizer(config):
    import keras

    if config.optimizer == "adadelta":
        # As released: rho 0.95, no gradient clipping (Keras clips nothing by default).
        return keras.optimizers.Adadelta(config.learning_rate, rho=0.95)
    return keras.optimizers.Adam(config.learning_rate)


def build_model(config, graphs, features, graph_inputs="module"):
    """The task's model, compiled (`accuracy` as a metric for the classifiers).

    `graph_inputs`: where GLoMo modes get their graphs (`model_inputs.text_input`):
    `"module"` (computed in the model), `"cached"` (a `GraphCache`) or `"propagated"`
    (a `PropagatedCache`)."""
    import keras

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if config.task == "squad":
        from glomo_tf.tasks.squad_model import build_squad_model

        model = build_squad_model(config, graphs, features, graph_inputs=graph_inputs)
        model.compile(optimizer=_optimizer(config), loss={"start": loss, "end": loss},
                      run_eagerly=config.run_eagerly)
        return model
    if config.task == "nli":
        from glomo_tf.tasks.nli_model import build_nli_model

        model = build_nli_model(config, graphs, features, NUM_CLASSES["nli"],
                                graph_inputs=graph_inputs)
    else:
        from glomo_tf.tasks.text_classifier import build_text_classifier

        model = build_text_classifier(config, graphs, features, NUM_CLASSES[config.task],
                                      graph_inputs=graph_inputs)
    model.compile(optimizer=_optimizer(config), loss=loss, metrics=["accuracy"],
                  run_eagerly=config.run_eagerly)
    return model


# ----------------------------------------------------------------------- metrics
def accuracy(model, dataset):
    """Accuracy in % over a dataset of `(inputs, labels)`."""
    correct = total = 0
    for inputs, labels in dataset:
        logits = np.asarray(model.predict_on_batch(inputs))
        correct += int(np.sum(np.argmax(logits, axis=-1) == np.asarray(labels)))
        total += len(logits)
    return 100.0 * correct / max(total, 1)


def squad_scores(model, examples, dataset, config):
    """Official EM / F1 (%) of `examples` from a dataset of their batches, in order."""
    from glomo_tf.tasks.squad import predict_answers, scoring_dataset
    from glomo_tf.tasks.squad_metric import evaluate

    predictions = predict_answers(model, examples, config.batch_size, config.max_span_length,
                                  batches=(inputs for inputs, _ in dataset))
    return evaluate(scoring_dataset(examples), predictions)


def validation_metric(task):
    """The monitored quantity: `val_f1` for SQuAD, `val_accuracy` (0-1) otherwise."""
    return "val_f1" if task == "squad" else "val_accuracy"


# --------------------------------------------------------------------- callbacks
def make_callbacks(config, out_dir, validation_callback=None):
    """The run's callbacks and its `BestModelCheckpoint` (see `finetune_callbacks`)."""
    import keras

    from glomo_tf.tasks.finetune_callbacks import BestModelCheckpoint, StopBelowLearningRate

    monitor = validation_metric(config.task)
    callbacks = [] if validation_callback is None else [validation_callback]
    best = BestModelCheckpoint(
        monitor, None if out_dir is None else os.path.join(out_dir, "best.weights.h5"))
    callbacks.append(best)
    if config.stopping == "early_stopping":
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode="max", patience=config.patience,
            restore_best_weights=True))
    elif config.stopping == "halve_lr":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, mode="max", factor=0.5, patience=config.patience, min_delta=0.0,
            cooldown=0, min_lr=0.0))
        callbacks.append(StopBelowLearningRate(0.01))
    if out_dir is not None and config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(
            log_dir=os.path.join(out_dir, "tensorboard"), update_freq="epoch"))
    return callbacks, best


def fit(model, config, train, validation, train_size, callbacks, verbose=0, initial_epoch=0):
    """`model.fit` validating `validations_per_epoch` times per pass over the data
    (`initial_epoch` counts those validation epochs)."""
    steps = -(-train_size // config.batch_size)
    per = config.validations_per_epoch
    if per == 1:
        return model.fit(train, epochs=config.epochs, validation_data=validation,
                         callbacks=callbacks, shuffle=False, verbose=verbose,
                         initial_epoch=initial_epoch)
    return model.fit(train, epochs=config.epochs * per, steps_per_epoch=-(-steps // per),
                     validation_data=validation, callbacks=callbacks, shuffle=False,
                     verbose=verbose, initial_epoch=initial_epoch)


# -------------------------------------------------------------------------- run
def finetune(task, features="glove", transfer="none", graphs_module=None, *, epochs=1,
             batch_size=32, max_examples=None, max_eval=None, seed=0, out_dir=None,
             config=None, data_dir=None, verbose=0, resume_dir=None, **overrides):
    """Trains, validates and tests one downstream model; returns its metrics.

    Args:
        task: "imdb", "sst2", "nli" or "squad".
        features: "glove" or "elmo" (give `glove=PATH` / `elmo=HANDLE` or
            `elmo="OPTIONS,WEIGHTS"` as overrides).
        transfer: "none", "uniform", "embeddings" or "rnn" (see `TransferEncoder`).
        graphs_module: the graph module directory or TF-Hub handle (`glomo export`),
            or a `GLoMoGraphs` layer (reused as is; a path's layer is cached per process).
            Its vocabulary may differ from the features': features are looked up by
            the module's token strings.
        epochs, batch_size, seed: training. Deterministic per seed on CPU: the seed
            fixes Keras/TF/NumPy RNGs, every dropout and the data order.
        max_examples: train on a fixed random subset of this many examples.
        max_eval: validate and test on fixed random subsets of this many examples.
        out_dir: if given, `metrics.json`, `config.json`, the best weights
            (`best.weights.h5`), TensorBoard logs and (by default) the graph caches go there.
        config: a `FinetuneConfig` (or a dict, or a JSON path) for everything else
            (validation, stopping rule, graph cache, untrained ablation, ...); the
            explicit arguments above override its fields.
        data_dir: the data folder (default `GLOMO_DATA_DIR` / `data_dir()`).
        verbose: Keras `fit` verbosity (1: progress bars).
        resume_dir: if given, the run's whole training state is kept there after every
            epoch (`ResumableTraining`), and a run of the same settings started again after
            a kill continues from its last epoch; deleted once the run has its result. A
            state of other settings is refused (ValueError).
        **overrides: more `FinetuneConfig` fields (`hidden_dim`, `glove`, ...).

    Returns:
        dict: `task`, `features`, `transfer`, `seed`, the test metric of the
        best-on-validation weights (`accuracy` in %, or `exact_match`/`f1` for SQuAD),
        the best validation metric (`validation_accuracy` / `validation_f1`, ...),
        `best_epoch`, `epochs_run`, `train_examples`, `validation_examples`,
        `eval_examples`, `skipped` (counts by split and reason, incl. truncations),
        `train_loss` (last epoch), `graph_cache` (per split and input: built or reused,
        seconds, size), `glove` (the vectors' name), `graphs`, `graphs_untrained`,
        `seconds`, `config`; with `resume_dir`, `resumed_at_epochs` (the epochs runs
        resumed at, [] for a run that was never interrupted) and `seconds_before_resume`
        (the earlier processes' training seconds, `seconds` being this process's).

    Raises:
        ValueError: bad settings (named), a cache of another module or tokenizer
        (`GraphCacheMismatch`); FileNotFoundError: missing module or data.
    """
    import keras

    from glomo_tf.tasks.token_features import token_features

    started = time.time()
    config = resolve_config(config, task=task, features=features, transfer=transfer,
                            epochs=epochs, batch_size=batch_size, max_train=max_examples,
                            max_eval=max_eval, seed=seed, **overrides)
    keras.utils.set_random_seed(config.seed)
    graphs, graph_module, source = load_graphs(config, graphs_module)
    data = prepare_data(config, graph_module, data_dir)
    cache_dir = config.graph_cache_dir or default_cache_dir(out_dir)
    layer, info = token_features(config, data.vocabulary)
    caches, cache_summary = graph_caches(config, source, data, cache_dir, features=layer)
    graph_inputs = "module" if caches is None else (
        "propagated" if config.propagated_cache else "cached")
    model = build_model(config, graphs, layer, graph_inputs)
    train, validation, test = datasets(config, data, caches,
                                       repeat_train=config.validations_per_epoch > 1)

    validation_data, validation_callback = _validation(config, model, data, validation)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    callbacks, best = make_callbacks(config, out_dir, validation_callback)
    resumable, first_epoch = None, 0
    if resume_dir is not None:
        from glomo_tf.tasks.finetune_callbacks import ResumableTraining

        identity = {"config": config.to_dict(),
                    "graphs": os.path.realpath(graph_module.path)}
        resumable = ResumableTraining(resume_dir, identity, tracked=callbacks)
        first_epoch = resumable.load(model)
        callbacks.append(resumable)  # last: it saves what the others updated
    history = fit(model, config, train, validation_data, len(data.splits["train"]),
                  callbacks, verbose, initial_epoch=first_epoch)
    if resumable is not None:
        history.history = resumable.history  # the epochs before the resume too
    best.restore(model)
    if config.propagated_cache:
        # The test set has no cache: the same weights, graphs computed in the model.
        model = _dense_graphs_twin(config, graphs, graph_module, layer, model)
    metrics = report(config, model, data, test, history, best, info)
    metrics.update(_run_details(config, graph_module, cache_summary, started))
    if resumable is not None:
        metrics["resumed_at_epochs"] = resumable.resumed_at
        metrics["seconds_before_resume"] = round(resumable.seconds_before, 2)
    if out_dir is not None:
        _save_run(out_dir, metrics, config)
    if resumable is not None:
        resumable.finish()
    return metrics


def _dense_graphs_twin(config, graphs, graph_module, features, trained):
    """The task model with graphs computed in the model (of the untrained twin for
    `graphs_untrained`), holding `trained`'s weights, copied layer by layer by name."""
    graphs_layer = graphs
    if config.graphs_untrained:
        graphs_layer = _untrained_graphs_layer(graphs.handle, config.untrained_seed,
                                               graph_module)
    twin = build_model(config, graphs_layer, features, "module")
    copied = 0
    names = {layer.name for layer in twin.layers}
    for layer in trained.layers:
        if layer.weights and layer.name in names:
            twin.get_layer(layer.name).set_weights(layer.get_weights())
            copied += len(layer.trainable_weights)
    if copied != len(trained.trainable_weights):
        raise RuntimeError(f"copied {copied} of the {len(trained.trainable_weights)} trained "
                           "weights to the test model: the two models differ.")
    return twin


def _validation(config, model, data, validation):
    """`(validation_data for fit, validation callback)`: SQuAD is scored by a callback, the rest by `fit`."""
    if config.task != "squad":
        return validation, None
    from glomo_tf.tasks.finetune_callbacks import ValidationScores

    # EM / F1 need the decoded answer spans, which Keras' metrics cannot compute.
    callback = ValidationScores(
        lambda: {f"val_{k}": v for k, v in squad_scores(
            model, data.splits["validation"], validation, config).items()})
    return None, callback


def _run_details(config, graph_module, cache_summary, started):
    """The metrics that describe the run rather than the model: graphs, caches, seconds."""
    return {
        "graphs": os.path.basename(os.path.normpath(graph_module.path)),
        "graphs_untrained": config.graphs_untrained,
        "graph_cache": cache_summary,
        "seconds": round(time.time() - started, 2),
    }


def _save_run(out_dir, metrics, config):
    """Writes `metrics.json` and `config.json` to `out_dir`."""
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    write_json(os.path.join(out_dir, "config.json"), config.to_dict())


def report(config, model, data, test, history, best, info):
    """The metrics dict of a finished run (the model holds the best weights)."""
    metrics = {"task": config.task, "features": config.features,
               "transfer": config.transfer, "seed": config.seed}
    if config.task == "squad":
        metrics.update(squad_scores(model, data.splits["test"], test, config))
    else:
        metrics["accuracy"] = accuracy(model, test)
    monitored = validation_metric(config.task)
    if best.best is not None:
        # Keras reports accuracy as a fraction; the tables use %, as for the test score.
        scale = 100.0 if monitored == "val_accuracy" else 1.0
        metrics[monitored.replace("val_", "validation_")] = best.best * scale
    metrics.update({
        "best_epoch": best.best_epoch,
        "epochs_run": len(history.history.get("loss", [])),
        "train_examples": len(data.splits["train"]),
        "validation_examples": len(data.splits["validation"]),
        "eval_examples": len(data.splits["test"]),
        "skipped": data.counts,
        "train_loss": float(history.history["loss"][-1]),
        "config": config.to_dict(),
    })
    metrics.update({k: v for k, v in info.items() if v is not None})
    return metrics

