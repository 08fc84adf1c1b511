"""`lazy_exports`: package names resolve on first use, and importing a package is cheap."""

import importlib
import os
import subprocess
import sys

import pytest

from glomo_tf.lazy_exports import lazy_exports

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAZY_PACKAGES = ("glomo_tf.data", "glomo_tf.tasks", "glomo_tf.export", "glomo_tf.tuning")


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_exported_name_resolves_to_its_modules_object(package):
    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__) and module.__all__
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        getattr(module, "nope")


def test_names_and_submodules_both_import():
    getattr_, names = lazy_exports("glomo_tf.files", {"sha256": ("sha256_of",)})
    from glomo_tf.files.sha256 import sha256_of

    assert names == ["sha256_of"] and getattr_("sha256_of") is sha256_of
    with pytest.raises(AttributeError):
        getattr_("atomic_write")


def test_importing_the_packages_loads_no_tensorflow():
    code = ("import sys\n" + "".join(f"import {p}\n" for p in LAZY_PACKAGES)
            + "from glomo_tf.tasks import finetune_config\n"
            + "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": REPO}, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr
