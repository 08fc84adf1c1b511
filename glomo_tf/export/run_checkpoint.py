"""Rebuilding a trained `GLoMoPretrainer` (weights only) from a pretraining run directory.

Run layout (written by `glomo_tf.training.pretraining`): `config.json`, `vocab.txt` and
`checkpoints/` managed by `glomo_tf.training.checkpoints.CheckpointManager`. Exporting
needs the model's weights but not its optimizer, so this reads only `model.h5` of a
checkpoint (after `CheckpointManager.read_state` has checked the checksums); the
optimizer state is never built. A `.weights.h5` file or a `.keras` model can be given
instead.
"""

import os


CONFIG_FILE = "config.json"
VOCABULARY_FILE = "vocab.txt"
CHECKPOINT_DIR = "checkpoints"
MODEL_FILE = "model.h5"


def latest_checkpoint(run_dir):
    """The newest checkpoint directory of a run (`run_dir/checkpoints/ckpt-N`), or None."""
    from glomo_tf.training.checkpoints import CheckpointManager

    return CheckpointManager(os.path.join(run_dir, CHECKPOINT_DIR)).latest_path()


def resolve_checkpoint(run_dir, checkpoint=None):
    """The checkpoint path meant by `checkpoint`: None or `"latest"` (the newest),
    `"best"` (the lowest recorded validation loss), a step number (`"4000"`), or a path.

    Returns None when the run has no checkpoint of that kind.

    Raises:
        FileNotFoundError: a step that has no checkpoint (the kept steps are named).
    """
    from glomo_tf.training.checkpoints import CheckpointManager

    manager = CheckpointManager(os.path.join(os.fspath(run_dir), CHECKPOINT_DIR))
    if checkpoint is None or checkpoint == "latest":
        return manager.latest_path()
    if checkpoint == "best":
        best = manager.best_path()
        if best is None and manager.checkpoints():
            raise FileNotFoundError(
                f"No checkpoint in {manager.directory} records a validation loss, so none is "
                "'best'; use --checkpoint latest or a step.")
        return best
    text = os.fspath(checkpoint)
    if text.isdigit():
        path = os.path.join(manager.directory, f"ckpt-{int(text):08d}")
        if not os.path.isdir(path):
            kept = ", ".join(str(s) for s, _ in manager.checkpoints()) or "none"
            raise FileNotFoundError(f"No checkpoint of step {int(text)} in {manager.directory} "
                                    f"(kept steps: {kept}).")
        return path
    return text


def load_run(run_dir, checkpoint=None):
    """`(model, tokenizer, checkpoint_path)` of a pretraining run.

    Args:
        run_dir: the run's `out_dir` (holding `config.json` and `vocab.txt`).
        checkpoint: optional: `"latest"` (default), `"best"` (lowest validation loss),
            a step, a `ckpt-N` directory, a `.weights.h5` file or a `.keras` model
            (see `resolve_checkpoint`).

    Raises:
        FileNotFoundError: the run directory, its config, vocabulary or checkpoint is
            missing (the path is named).
        ValueError: the checkpoint does not fit the run's config, or is corrupt.
    """
    import keras

    from glomo_tf.configs import load_configs
    from glomo_tf.data.vocabulary import load_vocabulary
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer
    from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer
    from glomo_tf.training.checkpoints import CheckpointManager, check_format_version, read_variables
    from glomo_tf.training.pretraining import vocabulary_fingerprint

    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"Pretraining run directory not found: {run_dir}")
    model_config, train_config = load_configs(os.path.join(run_dir, CONFIG_FILE))
    vocabulary = load_vocabulary(os.path.join(run_dir, VOCABULARY_FILE))
    settings = {}
    if train_config is not None:
        settings = dict(lowercase=train_config.lowercase,
                        replace_digits=train_config.replace_digits,
                        splitting=train_config.splitting)
    tokenizer = GLoMoWordTokenizer(vocabulary, **settings)

    checkpoint = resolve_checkpoint(run_dir, checkpoint)
    if checkpoint is None:
        raise FileNotFoundError(
            f"No checkpoint in {os.path.join(run_dir, CHECKPOINT_DIR)} (expected ckpt-N "
            "directories written by the pretraining run)."
        )
    checkpoint = os.fspath(checkpoint)
    if not os.path.exists(checkpoint):
        raise FileNotFoundError(f"Checkpoint not found: {checkpoint}")
    if checkpoint.endswith(".keras"):
        model = keras.saving.load_model(checkpoint)
    else:
        model = GLoMoPretrainer(model_config)
        if checkpoint.endswith(".weights.h5"):
            model.load_weights(checkpoint)
        else:
            manager = CheckpointManager(os.path.dirname(checkpoint))
            state = manager.read_state(checkpoint)
            check_format_version(state, checkpoint)
            saved_model_config = state.get("fingerprint", {}).get("model")
            if saved_model_config is not None and saved_model_config != model_config.to_dict():
                raise ValueError(
                    f"{checkpoint} was written for another model config than "
                    f"{os.path.join(run_dir, CONFIG_FILE)}."
                )
            saved_vocabulary = state.get("fingerprint", {}).get("vocabulary_sha256")
            if saved_vocabulary is not None and saved_vocabulary != vocabulary_fingerprint(vocabulary):
                # Same size, other words: the module would map text to the wrong rows of E.
                raise ValueError(
                    f"{checkpoint} was trained with another vocabulary than "
                    f"{os.path.join(run_dir, VOCABULARY_FILE)} (vocabulary_sha256 "
                    f"{saved_vocabulary[:12]} in the checkpoint vs "
                    f"{vocabulary_fingerprint(vocabulary)[:12]} of the file)."
                )
            read_variables(os.path.join(checkpoint, MODEL_FILE), model.variables, "model")
    if model.glomo_config.vocabulary_size < len(vocabulary):
        raise ValueError(
            f"{os.path.join(run_dir, VOCABULARY_FILE)} has {len(vocabulary)} tokens but the "
            f"model only {model.glomo_config.vocabulary_size} embedding rows."
        )
    return model, tokenizer, checkpoint
