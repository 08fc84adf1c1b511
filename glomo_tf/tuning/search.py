"""`tune(TuneConfig)`: a keras-tuner search over GLoMo pretraining or downstream transfer.

What lands in `DIRECTORY/PROJECT/` (PROJECT = `pretrain`, or `TASK_TRANSFER` such as
`sst2_glomo`, so the searches of the three transfer modes can share one directory):

```
oracle.json, tuner0.json, trial_*/   # keras-tuner's own state (what --resume reloads)
logs/TRIAL_ID/execution0/            # TensorBoard: per-trial train/validation scalars and
                                     # the trial's hyper-parameters (HParams dashboard)
best_config.json                     # FinetuneConfig fields (glomo finetune --config), or
                                     # {"model", "train"} (glomo pretrain --config)
best_hyperparameters.json            # the best trial: id, objective, score, raw values
trials.md                            # the summary table printed at the end
```

The search itself is keras-tuner's: its oracles (`RandomSearch`, `BayesianOptimization`,
`Hyperband`), its resume (`overwrite=False` reloads the project; a trial that was running
when the search stopped is run again), its handling of failing trials (a trial that
raises is recorded as failed and the search goes on; `max_consecutive_failed_trials`
failures in a row stop it) and its `distribution_strategy`.
"""

import dataclasses
import math
import os

from glomo_tf.files.atomic_write import write_json, write_text
from glomo_tf.presets import resolve_module
from glomo_tf.tuning.search_space import TRANSFER_MODES

# No TensorFlow at import time: `glomo tune` checks its settings before loading it.
TASKS = ("synthetic", "imdb", "sst2", "nli", "squad", "pretrain")
TUNERS = ("random", "bayesian", "hyperband")
BEST_CONFIG = "best_config.json"
BEST_HYPERPARAMETERS = "best_hyperparameters.json"
TRIALS_TABLE = "trials.md"
LOG_DIR = "logs"


class SearchFailedError(RuntimeError):
    """The search stopped: too many trials in a row raised (the last error is in the message)."""


