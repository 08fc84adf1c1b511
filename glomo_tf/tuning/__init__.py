"""Hyper-parameter search with keras-tuner: `glomo tune` and its Python API.

- `TuneConfig`, `tune` (`search.py`): one search, resumable, with a summary table and the
  best hyper-parameters written as a `glomo finetune` / `glomo pretrain` config file;
- `PretrainHyperModel` (`pretrain_hypermodel.py`): the pretraining network;
- `PlantedTransferHyperModel`, `TaskTransferHyperModel` (`transfer_hypermodel.py`): the
  downstream transfer settings, the transfer mode fixed per search;
- `resolve_space` (`search_space.py`): search spaces as checked dicts.

Names are imported lazily, so that `glomo --help` does not load TensorFlow.
"""

from glomo_tf.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "search": ("TuneConfig", "TuneResult", "SearchFailedError", "tune"),
    "pretrain_hypermodel": ("PretrainHyperModel",),
    "transfer_hypermodel": ("PlantedTransferHyperModel", "TaskTransferHyperModel"),
    "search_space": ("resolve_space",),
})
