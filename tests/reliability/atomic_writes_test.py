"""kill -9 in the middle of writing a checkpoint, a vocabulary or a graph module leaves the
last good one readable; leftovers of the killed process are cleaned up later."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from glomo_tf.training.checkpoints import CheckpointManager
from tests.reliability.harness import REPO, environment

_CHECKPOINT_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np
    from glomo_tf.training import checkpoints
    from tests.reliability.atomic_writes_test import FakeModel

    directory, where = sys.argv[1], sys.argv[2]
    manager = checkpoints.CheckpointManager(directory, keep=3)
    manager.save(FakeModel(1.0), 1)
    manager.save(FakeModel(2.0), 2)

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "model_file":  # half of model.h5 on disk
        write = checkpoints._write_variables
        def partial(path, variables):
            write(path, variables)
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            die()
        checkpoints._write_variables = partial
    elif where == "state":  # half of state.json
        def partial(obj, f, **kwargs):
            f.write(json.dumps(obj)[:40])
            f.flush()
            die()
        checkpoints.json.dump = partial
    elif where == "latest":  # checkpoint renamed into place, `latest` not moved yet
        checkpoints.CheckpointManager._write_latest = die
    elif where == "same_step":  # step 2 again: killed between moving the old one aside and the rename
        replace = os.replace
        def second_kills(src, dst):
            if ".tmp-" in src and dst.endswith("ckpt-00000002"):
                die()
            replace(src, dst)
        checkpoints.os.replace = second_kills
    manager.save(FakeModel(3.0), 2 if where == "same_step" else 3)
    print("not killed")
""")


class _Variable:
    def __init__(self, path, value):
        self.path, self.value = path, np.asarray(value, np.float32)
        self.shape = self.value.shape

    def numpy(self):
        return self.value

    def assign(self, value):
        self.value = np.asarray(value, np.float32)


class _Optimizer:
    built = True

    def __init__(self, variables):
        self.variables = variables


class FakeModel:
    """Stands in for a Keras model: only `variables` and `optimizer.variables` are used."""

    def __init__(self, value):
        self.variables = [_Variable("w", np.full(4096, value)), _Variable("b", [value])]
        self.optimizer = _Optimizer([_Variable("iterations", [value])])


@pytest.mark.parametrize("where", ["model_file", "state", "latest", "same_step"])
def test_kill_while_saving_a_checkpoint_keeps_the_last_good_one(tmp_path, where):
    directory = tmp_path / "checkpoints"
    done = subprocess.run([sys.executable, "-c", _CHECKPOINT_SCRIPT, str(directory), where], cwd=REPO,
                          env=environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stdout + done.stderr
    manager = CheckpointManager(directory, keep=3)
    model = FakeModel(0.0)
    restored = manager.restore(model)
    assert restored.step == 2 and float(model.variables[1].value[0]) == 2.0
    # The killed process's leftovers are gone; a new save works and becomes `latest`.
    assert not [n for n in os.listdir(directory) if n.startswith(".tmp-") or ".old-" in n]
    manager.save(FakeModel(4.0), 4)
    restored = manager.restore(model)
    assert restored.step == 4 and float(model.variables[1].value[0]) == 4.0


_VOCABULARY_AND_MODULE_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from glomo_tf.data import vocabulary, vocabulary_file
    directory = sys.argv[1]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if sys.argv[2] == "vocabulary":
        vocabulary.save_vocabulary(["<unk>", "old", "words"], os.path.join(directory, "vocab.txt"))
        vocabulary_file.os.fsync = die  # the new file is written, not yet renamed
        vocabulary.save_vocabulary(["<unk>", "new", "words", "here"], os.path.join(directory, "vocab.txt"))
    else:
        from glomo_tf.export import graph_module
        from tests.export import tiny_module
        target = os.path.join(directory, "module")
        graph_module.export_graph_module(tiny_module.make_model(seed=0), tiny_module.make_tokenizer(), target,
                                         max_length=tiny_module.MAX_LENGTH)
        rename = os.rename
        def second_kills(src, dst):
            if dst == target:  # the old module is already moved aside
                die()
            rename(src, dst)
        graph_module.os.rename = second_kills
        graph_module.export_graph_module(tiny_module.make_model(seed=1), tiny_module.make_tokenizer(), target,
                                         max_length=tiny_module.MAX_LENGTH)
    print("not killed")
""")


def _killed(tmp_path, what):
    done = subprocess.run([sys.executable, "-c", _VOCABULARY_AND_MODULE_SCRIPT, str(tmp_path), what], cwd=REPO,
                          env=environment(), capture_output=True, text=True, timeout=600)
    assert done.returncode == -9, done.stdout + done.stderr[-3000:]


@pytest.mark.slow
def test_kill_while_saving_the_vocabulary_keeps_the_old_file(tmp_path):
    from glomo_tf.data.vocabulary import load_vocabulary

    _killed(tmp_path, "vocabulary")
    assert load_vocabulary(tmp_path / "vocab.txt") == ["<unk>", "old", "words"]


@pytest.mark.slow
def test_kill_between_the_renames_of_a_module_replacement_recovers_the_old_module(tmp_path):
    from glomo_tf.export.graph_module import load_graph_module
    from tests.export import tiny_module

    _killed(tmp_path, "module")
    target = tmp_path / "module"
    assert not target.exists() and len([n for n in os.listdir(tmp_path) if ".old-" in n]) == 1
    with pytest.warns(UserWarning, match="Recovered the graph module"):
        module = load_graph_module(target)
    # It is the first export (seed 0), not the interrupted one (seed 1).
    expected = tiny_module.make_model(seed=0).predict_graphs(
        {"token_ids": np.array([[1, 2, 3]], np.int32), "padding_mask": np.ones((1, 3), bool)})
    got = module.graphs_from_ids([[1, 2, 3]], [[1, 1, 1]])["graphs"].numpy()
    np.testing.assert_allclose(got, np.asarray(expected), atol=1e-5)
    assert not [n for n in os.listdir(tmp_path) if ".old-" in n]
