"""Matching a downstream task's vocabulary to a graph module's.

The module's `ids` index its own vocabulary. A task that looks its words up in another
table (e.g. GloVe rows) must either use the module's vocabulary as is
(`check_same_vocabulary`) or translate by token string (`map_vocabulary`).
"""

import numpy as np

from glomo_tf.transfer.glomo_graphs import module_vocabulary


def _tokens(vocabulary):
    if isinstance(vocabulary, (str, bytes)):
        raise ValueError("Expected a list of tokens, got a single string.")
    return [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in vocabulary]


def check_same_vocabulary(task_vocabulary, module):
    """Raises `ValueError` unless `task_vocabulary` equals the module's, token by token.

    Args:
        task_vocabulary: list of tokens, index = the id the task's embedding uses.
        module: a module path / TF-Hub handle, a `GLoMoGraphs` layer or a `GraphModule`.

    Raises:
        ValueError: naming both sizes, and the first differing index if the sizes agree.
    """
    task = _tokens(task_vocabulary)
    ours = module_vocabulary(module)
    if len(task) != len(ours):
        raise ValueError(
            f"The task's vocabulary has {len(task)} tokens but the graph module's has "
            f"{len(ours)}: ids of one do not index the other. Use the module's vocabulary or "
            "`map_vocabulary`."
        )
    for index, (a, b) in enumerate(zip(task, ours)):
        if a != b:
            raise ValueError(
                f"The task's vocabulary ({len(task)} tokens) and the graph module's "
                f"({len(ours)} tokens) differ first at id {index}: {a!r} vs {b!r}."
            )


def map_vocabulary(module, task_vocabulary, missing_id=0):
    """For each module id, the task id of the same token string.

    Use it to gather task features for the module's `ids`:
    `task_ids = ops.take(mapping, module_ids)`.

    Args:
        module: a module path / TF-Hub handle, a `GLoMoGraphs` layer or a `GraphModule`.
        task_vocabulary: list of tokens, index = task id.
        missing_id: task id for module tokens the task does not know (default 0).

    Returns:
        int32 numpy array of the module's vocabulary size.
    """
    task_ids = {token: index for index, token in enumerate(_tokens(task_vocabulary))}
    return np.array([task_ids.get(token, missing_id) for token in module_vocabulary(module)],
                    dtype="int32")
