"""A GLoMo pretraining run: corpus → vocabulary → windows → `model.fit` with checkpoints.

What lands in `out_dir`:

```
config.json          # {"model": GLoMoConfig, "train": PretrainConfig} (save_configs)
vocab.txt            # the vocabulary, one token per line, <unk> first (written atomically)
checkpoints/         # the last `keep_checkpoints` checkpoints and `latest` (checkpoints.py)
losses.tsv           # the loss of every step of the whole run, kill-safe (step_log.py)
logs/                # TensorBoard: keras' epoch summaries (train/, validation/) and
                     # steps/ (loss, learning_rate, tokens_per_second, val_loss, graph heatmaps)
synthetic/           # only for corpus="synthetic": the generated train/valid corpus
```

How `fit` is driven. One `fit` "epoch" is `g = gcd(validate_every, checkpoint_every)`
steps, so every validation and every checkpoint falls on an epoch boundary: validation
runs on the epochs listed in `validation_freq`, checkpoints are written at the end of an
epoch. A run that must stop at a step that is not a multiple of `g` is stopped mid-epoch
(`model.stop_training`) and no validation runs there. A final checkpoint is written at
the last step. Resuming from step s continues the same schedule: the data pipeline is
deterministic, so `dataset.skip(s)` yields exactly the batches the uninterrupted run
would have seen next, `fit(initial_epoch=s // g)` keeps the epoch numbering, and the
checkpoint restores the weights, BatchNorm statistics, the position sampler's seed, the
optimizer (iterations, learning rate, momentum/Adam slots) and the plateau schedule's
state. If s is not a multiple of `g` (a resumed run whose last checkpoint was the final
one of a shorter run), one short `fit` first brings the run back onto the grid.

A non-finite training loss stops the run (`on_nan="stop"`): no checkpoint is written from
the bad step on, so the newest one is the last good one. With `on_nan="skip"` the run
instead rewinds to the newest checkpoint (a step-0 one is written at the start for this),
replays the steps up to the bad one (deterministic: the same losses again) and consumes
the bad step's batch without an update: the global step and the data position advance,
weights, optimizer slots and BatchNorm statistics do not (a skip inside the train step
could not keep the statistics of the bad forward pass out). Each skip costs up to
`checkpoint_every` replayed steps; `MAX_CONSECUTIVE_SKIPS` skips in a row stop the run.
A validation or checkpoint due exactly at a skipped step is not run.

On resume the learning rate comes from the checkpoint (it may have been halved): a new
`learning_rate` in `train_config` is not applied. `steps` may be raised to train longer.
"""

import dataclasses
import hashlib
import itertools
import math
import random
import os
import typing
import warnings

import keras
import tensorflow as tf

from glomo_tf.configs import GLoMoConfig, PretrainConfig, save_configs
from glomo_tf.data.pretraining_dataset import (
    make_document_windows_dataset, make_pretraining_dataset, released_mean_length)
from glomo_tf.data.text_readers import CorpusReader
from glomo_tf.data.vocabulary import build_vocabulary, load_vocabulary, save_vocabulary
from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer
from glomo_tf.training.callbacks import (
    LiveRowsMonitor,
    PeriodicCheckpoint,
    PlateauLRHalving,
    PretrainingSummaries,
    StepLossRecorder,
    StopBelowLearningRate,
    current_learning_rate,
    global_step,
)
from glomo_tf.training.checkpoints import (
    CheckpointManager,
    CheckpointMismatchError,
    check_format_version,
    describe_mismatch,
)
from glomo_tf.training.signal_stop import StopOnSignal, TrainingInterrupted
from glomo_tf.training.step_log import StepLossLog
from glomo_tf.training.strategy import fit_logs_for_multi_worker, make_strategy
from glomo_tf.training.synthetic_corpus import SYNTHETIC, write_synthetic_corpus

CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocab.txt"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
LOSS_LOG_FILE = "losses.tsv"
# on_nan="skip" gives up (stops as "nan") after this many non-finite steps in a row:
# the weights have diverged, skipping more batches will not help.
MAX_CONSECUTIVE_SKIPS = 10
# Share of the documents held out for validation when no validation corpus is given.
VALIDATION_FRACTION = 0.02
MIN_VOCABULARY_WORDS = 2
_SHUFFLE_BUFFER = 4096


@dataclasses.dataclass
class PretrainResult:
    """What `pretrain` did.

    Attributes:
        history: `{metric: [value per fit epoch]}` of this invocation (a resumed run holds
            only the epochs it ran), metrics `loss`, `val_loss`, `learning_rate`.
        step_losses: `{global step: training loss of that step}` for this invocation.
        initial_step: the global step training started from (0, or the resumed step).
        final_step: the global step reached.
        stopped: why it stopped: `"steps"` (reached `steps`), `"min_lr"` (lr fell below
            `min_lr_fraction` of the start), `"nan"` (non-finite loss; the last good
            checkpoint is kept) or `"signal"` (SIGTERM or SIGINT: a checkpoint of the step
            reached is written, and `resume=True` continues exactly from it).
        model: the trained `GLoMoPretrainer`.
        model_config: the model's config (its `vocabulary_size` is the vocabulary's).
        out_dir, config_path, vocabulary_path, checkpoint_dir, log_dir: paths.
        checkpoint_path: the newest checkpoint written or resumed from (None if none).
        skipped_steps: global steps whose batch was skipped for a non-finite loss
            (`on_nan="skip"`), over the whole run up to `final_step`.
        loss_log_path: `out_dir/losses.tsv`, the loss of every step of the whole run
            (see `glomo_tf.training.step_log`).
        stop_signal: with `stopped == "signal"`, its name ("SIGTERM" or "SIGINT").
    """

    history: dict
    step_losses: dict
    initial_step: int
    final_step: int
    stopped: str
    model: object
    model_config: GLoMoConfig
    out_dir: str
    config_path: str
    vocabulary_path: str
    checkpoint_dir: str
    log_dir: str
    checkpoint_path: str | None
    skipped_steps: list = dataclasses.field(default_factory=list)
    loss_log_path: str | None = None
    stop_signal: str | None = None


class _DocumentSlice:
    """Documents `[start, stop)` of a corpus, re-readable (for `make_pretraining_dataset`)."""

    def __init__(self, reader, start, stop):
        self.reader, self.start, self.stop = reader, start, stop

    def __iter__(self):
        return itertools.islice(iter(self.reader), self.start, self.stop)


class _InterleavedCorpora:
    """Documents of several corpora, interleaved one by one in a seeded random order.

    A run that sees a fraction of an epoch still sees every corpus; a corpus that runs
    out leaves the others to continue. Re-iterable, the same order every time.
    """

    def __init__(self, readers, seed=0):
        self.readers, self.seed = list(readers), seed

    def __iter__(self):
        rng = random.Random(self.seed)
        iterators = [iter(r) for r in self.readers]
        while iterators:
            index = rng.randrange(len(iterators))
            try:
                yield next(iterators[index])
            except StopIteration:
                iterators.pop(index)


def _coerce_configs(model_config, train_config):
    if isinstance(model_config, dict):
        model_config = GLoMoConfig.from_dict(model_config)
    if isinstance(train_config, dict):
        train_config = PretrainConfig.from_dict(train_config)
    if not isinstance(model_config, GLoMoConfig):
        raise ValueError(f"`model_config` must be a GLoMoConfig or its dict, got {type(model_config).__name__}.")
    if not isinstance(train_config, PretrainConfig):
        raise ValueError(f"`train_config` must be a PretrainConfig or its dict, got {type(train_config).__name__}.")
    model_config.validate()
    train_config.validate()
    return model_config, train_config