@dataclasses.dataclass
class TuneConfig:
    """One search.

    Attributes:
        task: "synthetic" (the planted-relations task, downstream transfer settings),
            "imdb", "sst2", "nli", "squad" (downstream transfer settings) or "pretrain"
            (the pretraining network).
        tuner: "random", "bayesian" or "hyperband" (keras-tuner's oracles).
        max_trials: trials in total, counting those of a resumed search (Hyperband:
            an upper bound on top of its own schedule).
        directory: where the project folder goes.
        resume: reload the project in `directory` and run only its remaining trials;
            otherwise an existing project of the same name is replaced.
        transfer: downstream only: "none" (feature-only), "uniform" or "glomo"; fixed
            for the search, so each baseline can be tuned with the same budget.
        graphs: downstream only: the graph module (default for "synthetic": the bundled
            `saved_models/glomo_planted_tiny`, or one pretrained into `directory/module`).
        epochs: epochs per trial (Hyperband: the most any trial gets).
        steps_per_epoch: batches per epoch (None: a pass over the training examples;
            pretraining needs a number, default 100).
        batch_size: None: the base config's.
        max_train, max_validation: downstream example budget (validation is held out of
            the training data, or NLI's validation split).
        strategy: None, or a `glomo_tf.training.strategy` name ("cpu", "mirrored", ...).
        seed: seeds the oracle, data order and every model's initialisation.
        max_consecutive_failed_trials: stop after this many failing trials in a row.
        executions_per_trial: models trained per trial (the objective is averaged).
        hyperband_factor: Hyperband's reduction factor.
        space: search-space overrides `{name: spec}` (see `glomo_tf.tuning.search_space`).
        config: base config of everything not searched: for "pretrain" a preset name
            ("tiny", "small", "paper") or a JSON file of `save_configs`; for imdb / sst2 /
            nli / squad a `FinetuneConfig` JSON file; unused by "synthetic".
        features, glove, data_dir: downstream features and data folder (as finetune's).
        corpus, validation_corpus, validation_steps, max_vocab: pretraining data.
        run_eagerly: Keras `run_eagerly` (tiny runs: skips the seconds of tracing each
            trial's model costs).
        verbose: Keras/keras-tuner verbosity (0 = quiet).
    """

    task: str = "synthetic"
    tuner: str = "random"
    max_trials: int = 10
    directory: str = "tune"
    resume: bool = False
    transfer: str = "glomo"
    graphs: str | None = None
    epochs: int = 2
    steps_per_epoch: int | None = None
    batch_size: int | None = None
    max_train: int | None = None
    max_validation: int | None = None
    strategy: str | None = None
    seed: int = 0
    max_consecutive_failed_trials: int = 3
    executions_per_trial: int = 1
    hyperband_factor: int = 3
    space: dict | None = None
    config: str | None = None
    features: str | None = None
    glove: str | None = None
    data_dir: str | None = None
    corpus: str = "synthetic"
    validation_corpus: str | None = None
    validation_steps: int = 5
    max_vocab: int | None = None
    run_eagerly: bool = False
    verbose: int = 0

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Raises `ValueError` naming the first bad field (no TensorFlow needed)."""
        for name, value, allowed in (("task", self.task, TASKS), ("tuner", self.tuner, TUNERS),
                                     ("transfer", self.transfer, TRANSFER_MODES)):
            if value not in allowed:
                raise ValueError(f"Unknown {name} {value!r}; expected one of {', '.join(allowed)}.")
        for name in ("max_trials", "epochs", "max_consecutive_failed_trials",
                     "executions_per_trial", "validation_steps"):
            _check_int(name, getattr(self, name), 1)
        for name in ("steps_per_epoch", "batch_size", "max_train", "max_validation", "max_vocab"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        _check_int("hyperband_factor", self.hyperband_factor, 2)
        if self.space is not None and not isinstance(self.space, dict):
            raise ValueError(f"`space` must be a dict of hyper-parameter specs, got {self.space!r}.")
        if self.task == "synthetic" and self.config is not None:
            raise ValueError("--config is not used by --task synthetic (its classifier is "
                             "the demo's); leave it out.")
        if self.task == "pretrain" and self.graphs is not None:
            raise ValueError("--graphs is not used by --task pretrain.")

    @property
    def project_name(self):
        return "pretrain" if self.task == "pretrain" else f"{self.task}_{self.transfer}"

    @property
    def project_dir(self):
        return os.path.join(self.directory, self.project_name)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


@dataclasses.dataclass
class TuneResult:
    """What a search found.

    Attributes:
        project_dir: the keras-tuner project folder.
        objective, direction: e.g. "val_accuracy", "max".
        trials: one dict per trial, by id: `trial_id`, `status` ("COMPLETED",
            "FAILED", ...), `score` (None unless completed), `hyperparameters`,
            `error` (last line of a failed trial's traceback, else None).
        trials_run: trials run (or re-run) by this call.
        best_trial_id, best_score, best_hyperparameters: None if no trial completed.
        best_config_path: the config file for `glomo finetune/pretrain --config`.
        log_dir: TensorBoard root (one folder per trial).
    """

    project_dir: str
    objective: str
    direction: str
    trials: list
    trials_run: int
    best_trial_id: str | None
    best_score: float | None
    best_hyperparameters: dict | None
    best_config_path: str | None
    log_dir: str

    def table(self):
        """The trials as a Markdown table (best first), for the terminal and `trials.md`."""
        names = sorted({k for t in self.trials for k in t["hyperparameters"]})
        header = ["trial", "status", self.objective] + names
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        sign = -1 if self.direction == "max" else 1
        order = sorted(self.trials, key=lambda t: (t["score"] is None,
                                                   sign * (t["score"] or 0.0), t["trial_id"]))
        for t in order:
            score = "-" if t["score"] is None else f"{t['score']:.4f}"
            status = t["status"].lower() + (" (best)" if t["trial_id"] == self.best_trial_id else "")
            cells = [t["trial_id"], status, score]
            cells += [_format_value(t["hyperparameters"].get(n, "")) for n in names]
            lines.append("| " + " | ".join(cells) + " |")
        for t in order:
            if t["error"]:
                lines.append(f"\ntrial {t['trial_id']} failed: {t['error']}")
        return "\n".join(lines)


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _synthetic_hypermodel(config):
    from glomo_tf.demo.run import bundled_module, module_language, pretrain_module
    from glomo_tf.export.graph_module import load_graph_module
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs
    from glomo_tf.tuning.transfer_hypermodel import PlantedTransferHyperModel

    module = config.graphs
    if module is None:
        module = bundled_module()
        if module is None:
            # As `glomo demo` does without its bundled module; kept for --resume.
            module = os.path.join(config.directory, "module")
            if not os.path.isdir(module):
                print(f"No bundled graph module: pretraining a tiny one into {module} ...")
                module = pretrain_module(config.directory, 1000, seed=0,
                                         progress=config.verbose > 0)
    else:
        module = resolve_module(module)
        if not os.path.isdir(module):
            raise FileNotFoundError(f"Graph module not found: {module}")
    language = module_language(load_graph_module(module), 0)
    return PlantedTransferHyperModel(
        GLoMoGraphs(module, name="glomo_graphs"), language, config.transfer,
        train_examples=config.max_train or 1000, validation_examples=config.max_validation or 500,
        batch_size=config.batch_size or 32, steps_per_epoch=config.steps_per_epoch,
        space=config.space, seed=config.seed, run_eagerly=config.run_eagerly)


def _task_hypermodel(config):
    from glomo_tf.tasks.finetune_config import FinetuneConfig
    from glomo_tf.tuning.transfer_hypermodel import TaskTransferHyperModel

    base = FinetuneConfig.from_json(config.config) if config.config else FinetuneConfig()
    overrides = {"task": config.task, "seed": config.seed, "epochs": config.epochs}
    if config.run_eagerly:
        overrides["run_eagerly"] = True
    for name in ("features", "glove", "batch_size"):
        if getattr(config, name) is not None:
            overrides[name] = getattr(config, name)
    base = base.replace(**overrides)
    if config.graphs is None:
        raise ValueError(f"--task {config.task} needs --graphs MODULE (a graph module, "
                         "see glomo export).")
    graphs = resolve_module(config.graphs)
    if "://" not in graphs and not os.path.isdir(graphs):
        raise FileNotFoundError(f"Graph module not found: {graphs}")
    return TaskTransferHyperModel(
        config.task, graphs, config.transfer, base, data_dir=config.data_dir,
        max_train=config.max_train, max_validation=config.max_validation or 1000,
        steps_per_epoch=config.steps_per_epoch, space=config.space, seed=config.seed)


def _pretrain_base(config):
    """`(GLoMoConfig, PretrainConfig)` that the pretraining search starts from."""
    from glomo_tf.configs import GLoMoConfig, PretrainConfig, load_configs

    name = config.config or "tiny"
    if name in ("tiny", "small", "paper"):
        model, train = GLoMoConfig.named(name), PretrainConfig.for_model(name)
    else:
        model, train = load_configs(name)
        train = train or PretrainConfig()
    overrides = {"seed": config.seed}
    if config.batch_size is not None:
        overrides["batch_size"] = config.batch_size
    return model, dataclasses.replace(train, **overrides)


def _pretrain_hypermodel(config):
    from glomo_tf.tuning.pretrain_hypermodel import PretrainHyperModel

    model, train = _pretrain_base(config)
    return PretrainHyperModel(
        # Not inside the project folder, which a new (non-resumed) search replaces.
        config.corpus, os.path.join(config.directory, "pretrain_corpus"), model, train,
        steps_per_epoch=config.steps_per_epoch or 100, validation_steps=config.validation_steps,
        validation_corpus=config.validation_corpus, max_vocab=config.max_vocab,
        space=config.space, run_eagerly=config.run_eagerly)


def check_space(config):
    """Raises `ValueError` if `config.space` does not fit the search (before any data loads)."""
    from glomo_tf.tuning.search_space import resolve_space, transfer_space

    if config.task == "pretrain":
        from glomo_tf.tuning.pretrain_hypermodel import check_pretrain_space, pretrain_space

        model, _ = _pretrain_base(config)
        check_pretrain_space(resolve_space(pretrain_space(model), config.space),
                             model.sequence_length)
    else:
        resolve_space(transfer_space(config.transfer), config.space)


def make_hypermodel(config):
    """The HyperModel a `TuneConfig` asks for (data prepared, space checked)."""
    if config.task == "synthetic":
        return _synthetic_hypermodel(config)
    if config.task == "pretrain":
        return _pretrain_hypermodel(config)
    return _task_hypermodel(config)


def _make_tuner(config, hypermodel, objective, strategy):
    import keras_tuner as kt

    common = dict(
        hypermodel=hypermodel, objective=objective, seed=config.seed,
        max_consecutive_failed_trials=config.max_consecutive_failed_trials,
        directory=config.directory, project_name=config.project_name,
        overwrite=not config.resume, distribution_strategy=strategy,
        executions_per_trial=config.executions_per_trial,
    )
    if config.tuner == "random":
        return kt.RandomSearch(max_trials=config.max_trials, **common)
    if config.tuner == "bayesian":
        return kt.BayesianOptimization(max_trials=config.max_trials, **common)
    tuner = kt.Hyperband(max_epochs=config.epochs, factor=config.hyperband_factor, **common)
    # Hyperband sizes its own brackets; --max-trials caps them (oracle.create_trial
    # stops at max_trials, and max_trials is not part of the saved state).
    tuner.oracle.max_trials = config.max_trials
    return tuner


def _clean(value):
    # Stepped floats come out as 0.30000000000000004.
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _trial_summary(trial):
    error = None
    if trial.message:
        lines = [line for line in str(trial.message).strip().splitlines() if line.strip()]
        error = lines[-1].strip() if lines else None
    score = trial.score
    if score is not None and (not isinstance(score, (int, float)) or not math.isfinite(score)):
        score = None
    return {
        "trial_id": trial.trial_id,
        "status": str(trial.status),
        "score": None if score is None else float(score),
        "hyperparameters": {k: _clean(v) for k, v in trial.hyperparameters.values.items()
                            if not k.startswith("tuner/")},
        "error": error if str(trial.status) != "COMPLETED" else None,
    }


def write_best_config(config, hypermodel, values, path):
    """Writes the best values as the config file `glomo finetune/pretrain --config` reads."""
    if config.task == "pretrain":
        from glomo_tf.configs import save_configs

        save_configs(path, *hypermodel.configs(values))
        return path
    base = getattr(hypermodel, "base_config", None)
    if base is None:  # synthetic: a FinetuneConfig with the tuned transfer settings
        from glomo_tf.tasks.finetune_config import FinetuneConfig

        base = FinetuneConfig(epochs=config.epochs, batch_size=config.batch_size or 32,
                              seed=config.seed)
    write_json(path, hypermodel.finetune_config(values, base).to_dict())
    return path


def tune(config, hypermodel=None):
    """Runs (or resumes) one search; returns its `TuneResult` (also written to trials.md).

    Args:
        config: a `TuneConfig` (or a dict of its fields).
        hypermodel: optional HyperModel to search instead of the one `config.task`
            names (it must have an `objective` attribute: "val_loss", "val_accuracy", ...).

    Returns:
        `TuneResult`.

    Raises:
        ValueError: bad settings or search space; FileNotFoundError: `resume` without
        a project, a missing module or data; SearchFailedError: the search stopped after
        `max_consecutive_failed_trials` failing trials in a row.

    Example:

    ```python
    result = tune(TuneConfig(task="synthetic", max_trials=6, epochs=3, directory="tune"))
    print(result.table())
    # glomo finetune --config tune/synthetic_glomo/best_config.json ...
    ```
    """
    if isinstance(config, dict):
        config = TuneConfig(**config)
    config.validate()
    oracle_file = os.path.join(config.project_dir, "oracle.json")
    if config.resume and not os.path.isfile(oracle_file):
        raise FileNotFoundError(f"--resume: no search to resume in {config.project_dir} "
                                f"(no oracle.json).")

    import keras
    import keras_tuner as kt

    strategy = None
    if config.strategy is not None:
        from glomo_tf.training.strategy import make_strategy

        strategy = make_strategy(config.strategy)
        if config.task != "pretrain" and strategy.num_replicas_in_sync > 1:
            raise ValueError(
                f"--strategy {config.strategy} has {strategy.num_replicas_in_sync} replicas; "
                "downstream models read raw text, which Keras cannot split over replicas "
                "(see GLoMoGraphs). Use --strategy cpu or none for downstream searches.")
    if hypermodel is None:
        check_space(config)
        keras.utils.set_random_seed(config.seed)
        hypermodel = make_hypermodel(config)
    name = hypermodel.objective
    direction = "max" if "acc" in name else "min"
    objective = kt.Objective(name, direction)
    tuner = _make_tuner(config, hypermodel, objective, strategy)
    project_dir = tuner.project_dir
    before = {tid: str(t.status) for tid, t in tuner.oracle.trials.items()}

    log_dir = os.path.join(project_dir, LOG_DIR)
    tensorboard = keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False)
    try:
        tuner.search(epochs=config.epochs, callbacks=[tensorboard], verbose=config.verbose)
    except RuntimeError as error:
        if "consecutive failures" not in str(error):
            raise
        last = [line for line in str(error).strip().splitlines() if line.strip()]
        raise SearchFailedError(
            f"search stopped after {config.max_consecutive_failed_trials} failing trials in a "
            f"row; last error: {last[-1].strip() if last else 'unknown'}") from None

    trials = [_trial_summary(t) for _, t in sorted(tuner.oracle.trials.items())]
    run = sum(1 for t in trials if before.get(t["trial_id"]) in (None, "RUNNING", "INVALID"))
    best = [t for t in trials if t["status"] == "COMPLETED" and t["score"] is not None]
    best = sorted(best, key=lambda t: t["score"], reverse=direction == "max")[:1]
    best_config_path = best_values = best_id = best_score = None
    if best:
        best_id, best_score = best[0]["trial_id"], best[0]["score"]
        best_values = best[0]["hyperparameters"]
        best_config_path = write_best_config(config, hypermodel, best_values,
                                             os.path.join(project_dir, BEST_CONFIG))
        write_json(os.path.join(project_dir, BEST_HYPERPARAMETERS), {
            "task": config.task, "transfer": None if config.task == "pretrain" else config.transfer,
            "objective": name, "direction": direction, "trial_id": best_id,
            "score": best_score, "hyperparameters": best_values,
        })
    result = TuneResult(project_dir, name, direction, trials, run, best_id, best_score,
                        best_values, best_config_path, log_dir)
    write_text(os.path.join(project_dir, TRIALS_TABLE), result.table() + "\n")
    return result
