"""The `"synthetic"` corpus of `glomo pretrain`: the planted language, sized to the model."""

import os

from glomo_tf.data.synthetic import PlantedLanguage

SYNTHETIC = "synthetic"
TRAIN_DOCUMENTS = 2000
VALIDATION_DOCUMENTS = 100


def make_language(model_config, seed=0):
    """A `PlantedLanguage` whose documents are exactly one pretraining window long.

    One document per window (with stride T) keeps every dependency inside a window, so
    the trained graphs can be scored with `parent_recovery` on whole documents.
    """
    length = model_config.sequence_length
    if length < 5:
        raise ValueError(
            f"The synthetic language needs windows of at least 5 tokens (opener, trigger, "
            f"filler, marker, answer); sequence_length is {length}."
        )
    max_distance = min(40, length - 3)
    # Four classes, one dependency per document, two triggers of other classes as
    # distractors, so the parent is the one trigger of the marker's class. Measured with
    # `glomo pretrain --corpus synthetic --config tiny`, 1000 steps, per seed:
    # bench/planted_recovery.py (BENCHMARKS.md, section "planted_recovery"; not restated
    # here, where it went stale). With one or two dependencies per document and a
    # class-specific opener the heads learned "an opened trigger" but not "of the marker's
    # class" and stayed near 0.7 even after 3000 steps.
    return PlantedLanguage(
        num_classes=4,
        num_fillers=50,
        dependencies_per_document=(1, 1),
        document_length=length,
        min_distance=min(4, max_distance),
        max_distance=max_distance,
        seed=seed,
    )


def write_synthetic_corpus(directory, model_config, seed=0):
    """Writes `train.txt` and `valid.txt` (+ parents sidecars) into `directory`.

    Deterministic in `seed`, so a resumed run regenerates byte-identical files.

    Returns:
        `(train_path, valid_path)`.
    """
    os.makedirs(directory, exist_ok=True)
    language = make_language(model_config, seed)
    train_path = os.path.join(directory, "train.txt")
    valid_path = os.path.join(directory, "valid.txt")
    language.write_corpus(train_path, TRAIN_DOCUMENTS, seed=seed + 1)
    language.write_corpus(valid_path, VALIDATION_DOCUMENTS, seed=seed + 2)
    return train_path, valid_path