def _split_corpus(corpus, validation_corpus, corpus_format):
    """(training documents, validation documents) as re-iterable sources."""
    if isinstance(corpus, (list, tuple)):
        reader = _InterleavedCorpora([CorpusReader(c, format=corpus_format) for c in corpus])
    else:
        reader = CorpusReader(corpus, format=corpus_format)
    if validation_corpus is not None:
        return reader, CorpusReader(validation_corpus, format=corpus_format)
    # One counting pass: cheap next to training on the corpus, and it lets the held-out
    # documents be the last ones (no overlap with the training windows).
    count = sum(1 for _ in reader)
    if count < 2:
        warnings.warn(
            f"Corpus {corpus} has a single document: validating on the training text. "
            "Pass a validation corpus for a meaningful val_loss.",
            stacklevel=3,
        )
        return reader, reader
    held_out = min(count - 1, max(1, math.ceil(count * VALIDATION_FRACTION)))
    return _DocumentSlice(reader, 0, count - held_out), _DocumentSlice(reader, count - held_out, None)


def _make_datasets(train_documents, validation_documents, tokenizer, length, tc):
    """(training batches, validation batches, one validation window for the images)."""
    if tc.windows == "documents":
        # The released recipe: windows inside documents, batch lengths int(T * 1.4^u).
        stride = tc.window_stride or length // 2
        train_data = make_document_windows_dataset(
            train_documents, tokenizer, length, tc.batch_size, stride=stride,
            stride_jitter=tc.window_stride_jitter, shuffle_buffer=_SHUFFLE_BUFFER, seed=tc.seed)
        validation_windows = make_document_windows_dataset(
            validation_documents, tokenizer, length, tc.batch_size, stride=length,
            variable_length=False, shuffle_buffer=0, seed=0, repeat=False,
            drop_remainder=False)
    else:
        train_data = make_pretraining_dataset(
            train_documents, tokenizer, length, tc.batch_size,
            stride=tc.window_stride or length, stride_jitter=tc.window_stride_jitter,
            shuffle_buffer=_SHUFFLE_BUFFER, seed=tc.seed)
        validation_windows = make_pretraining_dataset(
            validation_documents, tokenizer, length, tc.batch_size,
            stride=length, shuffle_buffer=0, seed=0)
    first = next(iter(validation_windows.take(1)), None)
    if first is None:
        raise ValueError(
            f"The validation text yields no window of "
            f"{length} tokens" + (" inside its documents" if tc.windows == "documents" else "")
            + ": give a longer validation corpus, a smaller batch or shorter windows.")
    # The same windows at every validation: cut to `validation_steps` batches and cached.
    # Keras keeps the validation iterator across validations when `validation_steps` is
    # set, hence the `.repeat()`.
    validation_data = validation_windows.take(tc.validation_steps).cache().repeat()
    return (_distribution_options(train_data), _distribution_options(validation_data),
            first[:1], first)


def vocabulary_fingerprint(vocabulary):
    return hashlib.sha256("\n".join(vocabulary).encode("utf-8")).hexdigest()


def _model_fingerprint(model_config, vocabulary):
    return {"model": model_config.to_dict(), "vocabulary_sha256": vocabulary_fingerprint(vocabulary)}


def _make_optimizer(train_config):
    if train_config.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=train_config.learning_rate,
            momentum=train_config.momentum,
            global_clipnorm=train_config.clipnorm,
        )
    return keras.optimizers.Adam(learning_rate=train_config.learning_rate, global_clipnorm=train_config.clipnorm)


def _distribution_options(dataset):
    options = tf.data.Options()
    # Documents come from a Python generator, which cannot be sharded by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _merge_history(total, history):
    for key, values in history.history.items():
        total.setdefault(key, []).extend(float(v) for v in values)


def _diverged(skipped_steps, step):
    """True when `step` would be the `MAX_CONSECUTIVE_SKIPS`-th skipped step in a row."""
    run = 1
    while step - run in skipped_steps:
        run += 1
    return run >= MAX_CONSECUTIVE_SKIPS


