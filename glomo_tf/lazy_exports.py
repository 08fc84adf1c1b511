"""Package `__init__`s that name their members without importing them (PEP 562).

A package's names live in its submodules; importing them all up front would load
TensorFlow for `glomo --help` or for a command-line check that needs none of it. So an
`__init__` declares where each name lives, and a name's module is imported when the name is
first used (`from glomo_tf.data import PlantedLanguage`).

Example:
>>> # in glomo_tf/export/__init__.py
>>> __getattr__, __all__ = lazy_exports(__name__, {  # doctest: +SKIP
...     "graph_module": ("load_graph_module", "export_graph_module"),
...     "graph_rendering": ("render_graphs",),
... })
"""

import importlib


def lazy_exports(package, members):
    """`(__getattr__, __all__)` for `package`, whose names live in its submodules.

    Args:
        package: the package's `__name__`.
        members: `{submodule name (relative to the package): names it defines}`.

    Returns:
        A module-level `__getattr__` that imports a name's submodule on first use (and
        raises `AttributeError` for other names, so `from package import submodule` still
        imports submodules), and the sorted names for `__all__`.
    """
    where = {name: f"{package}.{module}" for module, names in members.items() for name in names}

    def __getattr__(name):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return __getattr__, sorted(where)
