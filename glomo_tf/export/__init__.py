"""Exporting GLoMo graph modules (SavedModel / TF-Hub) and drawing their graphs.

The contract of a module is in `glomo_tf.export.graph_module`'s docstring and
`saved_models/README.md`. Names are imported lazily, so that `glomo --help` (which imports
`glomo_tf.export.commands`) does not load TensorFlow.
"""

import importlib

_EXPORTS = {
    "FORMAT_VERSION": "glomo_tf.export.graph_module",
    "DEFAULT_MAX_LENGTH": "glomo_tf.export.graph_module",
    "GraphModule": "glomo_tf.export.graph_module",
    "export_graph_module": "glomo_tf.export.graph_module",
    "export_from_checkpoint": "glomo_tf.export.graph_module",
    "load_graph_module": "glomo_tf.export.graph_module",
    "load_run": "glomo_tf.export.run_checkpoint",
    "render_graphs": "glomo_tf.export.graph_rendering",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'glomo_tf.export' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