class _StopAtStep(keras.callbacks.Callback):
    """Ends `fit` after the batch that reaches `target` global steps."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    def on_train_batch_end(self, batch, logs=None):
        if global_step(self.model) >= self.target:
            self.model.stop_training = True


def _check_inputs(corpus, validation_corpus, max_vocab):
    """Checks `max_vocab` and that the corpora exist; returns `corpus`, a list of one unwrapped."""
    if max_vocab is not None and (not isinstance(max_vocab, int) or max_vocab < MIN_VOCABULARY_WORDS):
        raise ValueError(f"Vocabulary too small: max_vocab must be >= {MIN_VOCABULARY_WORDS} words, got {max_vocab!r}.")
    if isinstance(corpus, (list, tuple)) and len(corpus) == 1:
        corpus = corpus[0]
    for path in corpus if isinstance(corpus, (list, tuple)) else [corpus]:
        if path == SYNTHETIC and isinstance(corpus, (list, tuple)):
            raise ValueError("The synthetic corpus cannot be mixed with other corpora.")
        if path != SYNTHETIC and not os.path.exists(os.fspath(path)):
            raise FileNotFoundError(f"Corpus not found: {path}")
    if validation_corpus is not None and not os.path.exists(os.fspath(validation_corpus)):
        raise FileNotFoundError(f"Validation corpus not found: {validation_corpus}")
    return corpus


def _check_resumable(checkpoint_dir, vocabulary_path, tc, resume):
    """The newest checkpoint in `checkpoint_dir` as `peek()` gives it (None if none); `resume` needs one."""
    existing = CheckpointManager(checkpoint_dir, tc.keep_checkpoints).peek()
    if resume:
        if existing is None:
            raise FileNotFoundError(f"Nothing to resume: no checkpoint in {checkpoint_dir}.")
        if not os.path.isfile(vocabulary_path):
            raise FileNotFoundError(f"Cannot resume: {vocabulary_path} is missing.")
    return existing


def _vocabulary(train_documents, corpus, vocabulary_path, model_config, tc, *, resume, max_vocab,
                vocabulary_documents, progress):
    """The run's vocabulary: the saved one on resume, else counted on the training documents."""
    if resume:
        vocabulary = load_vocabulary(vocabulary_path)
    else:
        vocabulary = build_vocabulary(
            train_documents if vocabulary_documents is None
            else itertools.islice(iter(train_documents), vocabulary_documents),
            max_size=max_vocab if max_vocab is not None else model_config.vocabulary_size - 1,
            lowercase=tc.lowercase,
            replace_digits=tc.replace_digits,
            splitting=tc.splitting,
            progress=progress,
        )
    if len(vocabulary) - 1 < MIN_VOCABULARY_WORDS:
        raise ValueError(
            f"Vocabulary too small: {len(vocabulary) - 1} word(s) besides <unk> from {corpus}; "
            f"need at least {MIN_VOCABULARY_WORDS}."
        )
    return vocabulary


def _check_existing(existing, fingerprint, out_dir, checkpoint_dir, resume):
    """Refuses a checkpoint already in `out_dir` of another model, or of this one without `resume`."""
    if existing is None:
        return
    check_format_version(existing[1], os.path.join(checkpoint_dir, f"ckpt-{existing[0]:08d}"))
    found = existing[1].get("fingerprint", {})
    if found != fingerprint:
        raise CheckpointMismatchError(
            f"{out_dir} holds a checkpoint of another model ({describe_mismatch(fingerprint, found)}); "
            "use another output directory or the matching config and vocabulary."
        )
    if not resume:
        raise ValueError(
            f"{out_dir} already holds a checkpoint of this model (step {existing[0]}): pass resume "
            "(--resume) to continue it, or use an empty output directory."
        )


