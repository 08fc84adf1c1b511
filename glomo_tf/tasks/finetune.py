"""`finetune`: one downstream run (data → model → training → metrics), the API behind `glomo finetune`."""

from __future__ import annotations

import functools
import json
import os
import time

import numpy as np

from glomo_tf.tasks.finetune_config import FinetuneConfig

NUM_CLASSES = {"imdb": 2, "sst2": 2, "nli": 3}


def _dataset(inputs, targets, batch_size, shuffle_seed=None):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((inputs, targets))
    if shuffle_seed is not None:
        count = len(next(iter(targets.values())) if isinstance(targets, dict) else targets)
        ds = ds.shuffle(max(count, 1), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def _optimizer(config):
    import keras

    if config.optimizer == "adadelta":
        return keras.optimizers.Adadelta(config.learning_rate, rho=0.95)
    return keras.optimizers.Adam(config.learning_rate)


def _accuracy(model, texts, labels, batch_size):
    correct = 0
    for begin in range(0, len(labels), batch_size):
        batch = {name: np.asarray(values[begin: begin + batch_size], dtype=object)
                 for name, values in texts.items()}
        logits = np.asarray(model.predict_on_batch(batch))
        correct += int(np.sum(np.argmax(logits, axis=-1) == labels[begin: begin + batch_size]))
    return 100.0 * correct / max(len(labels), 1)


def _merge_counts(*parts):
    merged = {}
    for prefix, counts in parts:
        for reason, number in counts.items():
            merged[f"{prefix}{reason}"] = int(number)
    return merged


@functools.lru_cache(maxsize=2)
def _graphs_layer(handle):
    # Loading a module and its first call cost seconds; repeated runs (seeds, modes) in
    # one process share the frozen, weightless layer.
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    return GLoMoGraphs(handle, name="glomo_graphs")


def finetune(task, features="glove", transfer="none", graphs_module=None, *, epochs=1,
             batch_size=32, max_examples=None, max_eval=None, seed=0, out_dir=None,
             config=None, data_dir=None, verbose=0, **overrides):
    """Trains and evaluates one downstream model; returns its metrics.

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
        max_eval: evaluate on a fixed random subset of this many examples.
        out_dir: if given, `metrics.json` (and `config.json`) are written there.
        config: a `FinetuneConfig` (or a dict, or a JSON path) for everything else;
            the explicit arguments above override its fields.
        data_dir: the data folder (default `GLOMO_DATA_DIR` / `data_dir()`).
        verbose: Keras `fit` verbosity.
        **overrides: more `FinetuneConfig` fields (`hidden_dim`, `glove`, ...).

    Returns:
        dict: `task`, `features`, `transfer`, `seed`, the metric (`accuracy` in %, or
        `exact_match`/`f1` for SQuAD; NLI also `validation_accuracy`), `train_examples`,
        `eval_examples`, `skipped` (counts by split and reason, incl. truncations),
        `train_loss` (last epoch), `seconds`, `config`.

    Raises:
        ValueError: bad settings (named); FileNotFoundError: missing module or data.
    """
    import keras

    from glomo_tf.tasks.token_features import token_features
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    started = time.time()
    if isinstance(config, (str, os.PathLike)):
        config = FinetuneConfig.from_json(config)
    elif isinstance(config, dict):
        config = FinetuneConfig.from_dict(config)
    config = config or FinetuneConfig()
    config = config.replace(task=task, features=features, transfer=transfer, epochs=epochs,
                            batch_size=batch_size, max_train=max_examples, max_eval=max_eval,
                            seed=seed, **overrides)
    if graphs_module is None:
        raise ValueError("finetune needs `graphs_module`: a graph module directory or handle.")
    keras.utils.set_random_seed(config.seed)
    graphs = graphs_module if isinstance(graphs_module, GLoMoGraphs) \
        else _graphs_layer(os.fspath(graphs_module))
    # The loaded `GraphModule` (for its tokenizer): GLoMoGraphs keeps it privately.
    graph_module = getattr(graphs, "graph_module", None) or graphs._graph_module

    metrics = {"task": config.task, "features": config.features,
               "transfer": config.transfer, "seed": config.seed}
    if config.task == "squad":
        from glomo_tf.datasets.squad import load_squad_protocol
        from glomo_tf.tasks.squad import predict_answers, prepare_squad, scoring_dataset
        from glomo_tf.tasks.squad_model import build_squad_model
        from glomo_tf.tasks.squad_metric import evaluate

        splits = load_squad_protocol(config.squad_protocol, root=data_dir)
        train = prepare_squad(graph_module, splits["train"], config.max_context_tokens,
                              config.max_question_tokens, limit=config.max_train)
        test = prepare_squad(graph_module, splits["test"], config.max_context_tokens,
                             config.max_question_tokens, limit=config.max_eval, training=False)
        if len(train) == 0 or len(test) == 0:
            raise ValueError(
                f"SQuAD: no usable examples left (train {len(train)}, test {len(test)}); "
                f"dropped: train {train.counts}, test {test.counts}.")
        layer, info = token_features(config, train.vocabulary | test.vocabulary)
        model = build_squad_model(config, graphs, layer)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=_optimizer(config), loss={"start": loss, "end": loss},
                      run_eagerly=config.run_eagerly)
        data = _dataset({"context": train.contexts, "question": train.questions},
                        {"start": train.starts, "end": train.ends}, config.batch_size,
                        shuffle_seed=config.seed)
        history = model.fit(data, epochs=config.epochs, shuffle=False, verbose=verbose)
        predictions = predict_answers(model, test, config.batch_size, config.max_span_length)
        metrics.update(evaluate(scoring_dataset(test), predictions))
        counts = _merge_counts(("train_", train.counts), ("eval_", test.counts))
        train_size, eval_size = len(train), len(test)
    else:
        from glomo_tf.tasks.task_data import load_task_splits, prepare_text_examples

        raw = load_task_splits(config.task, data_dir, config.nli_protocol)
        num_classes = NUM_CLASSES[config.task]
        prepared = {}
        for name, (texts, labels, skipped) in raw.items():
            limit = config.max_train if name == "train" else config.max_eval
            prepared[name] = prepare_text_examples(
                graph_module, texts, labels, num_classes, config.max_tokens, limit=limit,
                skipped=skipped)
        train, test = prepared["train"], prepared["eval"]
        if len(train) == 0 or len(test) == 0:
            raise ValueError(
                f"{config.task}: no usable examples left (train {len(train)}, eval "
                f"{len(test)}); skipped: train {train.counts}, eval {test.counts}.")
        vocabulary = set().union(*(p.vocabulary for p in prepared.values()))
        layer, info = token_features(config, vocabulary)
        if config.task == "nli":
            from glomo_tf.tasks.nli_model import build_nli_model

            model = build_nli_model(config, graphs, layer, num_classes)
        else:
            from glomo_tf.tasks.text_classifier import build_text_classifier

            model = build_text_classifier(config, graphs, layer, num_classes)
        model.compile(optimizer=_optimizer(config),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      run_eagerly=config.run_eagerly)
        data = _dataset(dict(train.texts), train.labels, config.batch_size,
                        shuffle_seed=config.seed)
        history = model.fit(data, epochs=config.epochs, shuffle=False, verbose=verbose)
        metrics["accuracy"] = _accuracy(model, test.texts, test.labels, config.batch_size)
        if "validation" in prepared:
            validation = prepared["validation"]
            metrics["validation_accuracy"] = _accuracy(
                model, validation.texts, validation.labels, config.batch_size)
        counts = _merge_counts(*((f"{name}_", p.counts) for name, p in prepared.items()))
        train_size, eval_size = len(train), len(test)

    metrics.update({
        "train_examples": train_size,
        "eval_examples": eval_size,
        "skipped": counts,
        "train_loss": float(history.history["loss"][-1]),
        "seconds": round(time.time() - started, 2),
        "config": config.to_dict(),
    })
    metrics.update({k: v for k, v in info.items() if v is not None})
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "metrics.json"), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
    return metrics
