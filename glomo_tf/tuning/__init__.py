"""Hyper-parameter search with keras-tuner: `glomo tune` and its Python API.

- `TuneConfig`, `tune` (`search.py`): one search, resumable, with a summary table and the
  best hyper-parameters written as a `glomo finetune` / `glomo pretrain` config file;
- `PretrainHyperModel` (`pretrain_hypermodel.py`): the pretraining network;
- `PlantedTransferHyperModel`, `TaskTransferHyperModel` (`transfer_hypermodel.py`): the
  downstream transfer settings, the transfer mode fixed per search;
- `resolve_space` (`search_space.py`): search spaces as checked dicts.

Names are imported lazily, so that `glomo --help` does not load TensorFlow.
"""

import importlib

_EXPORTS = {
    "TuneConfig": "glomo_tf.tuning.search",
    "TuneResult": "glomo_tf.tuning.search",
    "SearchFailedError": "glomo_tf.tuning.search",
    "tune": "glomo_tf.tuning.search",
    "PretrainHyperModel": "glomo_tf.tuning.pretrain_hypermodel",
    "PlantedTransferHyperModel": "glomo_tf.tuning.transfer_hypermodel",
    "TaskTransferHyperModel": "glomo_tf.tuning.transfer_hypermodel",
    "resolve_space": "glomo_tf.tuning.search_space",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'glomo_tf.tuning' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