def _checked_strategy(strategy, tc):
    """`strategy` (default `make_strategy("auto")`), whose replicas must divide the global batch."""
    strategy = strategy if strategy is not None else make_strategy("auto")
    replicas = strategy.num_replicas_in_sync
    if tc.batch_size % replicas:
        raise ValueError(f"Global batch size {tc.batch_size} is not divisible by the {replicas} replicas.")
    return strategy


class _Data(typing.NamedTuple):
    """The run's batches, and the validation windows of its TensorBoard images and live-rows monitor."""

    train: object
    validation: object
    image_window: object
    image_tokens: list
    live_rows_windows: object


def _make_data(train_documents, validation_documents, vocabulary, model_config, tc):
    """Tokenizes the documents into the run's `_Data`."""
    tokenizer = GLoMoWordTokenizer(vocabulary, lowercase=tc.lowercase,
                                   replace_digits=tc.replace_digits, splitting=tc.splitting)
    train_data, validation_data, image_window, live_rows_windows = _make_datasets(
        train_documents, validation_documents, tokenizer, model_config.sequence_length, tc)
    image_tokens = [tokenizer.id_to_token(i) for i in image_window[0].numpy()]
    return _Data(train_data, validation_data, image_window, image_tokens, live_rows_windows)


def _build_model(model_config, tc, strategy):
    """A compiled `GLoMoPretrainer` with its optimizer built, in `strategy`'s scope."""
    with strategy.scope():
        model = GLoMoPretrainer(model_config, seed=tc.seed, dtype=tc.precision)
        model.compile(optimizer=_make_optimizer(tc))
        model.optimizer.build(model.trainable_variables)
    fit_logs_for_multi_worker(model, strategy)
    return model


def _restore_newest(model, manager, plateau, loss_log):
    """Restores the newest good checkpoint into `model` and `plateau`; returns the manager's answer."""
    restored = manager.restore(model)
    plateau.set_state(restored.extra_state.get("plateau", {}))
    if global_step(model) != restored.step:
        raise ValueError(
            f"Checkpoint {restored.path} is inconsistent: step {restored.step} but the optimizer "
            f"has run {global_step(model)} iterations."
        )
    # Steps after the checkpoint are redone: drop them (and a line cut by a kill).
    loss_log.truncate(restored.step)
    return restored


@dataclasses.dataclass
class _Run:
    """The pieces of a run that the fit loop drives: model, data, checkpoints, loss log, callbacks."""

    model: object
    train_config: PretrainConfig
    data: _Data
    manager: CheckpointManager
    plateau: PlateauLRHalving
    loss_log: StepLossLog
    # Shared with the checkpointer's extra state: updated in place, never rebound.
    skipped_steps: list
    initial_step: int
    checkpoint_path: str | None
    stopper: StopBelowLearningRate
    recorder: StepLossRecorder
    summaries: PretrainingSummaries
    live_rows: LiveRowsMonitor
    checkpointer: PeriodicCheckpoint
    signal_stop: StopOnSignal
    callbacks: list
    progress: bool

    def restore_newest(self):
        """Rewinds the model and lr schedule to the newest good checkpoint."""
        return _restore_newest(self.model, self.manager, self.plateau, self.loss_log)

    def close(self):
        """Flushes and closes the run's summary writers and loss log."""
        self.summaries.close()
        self.live_rows.close()
        self.loss_log.close()


