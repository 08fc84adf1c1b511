"""Exporting GLoMo graph modules (SavedModel / TF-Hub) and drawing their graphs.

The contract of a module is in `glomo_tf.export.graph_module`'s docstring and
`saved_models/README.md`. Names are imported lazily, so that `glomo --help` (which imports
`glomo_tf.export.commands`) does not load TensorFlow.
"""

from glomo_tf.lazy_exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "graph_module": (
        "FORMAT_VERSION",
        "DEFAULT_MAX_LENGTH",
        "GraphModule",
        "export_graph_module",
        "export_from_checkpoint",
        "load_graph_module",
    ),
    "run_checkpoint": ("load_run",),
    "graph_rendering": ("render_graphs",),
})