def _open_run(model, tc, data, fingerprint, length, *, out_dir, checkpoint_dir, log_dir, resume,
              progress):
    """The `_Run` of `model`: restored from the newest checkpoint on resume, its callbacks made."""
    manager = CheckpointManager(checkpoint_dir, tc.keep_checkpoints, fingerprint)
    plateau = PlateauLRHalving(patience=tc.plateau_patience, factor=0.5, verbose=1 if progress else 0)
    loss_log = StepLossLog(os.path.join(out_dir, LOSS_LOG_FILE))
    skipped_steps = []
    start_step, checkpoint_path = 0, None
    if resume:
        restored = _restore_newest(model, manager, plateau, loss_log)
        start_step, checkpoint_path = restored.step, restored.path
        skipped_steps = [s for s in restored.extra_state.get("skipped_steps", []) if s <= start_step]
    else:
        loss_log.truncate(0)

    stopper = StopBelowLearningRate(tc.min_lr_fraction * tc.learning_rate)
    recorder = StepLossRecorder(loss_log)
    summaries = PretrainingSummaries(
        os.path.join(log_dir, "steps"), tc.log_every,
        tc.batch_size * (released_mean_length(length) if tc.windows == "documents" else length),
        image_every=tc.image_every, window=data.image_window, tokens=data.image_tokens,
    )
    checkpointer = PeriodicCheckpoint(
        manager, tc.checkpoint_every,
        lambda: {"plateau": plateau.get_state(), "skipped_steps": list(skipped_steps)},
    )
    nan_guard = keras.callbacks.TerminateOnNaN()
    tensorboard = keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch", write_graph=False)
    # Order matters at an epoch's end: the lr schedule updates before the checkpoint
    # stores its state, and the loss log (recorder) is synced before the checkpoint.
    live_rows = LiveRowsMonitor(data.live_rows_windows, os.path.join(log_dir, "live_rows"))
    # Last, so the step it interrupts after is already in the loss log.
    signal_stop = StopOnSignal()
    callbacks = [nan_guard, plateau, stopper, recorder, summaries, live_rows, tensorboard,
                 checkpointer, signal_stop]
    if tc.on_nan == "skip" and not resume:
        # "skip" rewinds to the newest checkpoint: make sure there is one.
        checkpointer.set_model(model)
        checkpointer.save(0)
    return _Run(model, tc, data, manager, plateau, loss_log, skipped_steps, start_step,
                checkpoint_path, stopper, recorder, summaries, live_rows, checkpointer, signal_stop,
                callbacks, progress)


def _skip_batch(run, step):
    """Consumes the batch of step + 1 without an update; returns the new global step."""
    # The data position and the global step advance, the weights and optimizer slots do not.
    run.model.optimizer.iterations.assign_add(1)
    step += 1
    run.skipped_steps.append(step)
    run.recorder.losses[step] = float("nan")
    run.loss_log.append(step, float("nan"), "skipped")
    return step


def _fit_to(run, step, target):
    """One `model.fit` from global step `step` towards `target`, on the validation/checkpoint grid."""
    tc = run.train_config
    g = math.gcd(tc.validate_every, tc.checkpoint_every)
    first_epoch = step // g
    if step % g:
        # Off the grid (resumed from a final checkpoint, or after a skipped
        # batch): one short epoch back onto it.
        end = min(target, (first_epoch + 1) * g)
        steps_per_epoch, last_epoch = end - step, first_epoch + 1
    else:
        end = target
        steps_per_epoch, last_epoch = g, math.ceil(end / g)
    validation_epochs = [
        e + 1 for e in range(first_epoch, last_epoch)
        if min((e + 1) * g, end) % tc.validate_every == 0 and min((e + 1) * g, end) == (e + 1) * g
    ]
    return run.model.fit(
        run.data.train.skip(step),
        initial_epoch=first_epoch,
        epochs=last_epoch,
        steps_per_epoch=steps_per_epoch,
        validation_data=run.data.validation if validation_epochs else None,
        validation_steps=tc.validation_steps if validation_epochs else None,
        validation_freq=validation_epochs or 1,
        callbacks=run.callbacks + [_StopAtStep(end)],
        shuffle=False,  # a tf.data stream, ordered for exact resume; Keras' True only warns
        verbose=1 if run.progress else 0,
    )


def _after_fit(run, step, to_skip):
    """`(step to go on from, "steps" or why the run stops)` after a `fit` that started at `step`."""
    new_step = global_step(run.model)
    if not math.isfinite(run.recorder.losses.get(new_step, 0.0)):
        if run.train_config.on_nan == "skip" and not _diverged(run.skipped_steps, new_step):
            warnings.warn(
                f"Non-finite loss at step {new_step}: skipping its batch (on_nan='skip'); "
                "rewinding to the newest checkpoint and replaying up to it.",
                stacklevel=4,  # pretrain's caller (_after_fit < _train < pretrain)
            )
            to_skip.add(new_step)
            step = run.restore_newest().step
            run.skipped_steps[:] = [s for s in run.skipped_steps if s <= step]
            return step, "steps"
        return new_step, "nan"
    if run.stopper.stopped:
        return new_step, "min_lr"
    if new_step == step:
        raise RuntimeError(f"Training made no progress at step {step}.")
    return new_step, "steps"


def _train(run):
    """Fits up to `steps`, skipping non-finite steps' batches with on_nan='skip'; `(history, stopped)`."""
    tc = run.train_config
    history = {}
    step = run.initial_step
    stopped = "steps"
    # Steps whose batch is skipped in this invocation (on_nan="skip"), ahead of `step`
    # while a rewound run replays up to them.
    to_skip = set()
    if current_learning_rate(run.model) < run.stopper.threshold:
        stopped = "min_lr"
    try:
        with run.signal_stop:
            while stopped == "steps" and step < tc.steps:
                if run.signal_stop.received:
                    stopped = "signal"
                    break
                if step + 1 in to_skip:
                    step = _skip_batch(run, step)
                    continue
                target = min([tc.steps] + [s - 1 for s in to_skip if s > step])
                earlier = getattr(run.model, "history", None)
                try:
                    _merge_history(history, _fit_to(run, step, target))
                except TrainingInterrupted:
                    # Keras hands an interrupted fit's History (its finished epochs) to the
                    # model at each epoch end. _finish checkpoints the step reached; the
                    # partial epoch ran no validation.
                    if getattr(run.model, "history", None) not in (None, earlier):
                        _merge_history(history, run.model.history)
                    stopped = "signal"
                    break
                step, stopped = _after_fit(run, step, to_skip)
    finally:
        run.close()
    return history, stopped


def _finish(run, stopped):
    """Writes the final checkpoint (none after a non-finite loss); `(final step, newest checkpoint)`."""
    final_step = global_step(run.model)
    checkpointer, checkpoint_path = run.checkpointer, run.checkpoint_path
    if stopped != "nan" and checkpointer.last_saved_step != final_step and final_step > run.initial_step:
        checkpointer.save(final_step)
    if checkpointer.last_saved_step is not None:
        checkpoint_path = run.manager.latest_path()
    if stopped == "nan":
        kept = run.manager.latest_path()
        warnings.warn(
            f"Non-finite loss at step {final_step}: training stopped. The last good checkpoint "
            f"({kept or 'none'}) is kept; resume from it with a lower learning rate, or set "
            "on_nan='skip' (--on-nan skip) to skip such batches.",
            stacklevel=3,  # pretrain's caller
        )
    return final_step, checkpoint_path


def pretrain(
    corpus,
    out_dir,
    model_config,
    train_config,
    *,
    resume=False,
    strategy=None,
    validation_corpus=None,
    progress=True,
    max_vocab=None,
    corpus_format="auto",
    vocabulary_documents=None,
):
    """Pretrains GLoMo on a corpus, with checkpoints, TensorBoard logs and resume.

    Args:
        corpus: path of a text corpus (file, directory or archive; see
            `glomo_tf.data.text_readers`), a list of them (their documents are
            interleaved in a seeded random order), or `"synthetic"` for the planted-dependency
            language of `glomo_tf.data.synthetic` (written to `out_dir/synthetic/`).
        out_dir: run directory (see the module docstring for its layout).
        model_config: `GLoMoConfig` (or dict). Its `vocabulary_size` is replaced by the
            size of the vocabulary actually built.
        train_config: `PretrainConfig` (or dict).
        resume: continue from the newest good checkpoint in `out_dir` at the same step
            and data position, reusing `out_dir/vocab.txt`.
        strategy: a `tf.distribute.Strategy`; default `make_strategy("auto")`.
        validation_corpus: path of a validation corpus; default: the last 2% of the
            documents of `corpus` (at least one) are held out.
        progress: show Keras progress bars.
        max_vocab: words kept in the vocabulary (besides `<unk>`); default
            `model_config.vocabulary_size - 1`.
        corpus_format: reader format (`"auto"`, `"lines"`, `"wikitext"`, ...).
        vocabulary_documents: count the vocabulary on the first this many training
            documents only (default: all); a counting pass over a large corpus takes
            longer than the first thousands of steps.

    Returns:
        A `PretrainResult`.

    Raises:
        FileNotFoundError: missing corpus, or `resume` with no checkpoint in `out_dir`.
        ValueError: empty corpus, a vocabulary with fewer than 2 words, bad configs, a
            global batch not divisible by the replicas, `out_dir` holding checkpoints but
            `resume=False`; `CheckpointMismatchError` (a ValueError) when `out_dir` holds
            another model's checkpoint.

    Example:
    ```python
    result = pretrain("synthetic", "runs/tiny", GLoMoConfig.tiny(),
                      PretrainConfig.for_model("tiny", steps=300))
    result.final_step, result.history["val_loss"][-1]
    ```
    """
    model_config, tc = _coerce_configs(model_config, train_config)
    out_dir = os.fspath(out_dir)
    corpus = _check_inputs(corpus, validation_corpus, max_vocab)
    checkpoint_dir = os.path.join(out_dir, CHECKPOINT_DIR)
    vocabulary_path = os.path.join(out_dir, VOCABULARY_FILE)
    existing = _check_resumable(checkpoint_dir, vocabulary_path, tc, resume)
    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(tc.seed)

    if corpus == SYNTHETIC:
        corpus, synthetic_valid = write_synthetic_corpus(os.path.join(out_dir, "synthetic"), model_config, tc.seed)
        validation_corpus = validation_corpus or synthetic_valid
    train_documents, validation_documents = _split_corpus(corpus, validation_corpus, corpus_format)
    vocabulary = _vocabulary(train_documents, corpus, vocabulary_path, model_config, tc, resume=resume,
                             max_vocab=max_vocab, vocabulary_documents=vocabulary_documents,
                             progress=progress)
    model_config = dataclasses.replace(model_config, vocabulary_size=len(vocabulary))
    fingerprint = _model_fingerprint(model_config, vocabulary)
    _check_existing(existing, fingerprint, out_dir, checkpoint_dir, resume)
    if not resume:
        save_vocabulary(vocabulary, vocabulary_path)
    config_path = os.path.join(out_dir, CONFIG_FILE)
    save_configs(config_path, model_config, tc)
    strategy = _checked_strategy(strategy, tc)

    data = _make_data(train_documents, validation_documents, vocabulary, model_config, tc)
    model = _build_model(model_config, tc, strategy)
    log_dir = os.path.join(out_dir, LOG_DIR)
    run = _open_run(model, tc, data, fingerprint, model_config.sequence_length, out_dir=out_dir,
                    checkpoint_dir=checkpoint_dir, log_dir=log_dir, resume=resume, progress=progress)
    history, stopped = _train(run)
    final_step, checkpoint_path = _finish(run, stopped)
    return PretrainResult(
        history=history,
        step_losses=dict(run.recorder.losses),
        initial_step=run.initial_step,
        final_step=final_step,
        stopped=stopped,
        model=model,
        model_config=model_config,
        out_dir=out_dir,
        config_path=config_path,
        vocabulary_path=vocabulary_path,
        checkpoint_dir=checkpoint_dir,
        log_dir=log_dir,
        checkpoint_path=checkpoint_path,
        skipped_steps=list(run.skipped_steps),
        loss_log_path=run.loss_log.path,
        stop_signal=run.signal_stop.received if stopped == "signal" else None,
    )
